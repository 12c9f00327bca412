package tracer

import (
	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/pyelf"
)

// Where pyelf's numberings meet the BPF program's. pyelf does not
// import bpf, so its types stay its own; these tables are the one place
// they are translated, and bpfmap_test.go checks them against the enums
// in the object's BTF (include/events.h): every value mapped, names alike.

// probeHow says how BPF uses a probe point of each kind pyelf finds
// (enum probe_kind): the entry of the eval loop and the RESUME-family
// handlers both count calls.
var probeHow = map[pyelf.ProbeKind]bpf.ProbeKind{
	pyelf.ProbeEvalEntry:   bpf.ProbeCall,
	pyelf.ProbeResume:      bpf.ProbeCall,
	pyelf.ProbeCreate:      bpf.ProbeCreate,
	pyelf.ProbeReturnValue: bpf.ProbeReturnValue,
	pyelf.ProbeReturnConst: bpf.ProbeReturnConst,
	pyelf.ProbeEvalReturn:  bpf.ProbeEvalReturn,
}

// frameRegs is the enum frame_reg number of each register pyelf.Reg
// names.
var frameRegs = map[pyelf.Reg]bpf.FrameReg{
	pyelf.RegNone: bpf.RegNone,
	pyelf.RegRAX:  bpf.RegRAX,
	pyelf.RegRCX:  bpf.RegRCX,
	pyelf.RegRDX:  bpf.RegRDX,
	pyelf.RegRBX:  bpf.RegRBX,
	pyelf.RegRSP:  bpf.RegRSP,
	pyelf.RegRBP:  bpf.RegRBP,
	pyelf.RegRSI:  bpf.RegRSI,
	pyelf.RegRDI:  bpf.RegRDI,
	pyelf.RegR8:   bpf.RegR8,
	pyelf.RegR9:   bpf.RegR9,
	pyelf.RegR10:  bpf.RegR10,
	pyelf.RegR11:  bpf.RegR11,
	pyelf.RegR12:  bpf.RegR12,
	pyelf.RegR13:  bpf.RegR13,
	pyelf.RegR14:  bpf.RegR14,
	pyelf.RegR15:  bpf.RegR15,
}

// containerTypes is the index in PyConfig.ContainerTypes (enum
// container_type) of each type pyelf.ContainerTypeSymbols names.
var containerTypes = map[string]bpf.ContainerType{
	"PyList_Type":      bpf.ContainerList,
	"PyTuple_Type":     bpf.ContainerTuple,
	"PyDict_Type":      bpf.ContainerDict,
	"PySet_Type":       bpf.ContainerSet,
	"PyFrozenSet_Type": bpf.ContainerFrozenSet,
}

// bpfProbe is a probe point as the BPF loader attaches it.
func bpfProbe(pp pyelf.ProbePoint) bpf.Probe {
	return bpf.Probe{FileOffset: pp.FileOffset, How: probeHow[pp.Kind], FrameReg: frameRegs[pp.FrameReg]}
}
