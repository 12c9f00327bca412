package cpython

import "fmt"

// Layout holds the CPython struct offsets and opcode numbers recapid needs for
// one minor version on x86-64 release builds. Field names keep CPython's
// spelling (Struct_field) so they grep against its headers.
//
// Sources: DWARF of the pyenv builds 3.8.18, 3.9.18, 3.10.13, 3.11.7, 3.12.1
// and 3.13.0 (gdb `ptype /o`), cross-checked for 3.13 against the live
// _Py_DebugOffsets; see shared/docs/cpython-internals.md §1. Offsets of a
// released minor version do not change between patch releases.
// A value of -1 means the field does not exist in that version.
type Layout struct {
	Minor int

	// EvalFrameArg is the 1-based argument of _PyEval_EvalFrameDefault that
	// holds the frame: 1 on 3.8 (f, throwflag), 2 from 3.9 (tstate, f, throwflag).
	EvalFrameArg int
	// OldFrames is true for 3.8-3.10, where every Python call enters
	// _PyEval_EvalFrameDefault with a PyFrameObject.
	OldFrames bool

	// Frame: PyFrameObject (3.8-3.10) or _PyInterpreterFrame (3.11+).
	Frame_code       int // f_code / f_executable
	Frame_previous   int // f_back / previous
	Frame_instr      int // prev_instr (3.11, 3.12) / instr_ptr (3.13+); -1 on 3.8-3.10
	Frame_lasti      int // f_lasti (3.8-3.10); -1 otherwise
	Frame_localsplus int // f_localsplus / localsplus
	Frame_owner      int // owner (3.11+); -1 on 3.8-3.10
	Frame_globals    int // f_globals: the module dict the frame runs in
	// Frame_funcobj is the function object the frame runs (3.11 f_func,
	// 3.12+ f_funcobj); -1 on 3.8-3.10, whose frames do not reference it.
	Frame_funcobj int
	// FrameOwnedByCStack is the owner value of the shim frame that C code
	// pushes when it enters the interpreter (3.12+); -1 when there is none.
	FrameOwnedByCStack int
	// LastiIsUnits is true on 3.10, whose f_lasti counts code units, not bytes.
	LastiIsUnits bool

	PyCodeObject_co_argcount        int
	PyCodeObject_co_posonlyargcount int
	PyCodeObject_co_kwonlyargcount  int
	PyCodeObject_co_nlocals         int
	PyCodeObject_co_flags           int
	PyCodeObject_co_firstlineno     int
	PyCodeObject_co_consts          int
	PyCodeObject_co_varnames        int // co_varnames (3.8-3.10) / co_localsplusnames (3.11+)
	PyCodeObject_co_localspluskinds int // -1 on 3.8-3.10
	PyCodeObject_co_nlocalsplus     int // -1 on 3.8-3.10
	PyCodeObject_co_cellvars        int // 3.8-3.10 only
	PyCodeObject_co_cell2arg        int // 3.8-3.10 only: Py_ssize_t* mapping cell index -> argument index
	PyCodeObject_co_filename        int
	PyCodeObject_co_name            int
	PyCodeObject_co_qualname        int // -1 on 3.8-3.10

	PyObject_ob_type             int
	PyVarObject_ob_size          int
	PyTypeObject_tp_name         int
	PyTypeObject_tp_flags        int
	PyTypeObject_tp_dict         int
	PyTypeObject_tp_mro          int
	PyHeapTypeObject_ht_qualname int
	PyTupleObject_ob_item        int
	PyBytesObject_ob_sval        int
	PyCellObject_ob_ref          int
	PyDictObject_ma_keys         int
	PyDictObject_ma_values       int
	// PyASCIIObjectSize is sizeof(PyASCIIObject): the data of a compact ASCII
	// str starts there. PyCompactUnicodeObjectSize is the same for compact
	// non-ASCII strings.
	PyASCIIObjectSize          int
	PyCompactUnicodeObjectSize int
	PyUnicodeObject_state      int
	PyUnicodeObject_length     int
	// PyUnicodeObject_data is the data pointer of a non-compact ("legacy")
	// str, such as an instance of a str subclass: 72 on 3.8-3.11, 56 from 3.12.
	PyUnicodeObject_data int

	// Dict keys object (struct _dictkeysobject). 3.8-3.10 store dk_size;
	// 3.11+ store dk_log2_size, dk_log2_index_bytes and dk_kind instead
	// (-1 where a field does not exist). The entries follow dk_indices.
	PyDictKeysObject_dk_size             int
	PyDictKeysObject_dk_log2_size        int
	PyDictKeysObject_dk_log2_index_bytes int
	PyDictKeysObject_dk_kind             int
	PyDictKeysObject_dk_nentries         int
	PyDictKeysObject_dk_indices          int
	// PyDictValues_values is the offset of the values array inside the
	// object ma_values points at (split dicts): 0 up to 3.12, 8 on 3.13,
	// where struct _dictvalues gained capacity/size/embedded/valid bytes.
	PyDictValues_values int

	// Thread state, for the fallback frame source.
	PyRuntimeState_tstate_current int // gilstate.tstate_current (3.8-3.11); -1 from 3.12 (TLS)
	PyThreadState_frame           int // frame (3.8-3.10) / current_frame (3.13+); -1 otherwise
	PyThreadState_cframe          int // cframe (3.11, 3.12); -1 otherwise
	CFrame_current_frame          int // _PyCFrame.current_frame (3.11, 3.12)

	// The object graph BuildQualnameIndex walks: _PyRuntime → interpreter →
	// sys.modules → module dicts → functions and classes. Checked against
	// DWARF by TestQualnameLayoutMatchesDWARF.
	PyRuntimeState_interpreters_head int // interpreters.head
	PyInterpreterState_modules       int // modules (3.8-3.11) / imports.modules (3.12+): sys.modules
	PyModuleObject_md_dict           int
	PyTypeObject_tp_base             int
	// PyFunctionObject moved its fields in 3.10 (CPython v3.10.0
	// Include/funcobject.h: COMMON_FIELDS first, func_code after them).
	PyFunctionObject_func_code       int
	PyFunctionObject_func_qualname   int
	PyFunctionObject_func_module     int
	PyFunctionObject_func_closure    int
	PyFunctionObject_func_dict       int
	PyFunctionObject_func_defaults   int // tuple of positional defaults, or NULL
	PyFunctionObject_func_kwdefaults int // dict of keyword-only defaults, or NULL
	// staticmethod, classmethod and property objects (Objects/funcobject.c,
	// Objects/descrobject.c): the wrapped callable and the accessors.
	Staticmethod_sm_callable int
	Classmethod_cm_callable  int
	Propertyobject_prop_get  int
	Propertyobject_prop_set  int
	Propertyobject_prop_del  int

	// PyCodeObject__co_instrumentation_version and the interpreter's global
	// version (3.12 interp->monitoring_version, 3.13+
	// interp->ceval.instrumentation_version): when they differ, RESUME
	// instruments the code and runs again (CPython v3.12.1
	// Python/bytecodes.c RESUME); -1 before 3.12.
	PyCodeObject__co_instrumentation_version   int
	PyInterpreterState_instrumentation_version int

	// CodeInternalFlags are co_flags bits that mark interpreter-internal shim
	// code (3.13+: CO_NO_MONITORING_EVENTS, set on _Py_InitCleanup); frames
	// running such code are never reported as callers.
	CodeInternalFlags uint32

	// Opcodes whose handlers start a Python frame (the RESUME family). Empty
	// on 3.8-3.10, where the eval-loop entry is probed instead.
	ResumeOpcodes []uint8
	// Opcodes whose handlers end a frame by returning (3.11+; empty before,
	// where a uretprobe on the eval loop sees returns). RETURN_VALUE and its
	// instrumented twin find the value in stack slot 0, that is
	// localsplus[co_nlocalsplus]; RETURN_CONST and its twin in
	// co_consts[oparg] (CPython v3.12.1 Python/bytecodes.c).
	ReturnValueOpcodes []uint8
	ReturnConstOpcodes []uint8
	// ReturnGeneratorOpcode is RETURN_GENERATOR, which a call of a generator
	// or coroutine function runs to create the object (3.11+); -1 before.
	ReturnGeneratorOpcode int
	// ExtendedArgOpcode prefixes an instruction whose oparg exceeds 255.
	ExtendedArgOpcode int
	// Frame_stacktop (3.8, 3.9) is non-NULL while a generator frame is
	// suspended; Frame_state (3.10, a char) is FRAME_SUSPENDED (-1) then.
	// Both -1 where the field does not exist. They tell a yield from a
	// return at the eval loop's return.
	Frame_stacktop int
	Frame_state    int
}

