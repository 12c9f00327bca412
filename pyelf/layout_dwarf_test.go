package pyelf

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/recapi/recapi/cpython"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// layoutDWARFField ties a Layout value to a gdb expression over the DWARF
// of libpython. want -1 means the field must not exist in that version.
type layoutDWARFField struct {
	name string // Layout field
	expr string // gdb expression giving the offset, size or constant
	want int
}

// layoutDWARFFields lists every Layout value that DWARF can confirm.
func layoutDWARFFields(l cpython.Layout) []layoutDWARFField {
	off := func(typ, field string) string { return fmt.Sprintf("&((%s*)0)->%s", typ, field) }
	frame, code, instr := "_PyInterpreterFrame", "f_code", "prev_instr"
	switch {
	case l.OldFrames:
		frame = "struct _frame"
	case l.Minor >= 13:
		code, instr = "f_executable", "instr_ptr"
	}
	varnames := "co_localsplusnames"
	if l.OldFrames {
		varnames = "co_varnames"
	}
	f := []layoutDWARFField{
		{"Frame_code", off(frame, code), l.Frame_code},
		{"Frame_localsplus", off(frame, map[bool]string{true: "f_localsplus", false: "localsplus"}[l.OldFrames]), l.Frame_localsplus},
		{"PyCodeObject_co_argcount", off("PyCodeObject", "co_argcount"), l.PyCodeObject_co_argcount},
		{"PyCodeObject_co_posonlyargcount", off("PyCodeObject", "co_posonlyargcount"), l.PyCodeObject_co_posonlyargcount},
		{"PyCodeObject_co_kwonlyargcount", off("PyCodeObject", "co_kwonlyargcount"), l.PyCodeObject_co_kwonlyargcount},
		{"PyCodeObject_co_nlocals", off("PyCodeObject", "co_nlocals"), l.PyCodeObject_co_nlocals},
		{"PyCodeObject_co_flags", off("PyCodeObject", "co_flags"), l.PyCodeObject_co_flags},
		{"PyCodeObject_co_firstlineno", off("PyCodeObject", "co_firstlineno"), l.PyCodeObject_co_firstlineno},
		{"PyCodeObject_co_consts", off("PyCodeObject", "co_consts"), l.PyCodeObject_co_consts},
		{"PyCodeObject_co_varnames", off("PyCodeObject", varnames), l.PyCodeObject_co_varnames},
		{"PyCodeObject_co_localspluskinds", off("PyCodeObject", "co_localspluskinds"), l.PyCodeObject_co_localspluskinds},
		{"PyCodeObject_co_nlocalsplus", off("PyCodeObject", "co_nlocalsplus"), l.PyCodeObject_co_nlocalsplus},
		{"PyCodeObject_co_cellvars", off("PyCodeObject", "co_cellvars"), l.PyCodeObject_co_cellvars},
		{"PyCodeObject_co_cell2arg", off("PyCodeObject", "co_cell2arg"), l.PyCodeObject_co_cell2arg},
		{"PyCodeObject_co_filename", off("PyCodeObject", "co_filename"), l.PyCodeObject_co_filename},
		{"PyCodeObject_co_name", off("PyCodeObject", "co_name"), l.PyCodeObject_co_name},
		{"PyCodeObject_co_qualname", off("PyCodeObject", "co_qualname"), l.PyCodeObject_co_qualname},
		{"PyObject_ob_type", off("PyObject", "ob_type"), l.PyObject_ob_type},
		{"PyVarObject_ob_size", off("PyVarObject", "ob_size"), l.PyVarObject_ob_size},
		{"PyTypeObject_tp_name", off("PyTypeObject", "tp_name"), l.PyTypeObject_tp_name},
		{"PyTypeObject_tp_flags", off("PyTypeObject", "tp_flags"), l.PyTypeObject_tp_flags},
		{"PyTypeObject_tp_dict", off("PyTypeObject", "tp_dict"), l.PyTypeObject_tp_dict},
		{"PyHeapTypeObject_ht_qualname", off("PyHeapTypeObject", "ht_qualname"), l.PyHeapTypeObject_ht_qualname},
		{"PyTupleObject_ob_item", off("PyTupleObject", "ob_item"), l.PyTupleObject_ob_item},
		{"PyBytesObject_ob_sval", off("PyBytesObject", "ob_sval"), l.PyBytesObject_ob_sval},
		{"PyCellObject_ob_ref", off("PyCellObject", "ob_ref"), l.PyCellObject_ob_ref},
		{"PyDictObject_ma_keys", off("PyDictObject", "ma_keys"), l.PyDictObject_ma_keys},
		{"PyDictObject_ma_values", off("PyDictObject", "ma_values"), l.PyDictObject_ma_values},
		{"PyASCIIObjectSize", "sizeof(PyASCIIObject)", l.PyASCIIObjectSize},
		{"PyCompactUnicodeObjectSize", "sizeof(PyCompactUnicodeObject)", l.PyCompactUnicodeObjectSize},
		{"PyUnicodeObject_state", off("PyASCIIObject", "state"), l.PyUnicodeObject_state},
		{"PyUnicodeObject_length", off("PyASCIIObject", "length"), l.PyUnicodeObject_length},
		{"PyRuntimeState_tstate_current", off("_PyRuntimeState", "gilstate.tstate_current"), l.PyRuntimeState_tstate_current},
	}
	if l.OldFrames {
		f = append(f,
			layoutDWARFField{"Frame_previous", off(frame, "f_back"), l.Frame_previous},
			layoutDWARFField{"Frame_lasti", off(frame, "f_lasti"), l.Frame_lasti},
			layoutDWARFField{"PyThreadState_frame", off("PyThreadState", "frame"), l.PyThreadState_frame},
		)
		if l.Frame_stacktop >= 0 {
			f = append(f, layoutDWARFField{"Frame_stacktop", off(frame, "f_stacktop"), l.Frame_stacktop})
		}
		if l.Frame_state >= 0 {
			f = append(f, layoutDWARFField{"Frame_state", off(frame, "f_state"), l.Frame_state})
		}
	} else {
		f = append(f,
			layoutDWARFField{"Frame_previous", off(frame, "previous"), l.Frame_previous},
			layoutDWARFField{"Frame_instr", off(frame, instr), l.Frame_instr},
			layoutDWARFField{"Frame_owner", off(frame, "owner"), l.Frame_owner},
			layoutDWARFField{"PyThreadState_frame", off("PyThreadState", "current_frame"), l.PyThreadState_frame},
			layoutDWARFField{"FirstShimOwner", "FRAME_OWNED_BY_CSTACK", l.FirstShimOwner}, // the pyenv builds end at 3.13
		)
	}
	// 3.10 has a tstate->cframe too, but without current_frame: Layout
	// records the cframe only where the frame is reached through it.
	if l.PyThreadState_cframe >= 0 {
		f = append(f,
			layoutDWARFField{"PyThreadState_cframe", off("PyThreadState", "cframe"), l.PyThreadState_cframe},
			layoutDWARFField{"CFrame_current_frame", off("_PyCFrame", "current_frame"), l.CFrame_current_frame},
		)
	}
	return f
}

