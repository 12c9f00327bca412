package cpython

import (
	"bytes"
	"testing"

	"github.com/recapi/recapi/proc"
)

// FuzzReadTypeName resolves a type name in random memory.
func FuzzReadTypeName(f *testing.F) {
	for _, l := range namesAllLayouts() {
		r := newNamesFakeRuntime(l, 0)
		mod := r.dict([]namesFakeItem{{key: r.str("__module__", namesStrCompact), value: r.str("m", namesStrCompact)}}, false, true)
		typ := r.heapType("C", "Outer.C", mod)
		f.Add(r.buf, typ, uint8(l.Minor-MinMinor))
		f.Add(r.buf, r.intType, uint8(l.Minor-MinMinor))
	}
	f.Fuzz(func(t *testing.T, data []byte, typ uint64, minor uint8) {
		l := namesFuzzLayout(t, minor)
		_, _ = NewReader(proc.NewMemory(bytes.NewReader(data)), l).TypeName(typ)
	})
}

// FuzzDictLookupStr looks up a key in random memory.
func FuzzDictLookupStr(f *testing.F) {
	for _, l := range namesAllLayouts() {
		for _, split := range []bool{false, true} {
			r := newNamesFakeRuntime(l, 0)
			d := r.dict([]namesFakeItem{
				{key: r.str("a", namesStrCompact), value: r.object(r.intType, 32)},
				{key: r.str("__module__", namesStrLegacy), value: r.object(r.intType, 32)},
			}, split, true)
			f.Add(r.buf, d, uint8(l.Minor-MinMinor), "__module__")
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, dict uint64, minor uint8, key string) {
		l := namesFuzzLayout(t, minor)
		v, ok, err := NewReader(proc.NewMemory(bytes.NewReader(data)), l).DictLookupStr(dict, key)
		if err != nil && (ok || v != 0) {
			t.Fatalf("error %v with a result (%#x, %v)", err, v, ok)
		}
		if ok && v == 0 {
			t.Fatal("found a NULL value")
		}
	})
}

// FuzzReadCode reads a code object out of random memory.
func FuzzReadCode(f *testing.F) {
	for _, l := range namesAllLayouts() {
		r := newNamesFakeRuntime(l, 0)
		c := r.code(CodeInfo{
			Name: "f", Qualname: "C.f", Filename: "/x.py", ArgCount: 2, PosOnlyArgCount: 1, KwOnlyArgCount: 1,
			Flags: CO_VARARGS, ParamNames: []string{"a", "b", "c", "args"},
		})
		f.Add(r.buf, c, uint8(l.Minor-MinMinor))
	}
	f.Fuzz(func(t *testing.T, data []byte, code uint64, minor uint8) {
		l := namesFuzzLayout(t, minor)
		c, err := NewReader(proc.NewMemory(bytes.NewReader(data)), l).Code(code)
		if err != nil {
			return
		}
		if len(c.ParamNames) != c.NParams() || len(c.ParamKinds()) != c.NParams() {
			t.Fatalf("%d names and %d kinds for %d parameters", len(c.ParamNames), len(c.ParamKinds()), c.NParams())
		}
	})
}

// FuzzTupleItems reads a tuple out of random memory: at most limit items.
func FuzzTupleItems(f *testing.F) {
	for _, l := range namesAllLayouts() {
		r := newNamesFakeRuntime(l, 0)
		t := r.tuple(r.str("a", namesStrCompact), r.object(r.intType, 32))
		f.Add(r.buf, t, uint8(l.Minor-MinMinor), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, tuple uint64, minor, limit uint8) {
		l := namesFuzzLayout(t, minor)
		items, err := NewReader(proc.NewMemory(bytes.NewReader(data)), l).TupleItems(tuple, int(limit))
		if err == nil && len(items) > int(limit) {
			t.Fatalf("%d items, limit %d", len(items), limit)
		}
	})
}