// Code object flags (Include/cpython/code.h), the same in every supported version.
const (
	CO_OPTIMIZED          = 0x1
	CO_NEWLOCALS          = 0x2
	CO_VARARGS            = 0x4
	CO_VARKEYWORDS        = 0x8
	CO_GENERATOR          = 0x20
	CO_COROUTINE          = 0x80
	CO_ITERABLE_COROUTINE = 0x100
	CO_ASYNC_GENERATOR    = 0x200
)

// Py_TPFLAGS_HEAPTYPE marks types allocated on the heap (classes defined in
// Python, most newer extension types): their tp_name is the short name only.
const Py_TPFLAGS_HEAPTYPE = 1 << 9

var layouts = map[int]Layout{
	8:  oldFrameLayout(8),
	9:  oldFrameLayout(9),
	10: oldFrameLayout(10),
	11: {
		Minor: 11, EvalFrameArg: 2,
		Frame_code: 32, Frame_previous: 48, Frame_instr: 56, Frame_lasti: -1, Frame_localsplus: 72, Frame_owner: 69, Frame_globals: 8, Frame_funcobj: 0,
		FrameOwnedByCStack:       -1,
		PyCodeObject_co_argcount: 56, PyCodeObject_co_posonlyargcount: 60, PyCodeObject_co_kwonlyargcount: 64,
		PyCodeObject_co_nlocals: 80, PyCodeObject_co_flags: 48, PyCodeObject_co_firstlineno: 72, PyCodeObject_co_consts: 24,
		PyCodeObject_co_varnames: 96, PyCodeObject_co_localspluskinds: 104, PyCodeObject_co_nlocalsplus: 76,
		PyCodeObject_co_cellvars: -1, PyCodeObject_co_cell2arg: -1,
		PyCodeObject_co_filename: 112, PyCodeObject_co_name: 120, PyCodeObject_co_qualname: 128,
		PyHeapTypeObject_ht_qualname: 864, PyASCIIObjectSize: 48, PyCompactUnicodeObjectSize: 72,
		PyRuntimeState_tstate_current: 576, PyThreadState_frame: -1, PyThreadState_cframe: 56, CFrame_current_frame: 8,
		ResumeOpcodes:         []uint8{151, 150}, // RESUME, RESUME_QUICK
		ReturnValueOpcodes:    []uint8{83},       // RETURN_VALUE
		ReturnGeneratorOpcode: 75, ExtendedArgOpcode: 144,
		Frame_stacktop: -1, Frame_state: -1,
		PyCodeObject__co_instrumentation_version: -1, PyInterpreterState_instrumentation_version: -1,
	},
	12: {
		Minor: 12, EvalFrameArg: 2,
		Frame_code: 0, Frame_previous: 8, Frame_instr: 56, Frame_lasti: -1, Frame_localsplus: 72, Frame_owner: 70, Frame_globals: 24, Frame_funcobj: 16,
		FrameOwnedByCStack:       3,
		PyCodeObject_co_argcount: 52, PyCodeObject_co_posonlyargcount: 56, PyCodeObject_co_kwonlyargcount: 60,
		PyCodeObject_co_nlocals: 80, PyCodeObject_co_flags: 48, PyCodeObject_co_firstlineno: 68, PyCodeObject_co_consts: 24,
		PyCodeObject_co_varnames: 96, PyCodeObject_co_localspluskinds: 104, PyCodeObject_co_nlocalsplus: 72,
		PyCodeObject_co_cellvars: -1, PyCodeObject_co_cell2arg: -1,
		PyCodeObject_co_filename: 112, PyCodeObject_co_name: 120, PyCodeObject_co_qualname: 128,
		PyHeapTypeObject_ht_qualname: 872, PyASCIIObjectSize: 40, PyCompactUnicodeObjectSize: 56,
		PyRuntimeState_tstate_current: -1, PyThreadState_frame: -1, PyThreadState_cframe: 56, CFrame_current_frame: 0,
		ResumeOpcodes:         []uint8{151, 240}, // RESUME, INSTRUMENTED_RESUME
		ReturnValueOpcodes:    []uint8{83, 242},  // RETURN_VALUE, INSTRUMENTED_RETURN_VALUE
		ReturnConstOpcodes:    []uint8{121, 247}, // RETURN_CONST, INSTRUMENTED_RETURN_CONST
		ReturnGeneratorOpcode: 75, ExtendedArgOpcode: 144,
		Frame_stacktop: -1, Frame_state: -1,
		PyCodeObject__co_instrumentation_version: 160, PyInterpreterState_instrumentation_version: 48,
	},
	13: {
		Minor: 13, EvalFrameArg: 2,
		Frame_code: 0, Frame_previous: 8, Frame_instr: 56, Frame_lasti: -1, Frame_localsplus: 72, Frame_owner: 70, Frame_globals: 24, Frame_funcobj: 16,
		FrameOwnedByCStack:       3,
		PyCodeObject_co_argcount: 52, PyCodeObject_co_posonlyargcount: 56, PyCodeObject_co_kwonlyargcount: 60,
		PyCodeObject_co_nlocals: 80, PyCodeObject_co_flags: 48, PyCodeObject_co_firstlineno: 68, PyCodeObject_co_consts: 24,
		PyCodeObject_co_varnames: 96, PyCodeObject_co_localspluskinds: 104, PyCodeObject_co_nlocalsplus: 72,
		PyCodeObject_co_cellvars: -1, PyCodeObject_co_cell2arg: -1,
		PyCodeObject_co_filename: 112, PyCodeObject_co_name: 120, PyCodeObject_co_qualname: 128,
		PyHeapTypeObject_ht_qualname: 872, PyASCIIObjectSize: 40, PyCompactUnicodeObjectSize: 56,
		PyRuntimeState_tstate_current: -1, PyThreadState_frame: 72, PyThreadState_cframe: -1,
		CodeInternalFlags:                        0x2000000,
		PyCodeObject__co_instrumentation_version: 168, PyInterpreterState_instrumentation_version: 0,
		ResumeOpcodes:         []uint8{149, 207, 236}, // RESUME, RESUME_CHECK, INSTRUMENTED_RESUME
		ReturnValueOpcodes:    []uint8{36, 239},       // RETURN_VALUE, INSTRUMENTED_RETURN_VALUE
		ReturnConstOpcodes:    []uint8{103, 240},      // RETURN_CONST, INSTRUMENTED_RETURN_CONST
		ReturnGeneratorOpcode: 35, ExtendedArgOpcode: 71,
		Frame_stacktop: -1, Frame_state: -1,
	},
}

