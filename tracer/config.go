package tracer

import (
	"fmt"

	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/pyelf"
)

// pyConfig translates a binary's layout into what the BPF program reads.
// It fails when the layout holds more than the config can: it never drops
// part of it.
func pyConfig(b *pyelf.Binary, bias uint64) (*bpf.PyConfig, error) {
	l := b.Layout
	c := &bpf.PyConfig{
		FrCode:            int32(l.Frame_code),
		FrPrevious:        int32(l.Frame_previous),
		FrInstr:           int32(l.Frame_instr),
		FrLasti:           int32(l.Frame_lasti),
		FrLocalsplus:      int32(l.Frame_localsplus),
		FrOwner:           int32(l.Frame_owner),
		FrGlobals:         int32(l.Frame_globals),
		FrFuncobj:         int32(l.Frame_funcobj),
		FirstShimOwner:    int32(l.FirstShimOwner),
		CoArgcount:        int32(l.PyCodeObject_co_argcount),
		CoPosonlyargcount: int32(l.PyCodeObject_co_posonlyargcount),
		CoKwonlyargcount:  int32(l.PyCodeObject_co_kwonlyargcount),
		CoNlocals:         int32(l.PyCodeObject_co_nlocals),
		CoFlags:           int32(l.PyCodeObject_co_flags),
		CoFirstlineno:     int32(l.PyCodeObject_co_firstlineno),
		CoVarnames:        int32(l.PyCodeObject_co_varnames),
		CoFilename:        int32(l.PyCodeObject_co_filename),
		CoName:            int32(l.PyCodeObject_co_name),
		CoQualname:        int32(l.PyCodeObject_co_qualname),
		CoCellvars:        int32(l.PyCodeObject_co_cellvars),
		CoCell2arg:        int32(l.PyCodeObject_co_cell2arg),
		ObType:            int32(l.PyObject_ob_type),
		ObSize:            int32(l.PyVarObject_ob_size),
		TpName:            int32(l.PyTypeObject_tp_name),
		TpFlags:           int32(l.PyTypeObject_tp_flags),
		HtQualname:        int32(l.PyHeapTypeObject_ht_qualname),
		TupleItems:        int32(l.PyTupleObject_ob_item),
		CellRef:           int32(l.PyCellObject_ob_ref),
		StrState:          int32(l.PyUnicodeObject_state),
		StrLength:         int32(l.PyUnicodeObject_length),
		AsciiSize:         int32(l.PyASCIIObjectSize),
		CoInternalFlags:   l.CodeInternalFlags,
		TpDict:            int32(l.PyTypeObject_tp_dict),
		DictKeys:          int32(l.PyDictObject_ma_keys),
		DictFlavor:        bpf.DictKeys311,
		// The frame head ends where the argument slots begin.
		FrameHead:          uint32(l.Frame_localsplus),
		CoInstrVersion:     int32(l.PyCodeObject__co_instrumentation_version),
		InterpInstrVersion: int32(l.PyInterpreterState_instrumentation_version),
		InterpHead:         b.Runtime + bias + uint64(l.PyRuntimeState_interpreters_head),
	}
	if l.OldFrames {
		c.Flags |= bpf.CfgOldFrames
		c.DictFlavor = bpf.DictKeys38
	}
	var err error
	if c.ResumeOps, err = packOpcodes(l.ResumeOpcodes, "RESUME-family", b.Version); err != nil {
		return nil, err
	}
	// Only 3.11+ keeps cells in the argument slots themselves.
	if !l.OldFrames && b.CellType != 0 {
		c.CellType = b.CellType + bias
	}
	c.StackrefTags = l.StackRefTagBits
	c.LongType = b.LongType + bias
	c.CoNlocalsplus = int32(l.PyCodeObject_co_nlocalsplus)
	c.CoConsts = int32(l.PyCodeObject_co_consts)
	c.FrStacktop = int32(l.Frame_stacktop)
	c.FrState = int32(l.Frame_state)
	c.DictValues = int32(l.PyDictObject_ma_values)
	c.FnCode = int32(l.PyFunctionObject_func_code)
	c.FnDefaults = int32(l.PyFunctionObject_func_defaults)
	c.FnKwdefaults = int32(l.PyFunctionObject_func_kwdefaults)
	c.ExtendedArg = uint32(l.ExtendedArgOpcode)
	if c.RetConstOps, err = packOpcodes(l.ReturnConstOpcodes, "RETURN_CONST-family", b.Version); err != nil {
		return nil, err
	}
	for i, t := range b.ContainerTypes {
		if t != 0 {
			c.ContainerTypes[containerTypes[pyelf.ContainerTypeSymbols[i]]] = t + bias
		}
	}
	return c, nil
}

// maxOpcodes is how many opcodes a u32 of the config holds: one a byte.
const maxOpcodes = 4

// packOpcodes packs ops into a u32, one a byte, low byte first, as the BPF
// program's op_in reads them: a 0 byte is unused. An opcode list that does
// not fit, or an opcode 0 (which op_in never matches), is an error naming
// the family of opcodes and the CPython version: dropping part of the list
// would leave calls uncounted.
func packOpcodes(ops []uint8, family string, v cpython.Version) (uint32, error) {
	if len(ops) > maxOpcodes {
		return 0, fmt.Errorf("CPython %s has %d %s opcodes %v: the BPF config holds %d", v, len(ops), family, ops, maxOpcodes)
	}
	var packed uint32
	for i, op := range ops {
		if op == 0 {
			return 0, fmt.Errorf("CPython %s: %s opcode 0 cannot be configured: the BPF config marks unused bytes with 0", v, family)
		}
		packed |= uint32(op) << (8 * i)
	}
	return packed, nil
}
