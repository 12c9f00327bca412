package cpython_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/proc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateLayouts = flag.Bool("update-layouts", false,
	"regenerate testdata/layouts/ from the pyenv builds (gdb over their DWARF, dis.opmap, the live _Py_DebugOffsets)")

// layoutFixture is testdata/layouts/3.N.txt: every Layout field with its
// value and where the value comes from, one per line:
//
//	Frame_code  32      dwarf &((_PyInterpreterFrame *)0)->f_code
//	Frame_lasti absent  dwarf &((struct _frame *)0)->f_lasti: There is no member named f_lasti.
//
// Values are formatted by formatLayoutValue.
type layoutFixture struct {
	values  map[string]string
	sources map[string]string
}

func layoutFixturePath(minor int) string {
	return filepath.Join("testdata", "layouts", fmt.Sprintf("3.%d.txt", minor))
}

func readLayoutFixture(t *testing.T, minor int) layoutFixture {
	t.Helper()
	data, err := os.ReadFile(layoutFixturePath(minor))
	require.NoError(t, err, "no layout fixture for 3.%d: run make update-layouts", minor)
	f := layoutFixture{values: map[string]string{}, sources: map[string]string{}}
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		require.GreaterOrEqual(t, len(fields), 3, "%s:%d: want FIELD VALUE SOURCE", layoutFixturePath(minor), i+1)
		name, value := fields[0], fields[1]
		require.NotContains(t, f.values, name, "%s:%d: %s listed twice", layoutFixturePath(minor), i+1, name)
		f.values[name] = value
		_, f.sources[name], _ = strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, name)), " ")
		f.sources[name] = strings.TrimSpace(f.sources[name])
	}
	return f
}

// formatLayoutValue formats one Layout field as the fixtures do: Absent as
// "absent", flags in hex, opcode lists comma-separated or "none".
func formatLayoutValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Int:
		if v.Int() == cpython.Absent {
			return "absent"
		}
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint32:
		return fmt.Sprintf("%#x", v.Uint())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Slice:
		if v.Len() == 0 {
			return "none"
		}
		var s []string
		for i := range v.Len() {
			s = append(s, strconv.FormatUint(v.Index(i).Uint(), 10))
		}
		return strings.Join(s, ",")
	}
	panic(fmt.Sprintf("Layout field of kind %s", v.Kind()))
}

// TestLayoutsMatchFixtures checks every field of every version's Layout
// against testdata/layouts/3.N.txt, which list every field: no interpreter,
// gdb or root needed. With -update-layouts it first regenerates the
// fixtures (make update-layouts).
func TestLayoutsMatchFixtures(t *testing.T) {
	if *updateLayouts {
		for minor := cpython.MinMinor; minor <= cpython.MaxMinor; minor++ {
			data := generateLayoutFixture(t, minor)
			require.NoError(t, os.MkdirAll(filepath.Dir(layoutFixturePath(minor)), 0o755))
			require.NoError(t, os.WriteFile(layoutFixturePath(minor), data, 0o644))
		}
	}
	for minor := cpython.MinMinor; minor <= cpython.MaxMinor; minor++ {
		t.Run(fmt.Sprintf("3.%d", minor), func(t *testing.T) {
			l, err := cpython.LayoutFor(cpython.Version{Major: 3, Minor: minor})
			require.NoError(t, err)
			f := readLayoutFixture(t, minor)
			v := reflect.ValueOf(l)
			names := map[string]bool{}
			for i := range v.NumField() {
				name := v.Type().Field(i).Name
				names[name] = true
				want, ok := f.values[name]
				if !assert.True(t, ok, "%s is not in %s: run make update-layouts", name, layoutFixturePath(minor)) {
					continue
				}
				assert.Equal(t, want, formatLayoutValue(v.Field(i)),
					"3.%d %s: the fixture has %s from %s; fix cpython/layout.go", minor, name, want, f.sources[name])
			}
			for name := range f.values {
				assert.True(t, names[name], "%s lists %s, which Layout does not have: run make update-layouts", layoutFixturePath(minor), name)
			}
		})
	}
}