// oldFrameLayout is the PyFrameObject-based layout shared by 3.8-3.10.
func oldFrameLayout(minor int) Layout {
	l := Layout{
		Minor: minor, EvalFrameArg: 2, OldFrames: true,
		Frame_code: 32, Frame_previous: 24, Frame_instr: -1, Frame_lasti: 104, Frame_localsplus: 360, Frame_owner: -1, Frame_globals: 48, Frame_funcobj: -1,
		FrameOwnedByCStack:       -1,
		PyCodeObject_co_argcount: 16, PyCodeObject_co_posonlyargcount: 20, PyCodeObject_co_kwonlyargcount: 24,
		PyCodeObject_co_nlocals: 28, PyCodeObject_co_flags: 36, PyCodeObject_co_firstlineno: 40, PyCodeObject_co_consts: 56,
		PyCodeObject_co_varnames: 72, PyCodeObject_co_localspluskinds: -1, PyCodeObject_co_nlocalsplus: -1,
		PyCodeObject_co_cellvars: 88, PyCodeObject_co_cell2arg: 96,
		PyCodeObject_co_filename: 104, PyCodeObject_co_name: 112, PyCodeObject_co_qualname: -1,
		PyHeapTypeObject_ht_qualname: 864, PyASCIIObjectSize: 48, PyCompactUnicodeObjectSize: 72,
		PyRuntimeState_tstate_current: 568, PyThreadState_frame: 24, PyThreadState_cframe: -1,
		PyCodeObject__co_instrumentation_version: -1, PyInterpreterState_instrumentation_version: -1,
		ReturnGeneratorOpcode: -1, ExtendedArgOpcode: 144,
		Frame_stacktop: 72, Frame_state: -1,
	}
	switch minor {
	case 8:
		l.EvalFrameArg = 1
		l.PyRuntimeState_tstate_current = 1368
	case 9:
		l.PyHeapTypeObject_ht_qualname = 856
	case 10:
		l.Frame_lasti, l.Frame_localsplus, l.LastiIsUnits = 96, 352, true
		l.Frame_stacktop, l.Frame_state = -1, 108
	}
	return l
}

