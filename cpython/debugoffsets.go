package cpython

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// debugOffsetsCookie starts _Py_DebugOffsets, which starts _PyRuntime
// (CPython v3.13.0 Include/internal/pycore_runtime.h).
const debugOffsetsCookie = "xdebugpy"

// debugOffsetsBlock is one sub-struct of _Py_DebugOffsets: u64 fields, the
// first of which ("size") is the sizeof of the struct it describes, not of
// the block, so the field list per version is needed to parse it.
type debugOffsetsBlock struct {
	name   string
	fields []string
}

// debugOffsetsLayouts lists the blocks after the header (cookie[8], u64
// version, u64 free_threaded) per minor version. 3.13: CPython v3.13.0
// Include/internal/pycore_runtime.h, checked against the DWARF of pyenv
// 3.13.0 (`ptype /o struct _Py_DebugOffsets`, 584 bytes).
var debugOffsetsLayouts = map[int][]debugOffsetsBlock{
	13: {
		{"runtime_state", []string{"size", "finalizing", "interpreters_head"}},
		{"interpreter_state", []string{"size", "id", "next", "threads_head", "gc", "imports_modules", "sysdict",
			"builtins", "ceval_gil", "gil_runtime_state", "gil_runtime_state_enabled", "gil_runtime_state_locked",
			"gil_runtime_state_holder"}},
		{"thread_state", []string{"size", "prev", "next", "interp", "current_frame", "thread_id", "native_thread_id",
			"datastack_chunk", "status"}},
		{"interpreter_frame", []string{"size", "previous", "executable", "instr_ptr", "localsplus", "owner"}},
		{"code_object", []string{"size", "filename", "name", "qualname", "linetable", "firstlineno", "argcount",
			"localsplusnames", "localspluskinds", "co_code_adaptive"}},
		{"pyobject", []string{"size", "ob_type"}},
		{"type_object", []string{"size", "tp_name", "tp_repr", "tp_flags"}},
		{"tuple_object", []string{"size", "ob_item", "ob_size"}},
		{"list_object", []string{"size", "ob_item", "ob_size"}},
		{"dict_object", []string{"size", "ma_keys", "ma_values"}},
		{"float_object", []string{"size", "ob_fval"}},
		{"long_object", []string{"size", "lv_tag", "ob_digit"}},
		{"bytes_object", []string{"size", "ob_size", "ob_sval"}},
		{"unicode_object", []string{"size", "state", "length", "asciiobject_size"}},
		{"gc", []string{"size", "collecting"}},
	},
	// 3.14: checked against the DWARF of Debian sid's python3.14d 3.14.10
	// (760 bytes); the blocks are CPython v3.14's
	// Include/internal/pycore_debug_offsets.h.
	14: {
		{"runtime_state", []string{"size", "finalizing", "interpreters_head"}},
		{"interpreter_state", []string{"size", "id", "next", "threads_head", "threads_main", "gc", "imports_modules",
			"sysdict", "builtins", "ceval_gil", "gil_runtime_state", "gil_runtime_state_enabled",
			"gil_runtime_state_locked", "gil_runtime_state_holder", "code_object_generation", "tlbc_generation"}},
		{"thread_state", []string{"size", "prev", "next", "interp", "current_frame", "thread_id", "native_thread_id",
			"datastack_chunk", "status"}},
		{"interpreter_frame", []string{"size", "previous", "executable", "instr_ptr", "localsplus", "owner",
			"stackpointer", "tlbc_index"}},
		{"code_object", []string{"size", "filename", "name", "qualname", "linetable", "firstlineno", "argcount",
			"localsplusnames", "localspluskinds", "co_code_adaptive", "co_tlbc"}},
		{"pyobject", []string{"size", "ob_type"}},
		{"type_object", []string{"size", "tp_name", "tp_repr", "tp_flags"}},
		{"tuple_object", []string{"size", "ob_item", "ob_size"}},
		{"list_object", []string{"size", "ob_item", "ob_size"}},
		{"set_object", []string{"size", "used", "table", "mask"}},
		{"dict_object", []string{"size", "ma_keys", "ma_values"}},
		{"float_object", []string{"size", "ob_fval"}},
		{"long_object", []string{"size", "lv_tag", "ob_digit"}},
		{"bytes_object", []string{"size", "ob_size", "ob_sval"}},
		{"unicode_object", []string{"size", "state", "length", "asciiobject_size"}},
		{"gc", []string{"size", "collecting"}},
		{"gen_object", []string{"size", "gi_name", "gi_iframe", "gi_frame_state"}},
		{"llist_node", []string{"next", "prev"}},
		{"debugger_support", []string{"eval_breaker", "remote_debugger_support", "remote_debugging_enabled",
			"debugger_pending_call", "debugger_script_path", "debugger_script_path_size"}},
	},
	// 3.15: checked against the DWARF of Debian sid's python3.15d 3.15.2
	// (the thread state, type, unicode and gc blocks grew; a heap-type block
	// and an exception-state block are new).
	15: {
		{"runtime_state", []string{"size", "finalizing", "interpreters_head"}},
		{"interpreter_state", []string{"size", "id", "next", "threads_head", "threads_main", "gc", "imports_modules",
			"sysdict", "builtins", "ceval_gil", "gil_runtime_state", "gil_runtime_state_enabled",
			"gil_runtime_state_locked", "gil_runtime_state_holder", "code_object_generation", "tlbc_generation"}},
		{"thread_state", []string{"size", "prev", "next", "interp", "current_frame", "base_frame",
			"last_profiled_frame", "last_profiled_frame_seq", "thread_id", "native_thread_id", "datastack_chunk",
			"status", "holds_gil", "gil_requested", "current_exception", "exc_state"}},
		{"err_stackitem", []string{"exc_value"}},
		{"interpreter_frame", []string{"size", "previous", "executable", "instr_ptr", "localsplus", "owner",
			"stackpointer", "tlbc_index"}},
		{"code_object", []string{"size", "filename", "name", "qualname", "linetable", "firstlineno", "argcount",
			"localsplusnames", "localspluskinds", "co_code_adaptive", "co_tlbc"}},
		{"pyobject", []string{"size", "ob_type"}},
		{"type_object", []string{"size", "tp_name", "tp_repr", "tp_flags", "tp_basicsize", "tp_dictoffset"}},
		{"heap_type_object", []string{"size", "ht_cached_keys"}},
		{"tuple_object", []string{"size", "ob_item", "ob_size"}},
		{"list_object", []string{"size", "ob_item", "ob_size"}},
		{"set_object", []string{"size", "used", "table", "mask"}},
		{"dict_object", []string{"size", "ma_keys", "ma_values"}},
		{"float_object", []string{"size", "ob_fval"}},
		{"long_object", []string{"size", "lv_tag", "ob_digit"}},
		{"bytes_object", []string{"size", "ob_size", "ob_sval"}},
		{"unicode_object", []string{"size", "state", "length", "asciiobject_size", "compactunicodeobject_size"}},
		{"gc", []string{"size", "collecting", "frame", "generation_stats_size", "generation_stats"}},
		{"gen_object", []string{"size", "gi_name", "gi_iframe", "gi_frame_state"}},
		{"llist_node", []string{"next", "prev"}},
		{"debugger_support", []string{"eval_breaker", "remote_debugger_support", "remote_debugging_enabled",
			"debugger_pending_call", "debugger_script_path", "debugger_script_path_size"}},
	},
}

