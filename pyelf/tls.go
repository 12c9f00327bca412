package pyelf

import (
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/recapi/recapi/cpython"
	"golang.org/x/arch/x86/x86asm"
)

// TStateKind says how to find the current thread's PyThreadState.
type TStateKind uint8

const (
	// TStateNone: no location is known; use the frame register.
	TStateNone TStateKind = iota
	// TStateRuntimeGlobal (3.8-3.11): tstate = *(bias + Addr), the GIL
	// holder in _PyRuntime.gilstate.tstate_current.
	TStateRuntimeGlobal
	// TStateTLSGeneralDynamic (3.12+ shared libpython): Addr is the GOT pair
	// (DTPMOD64, DTPOFF64) of _Py_tss_tstate. The module id is written by
	// ld.so at run time (read it at bias + Addr); Offset is the DTPOFF64,
	// the offset inside the module's TLS block:
	// tstate = *(dtv[modid] + Offset), dtv = *(fsbase + 8).
	TStateTLSGeneralDynamic
	// TStateTLSLocalExec (3.12+ static libpython in the executable):
	// tstate = *(fsbase + Offset), Offset negative.
	TStateTLSLocalExec
	// TStateTLSInitialExec: Addr is the GOT slot holding the TP offset;
	// tstate = *(fsbase + *(bias + Addr)). Offset holds the slot's value when
	// it is fixed in the file (no dynamic relocation), else 0.
	TStateTLSInitialExec
)

func (k TStateKind) String() string {
	switch k {
	case TStateNone:
		return "none"
	case TStateRuntimeGlobal:
		return "runtime-global"
	case TStateTLSGeneralDynamic:
		return "tls-general-dynamic"
	case TStateTLSLocalExec:
		return "tls-local-exec"
	case TStateTLSInitialExec:
		return "tls-initial-exec"
	}
	return fmt.Sprintf("TStateKind(%d)", uint8(k))
}

// TState is where the current thread's PyThreadState can be read.
type TState struct {
	Kind   TStateKind
	Addr   uint64 // vaddr of the global, or of the GOT entry or pair
	Offset int64  // TLS offset when known statically
	// Desc says how the location was found, or why none was.
	Desc string
}

// threadState finds the thread-state location of the binary: a _PyRuntime
// field up to 3.11, _Py_tss_tstate (thread-local) from 3.12, decoded from
// the exported _PyThreadState_GetCurrent. Failing to find it gives
// TStateNone with the reason in Desc, not an error: the frame register is
// the primary frame source and the thread state only a fallback.
func (img *elfImage) threadState(runtime uint64, l cpython.Layout) TState {
	if l.PyRuntimeState_tstate_current != cpython.Absent {
		return TState{
			Kind: TStateRuntimeGlobal,
			Addr: runtime + uint64(l.PyRuntimeState_tstate_current),
			Desc: fmt.Sprintf("_PyRuntime.gilstate.tstate_current (_PyRuntime %#x + %d)", runtime, l.PyRuntimeState_tstate_current),
		}
	}
	fn, ok := img.funcSymbol("_PyThreadState_GetCurrent")
	if !ok {
		return TState{Desc: "_PyThreadState_GetCurrent is not exported"}
	}
	code, err := img.readVA(fn.Value, 64)
	if err != nil {
		return TState{Desc: fmt.Sprintf("read _PyThreadState_GetCurrent: %v", err)}
	}
	insns, _ := decodeRun(code, fn.Value, 16, func(p probeInsn) bool { return p.in.Op == x86asm.RET || p.in.Op == x86asm.JMP })
	ts, err := decodeTLSAccess(insns, img)
	switch {
	case err != nil:
		return TState{Desc: fmt.Sprintf("decode _PyThreadState_GetCurrent at %#x: %v", fn.Value, err)}
	case ts.Kind == TStateNone:
		ts.Desc = fmt.Sprintf("unrecognized TLS access in _PyThreadState_GetCurrent at %#x [%s]", fn.Value, describePrefix(insns, fn.Value))
	}
	return ts
}