func init() {
	for minor, l := range layouts {
		l.PyObject_ob_type, l.PyVarObject_ob_size = 8, 16
		l.PyTypeObject_tp_name, l.PyTypeObject_tp_flags, l.PyTypeObject_tp_dict = 24, 168, 264
		l.PyTypeObject_tp_mro = 344
		l.PyTupleObject_ob_item, l.PyBytesObject_ob_sval, l.PyCellObject_ob_ref = 24, 32, 16
		l.PyDictObject_ma_keys, l.PyDictObject_ma_values = 32, 40
		l.PyUnicodeObject_length, l.PyUnicodeObject_state = 16, 32
		// CPython v3.12.0 Include/cpython/unicodeobject.h dropped wstr, which
		// moved PyUnicodeObject.data; v3.11.0 Include/internal/pycore_dict.h
		// replaced dk_size by log2 fields; v3.13.0 added the PyDictValues header.
		l.PyUnicodeObject_data = 72
		l.PyDictKeysObject_dk_size, l.PyDictKeysObject_dk_nentries, l.PyDictKeysObject_dk_indices = 8, 32, 40
		l.PyDictKeysObject_dk_log2_size, l.PyDictKeysObject_dk_log2_index_bytes, l.PyDictKeysObject_dk_kind = -1, -1, -1
		if minor >= 11 {
			l.PyDictKeysObject_dk_size, l.PyDictKeysObject_dk_nentries, l.PyDictKeysObject_dk_indices = -1, 24, 32
			l.PyDictKeysObject_dk_log2_size, l.PyDictKeysObject_dk_log2_index_bytes, l.PyDictKeysObject_dk_kind = 8, 9, 10
		}
		if minor >= 12 {
			l.PyUnicodeObject_data = 56
		}
		if minor >= 13 {
			l.PyDictValues_values = 8
		}
		l.PyModuleObject_md_dict, l.PyTypeObject_tp_base = 16, 256
		l.Staticmethod_sm_callable, l.Classmethod_cm_callable = 16, 16
		l.Propertyobject_prop_get, l.Propertyobject_prop_set, l.Propertyobject_prop_del = 16, 24, 32
		l.PyFunctionObject_func_code, l.PyFunctionObject_func_qualname, l.PyFunctionObject_func_module = 48, 40, 104
		l.PyFunctionObject_func_closure, l.PyFunctionObject_func_dict = 72, 88
		l.PyFunctionObject_func_defaults, l.PyFunctionObject_func_kwdefaults = 56, 64
		if minor <= 9 {
			l.PyFunctionObject_func_code, l.PyFunctionObject_func_qualname, l.PyFunctionObject_func_module = 16, 104, 88
			l.PyFunctionObject_func_closure, l.PyFunctionObject_func_dict = 48, 72
			l.PyFunctionObject_func_defaults, l.PyFunctionObject_func_kwdefaults = 32, 40
		}
		// interp->modules became interp->imports.modules in CPython v3.12.0
		// (Include/internal/pycore_interp.h); 3.13 put _Py_DebugOffsets and
		// more state in front of both structs.
		l.PyRuntimeState_interpreters_head = map[int]int{8: 32, 9: 32, 10: 32, 11: 40, 12: 40, 13: 632}[minor]
		l.PyInterpreterState_modules = map[int]int{8: 56, 9: 856, 10: 856, 11: 888, 12: 944, 13: 7656}[minor]
		layouts[minor] = l
	}
}

// MinMinor and MaxMinor bound the supported CPython 3.x versions.
const (
	MinMinor = 8
	MaxMinor = 13
)

// LayoutFor returns the layout of CPython 3.minor, or a *VersionError.
func LayoutFor(v Version) (Layout, error) {
	l, ok := layouts[v.Minor]
	if v.Major != 3 || !ok {
		return Layout{}, &VersionError{Found: v}
	}
	return l, nil
}

// Version is a CPython version as found in the interpreter binary.
type Version struct {
	Major, Minor, Patch int
	// Release is the pre-release suffix ("a1", "b2", "rc1", "+"), empty for a final release.
	Release string
}

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d%s", v.Major, v.Minor, v.Patch, v.Release)
}

// Short is "3.11" style.
func (v Version) Short() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// VersionError reports an interpreter version recapid cannot trace.
type VersionError struct {
	Path  string
	Found Version
}

func (e *VersionError) Error() string {
	where := ""
	if e.Path != "" {
		where = e.Path + ": "
	}
	return fmt.Sprintf("%sCPython %s is not supported: recapid traces CPython 3.%d to 3.%d on x86-64", where, e.Found, MinMinor, MaxMinor)
}
