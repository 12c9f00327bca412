package tracer

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/cpython/cpythontest"
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

// A static type is named from the tp_name BPF copied (eventTypeName) as
// cpython's Reader names it from memory: one rule, cpython.StaticTypeName,
// applied on both paths.
func TestStaticTypeNameFromEventMatchesMemory(t *testing.T) {
	l, err := cpython.LayoutFor(cpython.Version{Major: 3, Minor: 11})
	require.NoError(t, err)
	rt := cpythontest.NewRuntime(l, 0x7f0000000000)
	for _, tpName := range []string{"int", "NoneType", "collections.OrderedDict", "_decimal.Decimal", "a.b.c", "builtins.x", "None", "Nonetype", "_", "ünïcode"} {
		t.Run(tpName, func(t *testing.T) {
			typ := rt.StaticType(tpName, 0)
			want, err := rt.Reader().TypeName(typ)
			require.NoError(t, err)
			var e bpf.TypeEvent
			e.Hdr.Ptr = typ
			cstr(e.TpName[:], tpName)
			got, fromMemory := (&target{}).eventTypeName(&e)
			assert.False(t, fromMemory, "a static type's name comes from the event")
			assert.Equal(t, want, got.name)
		})
	}
}
