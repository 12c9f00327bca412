package tracer

import (
	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/pyelf"
)

// pyConfig translates a binary's layout into what the BPF program reads.
func pyConfig(b *pyelf.Binary, bias uint64) *bpf.PyConfig {
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
		OwnerCstack:       int32(l.FrameOwnedByCStack),
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
	for i, op := range l.ResumeOpcodes {
		if i < 4 {
			c.ResumeOps |= uint32(op) << (8 * i)
		}
	}
	// Only 3.11+ keeps cells in the argument slots themselves.
	if !l.OldFrames && b.CellType != 0 {
		c.CellType = b.CellType + bias
	}
	c.CoNlocalsplus = int32(l.PyCodeObject_co_nlocalsplus)
	c.CoConsts = int32(l.PyCodeObject_co_consts)
	c.FrStacktop = int32(l.Frame_stacktop)
	c.FrState = int32(l.Frame_state)
	c.DictValues = int32(l.PyDictObject_ma_values)
	c.FnCode = int32(l.PyFunctionObject_func_code)
	c.FnDefaults = int32(l.PyFunctionObject_func_defaults)
	c.FnKwdefaults = int32(l.PyFunctionObject_func_kwdefaults)
	c.ExtendedArg = uint32(l.ExtendedArgOpcode)
	for i, op := range l.ReturnConstOpcodes {
		if i < 4 {
			c.RetConstOps |= uint32(op) << (8 * i)
		}
	}
	for i, t := range b.ContainerTypes {
		if t != 0 {
			c.ContainerTypes[containerTypes[pyelf.ContainerTypeSymbols[i]]] = t + bias
		}
	}
	return c
}