// tlsGOT reads the GOT entries that TLS access sequences refer to.
type tlsGOT interface {
	// dtpOffset returns the DTPOFF64 word of the GOT pair at got.
	dtpOffset(got uint64) (int64, error)
	// tpOffset returns the TP offset in the GOT slot at got, with fixed
	// false when the slot is only filled in at load time.
	tpOffset(got uint64) (off int64, fixed bool, err error)
}

// decodeTLSAccess recognizes the x86-64 TLS access models (Drepper, "ELF
// Handling For Thread-Local Storage", section 4.3) in straight-line code
// that loads the value of one thread-local variable.
func decodeTLSAccess(insns []probeInsn, got tlsGOT) (TState, error) {
	ripTarget := func(p probeInsn, arg int) (uint64, bool) {
		m, ok := p.in.Args[arg].(x86asm.Mem)
		if !ok || m.Base != x86asm.RIP || m.Index != 0 || m.Segment != 0 {
			return 0, false
		}
		return uint64(int64(p.next()) + memDisp(m)), true
	}
	// fsMem returns the segment-FS memory operand of argument arg.
	fsMem := func(p probeInsn, arg int) (x86asm.Mem, bool) {
		m, ok := p.in.Args[arg].(x86asm.Mem)
		return m, ok && m.Segment == x86asm.FS
	}
	// derefDisp returns disp when p loads disp(reg) into a register.
	derefDisp := func(p probeInsn, reg x86asm.Reg) (int64, bool) {
		if p.in.Op != x86asm.MOV {
			return 0, false
		}
		m, ok := p.in.Args[1].(x86asm.Mem)
		if !ok || m.Base != reg || m.Index != 0 || m.Segment != 0 {
			return 0, false
		}
		return memDisp(m), true
	}

	for i, p := range insns {
		switch {
		// General dynamic: data16 lea x@tlsgd(%rip),%rdi; data16 data16 rex.W call __tls_get_addr; mov (%rax),%rax.
		// Local dynamic is the same without the data16 prefix, and the
		// variable's offset in the displacement of the load.
		case p.in.Op == x86asm.LEA && argGPR(p.in, 0) == RegRDI && i+1 < len(insns) && insns[i+1].in.Op == x86asm.CALL:
			pair, ok := ripTarget(p, 1)
			if !ok {
				continue
			}
			off, err := got.dtpOffset(pair)
			if err != nil {
				return TState{}, err
			}
			desc := fmt.Sprintf("general dynamic: GOT pair %#x", pair)
			if i+2 < len(insns) {
				if d, ok := derefDisp(insns[i+2], x86asm.RAX); ok {
					off += d
				}
			}
			return TState{Kind: TStateTLSGeneralDynamic, Addr: pair, Offset: off, Desc: desc + fmt.Sprintf(", DTPOFF %#x", off)}, nil

		// Local exec: mov %fs:disp,%reg.
		case p.in.Op == x86asm.MOV:
			if m, ok := fsMem(p, 1); ok && m.Base == 0 && m.Index == 0 {
				if disp := memDisp(m); disp != 0 {
					return TState{Kind: TStateTLSLocalExec, Offset: disp, Desc: fmt.Sprintf("local exec: `%s`", p)}, nil
				}
				// mov %fs:0,%reg; mov disp(%reg),%reg2 (-mno-tls-direct-seg-refs).
				r, _ := p.in.Args[0].(x86asm.Reg)
				if i+1 < len(insns) {
					if d, ok := derefDisp(insns[i+1], r); ok {
						return TState{Kind: TStateTLSLocalExec, Offset: d, Desc: fmt.Sprintf("local exec: `%s; %s`", p, insns[i+1])}, nil
					}
				}
				continue
			}
			// Initial exec: mov x@gottpoff(%rip),%reg; mov %fs:(%reg),%reg2
			// (or add %fs:0,%reg; mov (%reg),%reg2).
			slot, ok := ripTarget(p, 1)
			r, isReg := p.in.Args[0].(x86asm.Reg)
			if !ok || !isReg || i+1 >= len(insns) {
				continue
			}
			n := insns[i+1]
			m, fsOK := fsMem(n, 1)
			ie := (n.in.Op == x86asm.MOV && fsOK && m.Base == r && m.Index == 0 && memDisp(m) == 0) ||
				(n.in.Op == x86asm.ADD && fsOK && m.Base == 0 && m.Index == 0 && memDisp(m) == 0 && argGPR(n.in, 0) == regOf(r))
			if !ie {
				continue
			}
			ts := TState{Kind: TStateTLSInitialExec, Addr: slot, Desc: fmt.Sprintf("initial exec: GOT slot %#x", slot)}
			off, fixed, err := got.tpOffset(slot)
			switch {
			case err != nil:
				return TState{}, err
			case fixed:
				ts.Offset = off
				ts.Desc += fmt.Sprintf(" holds TP offset %d", off)
			default:
				ts.Desc += " is filled in at load time: read it from the process"
			}
			return ts, nil
		}
	}
	return TState{}, nil
}