// layoutSource says where the generator finds one field's value in one
// version. Exactly one of dwarf, prototype, opcodes and constant is set.
type layoutSource struct {
	// dwarf is a gdb expression over libpython's DWARF: an offset
	// (&((T *)0)->member), a size or an enum value. A member the type does
	// not have, or a type or enum value of layoutVersionedSymbols that the
	// version does not have, makes the field absent.
	dwarf string
	// debugOffsets is the _Py_DebugOffsets field ("block.field") that must
	// agree with dwarf on versions that have the table (3.13+).
	debugOffsets string
	// prototype takes the value from _PyEval_EvalFrameDefault's parameter
	// types: "frame-arg" (1-based position of the frame) or "old-frames"
	// (true when the frame is a PyFrameObject).
	prototype string
	// opcodes are looked up in the version's dis.opmap (with the
	// specialized and instrumented opcodes). A single-opcode field is
	// absent when the name is missing; a list is empty when all are.
	opcodes []string
	// constant is the formatted value of a field no file can confirm, and
	// why is its reason, with a citation.
	constant, why string
}

// layoutVersionedSymbols are the types and enum values some supported
// versions do not have: gdb's "No symbol" for them means "absent", while
// for any other symbol it is an error in layoutSources.
var layoutVersionedSymbols = []string{"_PyInterpreterFrame", "_PyCFrame", "PyDictValues", "FRAME_OWNED_BY_CSTACK"}