// debugOffsetsHeaderSize is cookie, version and free_threaded.
const debugOffsetsHeaderSize = 24

// debugOffsetsPositions maps "block.field" to its byte offset in
// _Py_DebugOffsets, and returns the total size.
func debugOffsetsPositions(blocks []debugOffsetsBlock) (map[string]int, int) {
	pos := map[string]int{}
	off := debugOffsetsHeaderSize
	for _, b := range blocks {
		for _, f := range b.fields {
			pos[b.name+"."+f] = off
			off += 8
		}
	}
	return pos, off
}

// debugOffsetsChecks pairs _Py_DebugOffsets fields with the Layout fields
// that must agree with them.
func debugOffsetsChecks(l Layout) []struct {
	field string
	want  int
} {
	return []struct {
		field string
		want  int
	}{
		{"thread_state.current_frame", l.PyThreadState_frame},
		{"interpreter_frame.previous", l.Frame_previous},
		{"interpreter_frame.executable", l.Frame_code},
		{"interpreter_frame.instr_ptr", l.Frame_instr},
		{"interpreter_frame.localsplus", l.Frame_localsplus},
		{"interpreter_frame.owner", l.Frame_owner},
		{"code_object.filename", l.PyCodeObject_co_filename},
		{"code_object.name", l.PyCodeObject_co_name},
		{"code_object.qualname", l.PyCodeObject_co_qualname},
		{"code_object.firstlineno", l.PyCodeObject_co_firstlineno},
		{"code_object.argcount", l.PyCodeObject_co_argcount},
		{"code_object.localsplusnames", l.PyCodeObject_co_varnames},
		{"code_object.localspluskinds", l.PyCodeObject_co_localspluskinds},
		{"pyobject.ob_type", l.PyObject_ob_type},
		{"type_object.tp_name", l.PyTypeObject_tp_name},
		{"type_object.tp_flags", l.PyTypeObject_tp_flags},
		{"tuple_object.ob_item", l.PyTupleObject_ob_item},
		{"tuple_object.ob_size", l.PyVarObject_ob_size},
		{"dict_object.ma_keys", l.PyDictObject_ma_keys},
		{"dict_object.ma_values", l.PyDictObject_ma_values},
		{"bytes_object.ob_sval", l.PyBytesObject_ob_sval},
		{"unicode_object.state", l.PyUnicodeObject_state},
		{"unicode_object.length", l.PyUnicodeObject_length},
		{"unicode_object.asciiobject_size", l.PyASCIIObjectSize},
	}
}

