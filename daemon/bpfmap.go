package daemon

import (
	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/symbolize"
)

// Where symbolize's numberings meet the BPF program's. symbolize does not
// import bpf, so its types stay its own; these tables are the one place
// they are translated, and bpfmap_test.go checks them against the enums
// in the object's BTF (include/events.h): every value mapped, names alike.

// probeHow says how BPF uses a probe point of each kind symbolize finds
// (enum probe_kind): the entry of the eval loop and the RESUME-family
// handlers both count calls.
var probeHow = map[symbolize.ProbeKind]bpf.ProbeKind{
	symbolize.ProbeEvalEntry:   bpf.ProbeCall,
	symbolize.ProbeResume:      bpf.ProbeCall,
	symbolize.ProbeCreate:      bpf.ProbeCreate,
	symbolize.ProbeReturnValue: bpf.ProbeReturnValue,
	symbolize.ProbeReturnConst: bpf.ProbeReturnConst,
	symbolize.ProbeEvalReturn:  bpf.ProbeEvalReturn,
}

// frameRegs is the enum frame_reg number of each register symbolize.Reg
// names.
var frameRegs = map[symbolize.Reg]bpf.FrameReg{
	symbolize.RegNone: bpf.RegNone,
	symbolize.RegRAX:  bpf.RegRAX,
	symbolize.RegRCX:  bpf.RegRCX,
	symbolize.RegRDX:  bpf.RegRDX,
	symbolize.RegRBX:  bpf.RegRBX,
	symbolize.RegRSP:  bpf.RegRSP,
	symbolize.RegRBP:  bpf.RegRBP,
	symbolize.RegRSI:  bpf.RegRSI,
	symbolize.RegRDI:  bpf.RegRDI,
	symbolize.RegR8:   bpf.RegR8,
	symbolize.RegR9:   bpf.RegR9,
	symbolize.RegR10:  bpf.RegR10,
	symbolize.RegR11:  bpf.RegR11,
	symbolize.RegR12:  bpf.RegR12,
	symbolize.RegR13:  bpf.RegR13,
	symbolize.RegR14:  bpf.RegR14,
	symbolize.RegR15:  bpf.RegR15,
}

// containerTypes is the index in PyConfig.ContainerTypes (enum
// container_type) of each type symbolize.ContainerTypeSymbols names.
var containerTypes = map[string]bpf.ContainerType{
	"PyList_Type":      bpf.ContainerList,
	"PyTuple_Type":     bpf.ContainerTuple,
	"PyDict_Type":      bpf.ContainerDict,
	"PySet_Type":       bpf.ContainerSet,
	"PyFrozenSet_Type": bpf.ContainerFrozenSet,
}

// bpfProbe is a probe point as the BPF loader attaches it.
func bpfProbe(pp symbolize.ProbePoint) bpf.Probe {
	return bpf.Probe{FileOffset: pp.FileOffset, How: probeHow[pp.Kind], FrameReg: frameRegs[pp.FrameReg]}
}