// layoutSources returns the source of every Layout field in 3.minor.
func layoutSources(minor int) map[string]layoutSource {
	member := func(typ, m string) layoutSource {
		return layoutSource{dwarf: fmt.Sprintf("&((%s *)0)->%s", typ, m)}
	}
	checked := func(s layoutSource, debugField string) layoutSource {
		s.debugOffsets = debugField
		return s
	}
	pick := func(cond bool, a, b string) string {
		if cond {
			return a
		}
		return b
	}
	constant := func(v any, why string) layoutSource {
		return layoutSource{constant: fmt.Sprint(v), why: why}
	}
	old := minor <= 10
	oldFrame, newFrame := "struct _frame", "_PyInterpreterFrame"
	frame := pick(old, oldFrame, newFrame)
	ops := func(names ...string) layoutSource { return layoutSource{opcodes: names} }

	s := map[string]layoutSource{
		"Minor":        constant(minor, "the minor version"),
		"EvalFrameArg": {prototype: "frame-arg"},
		"OldFrames":    {prototype: "old-frames"},

		"Frame_code":       checked(member(frame, map[bool]string{true: "f_executable", false: "f_code"}[minor >= 13]), "interpreter_frame.executable"),
		"Frame_previous":   checked(member(frame, pick(old, "f_back", "previous")), "interpreter_frame.previous"),
		"Frame_instr":      checked(member(newFrame, pick(minor >= 13, "instr_ptr", "prev_instr")), "interpreter_frame.instr_ptr"),
		"Frame_lasti":      member(oldFrame, "f_lasti"),
		"Frame_localsplus": checked(member(frame, pick(old, "f_localsplus", "localsplus")), "interpreter_frame.localsplus"),
		"Frame_owner":      checked(member(newFrame, "owner"), "interpreter_frame.owner"),
		"Frame_globals":    member(frame, "f_globals"),
		"Frame_funcobj":    member(newFrame, pick(minor == 11, "f_func", "f_funcobj")),
		"Frame_stacktop":   member(oldFrame, "f_stacktop"),
		"Frame_state":      member(oldFrame, "f_state"),
		// enum _frameowner (CPython v3.12.0 Include/internal/pycore_frame.h;
		// from 3.14 the entry frame's owner is FRAME_OWNED_BY_INTERPRETER)
		"FirstShimOwner": {dwarf: pick(minor >= 14, "FRAME_OWNED_BY_INTERPRETER", "FRAME_OWNED_BY_CSTACK")},
		"LastiIsUnits": map[bool]layoutSource{
			true:  constant(true, "CPython v3.10.0 Include/cpython/frameobject.h: f_lasti counts code units (bpo-27129)"),
			false: constant(false, pick(old, "f_lasti counts bytes before 3.10", "no f_lasti from 3.11")),
		}[minor == 10],
		"StackRefTagBits": map[bool]layoutSource{
			true:  constant("0x3", "Py_TAG_BITS of GIL builds, CPython v3.14 Include/internal/pycore_stackref.h (Py_TAG_REFCNT 1, Py_INT_TAG 3)"),
			false: constant("0x0", "frames hold plain PyObject pointers before 3.14"),
		}[minor >= 14],

		"PyCodeObject_co_argcount":                 checked(member("PyCodeObject", "co_argcount"), "code_object.argcount"),
		"PyCodeObject_co_posonlyargcount":          member("PyCodeObject", "co_posonlyargcount"),
		"PyCodeObject_co_kwonlyargcount":           member("PyCodeObject", "co_kwonlyargcount"),
		"PyCodeObject_co_nlocals":                  member("PyCodeObject", "co_nlocals"),
		"PyCodeObject_co_flags":                    member("PyCodeObject", "co_flags"),
		"PyCodeObject_co_firstlineno":              checked(member("PyCodeObject", "co_firstlineno"), "code_object.firstlineno"),
		"PyCodeObject_co_consts":                   member("PyCodeObject", "co_consts"),
		"PyCodeObject_co_varnames":                 checked(member("PyCodeObject", pick(old, "co_varnames", "co_localsplusnames")), "code_object.localsplusnames"),
		"PyCodeObject_co_localspluskinds":          checked(member("PyCodeObject", "co_localspluskinds"), "code_object.localspluskinds"),
		"PyCodeObject_co_nlocalsplus":              member("PyCodeObject", "co_nlocalsplus"),
		"PyCodeObject_co_cellvars":                 member("PyCodeObject", "co_cellvars"),
		"PyCodeObject_co_cell2arg":                 member("PyCodeObject", "co_cell2arg"),
		"PyCodeObject_co_filename":                 checked(member("PyCodeObject", "co_filename"), "code_object.filename"),
		"PyCodeObject_co_name":                     checked(member("PyCodeObject", "co_name"), "code_object.name"),
		"PyCodeObject_co_qualname":                 checked(member("PyCodeObject", "co_qualname"), "code_object.qualname"),
		"PyCodeObject__co_instrumentation_version": member("PyCodeObject", "_co_instrumentation_version"),
		"CodeInternalFlags": map[bool]layoutSource{
			true:  constant("0x2000000", "CO_NO_MONITORING_EVENTS, CPython v3.13.0 Include/cpython/code.h"),
			false: constant("0x0", "no internal-code flag before 3.13"),
		}[minor >= 13],

		"PyObject_ob_type":             checked(member("PyObject", "ob_type"), "pyobject.ob_type"),
		"PyVarObject_ob_size":          checked(member("PyVarObject", "ob_size"), "tuple_object.ob_size"),
		"PyTypeObject_tp_name":         checked(member("PyTypeObject", "tp_name"), "type_object.tp_name"),
		"PyTypeObject_tp_flags":        checked(member("PyTypeObject", "tp_flags"), "type_object.tp_flags"),
		"PyTypeObject_tp_dict":         member("PyTypeObject", "tp_dict"),
		"PyTypeObject_tp_mro":          member("PyTypeObject", "tp_mro"),
		"PyTypeObject_tp_base":         member("PyTypeObject", "tp_base"),
		"PyHeapTypeObject_ht_qualname": member("PyHeapTypeObject", "ht_qualname"),
		"PyTupleObject_ob_item":        checked(member("PyTupleObject", "ob_item"), "tuple_object.ob_item"),
		"PyBytesObject_ob_sval":        checked(member("PyBytesObject", "ob_sval"), "bytes_object.ob_sval"),
		"PyCellObject_ob_ref":          member("PyCellObject", "ob_ref"),

		"PyASCIIObjectSize":          checked(layoutSource{dwarf: "sizeof(PyASCIIObject)"}, "unicode_object.asciiobject_size"),
		"PyCompactUnicodeObjectSize": {dwarf: "sizeof(PyCompactUnicodeObject)"},
		"PyUnicodeObject_state":      checked(member("PyASCIIObject", "state"), "unicode_object.state"),
		"PyUnicodeObject_length":     checked(member("PyASCIIObject", "length"), "unicode_object.length"),
		"PyUnicodeObject_data":       member("PyUnicodeObject", "data"),

		"PyDictObject_ma_keys":                 checked(member("PyDictObject", "ma_keys"), "dict_object.ma_keys"),
		"PyDictObject_ma_values":               checked(member("PyDictObject", "ma_values"), "dict_object.ma_values"),
		"PyDictKeysObject_dk_size":             member("PyDictKeysObject", "dk_size"),
		"PyDictKeysObject_dk_log2_size":        member("PyDictKeysObject", "dk_log2_size"),
		"PyDictKeysObject_dk_log2_index_bytes": member("PyDictKeysObject", "dk_log2_index_bytes"),
		"PyDictKeysObject_dk_kind":             member("PyDictKeysObject", "dk_kind"),
		"PyDictKeysObject_dk_nentries":         member("PyDictKeysObject", "dk_nentries"),
		"PyDictKeysObject_dk_indices":          member("PyDictKeysObject", "dk_indices"),
		"PyDictValues_values": map[bool]layoutSource{
			true:  constant(0, "no struct _dictvalues before 3.11: ma_values points at the values array"),
			false: member("PyDictValues", "values"),
		}[old],

		"PyRuntimeState_tstate_current": member("_PyRuntimeState", "gilstate.tstate_current"),
		"PyThreadState_frame":           checked(member("PyThreadState", pick(old, "frame", "current_frame")), "thread_state.current_frame"),
		"PyThreadState_cframe": map[bool]layoutSource{
			true:  constant("absent", "3.10's tstate->cframe has no current_frame: the frame is tstate->frame"),
			false: member("PyThreadState", "cframe"),
		}[minor == 10],
		"CFrame_current_frame": member("_PyCFrame", "current_frame"),

		"PyRuntimeState_interpreters_head":           checked(member("_PyRuntimeState", "interpreters.head"), "runtime_state.interpreters_head"),
		"PyInterpreterState_modules":                 checked(member("PyInterpreterState", pick(minor >= 12, "imports.modules", "modules")), "interpreter_state.imports_modules"),
		"PyInterpreterState_instrumentation_version": member("PyInterpreterState", pick(minor >= 13, "ceval.instrumentation_version", "monitoring_version")),
		"PyModuleObject_md_dict":                     member("PyModuleObject", "md_dict"),

		"PyFunctionObject_func_code":       member("PyFunctionObject", "func_code"),
		"PyFunctionObject_func_qualname":   member("PyFunctionObject", "func_qualname"),
		"PyFunctionObject_func_module":     member("PyFunctionObject", "func_module"),
		"PyFunctionObject_func_closure":    member("PyFunctionObject", "func_closure"),
		"PyFunctionObject_func_dict":       member("PyFunctionObject", "func_dict"),
		"PyFunctionObject_func_defaults":   member("PyFunctionObject", "func_defaults"),
		"PyFunctionObject_func_kwdefaults": member("PyFunctionObject", "func_kwdefaults"),
		"Staticmethod_sm_callable":         member("staticmethod", "sm_callable"),
		"Classmethod_cm_callable":          member("classmethod", "cm_callable"),
		"Propertyobject_prop_get":          member("propertyobject", "prop_get"),
		"Propertyobject_prop_set":          member("propertyobject", "prop_set"),
		"Propertyobject_prop_del":          member("propertyobject", "prop_del"),

		"ReturnConstOpcodes":    ops("RETURN_CONST", "INSTRUMENTED_RETURN_CONST"),
		"ReturnGeneratorOpcode": ops("RETURN_GENERATOR"),
		"ExtendedArgOpcode":     ops("EXTENDED_ARG"),
	}
	switch {
	case old:
		s["ResumeOpcodes"] = constant("none", "3.8-3.10 are probed at the eval loop's entry")
		s["ReturnValueOpcodes"] = constant("none", "3.8-3.10 returns are seen by a uretprobe on the eval loop")
	case minor == 11:
		s["ResumeOpcodes"] = ops("RESUME", "RESUME_QUICK")
		s["ReturnValueOpcodes"] = ops("RETURN_VALUE")
	case minor == 12:
		s["ResumeOpcodes"] = ops("RESUME", "INSTRUMENTED_RESUME")
		s["ReturnValueOpcodes"] = ops("RETURN_VALUE", "INSTRUMENTED_RETURN_VALUE")
	default:
		s["ResumeOpcodes"] = ops("RESUME", "RESUME_CHECK", "INSTRUMENTED_RESUME")
		s["ReturnValueOpcodes"] = ops("RETURN_VALUE", "INSTRUMENTED_RETURN_VALUE")
	}
	return s
}