// forEachDWARFBuild runs fn for every pyenv build (they carry debug info;
// the Debian build does not) with the layout of its version.
func forEachDWARFBuild(t *testing.T, fn func(t *testing.T, tt elfTestBinary, l cpython.Layout)) {
	if testing.Short() {
		t.Skip("runs gdb on every pyenv build")
	}
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Skip("gdb is not installed")
	}
	for _, tt := range elfTestBinaries() {
		if !strings.HasPrefix(tt.name, "pyenv-") {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			elfTestRequire(t, tt.path)
			l, err := cpython.LayoutFor(tt.version)
			require.NoError(t, err)
			fn(t, tt, l)
		})
	}
}

var gdbOffsetLine = regexp.MustCompile(`^(\w+)=(-?\d+)$`)

// gdbOffsets evaluates each field's expression with gdb on the ELF file at
// path, plus the extra gdb commands, and returns the values by field name
// and gdb's whole output.
func gdbOffsets(t *testing.T, path string, fields []layoutDWARFField, extra ...string) (map[string]int, string) {
	t.Helper()
	args := []string{"-batch", "-nx"}
	for _, f := range fields {
		args = append(args, "-ex", fmt.Sprintf(`printf "%s=%%ld\n", (long)%s`, f.name, f.expr))
	}
	for _, e := range extra {
		args = append(args, "-ex", e)
	}
	out, err := exec.CommandContext(t.Context(), "gdb", append(args, path)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	got := map[string]int{}
	for _, s := range strings.Split(string(out), "\n") {
		if m := gdbOffsetLine.FindStringSubmatch(s); m != nil {
			got[m[1]], _ = strconv.Atoi(m[2])
		}
	}
	return got, string(out)
}

// TestLayoutMatchesDWARF checks the offsets in cpython/layout.go against the
// debug info of the pyenv builds with gdb, and the frame argument of
// _PyEval_EvalFrameDefault against its prototype. Where those builds are
// absent, cpython's TestLayoutsMatchFixtures checks every field against
// the same facts, recorded by make update-layouts.
func TestLayoutMatchesDWARF(t *testing.T) {
	forEachDWARFBuild(t, func(t *testing.T, tt elfTestBinary, l cpython.Layout) {
		fields := layoutDWARFFields(l)
		got, out := gdbOffsets(t, tt.path, fields, "whatis _PyEval_EvalFrameDefault")
		var proto string
		for _, s := range strings.Split(out, "\n") {
			if strings.HasPrefix(s, "type = ") {
				proto = s
			}
		}
		require.GreaterOrEqual(t, len(got), len(fields)/2, "gdb printed too few offsets:\n%s", out)
		for _, f := range fields {
			v, ok := got[f.name]
			if f.want < 0 {
				assert.False(t, ok, "%s: layout says absent, DWARF has %s = %d", f.name, f.expr, v)
				continue
			}
			if assert.True(t, ok, "%s: %s not in DWARF", f.name, f.expr) {
				assert.Equal(t, f.want, v, "%s (%s)", f.name, f.expr)
			}
		}

		// "type = PyObject *(PyThreadState *, _PyInterpreterFrame *, int)"
		params := strings.Split(proto[strings.LastIndex(proto, "(")+1:], ",")
		frameArg := 0
		for i, p := range params {
			if strings.Contains(p, "Frame") {
				frameArg = i + 1
			}
		}
		assert.Equal(t, l.EvalFrameArg, frameArg, "frame argument of %s", proto)
	})
}

// TestQualnameLayoutMatchesDWARF checks the object graph offsets that
// BuildQualnameIndex uses against the debug info of the pyenv builds.
func TestQualnameLayoutMatchesDWARF(t *testing.T) {
	forEachDWARFBuild(t, func(t *testing.T, tt elfTestBinary, l cpython.Layout) {
		off := func(typ, field string) string { return fmt.Sprintf("&((%s*)0)->%s", typ, field) }
		modules := "modules"
		if l.Minor >= 12 {
			modules = "imports.modules"
		}
		fields := []layoutDWARFField{
			{"PyRuntimeState_interpreters_head", off("_PyRuntimeState", "interpreters.head"), l.PyRuntimeState_interpreters_head},
			{"PyInterpreterState_modules", off("PyInterpreterState", modules), l.PyInterpreterState_modules},
			{"PyModuleObject_md_dict", off("PyModuleObject", "md_dict"), l.PyModuleObject_md_dict},
			{"PyTypeObject_tp_base", off("PyTypeObject", "tp_base"), l.PyTypeObject_tp_base},
			{"PyFunctionObject_func_code", off("PyFunctionObject", "func_code"), l.PyFunctionObject_func_code},
			{"PyFunctionObject_func_qualname", off("PyFunctionObject", "func_qualname"), l.PyFunctionObject_func_qualname},
			{"PyFunctionObject_func_module", off("PyFunctionObject", "func_module"), l.PyFunctionObject_func_module},
			{"PyFunctionObject_func_closure", off("PyFunctionObject", "func_closure"), l.PyFunctionObject_func_closure},
			{"PyFunctionObject_func_dict", off("PyFunctionObject", "func_dict"), l.PyFunctionObject_func_dict},
			{"Staticmethod_sm_callable", off("staticmethod", "sm_callable"), l.Staticmethod_sm_callable},
			{"Classmethod_cm_callable", off("classmethod", "cm_callable"), l.Classmethod_cm_callable},
			{"Propertyobject_prop_get", off("propertyobject", "prop_get"), l.Propertyobject_prop_get},
			{"Propertyobject_prop_set", off("propertyobject", "prop_set"), l.Propertyobject_prop_set},
			{"Propertyobject_prop_del", off("propertyobject", "prop_del"), l.Propertyobject_prop_del},
			{"PyCellObject_ob_ref", off("PyCellObject", "ob_ref"), l.PyCellObject_ob_ref},
			{"PyDictObject_ma_used", off("PyDictObject", "ma_used"), l.PyVarObject_ob_size},
		}
		got, out := gdbOffsets(t, tt.path, fields)
		for _, f := range fields {
			v, ok := got[f.name]
			if assert.True(t, ok, "%s: %s not in DWARF:\n%s", f.name, f.expr, out) {
				assert.Equal(t, f.want, v, "%s (%s)", f.name, f.expr)
			}
		}
	})
}
