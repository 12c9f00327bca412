package pyelf

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/recapi/recapi/cpython"
	"golang.org/x/arch/x86/x86asm"
)

// Reg numbers general registers the way the BPF program indexes pt_regs.
type Reg uint8

// Registers in x86 encoding order, starting at 1 so that 0 means none.
const (
	RegNone Reg = 0
	RegRAX  Reg = 1
	RegRCX  Reg = 2
	RegRDX  Reg = 3
	RegRBX  Reg = 4
	RegRSP  Reg = 5
	RegRBP  Reg = 6
	RegRSI  Reg = 7
	RegRDI  Reg = 8
	RegR8   Reg = 9
	RegR9   Reg = 10
	RegR10  Reg = 11
	RegR11  Reg = 12
	RegR12  Reg = 13
	RegR13  Reg = 14
	RegR14  Reg = 15
	RegR15  Reg = 16
)

var regNames = [...]string{"none", "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

func (r Reg) String() string {
	if int(r) < len(regNames) {
		return regNames[r]
	}
	return fmt.Sprintf("Reg(%d)", uint8(r))
}

// ProbeKind says what a probe point is attached to.
type ProbeKind uint8

const (
	// ProbeEvalEntry is the entry of _PyEval_EvalFrameDefault (3.8-3.10),
	// where every Python call arrives as a C call.
	ProbeEvalEntry ProbeKind = 1
	// ProbeResume is a RESUME-family bytecode handler (3.11+), which every
	// Python frame runs when it starts or resumes.
	ProbeResume ProbeKind = 2
	// ProbeReturnValue is a RETURN_VALUE handler (3.11+): the value is in
	// stack slot 0.
	ProbeReturnValue ProbeKind = 3
	// ProbeReturnConst is a RETURN_CONST handler (3.12+): the value is
	// co_consts[oparg].
	ProbeReturnConst ProbeKind = 4
	// ProbeCreate is the RETURN_GENERATOR handler (3.11+), which a call of
	// a generator or coroutine function runs instead of RESUME.
	ProbeCreate ProbeKind = 5
	// ProbeEvalReturn is a uretprobe on _PyEval_EvalFrameDefault (3.8-3.10):
	// rax is the returned or yielded value, NULL when the frame raised. It
	// shares the entry breakpoint with the ProbeEvalEntry probe.
	ProbeEvalReturn ProbeKind = 6
)

func (k ProbeKind) String() string {
	switch k {
	case ProbeEvalEntry:
		return "eval-entry"
	case ProbeResume:
		return "resume"
	case ProbeReturnValue:
		return "return-value"
	case ProbeReturnConst:
		return "return-const"
	case ProbeCreate:
		return "create"
	case ProbeEvalReturn:
		return "eval-return"
	}
	return fmt.Sprintf("ProbeKind(%d)", uint8(k))
}

// ProbePoint is one uprobe location that sees every Python call, moved off
// the handler's first instruction when that can be proven safe.
type ProbePoint struct {
	Kind    ProbeKind
	Opcode  int    // opcode of the handler; -1 for ProbeEvalEntry
	Handler uint64 // vaddr of the handler, or of the function start
	// Addr is the vaddr where the uprobe goes; it equals Handler when the
	// probe could not be moved.
	Addr uint64
	// FileOffset is the file offset of Addr (link.UprobeOptions.Address).
	FileOffset uint64
	// FrameReg holds the frame pointer when the probe at Addr fires: on
	// 3.11+ it is tracked from the handler's `mov REG, 0x38(FRAME)` store of
	// next_instr; on 3.8-3.10 it is the frame argument (rdi on 3.8, rsi on
	// 3.9 and 3.10) or a copy of it.
	FrameReg Reg
	// Emulated reports that the kernel emulates the instruction at Addr
	// (relative jmp/jcc/call, push reg, 1-byte nop): about 0.6 us per hit
	// instead of about 14 us for an out-of-line single-step.
	Emulated bool
	// Desc is the prefix disassembly and why this point was chosen.
	Desc string
}

// ProbeError reports a probe point that cannot be proven safe. recapid
// never guesses a probe location.
type ProbeError struct {
	Path   string
	Opcode int // -1 for the eval-loop entry
	Reason string
}

func (e *ProbeError) Error() string {
	if e.Opcode < 0 {
		return fmt.Sprintf("place eval-entry probe in %s: %s", e.Path, e.Reason)
	}
	return fmt.Sprintf("place probe for opcode %d in %s: %s", e.Opcode, e.Path, e.Reason)
}

const (
	// probePrefixMaxInsns and probePrefixMaxBytes bound the straight-line
	// prefix decoded from a handler. The emulated instruction chosen in the
	// measured builds sits at most 55 bytes and 12 instructions in.
	probePrefixMaxInsns = 40
	probePrefixMaxBytes = 256
)

// probeAnalysis places the probes of one Binary.
type probeAnalysis struct {
	img   *elfImage
	bin   *Binary
	table *dispatchTable // nil on 3.8-3.10
}

// probePlan is a probe before the branch-target check.
type probePlan struct {
	kind    ProbeKind
	opcode  int
	handler uint64
	insns   []probeInsn // straight-line prefix, ending with the first control transfer
	move    int         // index of the first emulated instruction, -1 if none
	noMove  string      // why move < 0
	known   Reg         // register that holds the frame just before insns[knownAt]
	knownAt int
	knownBy string // how known was established
}

// place computes the probe points of the binary: the call probes, which
// recapid cannot work without, and the return-family probes (returns,
// generator creation), which it can. A return-family probe that cannot be
// placed safely is reported in outcomeErr and leaves the others in place.
func (a *probeAnalysis) place() (calls, outcomes []ProbePoint, outcomeErr, err error) {
	plans, err := a.plans()
	if err != nil {
		return nil, nil, nil, err
	}
	outPlans, outErrs := a.outcomePlans()
	var windows []probeWindow
	for _, p := range append(append([]probePlan(nil), plans...), outPlans...) {
		if p.move > 0 {
			windows = append(windows, probeWindow{after: p.handler, upTo: p.insns[p.move].pc})
		}
	}
	var targets map[uint64]string
	if len(windows) > 0 {
		if targets, err = a.branchTargets(windows); err != nil {
			return nil, nil, nil, fmt.Errorf("place probes in %s: collect branch targets: %w", a.bin.Path, err)
		}
	}
	calls = make([]ProbePoint, 0, len(plans))
	var errs []error
	for _, p := range plans {
		pt, err := a.finish(p, targets)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		calls = append(calls, pt)
	}
	if len(errs) > 0 {
		return nil, nil, nil, errors.Join(errs...)
	}
	for _, p := range outPlans {
		pt, err := a.finish(p, targets)
		if err != nil {
			outErrs = append(outErrs, err)
			continue
		}
		outcomes = append(outcomes, pt)
	}
	if a.bin.Layout.OldFrames {
		// The uretprobe's own breakpoint goes on the function's first
		// instruction; sharing it with the entry probe keeps one trap per
		// call, and makes the entry probe's stack pointer the one the
		// return is matched by.
		entry := calls[0]
		if entry.Addr == entry.Handler {
			outcomes = append(outcomes, ProbePoint{
				Kind: ProbeEvalReturn, Opcode: -1, Handler: entry.Handler, Addr: entry.Addr, FileOffset: entry.FileOffset,
				FrameReg: entry.FrameReg, Emulated: entry.Emulated,
				Desc: "uretprobe on _PyEval_EvalFrameDefault, sharing the entry probe's breakpoint",
			})
		} else {
			outErrs = append(outErrs, &ProbeError{Path: a.bin.Path, Opcode: -1, Reason: fmt.Sprintf(
				"returns need the entry probe on the first instruction of _PyEval_EvalFrameDefault, but it moved to +%d", entry.Addr-entry.Handler)})
		}
	}
	return calls, outcomes, errors.Join(outErrs...), nil
}

// outcomePlans plans the probes that see how frames end (3.11+):
// RETURN_VALUE, RETURN_CONST and RETURN_GENERATOR handlers and their
// instrumented twins.
func (a *probeAnalysis) outcomePlans() ([]probePlan, []error) {
	l := a.bin.Layout
	if l.OldFrames {
		return nil, nil
	}
	type want struct {
		kind ProbeKind
		ops  []uint8
	}
	wants := []want{{ProbeReturnValue, l.ReturnValueOpcodes}, {ProbeReturnConst, l.ReturnConstOpcodes}}
	if l.ReturnGeneratorOpcode != cpython.Absent {
		wants = append(wants, want{ProbeCreate, []uint8{uint8(l.ReturnGeneratorOpcode)}})
	}
	var plans []probePlan
	var errs []error
	for _, w := range wants {
		for _, op := range w.ops {
			p, err := a.handlerPlan(w.kind, int(op))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			plans = append(plans, p)
		}
	}
	return plans, errs
}

// plans decodes the handler prefixes and checks them against the layout.
func (a *probeAnalysis) plans() ([]probePlan, error) {
	b, l := a.bin, a.bin.Layout
	if l.OldFrames {
		arg := RegRSI
		if l.EvalFrameArg == 1 {
			arg = RegRDI
		}
		p, err := a.plan(ProbeEvalEntry, -1, b.EvalFrame.Addr)
		if err != nil {
			return nil, err
		}
		p.known, p.knownAt = arg, 0
		p.knownBy = fmt.Sprintf("frame argument %d of _PyEval_EvalFrameDefault", l.EvalFrameArg)
		return []probePlan{p}, nil
	}
	if len(l.ResumeOpcodes) == 0 {
		return nil, fmt.Errorf("place probes in %s: the CPython %s layout lists no RESUME-family opcodes", b.Path, b.Version.Short())
	}
	seen := map[uint64]int{}
	var plans []probePlan
	var errs []error
	for _, op8 := range l.ResumeOpcodes {
		op := int(op8)
		h := a.table.handlers[op]
		if prev, dup := seen[h]; dup {
			errs = append(errs, a.opcodeError(op, "handler %#x is also the handler of opcode %d", h, prev))
			continue
		}
		seen[h] = op
		p, err := a.handlerPlan(ProbeResume, op)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plans = append(plans, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return plans, nil
}

// opcodeError is a ProbeError for a handler that does not look like the
// opcode table says it should.
func (a *probeAnalysis) opcodeError(op int, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...) + fmt.Sprintf("; the CPython %s opcode table (Layout) may not match this build", a.bin.Version.Short())
	return &ProbeError{Path: a.bin.Path, Opcode: op, Reason: reason}
}

// handlerPlan plans the probe of one bytecode handler (3.11+), with the
// frame register proven by the handler's store of next_instr into the frame.
func (a *probeAnalysis) handlerPlan(kind ProbeKind, op int) (probePlan, error) {
	l := a.bin.Layout
	h := a.table.handlers[op]
	uses := 0
	for _, o := range a.table.handlers {
		if o == h {
			uses++
		}
	}
	if uses > 1 {
		return probePlan{}, a.opcodeError(op, "handler %#x serves %d dispatch-table slots (the unknown-opcode handler?)", h, uses)
	}
	p, err := a.plan(kind, op, h)
	if err != nil {
		return probePlan{}, err
	}
	i, base, ok := instrPtrStore(p.insns, l.Frame_instr)
	if !ok {
		return probePlan{}, a.opcodeError(op, "no store of next_instr to frame+%#x in the straight-line prefix at %#x [%s]", l.Frame_instr, h, describePrefix(p.insns, h))
	}
	p.known, p.knownAt = base, i
	p.knownBy = fmt.Sprintf("base of the next_instr store `%s` at +%d", p.insns[i], p.insns[i].pc-h)
	return p, nil
}

// plan reads the code at handler and plans a probe there.
func (a *probeAnalysis) plan(kind ProbeKind, op int, handler uint64) (probePlan, error) {
	code, err := a.img.readVA(handler, probePrefixMaxBytes)
	if err != nil {
		return probePlan{}, &ProbeError{Path: a.bin.Path, Opcode: op, Reason: err.Error()}
	}
	p, err := planProbe(kind, op, handler, code)
	if err != nil {
		return probePlan{}, &ProbeError{Path: a.bin.Path, Opcode: op, Reason: err.Error()}
	}
	return p, nil
}

// planProbe decodes the straight-line prefix of code, located at handler,
// and finds the first instruction the kernel emulates in it.
func planProbe(kind ProbeKind, op int, handler uint64, code []byte) (probePlan, error) {
	p := probePlan{kind: kind, opcode: op, handler: handler, move: -1}
	insns, decodeErr := decodeRun(code, handler, probePrefixMaxInsns, func(pi probeInsn) bool { return endsStraightLine(pi.in) })
	if len(insns) == 0 {
		if decodeErr == nil {
			decodeErr = fmt.Errorf("no code at %#x", handler)
		}
		return p, decodeErr
	}
	p.insns = insns
	for i, pi := range insns {
		if kernelEmulates(pi.raw) {
			p.move = i
			break
		}
	}
	last := insns[len(insns)-1]
	switch {
	case p.move >= 0:
	case decodeErr != nil:
		p.noMove = decodeErr.Error()
	case endsStraightLine(last.in):
		p.noMove = fmt.Sprintf("the first control transfer `%s` at %#x is not emulated", last, last.pc)
	default:
		p.noMove = fmt.Sprintf("no emulated instruction in the first %d instructions", len(insns))
	}
	return p, nil
}

// probeChoice is where a planned probe goes.
type probeChoice struct {
	at   int    // index into plan.insns
	reg  Reg    // frame register at insns[at]
	regs regSet // all registers that hold the frame there
	why  string
}

// decide moves the probe to the planned emulated instruction unless a
// branch target lies in (handler, probe] or no register provably holds the
// frame there; then the probe stays at the handler. It fails when no
// register holds the frame even at the handler.
func (p probePlan) decide(targets map[uint64]string) (probeChoice, error) {
	c := probeChoice{why: "not moved: " + p.noMove}
	if p.move == 0 {
		c.why = "the first instruction is emulated"
	}
	if p.move > 0 {
		c.at = p.move
		c.why = "first emulated instruction of the straight-line prefix, and no branch lands in (handler, probe]"
		for _, in := range p.insns[1 : p.move+1] {
			if src, hit := targets[in.pc]; hit {
				c.at = 0
				c.why = fmt.Sprintf("not moved: %#x (+%d) is %s", in.pc, in.pc-p.handler, src)
				break
			}
		}
	}
	c.regs = frameRegsAt(p.insns, p.known, p.knownAt, c.at)
	if c.regs == 0 && c.at > 0 {
		c.why = fmt.Sprintf("not moved: no register provably holds the frame at +%d", p.insns[c.at].pc-p.handler)
		c.at = 0
		c.regs = frameRegsAt(p.insns, p.known, p.knownAt, 0)
	}
	if c.regs == 0 {
		return c, fmt.Errorf("no register provably holds the frame at the handler %#x (%s is the %s) [%s]",
			p.handler, p.known, p.knownBy, describePrefix(p.insns, p.handler))
	}
	c.reg = p.known
	if !c.regs.has(c.reg) {
		c.reg = c.regs.lowest()
	}
	return c, nil
}

// finish turns a plan into a ProbePoint.
func (a *probeAnalysis) finish(p probePlan, targets map[uint64]string) (ProbePoint, error) {
	c, err := p.decide(targets)
	if err != nil {
		return ProbePoint{}, &ProbeError{Path: a.bin.Path, Opcode: p.opcode, Reason: err.Error()}
	}
	at := p.insns[c.at]
	off, ok := a.img.fileOffset(at.pc)
	if !ok {
		return ProbePoint{}, &ProbeError{Path: a.bin.Path, Opcode: p.opcode, Reason: fmt.Sprintf("probe address %#x is not file-backed", at.pc)}
	}
	emulated := kernelEmulates(at.raw)
	cost := "emulated"
	if !emulated {
		cost = "single-stepped, about 14 us per hit"
	}
	shown := p.insns
	if p.move >= 0 {
		shown = p.insns[:p.move+1]
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s handler %#x (%s): probe at +%d `%s` (%s): %s; frame in %s (the %s",
		a.probeName(p), p.handler, a.where(p.handler), at.pc-p.handler, at, cost, c.why, c.reg, p.knownBy)
	if c.regs != regSetOf(c.reg) {
		fmt.Fprintf(&d, "; also in %s", c.regs)
	}
	fmt.Fprintf(&d, "); prefix: %s", describePrefix(shown, p.handler))
	return ProbePoint{
		Kind: p.kind, Opcode: p.opcode, Handler: p.handler, Addr: at.pc, FileOffset: off,
		FrameReg: c.reg, Emulated: emulated, Desc: d.String(),
	}, nil
}

func (a *probeAnalysis) probeName(p probePlan) string {
	if p.kind == ProbeEvalEntry {
		return "_PyEval_EvalFrameDefault entry"
	}
	return fmt.Sprintf("opcode %d", p.opcode)
}

// where names an address relative to _PyEval_EvalFrameDefault.
func (a *probeAnalysis) where(addr uint64) string {
	e := a.bin.EvalFrame
	if addr >= e.Addr && addr < e.Addr+e.Size {
		return fmt.Sprintf("_PyEval_EvalFrameDefault+%#x", addr-e.Addr)
	}
	return "outside _PyEval_EvalFrameDefault, in its cold part"
}

// probeWindow is the stretch a probe would be moved over: (after, upTo].
type probeWindow struct{ after, upTo uint64 }

func (w probeWindow) contains(a uint64) bool { return a > w.after && a <= w.upTo }

// branchTargets returns every address inside one of the windows to which
// control can be transferred other than by falling through, with a
// description of the source. It is a superset of the real targets:
//
//   - the destinations of all direct branches found by linearly
//     disassembling every executable section (which covers the .cold part
//     of the eval loop), restarting at each function symbol;
//   - every dispatch-table entry and every code pointer stored in data;
//   - every function symbol.
//
// Switch jump tables of PIC code (32-bit offsets) are not decoded; they
// are not used inside the computed-goto eval loop.
func (a *probeAnalysis) branchTargets(windows []probeWindow) (map[uint64]string, error) {
	found := map[uint64]string{}
	note := func(t uint64, src func() string) {
		for _, w := range windows {
			if w.contains(t) {
				if _, dup := found[t]; !dup {
					found[t] = src()
				}
				return
			}
		}
	}
	var ptrs *codePointers
	if a.table != nil {
		for op, h := range a.table.handlers {
			note(h, func() string { return fmt.Sprintf("the dispatch-table entry of opcode %d", op) })
		}
		ptrs = a.table.ptrs
	} else {
		var err error
		if ptrs, err = a.img.codePointers(); err != nil {
			return nil, err
		}
	}
	for i, v := range ptrs.val {
		note(v, func() string { return fmt.Sprintf("a code pointer stored at %#x", ptrs.addr[i]) })
	}
	for _, s := range a.img.funcStart {
		note(s, func() string { return "a function symbol" })
	}
	inWindow := func(target uint64) bool { // runs for every branch
		for _, w := range windows {
			if w.contains(target) {
				return true
			}
		}
		return false
	}
	a.img.scanDirectBranches(inWindow, func(pc, target uint64, in x86asm.Inst) {
		note(target, func() string { return fmt.Sprintf("the target of `%s` at %#x", probeInsn{pc: pc, in: in}, pc) })
	})
	return found, nil
}

// scanDirectBranches linearly disassembles all executable code and calls
// fn, in address order, for every direct branch whose target keep accepts.
// Decoding restarts at every function symbol, and skips one byte after an
// undecodable one. It returns the number of instructions decoded and of
// bytes skipped.
//
// The code is decoded in parallel, in pieces that begin at function symbols:
// the sequential decode lands on every symbol (an instruction that overlaps
// one is cut there, a skipped byte is one byte), so each piece decodes
// exactly the instructions the sequential decode would. keep runs
// concurrently; fn does not.
func (img *elfImage) scanDirectBranches(keep func(target uint64) bool, fn func(pc, target uint64, in x86asm.Inst)) (insns, skipped int) {
	return img.scanDirectBranchesIn(runtime.GOMAXPROCS(0), keep, fn)
}

// scanDirectBranchesIn is scanDirectBranches with each executable range cut
// into up to workers pieces.
func (img *elfImage) scanDirectBranchesIn(workers int, keep func(target uint64) bool, fn func(pc, target uint64, in x86asm.Inst)) (insns, skipped int) {
	type branch struct {
		pc, target uint64
		in         x86asm.Inst
	}
	type piece struct {
		code           []byte // from the piece's start to the end of its range
		start, end     uint64
		branches       []branch
		insns, skipped int
	}
	var pieces []*piece
	for _, r := range img.execRanges() {
		code, err := img.readVA(r[0], int(r[1]-r[0]))
		if err != nil {
			continue
		}
		// Cut the range into about as many pieces as workers, at symbols.
		at := r[0]
		for i := 1; i <= workers; i++ {
			end := r[1]
			if i < workers {
				want := r[0] + (r[1]-r[0])*uint64(i)/uint64(workers)
				k, _ := slices.BinarySearch(img.funcStart, want)
				if k == len(img.funcStart) || img.funcStart[k] >= r[1] {
					continue // no symbol after want: the last piece takes the rest
				}
				end = img.funcStart[k]
			}
			if end > at {
				pieces = append(pieces, &piece{code: code[at-r[0]:], start: at, end: end})
				at = end
			}
		}
	}
	var wg sync.WaitGroup
	for _, p := range pieces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			syms := img.funcStart
			k, _ := slices.BinarySearch(syms, p.start+1) // the first symbol after the start
			for off := 0; p.start+uint64(off) < p.end; {
				pc := p.start + uint64(off)
				for k < len(syms) && syms[k] <= pc {
					k++
				}
				d, err := decodeInsn(p.code[off:], pc)
				if err != nil {
					p.skipped++
					off++
					continue
				}
				p.insns++
				if t, ok := directTarget(pc, d.in); ok && keep(t) {
					p.branches = append(p.branches, branch{pc, t, d.in})
				}
				next := d.next()
				if k < len(syms) && syms[k] < next {
					next = syms[k] // the instruction overlaps a symbol: resynchronize
				}
				off = int(next - p.start)
			}
		}()
	}
	wg.Wait()
	for _, p := range pieces {
		for _, b := range p.branches {
			fn(b.pc, b.target, b.in)
		}
		insns += p.insns
		skipped += p.skipped
	}
	return insns, skipped
}