// layoutRef is the build a version's fixture is generated from: its
// version, the argv that runs it, the file whose DWARF gdb reads, and where
// its _Py_DebugOffsets come from (3.13+).
type layoutRef struct {
	version string   // "3.13.0"
	desc    string   // for the fixture's header
	python  []string // argv that runs the interpreter
	dwarf   string   // the file with its DWARF types
	// debugOffsets reads the _Py_DebugOffsets fields the DWARF values are
	// checked against; nil before 3.13.
	debugOffsets func(t *testing.T) map[string]int64
}

// layoutSidRoot is the Debian sid test root (scripts/make-testroots.sh),
// where 3.14 and 3.15 come from.
var layoutSidRoot = filepath.Join(testutil.TestRoots, "sid")

// layoutReference returns the reference build of 3.minor: the newest pyenv
// build (3.8-3.13: release builds with DWARF, shared libpython), or, from
// 3.14, Debian sid's packages: the DWARF of the debug build (python3.Nd,
// whose struct layouts are the release build's: Py_DEBUG no longer changes
// the object header) checked against the _Py_DebugOffsets of the stripped
// release build users run (python3.N), read from its initialized
// .PyRuntime section.
func layoutReference(t *testing.T, minor int) layoutRef {
	t.Helper()
	if minor >= 14 {
		debug := fmt.Sprintf("/usr/bin/python3.%dd", minor)
		release := filepath.Join(layoutSidRoot, fmt.Sprintf("usr/bin/python3.%d", minor))
		_, err := os.Stat(filepath.Join(layoutSidRoot, debug))
		require.NoError(t, err, "no debug build of 3.%d in %s: run scripts/make-testroots.sh (as root) to regenerate the fixture", minor, layoutSidRoot)
		python := []string{"chroot", layoutSidRoot, debug}
		out, err := exec.CommandContext(t.Context(), python[0], append(python[1:], "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])")...).Output()
		require.NoError(t, err, "run %s (root needed for chroot)", python)
		version := strings.TrimSpace(string(out))
		return layoutRef{
			version: version,
			desc:    fmt.Sprintf("Debian sid %s: DWARF of python3.%dd, _Py_DebugOffsets of the release python3.%d", version, minor, minor),
			python:  python,
			dwarf:   filepath.Join(layoutSidRoot, debug),
			debugOffsets: func(t *testing.T) map[string]int64 {
				return layoutFileDebugOffsets(t, minor, release)
			},
		}
	}
	dirs, err := filepath.Glob(filepath.Join(testutil.PyenvRoot(), "versions", fmt.Sprintf("3.%d.*", minor)))
	require.NoError(t, err)
	patch, version := -1, ""
	for _, d := range dirs {
		p, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), fmt.Sprintf("3.%d.", minor)))
		if err == nil && p > patch {
			patch, version = p, filepath.Base(d)
		}
	}
	require.NotEqual(t, -1, patch, "no pyenv build of 3.%d in %s: pyenv install it (with debug info) to regenerate the fixture", minor, testutil.PyenvRoot())
	dir := filepath.Join(testutil.PyenvRoot(), "versions", version)
	python := filepath.Join(dir, "bin", fmt.Sprintf("python3.%d", minor))
	lib := filepath.Join(dir, "lib", fmt.Sprintf("libpython3.%d.so.1.0", minor))
	ref := layoutRef{version: version, desc: fmt.Sprintf("pyenv %s (%s)", version, filepath.Base(lib)), python: []string{python}, dwarf: lib}
	if _, ok := cpython.DebugOffsetsLayouts[minor]; ok {
		ref.debugOffsets = func(t *testing.T) map[string]int64 { return layoutLiveDebugOffsets(t, minor, python, lib) }
	}
	return ref
}