// dtpOffset returns the DTPOFF64 word of the GOT pair at got: from its
// dynamic relocation when it has one against a symbol, else from the file
// (the linker fills it in for a module-local variable).
func (img *elfImage) dtpOffset(got uint64) (int64, error) {
	if typ, sym, addend, ok := img.dynReloc(got); img.f.Type == elf.ET_DYN && (!ok || typ != elf.R_X86_64_DTPMOD64) {
		return 0, fmt.Errorf("GOT entry %#x has no R_X86_64_DTPMOD64 relocation (found type %v, symbol %d, addend %d)", got, typ, sym, addend)
	}
	if typ, sym, addend, ok := img.dynReloc(got + 8); ok {
		if typ != elf.R_X86_64_DTPOFF64 {
			return 0, fmt.Errorf("GOT entry %#x has relocation %v, want R_X86_64_DTPOFF64", got+8, typ)
		}
		if sym != 0 {
			dyn, err := img.f.DynamicSymbols()
			if err != nil || int(sym) > len(dyn) {
				return 0, fmt.Errorf("resolve symbol %d of the DTPOFF64 relocation at %#x: %v", sym, got+8, err)
			}
			return int64(dyn[sym-1].Value) + addend, nil // DynamicSymbols omits the null symbol 0
		}
		return addend, nil
	}
	v, err := img.readU64(got + 8)
	if err != nil {
		return 0, err
	}
	return int64(v), nil
}

// tpOffset returns the TP offset in the GOT slot at got, fixed when the
// slot has no dynamic relocation.
func (img *elfImage) tpOffset(got uint64) (int64, bool, error) {
	if _, _, _, relocated := img.dynReloc(got); relocated {
		return 0, false, nil
	}
	v, err := img.readU64(got)
	if err != nil {
		return 0, false, err
	}
	return int64(v), true, nil
}

// dynReloc finds the dynamic RELA relocation of the word at addr.
func (img *elfImage) dynReloc(addr uint64) (typ elf.R_X86_64, sym uint32, addend int64, ok bool) {
	for _, s := range img.f.Sections {
		if s.Type != elf.SHT_RELA || s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for i := 0; i+24 <= len(data); i += 24 {
			if binary.LittleEndian.Uint64(data[i:]) != addr {
				continue
			}
			info := binary.LittleEndian.Uint64(data[i+8:])
			return elf.R_X86_64(info & 0xffffffff), uint32(info >> 32), int64(binary.LittleEndian.Uint64(data[i+16:])), true
		}
	}
	return 0, 0, 0, false
}
