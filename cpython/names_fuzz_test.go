package cpython_test

import (
	"bytes"
	"testing"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/cpython/cpythontest"
	"github.com/recapi/recapi/proc"
)

// FuzzReadTypeName resolves a type name in random memory.
func FuzzReadTypeName(f *testing.F) {
	for _, l := range cpythontest.Layouts() {
		r := cpythontest.NewRuntime(l, 0)
		mod := r.Dict(cpythontest.UnicodeDict, cpythontest.Item{Key: r.Str("__module__"), Value: r.Str("m")})
		typ := r.HeapType("C", "Outer.C", mod)
		f.Add(r.Buf, typ, uint8(l.Minor-cpython.MinMinor))
		f.Add(r.Buf, r.IntType, uint8(l.Minor-cpython.MinMinor))
	}
	f.Fuzz(func(t *testing.T, data []byte, typ uint64, minor uint8) {
		l := namesFuzzLayout(t, minor)
		_, _ = cpython.NewReader(proc.NewMemory(bytes.NewReader(data)), l).TypeName(typ)
	})
}

// FuzzDictLookupStr looks up a key in random memory.
func FuzzDictLookupStr(f *testing.F) {
	for _, l := range cpythontest.Layouts() {
		for _, kind := range []cpythontest.DictKind{cpythontest.UnicodeDict, cpythontest.SplitDict} {
			r := cpythontest.NewRuntime(l, 0)
			d := r.Dict(kind,
				cpythontest.Item{Key: r.Str("a"), Value: r.Int()},
				cpythontest.Item{Key: r.LegacyStr("__module__"), Value: r.Int()},
			)
			f.Add(r.Buf, d, uint8(l.Minor-cpython.MinMinor), "__module__")
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, dict uint64, minor uint8, key string) {
		l := namesFuzzLayout(t, minor)
		v, ok, err := cpython.NewReader(proc.NewMemory(bytes.NewReader(data)), l).DictLookupStr(dict, key)
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
	for _, l := range cpythontest.Layouts() {
		r := cpythontest.NewRuntime(l, 0)
		c := r.Code(cpython.CodeInfo{
			Name: "f", Qualname: "C.f", Filename: "/x.py", ArgCount: 2, PosOnlyArgCount: 1, KwOnlyArgCount: 1,
			Flags: cpython.CO_VARARGS, ParamNames: []string{"a", "b", "c", "args"},
		})
		f.Add(r.Buf, c, uint8(l.Minor-cpython.MinMinor))
	}
	f.Fuzz(func(t *testing.T, data []byte, code uint64, minor uint8) {
		l := namesFuzzLayout(t, minor)
		c, err := cpython.NewReader(proc.NewMemory(bytes.NewReader(data)), l).Code(code)
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
	for _, l := range cpythontest.Layouts() {
		r := cpythontest.NewRuntime(l, 0)
		t := r.Tuple(r.Str("a"), r.Int())
		f.Add(r.Buf, t, uint8(l.Minor-cpython.MinMinor), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, tuple uint64, minor, limit uint8) {
		l := namesFuzzLayout(t, minor)
		items, err := cpython.NewReader(proc.NewMemory(bytes.NewReader(data)), l).TupleItems(tuple, int(limit))
		if err == nil && len(items) > int(limit) {
			t.Fatalf("%d items, limit %d", len(items), limit)
		}
	})
}