// CheckDebugOffsets reads _Py_DebugOffsets at the start of _PyRuntime
// (CPython 3.13+) from mem at runtimeAddr and returns an error naming every
// field that disagrees with l. mem is process memory (/proc/PID/mem, with
// runtimeAddr = pyelf.Binary.Runtime + pyelf.Process.Bias) or anything else
// that holds it, such as the ELF file's initialized .PyRuntime section.
// Layouts before 3.13, which have no _Py_DebugOffsets, are not read and
// give nil.
func CheckDebugOffsets(mem io.ReaderAt, runtimeAddr uint64, l Layout) error {
	if l.Minor < 13 {
		return nil
	}
	blocks, ok := debugOffsetsLayouts[l.Minor]
	if !ok {
		return fmt.Errorf("check _Py_DebugOffsets: the layout of CPython 3.%d's _Py_DebugOffsets is not known", l.Minor)
	}
	pos, size := debugOffsetsPositions(blocks)
	buf := make([]byte, size)
	if n, err := mem.ReadAt(buf, int64(runtimeAddr)); n < size {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read _Py_DebugOffsets at %#x: got %d of %d bytes: %w", runtimeAddr, n, size, err)
	}
	if cookie := buf[:8]; string(cookie) != debugOffsetsCookie {
		return fmt.Errorf("check _Py_DebugOffsets at %#x: cookie is %q, want %q (wrong _PyRuntime address, or not CPython 3.13+)",
			runtimeAddr, bytes.TrimRight(cookie, "\x00"), debugOffsetsCookie)
	}
	u64 := func(off int) uint64 { return binary.LittleEndian.Uint64(buf[off:]) }
	v, err := VersionFromHex(u64(8))
	if err != nil {
		return fmt.Errorf("check _Py_DebugOffsets at %#x: %w", runtimeAddr, err)
	}
	if v.Major != 3 || v.Minor != l.Minor {
		return fmt.Errorf("check _Py_DebugOffsets at %#x: version is %s, the layout is for 3.%d", runtimeAddr, v, l.Minor)
	}
	if ft := u64(16); ft != 0 {
		return fmt.Errorf("check _Py_DebugOffsets at %#x: CPython %s is a free-threaded build (free_threaded=%d, python3.%dt or --disable-gil), which recapid does not support: its objects and frames have another layout; run the program on the default build with the GIL (python3.%d)", runtimeAddr, v, ft, v.Minor, v.Minor)
	}
	var bad []string
	for _, c := range debugOffsetsChecks(l) {
		if got := u64(pos[c.field]); got != uint64(c.want) {
			bad = append(bad, fmt.Sprintf("%s is %d, layout has %d", c.field, int64(got), c.want))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("check _Py_DebugOffsets at %#x: CPython %s disagrees with the built-in 3.%d layout: %s (fix cpython/layout.go)",
			runtimeAddr, v, l.Minor, strings.Join(bad, ", "))
	}
	return nil
}
