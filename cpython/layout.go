package cpython

// Layout holds the CPython struct offsets, enum values and opcode numbers
// recapi needs for one minor version on x86-64 release builds (offsets of a
// released minor version do not change between patch releases). Field names
// keep CPython's spelling (Struct_field) so they grep against its headers.
//
// Every field of every version is written out in layouts below, and a field
// the version does not have is Absent, never left at zero: 0 is a real
// offset (_PyInterpreterFrame.f_executable on 3.13). TestLayoutsComplete
// checks that no field is left out, and TestLayoutsMatchFixtures checks
// every value against testdata/layouts/3.N.txt, which `make update-layouts`
// generates from the DWARF of the pyenv builds 3.8.18, 3.9.18, 3.10.13,
// 3.11.7, 3.12.1 and 3.13.0 (gdb), each one's dis.opmap, and the live
// _Py_DebugOffsets of 3.13.0, and which say where each value comes from.
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
	Frame_instr      int // prev_instr (3.11, 3.12) / instr_ptr (3.13+); Absent on 3.8-3.10
	Frame_lasti      int // f_lasti (3.8-3.10); Absent otherwise
	Frame_localsplus int // f_localsplus / localsplus
	Frame_owner      int // owner (3.11+); Absent on 3.8-3.10
	Frame_globals    int // f_globals: the module dict the frame runs in
	// Frame_funcobj is the function object the frame runs (3.11 f_func,
	// 3.12+ f_funcobj); Absent on 3.8-3.10, whose frames do not reference it.
	Frame_funcobj int
	// Frame_stacktop (3.8, 3.9) is non-NULL while a generator frame is
	// suspended; Frame_state (3.10, a char) is FRAME_SUSPENDED (-1) then.
	// They tell a yield from a return at the eval loop's return.
	Frame_stacktop int
	Frame_state    int
	// FirstShimOwner is the lowest frame-owner value of a frame that is not
	// a Python call: every owner from it up marks one (3.12+). 3.12 and 3.13
	// have one such owner, FRAME_OWNED_BY_CSTACK (3), the entry frame C code
	// pushes when it enters the interpreter. 3.14 names the entry frame's
	// owner FRAME_OWNED_BY_INTERPRETER (3) and moves FRAME_OWNED_BY_CSTACK
	// to 4; 3.15 drops FRAME_OWNED_BY_CSTACK (CPython v3.14.0 and v3.15
	// Include/internal/pycore_interpframe_structs.h).
	FirstShimOwner int
	// LastiIsUnits is true on 3.10, whose f_lasti counts code units, not bytes.
	LastiIsUnits bool
	// StackRefTagBits are the low bits of a _PyStackRef (3.14+: the frame's
	// f_executable and f_funcobj and every localsplus slot) that are a tag,
	// not part of the pointer: clear them before dereferencing. A value whose
	// tag bits are all set is not a pointer at all but a tagged small int.
	// 0 before 3.14, whose frames hold plain PyObject pointers.
	StackRefTagBits uint32

	PyCodeObject_co_argcount        int
	PyCodeObject_co_posonlyargcount int
	PyCodeObject_co_kwonlyargcount  int
	PyCodeObject_co_nlocals         int
	PyCodeObject_co_flags           int
	PyCodeObject_co_firstlineno     int
	PyCodeObject_co_consts          int
	PyCodeObject_co_varnames        int // co_varnames (3.8-3.10) / co_localsplusnames (3.11+)
	PyCodeObject_co_localspluskinds int // 3.11+
	PyCodeObject_co_nlocalsplus     int // 3.11+
	PyCodeObject_co_cellvars        int // 3.8-3.10
	PyCodeObject_co_cell2arg        int // 3.8-3.10: Py_ssize_t* mapping cell index -> argument index
	PyCodeObject_co_filename        int
	PyCodeObject_co_name            int
	PyCodeObject_co_qualname        int // 3.11+
	// PyCodeObject__co_instrumentation_version and the interpreter's global
	// version (PyInterpreterState_instrumentation_version: 3.12
	// interp->monitoring_version, 3.13+ interp->ceval.instrumentation_version):
	// when they differ, RESUME instruments the code and runs again (CPython
	// v3.12.1 Python/bytecodes.c RESUME). 3.12+.
	PyCodeObject__co_instrumentation_version int
	// CodeInternalFlags are co_flags bits that mark interpreter-internal shim
	// code (3.13+: CO_NO_MONITORING_EVENTS, set on _Py_InitCleanup); frames
	// running such code are never reported as callers. 0 where there are none.
	CodeInternalFlags uint32

	PyObject_ob_type             int
	PyVarObject_ob_size          int
	PyTypeObject_tp_name         int
	PyTypeObject_tp_flags        int
	PyTypeObject_tp_dict         int
	PyTypeObject_tp_mro          int
	PyTypeObject_tp_base         int
	PyHeapTypeObject_ht_qualname int
	PyTupleObject_ob_item        int
	PyBytesObject_ob_sval        int
	PyCellObject_ob_ref          int

	// PyASCIIObjectSize is sizeof(PyASCIIObject): the data of a compact ASCII
	// str starts there. PyCompactUnicodeObjectSize is the same for compact
	// non-ASCII strings.
	PyASCIIObjectSize          int
	PyCompactUnicodeObjectSize int
	PyUnicodeObject_state      int
	PyUnicodeObject_length     int
	// PyUnicodeObject_data is the data pointer of a non-compact ("legacy")
	// str, such as an instance of a str subclass: 72 on 3.8-3.11, 56 from
	// 3.12, which dropped wstr (CPython v3.12.0 Include/cpython/unicodeobject.h).
	PyUnicodeObject_data int

	PyDictObject_ma_keys   int
	PyDictObject_ma_values int
	// Dict keys object (struct _dictkeysobject). 3.8-3.10 store dk_size;
	// 3.11+ store dk_log2_size, dk_log2_index_bytes and dk_kind instead
	// (CPython v3.11.0 Include/internal/pycore_dict.h). The entries follow
	// dk_indices.
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
	PyRuntimeState_tstate_current int // gilstate.tstate_current (3.8-3.11); Absent from 3.12 (TLS)
	PyThreadState_frame           int // frame (3.8-3.10) / current_frame (3.13+)
	PyThreadState_cframe          int // cframe (3.11, 3.12), where the frame is cframe->current_frame
	CFrame_current_frame          int // _PyCFrame.current_frame (3.11, 3.12)

	// The object graph Reader.QualnameIndex walks: _PyRuntime → interpreter →
	// sys.modules → module dicts → functions and classes.
	PyRuntimeState_interpreters_head int // interpreters.head
	// PyInterpreterState_modules is sys.modules: interp->modules (3.8-3.11),
	// interp->imports.modules (3.12+, CPython v3.12.0
	// Include/internal/pycore_interp.h).
	PyInterpreterState_modules                 int
	PyInterpreterState_instrumentation_version int
	PyModuleObject_md_dict                     int
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
	// or coroutine function runs to create the object (3.11+).
	ReturnGeneratorOpcode int
	// ExtendedArgOpcode prefixes an instruction whose oparg exceeds 255.
	ExtendedArgOpcode int
}

