package pyelf

import (
	"fmt"
	"math/bits"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// This file holds the x86-64 instruction knowledge of probe placement: what
// the kernel's uprobe code emulates, what ends straight-line code, where a
// direct branch goes, and which general registers an instruction writes.

// probeInsn is one decoded instruction.
type probeInsn struct {
	pc    uint64
	in    x86asm.Inst
	raw   []byte
	endbr bool // endbr64 or endbr32, decoded as a NOP
}

func (p probeInsn) String() string {
	if p.endbr {
		return "endbr64"
	}
	in := p.in
	for i, a := range in.Args {
		if m, ok := a.(x86asm.Mem); ok {
			m.Disp = memDisp(m)
			in.Args[i] = m
		}
	}
	return x86asm.GNUSyntax(in, p.pc, nil)
}

// decodeInsn decodes the instruction at the start of code, located at pc.
// It knows endbr64 and endbr32 (CET builds start functions with them),
// which x86asm v0.32 decodes as a lone rep prefix, and it rejects such
// partial decodes (Op 0) as errors.
func decodeInsn(code []byte, pc uint64) (probeInsn, error) {
	if len(code) >= 4 && code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && (code[3] == 0xfa || code[3] == 0xfb) {
		return probeInsn{pc: pc, in: x86asm.Inst{Op: x86asm.NOP, Len: 4, Mode: 64}, raw: code[:4], endbr: true}, nil
	}
	in, err := x86asm.Decode(code, 64)
	if err == nil && (in.Op == 0 || in.Len == 0) {
		err = fmt.Errorf("incomplete instruction % x", code[:max(in.Len, 1)])
	}
	if err != nil {
		return probeInsn{}, fmt.Errorf("decode instruction at %#x: %w", pc, err)
	}
	return probeInsn{pc: pc, in: in, raw: code[:in.Len]}, nil
}

// decodeRun decodes up to maxInsns instructions from code at pc, stopping
// after the first one for which stop returns true, or before the first
// that cannot be decoded (reported in err).
func decodeRun(code []byte, pc uint64, maxInsns int, stop func(probeInsn) bool) (insns []probeInsn, err error) {
	for off := 0; off < len(code) && len(insns) < maxInsns; {
		p, err := decodeInsn(code[off:], pc+uint64(off))
		if err != nil {
			return insns, err
		}
		insns = append(insns, p)
		off += p.in.Len
		if stop(p) {
			break
		}
	}
	return insns, nil
}

// next is the address of the following instruction.
func (p probeInsn) next() uint64 { return p.pc + uint64(p.in.Len) }

// kernelEmulates reports whether the x86 uprobe code emulates the
// instruction instead of single-stepping a copy of it out of line (Linux
// arch/x86/kernel/uprobes.c: branch_setup_xol_ops, push_setup_xol_ops):
// jmp rel8/rel32, call rel32, jcc rel8/rel32 without a 0x66 prefix, push of
// a general register (optionally REX.B 0x41), and the 1-byte nop 0x90. The
// check is on the raw bytes and deliberately strict: prefixed forms the
// kernel might also accept are reported as not emulated.
func kernelEmulates(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	switch b := raw[0]; {
	case b == 0xe8 && len(raw) == 5, b == 0xe9 && len(raw) == 5, b == 0xeb && len(raw) == 2:
		return true
	case b >= 0x70 && b <= 0x7f && len(raw) == 2:
		return true
	case b == 0x0f && len(raw) == 6 && raw[1] >= 0x80 && raw[1] <= 0x8f:
		return true
	case b >= 0x50 && b <= 0x57 && len(raw) == 1:
		return true
	case b == 0x41 && len(raw) == 2 && raw[1] >= 0x50 && raw[1] <= 0x57:
		return true
	case b == 0x90 && len(raw) == 1:
		return true
	}
	return false
}

// endsStraightLine reports whether control may leave the instruction other
// than by falling through to the next one.
func endsStraightLine(in x86asm.Inst) bool {
	switch in.Op {
	case x86asm.JMP, x86asm.LJMP, x86asm.CALL, x86asm.LCALL, x86asm.RET, x86asm.LRET,
		x86asm.IRET, x86asm.IRETD, x86asm.IRETQ,
		x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JNE, x86asm.JG, x86asm.JGE,
		x86asm.JL, x86asm.JLE, x86asm.JO, x86asm.JNO, x86asm.JP, x86asm.JNP, x86asm.JS, x86asm.JNS,
		x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE,
		x86asm.SYSCALL, x86asm.SYSENTER, x86asm.SYSEXIT, x86asm.SYSRET, x86asm.INT, x86asm.INTO,
		x86asm.UD0, x86asm.UD1, x86asm.UD2, x86asm.HLT, x86asm.XBEGIN, x86asm.XABORT, x86asm.XEND:
		return true
	}
	return false
}

// directTarget returns the destination of a direct (pc-relative) branch.
func directTarget(pc uint64, in x86asm.Inst) (uint64, bool) {
	if !endsStraightLine(in) {
		return 0, false
	}
	rel, ok := in.Args[0].(x86asm.Rel)
	if !ok {
		return 0, false
	}
	return uint64(int64(pc) + int64(in.Len) + int64(rel)), true
}

// memDisp returns the displacement of a memory operand. x86asm v0.32
// zero-extends 32-bit displacements, which the CPU sign-extends in 64-bit
// mode; only the 64-bit moffs forms (mov %al,0x...) carry wider values.
func memDisp(m x86asm.Mem) int64 {
	if m.Disp >= 0 && m.Disp <= 0xffffffff {
		return int64(int32(m.Disp))
	}
	return m.Disp
}

// Reg families: regOf maps any width of a general register to its Reg.
func regOf(r x86asm.Reg) Reg {
	switch {
	case r >= x86asm.RAX && r <= x86asm.R15:
		return Reg(r-x86asm.RAX) + RegRAX
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return Reg(r-x86asm.EAX) + RegRAX
	case r >= x86asm.AX && r <= x86asm.R15W:
		return Reg(r-x86asm.AX) + RegRAX
	case r >= x86asm.AL && r <= x86asm.BL:
		return Reg(r-x86asm.AL) + RegRAX
	case r >= x86asm.AH && r <= x86asm.BH: // ah, ch, dh, bh
		return Reg(r-x86asm.AH) + RegRAX
	case r >= x86asm.SPB && r <= x86asm.R15B: // spl, bpl, sil, dil, r8b..r15b
		return Reg(r-x86asm.SPB) + RegRSP
	}
	return RegNone
}

// regSet is a set of Regs, bit r for Reg r.
type regSet uint32

const allGPRs regSet = (1<<(RegR15+1) - 1) &^ 1

func regSetOf(rs ...Reg) regSet {
	var s regSet
	for _, r := range rs {
		if r != RegNone {
			s |= 1 << r
		}
	}
	return s
}

func (s regSet) has(r Reg) bool { return r != RegNone && s&(1<<r) != 0 }

// lowest is the lowest-numbered register in s, or RegNone.
func (s regSet) lowest() Reg {
	if s == 0 {
		return RegNone
	}
	return Reg(bits.TrailingZeros32(uint32(s)))
}

func (s regSet) String() string {
	var names []string
	for r := RegRAX; r <= RegR15; r++ {
		if s.has(r) {
			names = append(names, r.String())
		}
	}
	return "{" + strings.Join(names, ",") + "}"
}

// argGPR returns the general register of argument i, or RegNone.
func argGPR(in x86asm.Inst, i int) Reg {
	if r, ok := in.Args[i].(x86asm.Reg); ok {
		return regOf(r)
	}
	return RegNone
}

// regCopy reports a 64-bit register-to-register mov, dst <- src.
func regCopy(in x86asm.Inst) (dst, src Reg, ok bool) {
	if in.Op != x86asm.MOV {
		return 0, 0, false
	}
	d, dok := in.Args[0].(x86asm.Reg)
	s, sok := in.Args[1].(x86asm.Reg)
	if !dok || !sok || d < x86asm.RAX || d > x86asm.R15 || s < x86asm.RAX || s > x86asm.R15 {
		return 0, 0, false
	}
	return regOf(d), regOf(s), true
}

// regWrites returns the general registers the instruction may write. Any
// instruction it does not know is assumed to write all of them, so frame
// register tracking fails safe.
func regWrites(in x86asm.Inst) regSet {
	dst := regSetOf(argGPR(in, 0))
	switch in.Op {
	// Read-only, or writes flags or memory only.
	case x86asm.CMP, x86asm.TEST, x86asm.BT, x86asm.NOP, x86asm.PREFETCHNTA, x86asm.PREFETCHT0,
		x86asm.PREFETCHT1, x86asm.PREFETCHT2, x86asm.PREFETCHW, x86asm.LFENCE, x86asm.MFENCE,
		x86asm.SFENCE, x86asm.PAUSE, x86asm.UCOMISD, x86asm.UCOMISS, x86asm.COMISD, x86asm.COMISS,
		x86asm.SAHF, x86asm.CLD, x86asm.STD, x86asm.CLC, x86asm.STC, x86asm.CMC:
		return 0
	// The first operand is the only register written.
	case x86asm.MOV, x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD, x86asm.MOVBE, x86asm.LEA,
		x86asm.ADD, x86asm.ADC, x86asm.SUB, x86asm.SBB, x86asm.AND, x86asm.OR, x86asm.XOR,
		x86asm.INC, x86asm.DEC, x86asm.NEG, x86asm.NOT,
		x86asm.SHL, x86asm.SHR, x86asm.SAR, x86asm.ROL, x86asm.ROR, x86asm.RCL, x86asm.RCR,
		x86asm.SHLD, x86asm.SHRD, x86asm.BSWAP, x86asm.BSF, x86asm.BSR, x86asm.LZCNT, x86asm.TZCNT,
		x86asm.POPCNT, x86asm.BTS, x86asm.BTR, x86asm.BTC, x86asm.CRC32,
		x86asm.CMOVA, x86asm.CMOVAE, x86asm.CMOVB, x86asm.CMOVBE, x86asm.CMOVE, x86asm.CMOVG,
		x86asm.CMOVGE, x86asm.CMOVL, x86asm.CMOVLE, x86asm.CMOVNE, x86asm.CMOVNO, x86asm.CMOVNP,
		x86asm.CMOVNS, x86asm.CMOVO, x86asm.CMOVP, x86asm.CMOVS,
		x86asm.SETA, x86asm.SETAE, x86asm.SETB, x86asm.SETBE, x86asm.SETE, x86asm.SETG, x86asm.SETGE,
		x86asm.SETL, x86asm.SETLE, x86asm.SETNE, x86asm.SETNO, x86asm.SETNP, x86asm.SETNS, x86asm.SETO,
		x86asm.SETP, x86asm.SETS,
		x86asm.MOVD, x86asm.MOVQ, x86asm.CVTTSD2SI, x86asm.CVTTSS2SI, x86asm.CVTSD2SI, x86asm.CVTSS2SI,
		x86asm.PMOVMSKB, x86asm.MOVMSKPD, x86asm.MOVMSKPS, x86asm.PEXTRB, x86asm.PEXTRW, x86asm.PEXTRD,
		x86asm.PEXTRQ:
		return dst
	case x86asm.IMUL:
		if in.Args[1] != nil {
			return dst
		}
		return regSetOf(RegRAX, RegRDX)
	case x86asm.MUL, x86asm.DIV, x86asm.IDIV, x86asm.RDTSC, x86asm.XGETBV:
		return regSetOf(RegRAX, RegRDX)
	case x86asm.RDTSCP:
		return regSetOf(RegRAX, RegRDX, RegRCX)
	case x86asm.CBW, x86asm.CWDE, x86asm.CDQE, x86asm.LAHF:
		return regSetOf(RegRAX)
	case x86asm.CWD, x86asm.CDQ, x86asm.CQO:
		return regSetOf(RegRDX)
	case x86asm.XCHG, x86asm.XADD:
		return dst | regSetOf(argGPR(in, 1))
	case x86asm.CMPXCHG:
		return dst | regSetOf(RegRAX)
	case x86asm.PUSH, x86asm.PUSHF, x86asm.PUSHFQ:
		return regSetOf(RegRSP)
	case x86asm.POP:
		return dst | regSetOf(RegRSP)
	case x86asm.POPF, x86asm.POPFQ:
		return regSetOf(RegRSP)
	case x86asm.LEAVE:
		return regSetOf(RegRSP, RegRBP)
	case x86asm.CPUID:
		return regSetOf(RegRAX, RegRBX, RegRCX, RegRDX)
	case x86asm.SYSCALL:
		return regSetOf(RegRAX, RegRCX, RegR11)
	}
	// SSE/AVX instructions with a vector destination write no general
	// register, except the string compares that return an index in rcx.
	if r, ok := in.Args[0].(x86asm.Reg); ok && r >= x86asm.X0 && r <= x86asm.Z31 &&
		in.Op != x86asm.PCMPISTRI && in.Op != x86asm.PCMPESTRI {
		return 0
	}
	return allGPRs
}

// frameRegsAt returns the registers that provably hold, just before
// insns[at], the value that register known holds just before
// insns[knownAt]. It tracks the value through straight-line code in both
// directions, following 64-bit reg-to-reg copies and dropping any register
// an instruction may write: first back to the start of insns (a copy made
// before knownAt may still be valid at at), then forward.
func frameRegsAt(insns []probeInsn, known Reg, knownAt, at int) regSet {
	atStart := regsBackward(insns, regSetOf(known), knownAt, 0)
	atKnown := regSetOf(known) | regsForward(insns, atStart, 0, knownAt)
	if at >= knownAt {
		return regsForward(insns, atKnown, knownAt, at)
	}
	return regsBackward(insns, atKnown, knownAt, at) | regsForward(insns, atStart, 0, at)
}

// regsForward applies insns[from..to-1] to the set of registers holding a
// value just before insns[from].
func regsForward(insns []probeInsn, set regSet, from, to int) regSet {
	for i := from; i < to; i++ {
		in := insns[i].in
		dst, src, isCopy := regCopy(in)
		had := set.has(src)
		set &^= regWrites(in)
		if isCopy && had {
			set |= regSetOf(dst)
		}
	}
	return set
}

// regsBackward undoes insns[to..from-1] on the set of registers holding a
// value just before insns[from].
func regsBackward(insns []probeInsn, set regSet, from, to int) regSet {
	for i := from - 1; i >= to; i-- {
		in := insns[i].in
		dst, src, isCopy := regCopy(in)
		after := set
		set &^= regWrites(in)
		if isCopy && after.has(dst) {
			set |= regSetOf(src)
		}
	}
	return set
}

// instrPtrStore finds the first `mov REG, disp(BASE)` with a 64-bit store,
// no index register and the given displacement: the handler's store of
// next_instr into frame->prev_instr / frame->instr_ptr. BASE is `frame`.
func instrPtrStore(insns []probeInsn, disp int) (idx int, base Reg, ok bool) {
	for i, p := range insns {
		if p.in.Op != x86asm.MOV || p.in.MemBytes != 8 {
			continue
		}
		m, isMem := p.in.Args[0].(x86asm.Mem)
		if !isMem || memDisp(m) != int64(disp) || m.Index != 0 || m.Segment != 0 || regOf(m.Base) == RegNone {
			continue
		}
		if r, isReg := p.in.Args[1].(x86asm.Reg); !isReg || r < x86asm.RAX || r > x86asm.R15 {
			continue
		}
		return i, regOf(m.Base), true
	}
	return 0, RegNone, false
}

// describePrefix renders instructions as "+off insn" lines joined by "; ".
func describePrefix(insns []probeInsn, start uint64) string {
	parts := make([]string, len(insns))
	for i, p := range insns {
		parts[i] = fmt.Sprintf("+%d %s", p.pc-start, p)
	}
	return strings.Join(parts, "; ")
}
