package tracer

import (
	"encoding/binary"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/proc"
)

func cstr(dst []int8, s string) {
	for i := range min(len(s), len(dst)-1) {
		dst[i] = int8(s[i])
	}
}

// Types are named from what BPF read at first sight, without reading the
// process's memory, whenever that is enough.
func TestTypeNameFromEvent(t *testing.T) {
	const heap = cpython.Py_TPFLAGS_HEAPTYPE
	tests := []struct {
		name                 string
		flags                uint64
		strFlags             uint32
		tpName, qual, module string
		want                 string
	}{
		{name: "builtin", tpName: "int", want: "builtins.int"},
		{name: "static type of a module", tpName: "collections.OrderedDict", want: "collections.OrderedDict"},
		{name: "class", flags: heap, tpName: "Pair", qual: "Pair", module: "__main__", want: "__main__.Pair"},
		{name: "nested class", flags: heap, tpName: "Inner", qual: "Outer.Inner", module: "__main__", want: "__main__.Outer.Inner"},
		// 3.13's _decimal: __module__ is set after every method is in
		// the dict, beyond what BPF scans.
		{name: "type made from a spec", flags: heap, strFlags: bpf.StrModule, tpName: "decimal.Decimal", qual: "Decimal", want: "decimal.Decimal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &bpf.TypeEvent{TpFlags: tt.flags, StrFlags: tt.strFlags}
			cstr(e.TpName[:], tt.tpName)
			cstr(e.Qualname[:], tt.qual)
			cstr(e.Module[:], tt.module)
			var tg *target // no memory: what BPF read is enough
			got, fromMemory := tg.eventTypeName(e)
			assert.Equal(t, tt.want, got.name)
			assert.False(t, got.partial)
			assert.False(t, fromMemory)
		})
	}
}

// typeMem is a process's memory holding static type objects, at base.
type typeMem struct {
	base uint64
	buf  []byte
}

func (m *typeMem) ReadAt(p []byte, off int64) (int, error) {
	if uint64(off) < m.base || uint64(off)-m.base >= uint64(len(m.buf)) {
		return 0, io.EOF
	}
	n := copy(p, m.buf[uint64(off)-m.base:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// alloc reserves n zeroed bytes, 8-byte aligned, and returns their address.
func (m *typeMem) alloc(n int) uint64 {
	for len(m.buf)%8 != 0 {
		m.buf = append(m.buf, 0)
	}
	a := m.base + uint64(len(m.buf))
	m.buf = append(m.buf, make([]byte, n)...)
	return a
}

func (m *typeMem) put64(addr, v uint64) { binary.LittleEndian.PutUint64(m.buf[addr-m.base:], v) }

// staticType adds a static type object named tpName, of type meta (0: its
// own type), and returns its address.
func (m *typeMem) staticType(l cpython.Layout, tpName string, meta, flags uint64) uint64 {
	name := m.alloc(len(tpName) + 1)
	copy(m.buf[name-m.base:], tpName)
	typ := m.alloc(l.PyTypeObject_tp_flags + 8)
	if meta == 0 {
		meta = typ
	}
	m.put64(typ+uint64(l.PyObject_ob_type), meta)
	m.put64(typ+uint64(l.PyTypeObject_tp_name), name)
	m.put64(typ+uint64(l.PyTypeObject_tp_flags), flags)
	return typ
}

// A static type is named from the tp_name BPF copied (eventTypeName) as
// cpython's Reader names it from memory: one rule, cpython.StaticTypeName,
// applied on both paths.
func TestStaticTypeNameFromEventMatchesMemory(t *testing.T) {
	l, err := cpython.LayoutFor(cpython.Version{Major: 3, Minor: 11})
	require.NoError(t, err)
	m := &typeMem{base: 0x7f0000000000, buf: make([]byte, 64)}
	meta := m.staticType(l, "type", 0, cpython.Py_TPFLAGS_TYPE_SUBCLASS)
	for _, tpName := range []string{"int", "NoneType", "collections.OrderedDict", "_decimal.Decimal", "a.b.c", "builtins.x", "None", "Nonetype", "_", "ünïcode"} {
		t.Run(tpName, func(t *testing.T) {
			typ := m.staticType(l, tpName, meta, 0)
			want, err := cpython.NewReader(proc.NewMemory(m), l).TypeName(typ)
			require.NoError(t, err)
			var e bpf.TypeEvent
			e.Hdr.Ptr = typ
			for i := 0; i < len(tpName) && i < len(e.TpName)-1; i++ {
				e.TpName[i] = int8(tpName[i])
			}
			got, fromMemory := (&target{}).eventTypeName(&e)
			assert.False(t, fromMemory, "a static type's name comes from the event")
			assert.Equal(t, want, got.name)
		})
	}
}