// layoutGDBScript evaluates every expression of $LAYOUT_EXPRS (a JSON list)
// and the frame parameter of _PyEval_EvalFrameDefault, and prints them as
// one JSON line.
const layoutGDBScript = `
import gdb, json, os
out = {"values": {}, "errors": {}}
for e in json.loads(os.environ["LAYOUT_EXPRS"]):
    try:
        out["values"][e] = int(gdb.parse_and_eval("(long)(" + e + ")"))
    except gdb.error as err:
        out["errors"][e] = str(err)
t = gdb.parse_and_eval("_PyEval_EvalFrameDefault").type
out["prototype"] = [str(f.type) for f in t.fields()]
print("LAYOUT-JSON " + json.dumps(out))
`

type layoutGDBResult struct {
	Values    map[string]int64  `json:"values"`
	Errors    map[string]string `json:"errors"`
	Prototype []string          `json:"prototype"`
}

func layoutGDB(t *testing.T, lib string, exprs []string) layoutGDBResult {
	t.Helper()
	_, err := exec.LookPath("gdb")
	require.NoError(t, err, "the layout fixtures are generated with gdb")
	script := filepath.Join(t.TempDir(), "layout.py")
	require.NoError(t, os.WriteFile(script, []byte(layoutGDBScript), 0o644))
	list, err := json.Marshal(exprs)
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), "gdb", "-batch", "-nx", "-x", script, lib)
	cmd.Env = append(os.Environ(), "LAYOUT_EXPRS="+string(list))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, line := range strings.Split(string(out), "\n") {
		if js, ok := strings.CutPrefix(line, "LAYOUT-JSON "); ok {
			var r layoutGDBResult
			require.NoError(t, json.Unmarshal([]byte(js), &r))
			return r
		}
	}
	t.Fatalf("gdb printed no result:\n%s", out)
	return layoutGDBResult{}
}