// Absent is the value of a Layout field that the version does not have: a
// struct member, enum value or opcode that does not exist there. Readers
// test for it before using an offset.
const Absent = -1

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

// layouts holds one complete Layout per supported minor version. Keep every
// field of every version written out, Absent included (TestLayoutsComplete),
// and equal to testdata/layouts/ (TestLayoutsMatchFixtures; a new field or
// version needs its source in layoutSources and make update-layouts).
var layouts = map[int]Layout{
	8: {
		Minor:        8,
		EvalFrameArg: 1,
		OldFrames:    true,

		Frame_code:       32,
		Frame_previous:   24,
		Frame_instr:      Absent,
		Frame_lasti:      104,
		Frame_localsplus: 360,
		Frame_owner:      Absent,
		Frame_globals:    48,
		Frame_funcobj:    Absent,
		Frame_stacktop:   72,
		Frame_state:      Absent,
		FirstShimOwner:   Absent,
		LastiIsUnits:     false,
		StackRefTagBits:  0x0,

		PyCodeObject_co_argcount:                 16,
		PyCodeObject_co_posonlyargcount:          20,
		PyCodeObject_co_kwonlyargcount:           24,
		PyCodeObject_co_nlocals:                  28,
		PyCodeObject_co_flags:                    36,
		PyCodeObject_co_firstlineno:              40,
		PyCodeObject_co_consts:                   56,
		PyCodeObject_co_varnames:                 72,
		PyCodeObject_co_localspluskinds:          Absent,
		PyCodeObject_co_nlocalsplus:              Absent,
		PyCodeObject_co_cellvars:                 88,
		PyCodeObject_co_cell2arg:                 96,
		PyCodeObject_co_filename:                 104,
		PyCodeObject_co_name:                     112,
		PyCodeObject_co_qualname:                 Absent,
		PyCodeObject__co_instrumentation_version: Absent,
		CodeInternalFlags:                        0x0,

		PyObject_ob_type:             8,
		PyVarObject_ob_size:          16,
		PyTypeObject_tp_name:         24,
		PyTypeObject_tp_flags:        168,
		PyTypeObject_tp_dict:         264,
		PyTypeObject_tp_mro:          344,
		PyTypeObject_tp_base:         256,
		PyHeapTypeObject_ht_qualname: 864,
		PyTupleObject_ob_item:        24,
		PyBytesObject_ob_sval:        32,
		PyCellObject_ob_ref:          16,

		PyASCIIObjectSize:          48,
		PyCompactUnicodeObjectSize: 72,
		PyUnicodeObject_state:      32,
		PyUnicodeObject_length:     16,
		PyUnicodeObject_data:       72,

		PyDictObject_ma_keys:                 32,
		PyDictObject_ma_values:               40,
		PyDictKeysObject_dk_size:             8,
		PyDictKeysObject_dk_log2_size:        Absent,
		PyDictKeysObject_dk_log2_index_bytes: Absent,
		PyDictKeysObject_dk_kind:             Absent,
		PyDictKeysObject_dk_nentries:         32,
		PyDictKeysObject_dk_indices:          40,
		PyDictValues_values:                  0, // no struct _dictvalues: ma_values is the array

		PyRuntimeState_tstate_current: 1368,
		PyThreadState_frame:           24,
		PyThreadState_cframe:          Absent,
		CFrame_current_frame:          Absent,

		PyRuntimeState_interpreters_head:           32,
		PyInterpreterState_modules:                 56,
		PyInterpreterState_instrumentation_version: Absent,
		PyModuleObject_md_dict:                     16,

		PyFunctionObject_func_code:       16,
		PyFunctionObject_func_qualname:   104,
		PyFunctionObject_func_module:     88,
		PyFunctionObject_func_closure:    48,
		PyFunctionObject_func_dict:       72,
		PyFunctionObject_func_defaults:   32,
		PyFunctionObject_func_kwdefaults: 40,

		Staticmethod_sm_callable: 16,
		Classmethod_cm_callable:  16,
		Propertyobject_prop_get:  16,
		Propertyobject_prop_set:  24,
		Propertyobject_prop_del:  32,

		ResumeOpcodes:         nil, // the eval loop's entry is probed instead
		ReturnValueOpcodes:    nil, // a uretprobe on the eval loop sees returns
		ReturnConstOpcodes:    nil, // no RETURN_CONST before 3.12
		ReturnGeneratorOpcode: Absent,
		ExtendedArgOpcode:     144, // EXTENDED_ARG
	},
	9: {
		Minor:        9,
		EvalFrameArg: 2,
		OldFrames:    true,

		Frame_code:       32,
		Frame_previous:   24,
		Frame_instr:      Absent,
		Frame_lasti:      104,
		Frame_localsplus: 360,
		Frame_owner:      Absent,
		Frame_globals:    48,
		Frame_funcobj:    Absent,
		Frame_stacktop:   72,
		Frame_state:      Absent,
		FirstShimOwner:   Absent,
		LastiIsUnits:     false,
		StackRefTagBits:  0x0,

		PyCodeObject_co_argcount:                 16,
		PyCodeObject_co_posonlyargcount:          20,
		PyCodeObject_co_kwonlyargcount:           24,
		PyCodeObject_co_nlocals:                  28,
		PyCodeObject_co_flags:                    36,
		PyCodeObject_co_firstlineno:              40,
		PyCodeObject_co_consts:                   56,
		PyCodeObject_co_varnames:                 72,
		PyCodeObject_co_localspluskinds:          Absent,
		PyCodeObject_co_nlocalsplus:              Absent,
		PyCodeObject_co_cellvars:                 88,
		PyCodeObject_co_cell2arg:                 96,
		PyCodeObject_co_filename:                 104,
		PyCodeObject_co_name:                     112,
		PyCodeObject_co_qualname:                 Absent,
		PyCodeObject__co_instrumentation_version: Absent,
		CodeInternalFlags:                        0x0,

		PyObject_ob_type:             8,
		PyVarObject_ob_size:          16,
		PyTypeObject_tp_name:         24,
		PyTypeObject_tp_flags:        168,
		PyTypeObject_tp_dict:         264,
		PyTypeObject_tp_mro:          344,
		PyTypeObject_tp_base:         256,
		PyHeapTypeObject_ht_qualname: 856,
		PyTupleObject_ob_item:        24,
		PyBytesObject_ob_sval:        32,
		PyCellObject_ob_ref:          16,

		PyASCIIObjectSize:          48,
		PyCompactUnicodeObjectSize: 72,
		PyUnicodeObject_state:      32,
		PyUnicodeObject_length:     16,
		PyUnicodeObject_data:       72,

		PyDictObject_ma_keys:                 32,
		PyDictObject_ma_values:               40,
		PyDictKeysObject_dk_size:             8,
		PyDictKeysObject_dk_log2_size:        Absent,
		PyDictKeysObject_dk_log2_index_bytes: Absent,
		PyDictKeysObject_dk_kind:             Absent,
		PyDictKeysObject_dk_nentries:         32,
		PyDictKeysObject_dk_indices:          40,
		PyDictValues_values:                  0, // no struct _dictvalues: ma_values is the array

		PyRuntimeState_tstate_current: 568,
		PyThreadState_frame:           24,
		PyThreadState_cframe:          Absent,
		CFrame_current_frame:          Absent,

		PyRuntimeState_interpreters_head:           32,
		PyInterpreterState_modules:                 856,
		PyInterpreterState_instrumentation_version: Absent,
		PyModuleObject_md_dict:                     16,

		PyFunctionObject_func_code:       16,
		PyFunctionObject_func_qualname:   104,
		PyFunctionObject_func_module:     88,
		PyFunctionObject_func_closure:    48,
		PyFunctionObject_func_dict:       72,
		PyFunctionObject_func_defaults:   32,
		PyFunctionObject_func_kwdefaults: 40,

		Staticmethod_sm_callable: 16,
		Classmethod_cm_callable:  16,
		Propertyobject_prop_get:  16,
		Propertyobject_prop_set:  24,
		Propertyobject_prop_del:  32,

		ResumeOpcodes:         nil, // the eval loop's entry is probed instead
		ReturnValueOpcodes:    nil, // a uretprobe on the eval loop sees returns
		ReturnConstOpcodes:    nil, // no RETURN_CONST before 3.12
		ReturnGeneratorOpcode: Absent,
		ExtendedArgOpcode:     144, // EXTENDED_ARG
	},
	10: {
		Minor:        10,
		EvalFrameArg: 2,
		OldFrames:    true,

		Frame_code:       32,
		Frame_previous:   24,
		Frame_instr:      Absent,
		Frame_lasti:      96,
		Frame_localsplus: 352,
		Frame_owner:      Absent,
		Frame_globals:    48,
		Frame_funcobj:    Absent,
		Frame_stacktop:   Absent,
		Frame_state:      108,
		FirstShimOwner:   Absent,
		LastiIsUnits:     true,
		StackRefTagBits:  0x0,

		PyCodeObject_co_argcount:                 16,
		PyCodeObject_co_posonlyargcount:          20,
		PyCodeObject_co_kwonlyargcount:           24,
		PyCodeObject_co_nlocals:                  28,
		PyCodeObject_co_flags:                    36,
		PyCodeObject_co_firstlineno:              40,
		PyCodeObject_co_consts:                   56,
		PyCodeObject_co_varnames:                 72,
		PyCodeObject_co_localspluskinds:          Absent,
		PyCodeObject_co_nlocalsplus:              Absent,
		PyCodeObject_co_cellvars:                 88,
		PyCodeObject_co_cell2arg:                 96,
		PyCodeObject_co_filename:                 104,
		PyCodeObject_co_name:                     112,
		PyCodeObject_co_qualname:                 Absent,
		PyCodeObject__co_instrumentation_version: Absent,
		CodeInternalFlags:                        0x0,

		PyObject_ob_type:             8,
		PyVarObject_ob_size:          16,
		PyTypeObject_tp_name:         24,
		PyTypeObject_tp_flags:        168,
		PyTypeObject_tp_dict:         264,
		PyTypeObject_tp_mro:          344,
		PyTypeObject_tp_base:         256,
		PyHeapTypeObject_ht_qualname: 864,
		PyTupleObject_ob_item:        24,
		PyBytesObject_ob_sval:        32,
		PyCellObject_ob_ref:          16,

		PyASCIIObjectSize:          48,
		PyCompactUnicodeObjectSize: 72,
		PyUnicodeObject_state:      32,
		PyUnicodeObject_length:     16,
		PyUnicodeObject_data:       72,

		PyDictObject_ma_keys:                 32,
		PyDictObject_ma_values:               40,
		PyDictKeysObject_dk_size:             8,
		PyDictKeysObject_dk_log2_size:        Absent,
		PyDictKeysObject_dk_log2_index_bytes: Absent,
		PyDictKeysObject_dk_kind:             Absent,
		PyDictKeysObject_dk_nentries:         32,
		PyDictKeysObject_dk_indices:          40,
		PyDictValues_values:                  0, // no struct _dictvalues: ma_values is the array

		PyRuntimeState_tstate_current: 568,
		PyThreadState_frame:           24,
		PyThreadState_cframe:          Absent, // 3.10 has a cframe, but its frame is tstate->frame
		CFrame_current_frame:          Absent,

		PyRuntimeState_interpreters_head:           32,
		PyInterpreterState_modules:                 856,
		PyInterpreterState_instrumentation_version: Absent,
		PyModuleObject_md_dict:                     16,

		PyFunctionObject_func_code:       48,
		PyFunctionObject_func_qualname:   40,
		PyFunctionObject_func_module:     104,
		PyFunctionObject_func_closure:    72,
		PyFunctionObject_func_dict:       88,
		PyFunctionObject_func_defaults:   56,
		PyFunctionObject_func_kwdefaults: 64,

		Staticmethod_sm_callable: 16,
		Classmethod_cm_callable:  16,
		Propertyobject_prop_get:  16,
		Propertyobject_prop_set:  24,
		Propertyobject_prop_del:  32,

		ResumeOpcodes:         nil, // the eval loop's entry is probed instead
		ReturnValueOpcodes:    nil, // a uretprobe on the eval loop sees returns
		ReturnConstOpcodes:    nil, // no RETURN_CONST before 3.12
		ReturnGeneratorOpcode: Absent,
		ExtendedArgOpcode:     144, // EXTENDED_ARG
	},
	11: {
		Minor:        11,
		EvalFrameArg: 2,
		OldFrames:    false,

		Frame_code:       32,
		Frame_previous:   48,
		Frame_instr:      56,
		Frame_lasti:      Absent,
		Frame_localsplus: 72,
		Frame_owner:      69,
		Frame_globals:    8,
		Frame_funcobj:    0,
		Frame_stacktop:   Absent,
		Frame_state:      Absent,
		FirstShimOwner:   Absent,
		LastiIsUnits:     false,
		StackRefTagBits:  0x0,

		PyCodeObject_co_argcount:                 56,
		PyCodeObject_co_posonlyargcount:          60,
		PyCodeObject_co_kwonlyargcount:           64,
		PyCodeObject_co_nlocals:                  80,
		PyCodeObject_co_flags:                    48,
		PyCodeObject_co_firstlineno:              72,
		PyCodeObject_co_consts:                   24,
		PyCodeObject_co_varnames:                 96,
		PyCodeObject_co_localspluskinds:          104,
		PyCodeObject_co_nlocalsplus:              76,
		PyCodeObject_co_cellvars:                 Absent,
		PyCodeObject_co_cell2arg:                 Absent,
		PyCodeObject_co_filename:                 112,
		PyCodeObject_co_name:                     120,
		PyCodeObject_co_qualname:                 128,
		PyCodeObject__co_instrumentation_version: Absent,
		CodeInternalFlags:                        0x0,

		PyObject_ob_type:             8,
		PyVarObject_ob_size:          16,
		PyTypeObject_tp_name:         24,
		PyTypeObject_tp_flags:        168,
		PyTypeObject_tp_dict:         264,
		PyTypeObject_tp_mro:          344,
		PyTypeObject_tp_base:         256,
		PyHeapTypeObject_ht_qualname: 864,
		PyTupleObject_ob_item:        24,
		PyBytesObject_ob_sval:        32,
		PyCellObject_ob_ref:          16,

		PyASCIIObjectSize:          48,
		PyCompactUnicodeObjectSize: 72,
		PyUnicodeObject_state:      32,
		PyUnicodeObject_length:     16,
		PyUnicodeObject_data:       72,

		PyDictObject_ma_keys:                 32,
		PyDictObject_ma_values:               40,
		PyDictKeysObject_dk_size:             Absent,
		PyDictKeysObject_dk_log2_size:        8,
		PyDictKeysObject_dk_log2_index_bytes: 9,
		PyDictKeysObject_dk_kind:             10,
		PyDictKeysObject_dk_nentries:         24,
		PyDictKeysObject_dk_indices:          32,
		PyDictValues_values:                  0,

		PyRuntimeState_tstate_current: 576,
		PyThreadState_frame:           Absent,
		PyThreadState_cframe:          56,
		CFrame_current_frame:          8,

		PyRuntimeState_interpreters_head:           40,
		PyInterpreterState_modules:                 888,
		PyInterpreterState_instrumentation_version: Absent,
		PyModuleObject_md_dict:                     16,

		PyFunctionObject_func_code:       48,
		PyFunctionObject_func_qualname:   40,
		PyFunctionObject_func_module:     104,
		PyFunctionObject_func_closure:    72,
		PyFunctionObject_func_dict:       88,
		PyFunctionObject_func_defaults:   56,
		PyFunctionObject_func_kwdefaults: 64,

		Staticmethod_sm_callable: 16,
		Classmethod_cm_callable:  16,
		Propertyobject_prop_get:  16,
		Propertyobject_prop_set:  24,
		Propertyobject_prop_del:  32,

		ResumeOpcodes:         []uint8{151, 150}, // RESUME, RESUME_QUICK
		ReturnValueOpcodes:    []uint8{83},       // RETURN_VALUE
		ReturnConstOpcodes:    nil,               // no RETURN_CONST before 3.12
		ReturnGeneratorOpcode: 75,                // RETURN_GENERATOR
		ExtendedArgOpcode:     144,               // EXTENDED_ARG
	},
	12: {
		Minor:        12,
		EvalFrameArg: 2,
		OldFrames:    false,

		Frame_code:       0,
		Frame_previous:   8,
		Frame_instr:      56,
		Frame_lasti:      Absent,
		Frame_localsplus: 72,
		Frame_owner:      70,
		Frame_globals:    24,
		Frame_funcobj:    16,
		Frame_stacktop:   Absent,
		Frame_state:      Absent,
		FirstShimOwner:   3,
		LastiIsUnits:     false,
		StackRefTagBits:  0x0,

		PyCodeObject_co_argcount:                 52,
		PyCodeObject_co_posonlyargcount:          56,
		PyCodeObject_co_kwonlyargcount:           60,
		PyCodeObject_co_nlocals:                  80,
		PyCodeObject_co_flags:                    48,
		PyCodeObject_co_firstlineno:              68,
		PyCodeObject_co_consts:                   24,
		PyCodeObject_co_varnames:                 96,
		PyCodeObject_co_localspluskinds:          104,
		PyCodeObject_co_nlocalsplus:              72,
		PyCodeObject_co_cellvars:                 Absent,
		PyCodeObject_co_cell2arg:                 Absent,
		PyCodeObject_co_filename:                 112,
		PyCodeObject_co_name:                     120,
		PyCodeObject_co_qualname:                 128,
		PyCodeObject__co_instrumentation_version: 160,
		CodeInternalFlags:                        0x0,

		PyObject_ob_type:             8,
		PyVarObject_ob_size:          16,
		PyTypeObject_tp_name:         24,
		PyTypeObject_tp_flags:        168,
		PyTypeObject_tp_dict:         264,
		PyTypeObject_tp_mro:          344,
		PyTypeObject_tp_base:         256,
		PyHeapTypeObject_ht_qualname: 872,
		PyTupleObject_ob_item:        24,
		PyBytesObject_ob_sval:        32,
		PyCellObject_ob_ref:          16,

		PyASCIIObjectSize:          40,
		PyCompactUnicodeObjectSize: 56,
		PyUnicodeObject_state:      32,
		PyUnicodeObject_length:     16,
		PyUnicodeObject_data:       56,

		PyDictObject_ma_keys:                 32,
		PyDictObject_ma_values:               40,
		PyDictKeysObject_dk_size:             Absent,
		PyDictKeysObject_dk_log2_size:        8,
		PyDictKeysObject_dk_log2_index_bytes: 9,
		PyDictKeysObject_dk_kind:             10,
		PyDictKeysObject_dk_nentries:         24,
		PyDictKeysObject_dk_indices:          32,
		PyDictValues_values:                  0,

		PyRuntimeState_tstate_current: Absent,
		PyThreadState_frame:           Absent,
		PyThreadState_cframe:          56,
		CFrame_current_frame:          0,

		PyRuntimeState_interpreters_head:           40,
		PyInterpreterState_modules:                 944,
		PyInterpreterState_instrumentation_version: 48,
		PyModuleObject_md_dict:                     16,

		PyFunctionObject_func_code:       48,
		PyFunctionObject_func_qualname:   40,
		PyFunctionObject_func_module:     104,
		PyFunctionObject_func_closure:    72,
		PyFunctionObject_func_dict:       88,
		PyFunctionObject_func_defaults:   56,
		PyFunctionObject_func_kwdefaults: 64,

		Staticmethod_sm_callable: 16,
		Classmethod_cm_callable:  16,
		Propertyobject_prop_get:  16,
		Propertyobject_prop_set:  24,
		Propertyobject_prop_del:  32,

		ResumeOpcodes:         []uint8{151, 240}, // RESUME, INSTRUMENTED_RESUME
		ReturnValueOpcodes:    []uint8{83, 242},  // RETURN_VALUE, INSTRUMENTED_RETURN_VALUE
		ReturnConstOpcodes:    []uint8{121, 247}, // RETURN_CONST, INSTRUMENTED_RETURN_CONST
		ReturnGeneratorOpcode: 75,                // RETURN_GENERATOR
		ExtendedArgOpcode:     144,               // EXTENDED_ARG
	},
	13: {
		Minor:        13,
		EvalFrameArg: 2,
		OldFrames:    false,

		Frame_code:       0,
		Frame_previous:   8,
		Frame_instr:      56,
		Frame_lasti:      Absent,
		Frame_localsplus: 72,
		Frame_owner:      70,
		Frame_globals:    24,
		Frame_funcobj:    16,
		Frame_stacktop:   Absent,
		Frame_state:      Absent,
		FirstShimOwner:   3,
		LastiIsUnits:     false,
		StackRefTagBits:  0x0,

		PyCodeObject_co_argcount:                 52,
		PyCodeObject_co_posonlyargcount:          56,
		PyCodeObject_co_kwonlyargcount:           60,
		PyCodeObject_co_nlocals:                  80,
		PyCodeObject_co_flags:                    48,
		PyCodeObject_co_firstlineno:              68,
		PyCodeObject_co_consts:                   24,
		PyCodeObject_co_varnames:                 96,
		PyCodeObject_co_localspluskinds:          104,
		PyCodeObject_co_nlocalsplus:              72,
		PyCodeObject_co_cellvars:                 Absent,
		PyCodeObject_co_cell2arg:                 Absent,
		PyCodeObject_co_filename:                 112,
		PyCodeObject_co_name:                     120,
		PyCodeObject_co_qualname:                 128,
		PyCodeObject__co_instrumentation_version: 168,
		CodeInternalFlags:                        0x2000000, // CO_NO_MONITORING_EVENTS

		PyObject_ob_type:             8,
		PyVarObject_ob_size:          16,
		PyTypeObject_tp_name:         24,
		PyTypeObject_tp_flags:        168,
		PyTypeObject_tp_dict:         264,
		PyTypeObject_tp_mro:          344,
		PyTypeObject_tp_base:         256,
		PyHeapTypeObject_ht_qualname: 872,
		PyTupleObject_ob_item:        24,
		PyBytesObject_ob_sval:        32,
		PyCellObject_ob_ref:          16,

		PyASCIIObjectSize:          40,
		PyCompactUnicodeObjectSize: 56,
		PyUnicodeObject_state:      32,
		PyUnicodeObject_length:     16,
		PyUnicodeObject_data:       56,

		PyDictObject_ma_keys:                 32,
		PyDictObject_ma_values:               40,
		PyDictKeysObject_dk_size:             Absent,
		PyDictKeysObject_dk_log2_size:        8,
		PyDictKeysObject_dk_log2_index_bytes: 9,
		PyDictKeysObject_dk_kind:             10,
		PyDictKeysObject_dk_nentries:         24,
		PyDictKeysObject_dk_indices:          32,
		PyDictValues_values:                  8,

		PyRuntimeState_tstate_current: Absent,
		PyThreadState_frame:           72,
		PyThreadState_cframe:          Absent,
		CFrame_current_frame:          Absent,

		PyRuntimeState_interpreters_head:           632,
		PyInterpreterState_modules:                 7656,
		PyInterpreterState_instrumentation_version: 0,
		PyModuleObject_md_dict:                     16,

		PyFunctionObject_func_code:       48,
		PyFunctionObject_func_qualname:   40,
		PyFunctionObject_func_module:     104,
		PyFunctionObject_func_closure:    72,
		PyFunctionObject_func_dict:       88,
		PyFunctionObject_func_defaults:   56,
		PyFunctionObject_func_kwdefaults: 64,

		Staticmethod_sm_callable: 16,
		Classmethod_cm_callable:  16,
		Propertyobject_prop_get:  16,
		Propertyobject_prop_set:  24,
		Propertyobject_prop_del:  32,

		ResumeOpcodes:         []uint8{149, 207, 236}, // RESUME, RESUME_CHECK, INSTRUMENTED_RESUME
		ReturnValueOpcodes:    []uint8{36, 239},       // RETURN_VALUE, INSTRUMENTED_RETURN_VALUE
		ReturnConstOpcodes:    []uint8{103, 240},      // RETURN_CONST, INSTRUMENTED_RETURN_CONST
		ReturnGeneratorOpcode: 35,                     // RETURN_GENERATOR
		ExtendedArgOpcode:     71,                     // EXTENDED_ARG
	},
	14: {
		Minor:        14,
		EvalFrameArg: 2,
		OldFrames:    false,

		Frame_code:       0,
		Frame_previous:   8,
		Frame_instr:      56,
		Frame_lasti:      Absent,
		Frame_localsplus: 80,
		Frame_owner:      74,
		Frame_globals:    24,
		Frame_funcobj:    16,
		Frame_stacktop:   Absent,
		Frame_state:      Absent,
		FirstShimOwner:   3,
		LastiIsUnits:     false,
		StackRefTagBits:  0x3,

		PyCodeObject_co_argcount:                 52,
		PyCodeObject_co_posonlyargcount:          56,
		PyCodeObject_co_kwonlyargcount:           60,
		PyCodeObject_co_nlocals:                  80,
		PyCodeObject_co_flags:                    48,
		PyCodeObject_co_firstlineno:              68,
		PyCodeObject_co_consts:                   24,
		PyCodeObject_co_varnames:                 96,
		PyCodeObject_co_localspluskinds:          104,
		PyCodeObject_co_nlocalsplus:              72,
		PyCodeObject_co_cellvars:                 Absent,
		PyCodeObject_co_cell2arg:                 Absent,
		PyCodeObject_co_filename:                 112,
		PyCodeObject_co_name:                     120,
		PyCodeObject_co_qualname:                 128,
		PyCodeObject__co_instrumentation_version: 168,
		CodeInternalFlags:                        0x2000000, // CO_NO_MONITORING_EVENTS

		PyObject_ob_type:             8,
		PyVarObject_ob_size:          16,
		PyTypeObject_tp_name:         24,
		PyTypeObject_tp_flags:        168,
		PyTypeObject_tp_dict:         264,
		PyTypeObject_tp_mro:          344,
		PyTypeObject_tp_base:         256,
		PyHeapTypeObject_ht_qualname: 872,
		PyTupleObject_ob_item:        32,
		PyBytesObject_ob_sval:        32,
		PyCellObject_ob_ref:          16,

		PyASCIIObjectSize:          40,
		PyCompactUnicodeObjectSize: 56,
		PyUnicodeObject_state:      32,
		PyUnicodeObject_length:     16,
		PyUnicodeObject_data:       56,

		PyDictObject_ma_keys:                 32,
		PyDictObject_ma_values:               40,
		PyDictKeysObject_dk_size:             Absent,
		PyDictKeysObject_dk_log2_size:        8,
		PyDictKeysObject_dk_log2_index_bytes: 9,
		PyDictKeysObject_dk_kind:             10,
		PyDictKeysObject_dk_nentries:         24,
		PyDictKeysObject_dk_indices:          32,
		PyDictValues_values:                  8,

		PyRuntimeState_tstate_current: Absent,
		PyThreadState_frame:           72,
		PyThreadState_cframe:          Absent,
		CFrame_current_frame:          Absent,

		PyRuntimeState_interpreters_head:           808,
		PyInterpreterState_modules:                 7688,
		PyInterpreterState_instrumentation_version: 0,
		PyModuleObject_md_dict:                     16,

		PyFunctionObject_func_code:       48,
		PyFunctionObject_func_qualname:   40,
		PyFunctionObject_func_module:     104,
		PyFunctionObject_func_closure:    72,
		PyFunctionObject_func_dict:       88,
		PyFunctionObject_func_defaults:   56,
		PyFunctionObject_func_kwdefaults: 64,

		Staticmethod_sm_callable: 16,
		Classmethod_cm_callable:  16,
		Propertyobject_prop_get:  16,
		Propertyobject_prop_set:  24,
		Propertyobject_prop_del:  32,

		ResumeOpcodes:         []uint8{128, 196, 245}, // RESUME, RESUME_CHECK, INSTRUMENTED_RESUME
		ReturnValueOpcodes:    []uint8{35, 246},       // RETURN_VALUE, INSTRUMENTED_RETURN_VALUE
		ReturnConstOpcodes:    nil,                    // gone in 3.14: LOAD_CONST then RETURN_VALUE
		ReturnGeneratorOpcode: 34,                     // RETURN_GENERATOR
		ExtendedArgOpcode:     69,                     // EXTENDED_ARG
	},
	15: {
		Minor:        15,
		EvalFrameArg: 2,
		OldFrames:    false,

		Frame_code:       0,
		Frame_previous:   8,
		Frame_instr:      56,
		Frame_lasti:      Absent,
		Frame_localsplus: 80,
		Frame_owner:      74,
		Frame_globals:    24,
		Frame_funcobj:    16,
		Frame_stacktop:   Absent,
		Frame_state:      Absent,
		FirstShimOwner:   3,
		LastiIsUnits:     false,
		StackRefTagBits:  0x3,

		PyCodeObject_co_argcount:                 52,
		PyCodeObject_co_posonlyargcount:          56,
		PyCodeObject_co_kwonlyargcount:           60,
		PyCodeObject_co_nlocals:                  80,
		PyCodeObject_co_flags:                    48,
		PyCodeObject_co_firstlineno:              68,
		PyCodeObject_co_consts:                   24,
		PyCodeObject_co_varnames:                 96,
		PyCodeObject_co_localspluskinds:          104,
		PyCodeObject_co_nlocalsplus:              72,
		PyCodeObject_co_cellvars:                 Absent,
		PyCodeObject_co_cell2arg:                 Absent,
		PyCodeObject_co_filename:                 112,
		PyCodeObject_co_name:                     120,
		PyCodeObject_co_qualname:                 128,
		PyCodeObject__co_instrumentation_version: 168,
		CodeInternalFlags:                        0x2000000, // CO_NO_MONITORING_EVENTS

		PyObject_ob_type:             8,
		PyVarObject_ob_size:          16,
		PyTypeObject_tp_name:         24,
		PyTypeObject_tp_flags:        168,
		PyTypeObject_tp_dict:         264,
		PyTypeObject_tp_mro:          344,
		PyTypeObject_tp_base:         256,
		PyHeapTypeObject_ht_qualname: 880,
		PyTupleObject_ob_item:        32,
		PyBytesObject_ob_sval:        32,
		PyCellObject_ob_ref:          16,

		PyASCIIObjectSize:          40,
		PyCompactUnicodeObjectSize: 56,
		PyUnicodeObject_state:      32,
		PyUnicodeObject_length:     16,
		PyUnicodeObject_data:       56,

		PyDictObject_ma_keys:                 32,
		PyDictObject_ma_values:               40,
		PyDictKeysObject_dk_size:             Absent,
		PyDictKeysObject_dk_log2_size:        8,
		PyDictKeysObject_dk_log2_index_bytes: 9,
		PyDictKeysObject_dk_kind:             10,
		PyDictKeysObject_dk_nentries:         24,
		PyDictKeysObject_dk_indices:          32,
		PyDictValues_values:                  8,

		PyRuntimeState_tstate_current: Absent,
		PyThreadState_frame:           72,
		PyThreadState_cframe:          Absent,
		CFrame_current_frame:          Absent,

		PyRuntimeState_interpreters_head:           936,
		PyInterpreterState_modules:                 7592,
		PyInterpreterState_instrumentation_version: 0,
		PyModuleObject_md_dict:                     16,

		PyFunctionObject_func_code:       48,
		PyFunctionObject_func_qualname:   40,
		PyFunctionObject_func_module:     104,
		PyFunctionObject_func_closure:    72,
		PyFunctionObject_func_dict:       88,
		PyFunctionObject_func_defaults:   56,
		PyFunctionObject_func_kwdefaults: 64,

		Staticmethod_sm_callable: 16,
		Classmethod_cm_callable:  16,
		Propertyobject_prop_get:  16,
		Propertyobject_prop_set:  24,
		Propertyobject_prop_del:  32,

		ResumeOpcodes:         []uint8{128, 200, 244}, // RESUME, RESUME_CHECK, INSTRUMENTED_RESUME
		ReturnValueOpcodes:    []uint8{33, 245},       // RETURN_VALUE, INSTRUMENTED_RETURN_VALUE
		ReturnConstOpcodes:    nil,                    // gone since 3.14: LOAD_CONST then RETURN_VALUE
		ReturnGeneratorOpcode: 32,                     // RETURN_GENERATOR
		ExtendedArgOpcode:     67,                     // EXTENDED_ARG
	},
}

// MinMinor and MaxMinor bound the supported CPython 3.x versions.
const (
	MinMinor = 8
	MaxMinor = 15
)

// LayoutFor returns the layout of CPython 3.minor, or a *VersionError.
func LayoutFor(v Version) (Layout, error) {
	l, ok := layouts[v.Minor]
	if v.Major != 3 || !ok {
		return Layout{}, &VersionError{Found: v}
	}
	return l, nil
}