// layoutOpmapScript prints the version and every opcode the interpreter
// knows: dis.opmap, plus the specialized opcodes (3.11 dis._all_opmap, 3.13
// opcode._specialized_opmap). 3.12 puts the instrumented ones in opmap.
const layoutOpmapScript = `
import dis, json, opcode, sys
m = {}
for mod in (dis, opcode):
    for name in ("_all_opmap", "_specialized_opmap"):
        m.update(getattr(mod, name, None) or {})
m.update(dis.opmap)
print(json.dumps({"version": list(sys.version_info[:3]), "opmap": m}))
`

func layoutOpmap(t *testing.T, python []string) (version []int, opmap map[string]int) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), python[0], append(python[1:], "-c", layoutOpmapScript)...).Output()
	require.NoError(t, err)
	var r struct {
		Version []int          `json:"version"`
		Opmap   map[string]int `json:"opmap"`
	}
	require.NoError(t, json.Unmarshal(out, &r))
	return r.Version, r.Opmap
}

// layoutLiveDebugOffsets reads _Py_DebugOffsets out of a running python
// (3.13+) through /proc/PID/mem. It finds _PyRuntime from libpython's
// symbol table and the process's maps, not through pyelf, which refuses an
// interpreter whose _Py_DebugOffsets disagree with the layout table.
func layoutLiveDebugOffsets(t *testing.T, minor int, python, lib string) map[string]int64 {
	t.Helper()
	blocks, ok := cpython.DebugOffsetsLayouts[minor]
	require.True(t, ok, "the fields of 3.%d's _Py_DebugOffsets are not known (cpython/debugoffsets.go)", minor)
	f, err := elf.Open(lib)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	i := slices.IndexFunc(syms, func(s elf.Symbol) bool { return s.Name == "_PyRuntime" })
	require.NotEqual(t, -1, i, "%s exports no _PyRuntime", lib)
	runtime := syms[i].Value
	var firstLoad uint64
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			firstLoad = p.Vaddr &^ (proc.PageSize - 1)
			break
		}
	}

	script := filepath.Join(t.TempDir(), "idle.py")
	require.NoError(t, os.WriteFile(script, []byte(`import json, sys
print(json.dumps({"version": list(sys.version_info[:3])}), flush=True)
sys.stdin.read()
`), 0o644))
	var report struct{ Version []int }
	pid := testutil.StartPyTarget(t, python, script, &report)
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	require.NoError(t, err)
	mappings, err := proc.ParseMaps(maps)
	require.NoError(t, err)
	real, err := filepath.EvalSymlinks(lib)
	require.NoError(t, err)
	var bias uint64
	for _, m := range mappings {
		if m.Offset == 0 && (m.Path == lib || m.Path == real) {
			bias = m.Start - firstLoad
			break
		}
	}
	require.NotZero(t, bias, "%s is not mapped in pid %d", lib, pid)
	mem, err := proc.OpenMemory(pid)
	require.NoError(t, err)
	defer mem.Close()

	pos, size := cpython.DebugOffsetsPositions(blocks)
	buf, err := mem.Bytes(runtime+bias, size)
	require.NoError(t, err)
	require.Equal(t, cpython.DebugOffsetsCookie, string(buf[:8]), "_Py_DebugOffsets cookie at _PyRuntime")
	out := map[string]int64{}
	for field, off := range pos {
		out[field] = int64(binary.LittleEndian.Uint64(buf[off:]))
	}
	return out
}

// layoutFileDebugOffsets reads _Py_DebugOffsets from the initialized
// .PyRuntime section of an executable or libpython (3.13+), where it sits
// at the section's start.
func layoutFileDebugOffsets(t *testing.T, minor int, path string) map[string]int64 {
	t.Helper()
	blocks, ok := cpython.DebugOffsetsLayouts[minor]
	require.True(t, ok, "the fields of 3.%d's _Py_DebugOffsets are not known (cpython/debugoffsets.go)", minor)
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sec := f.Section(".PyRuntime")
	require.NotNil(t, sec, "%s has no .PyRuntime section", path)
	pos, size := cpython.DebugOffsetsPositions(blocks)
	buf := make([]byte, size)
	_, err = sec.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, cpython.DebugOffsetsCookie, string(buf[:8]), "_Py_DebugOffsets cookie at the start of %s's .PyRuntime", path)
	out := map[string]int64{}
	for field, off := range pos {
		out[field] = int64(binary.LittleEndian.Uint64(buf[off:]))
	}
	return out
}

var gdbNoSymbol = regexp.MustCompile(`^No symbol "(\w+)" in current context\.$`)

// generateLayoutFixture builds testdata/layouts/3.minor.txt from the newest
// pyenv build of 3.minor.
func generateLayoutFixture(t *testing.T, minor int) []byte {
	t.Helper()
	ref := layoutReference(t, minor)
	sources := layoutSources(minor)
	fields := reflect.VisibleFields(reflect.TypeFor[cpython.Layout]())
	require.Len(t, sources, len(fields), "layoutSources(%d) must name every Layout field once", minor)

	var exprs []string
	for _, f := range fields {
		src, ok := sources[f.Name]
		require.True(t, ok, "layoutSources(%d) has no source for %s", minor, f.Name)
		if src.dwarf != "" {
			exprs = append(exprs, src.dwarf)
		}
	}
	gdb := layoutGDB(t, ref.dwarf, exprs)
	pyVersion, opmap := layoutOpmap(t, ref.python)
	require.Equal(t, ref.version, fmt.Sprintf("%d.%d.%d", pyVersion[0], pyVersion[1], pyVersion[2]), "%s runs another version", ref.python)
	var debugOffsets map[string]int64
	if ref.debugOffsets != nil {
		debugOffsets = ref.debugOffsets(t)
	}

	frameArg, oldFrames := 0, false
	for i, p := range gdb.Prototype {
		if strings.Contains(p, "Frame") || strings.Contains(p, "_frame") {
			frameArg, oldFrames = i+1, p == "PyFrameObject *" || p == "struct _frame *"
		}
	}
	require.NotZero(t, frameArg, "no frame parameter in _PyEval_EvalFrameDefault(%s)", strings.Join(gdb.Prototype, ", "))
	prototype := "dwarf _PyEval_EvalFrameDefault(" + strings.Join(gdb.Prototype, ", ") + ")"

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# CPython 3.%d layout: every field of cpython.Layout, its value and where the value comes from.\n", minor)
	fmt.Fprintf(&buf, "# Generated by `make update-layouts` from %s; do not edit.\n", ref.desc)
	fmt.Fprintf(&buf, "# TestLayoutsMatchFixtures checks cpython/layout.go against this file.\n")
	tw := tabwriter.NewWriter(&buf, 0, 8, 1, ' ', 0)
	for _, f := range fields {
		src := sources[f.Name]
		var value, from string
		switch {
		case src.constant != "":
			value, from = src.constant, "constant: "+src.why
		case src.prototype == "frame-arg":
			value, from = strconv.Itoa(frameArg), prototype
		case src.prototype == "old-frames":
			value, from = strconv.FormatBool(oldFrames), prototype
		case src.dwarf != "":
			from = "dwarf " + src.dwarf
			if v, ok := gdb.Values[src.dwarf]; ok {
				value = strconv.FormatInt(v, 10)
			} else {
				msg := gdb.Errors[src.dwarf]
				m := gdbNoSymbol.FindStringSubmatch(msg)
				require.True(t, strings.HasPrefix(msg, "There is no member named") || m != nil && slices.Contains(layoutVersionedSymbols, m[1]),
					"3.%d %s: gdb cannot evaluate %s: %s", minor, f.Name, src.dwarf, msg)
				value, from = "absent", from+": "+msg
			}
			if debugOffsets != nil && src.debugOffsets != "" {
				got, ok := debugOffsets[src.debugOffsets]
				require.True(t, ok, "_Py_DebugOffsets has no %s", src.debugOffsets)
				require.Equal(t, value, strconv.FormatInt(got, 10), "3.%d %s: DWARF and _Py_DebugOffsets.%s disagree", minor, f.Name, src.debugOffsets)
				from += " = _Py_DebugOffsets." + src.debugOffsets
			}
		case len(src.opcodes) > 0:
			var nums []string
			for _, name := range src.opcodes {
				if n, ok := opmap[name]; ok {
					nums = append(nums, strconv.Itoa(n))
				}
			}
			from = "dis.opmap " + strings.Join(src.opcodes, ",")
			switch {
			case len(nums) == len(src.opcodes):
				value = strings.Join(nums, ",")
			case len(nums) == 0 && f.Type.Kind() == reflect.Slice:
				value, from = "none", from+": not in this version"
			case len(nums) == 0:
				value, from = "absent", from+": not in this version"
			default:
				t.Fatalf("3.%d %s: only some of %v are opcodes of this version", minor, f.Name, src.opcodes)
			}
		default:
			t.Fatalf("3.%d %s: the source names no dwarf expression, prototype, opcodes or constant", minor, f.Name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, value, from)
	}
	require.NoError(t, tw.Flush())
	return buf.Bytes()
}
