package pyelf

import (
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/recapi/recapi/cpython"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/arch/x86/x86asm"
)

func TestKernelEmulates(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want bool
	}{
		{name: "jmp rel32", raw: []byte{0xe9, 1, 2, 3, 4}, want: true},
		{name: "jmp rel8", raw: []byte{0xeb, 0x10}, want: true},
		{name: "call rel32", raw: []byte{0xe8, 1, 2, 3, 4}, want: true},
		{name: "je rel8", raw: []byte{0x74, 0x05}, want: true},
		{name: "jg rel32", raw: []byte{0x0f, 0x8f, 1, 2, 3, 4}, want: true},
		{name: "push rbp", raw: []byte{0x55}, want: true},
		{name: "push r15", raw: []byte{0x41, 0x57}, want: true},
		{name: "nop", raw: []byte{0x90}, want: true},
		{name: "endbr64", raw: []byte{0xf3, 0x0f, 0x1e, 0xfa}, want: false},
		{name: "multi-byte nop", raw: []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}, want: false},
		{name: "data16 nop", raw: []byte{0x66, 0x90}, want: false},
		{name: "pause", raw: []byte{0xf3, 0x90}, want: false},
		{name: "data16 call", raw: []byte{0x66, 0xe8, 1, 2}, want: false},
		{name: "push rex.w", raw: []byte{0x48, 0x55}, want: false},
		{name: "push imm", raw: []byte{0x6a, 0x01}, want: false},
		{name: "jmp indirect", raw: []byte{0xff, 0xe0}, want: false},
		{name: "jrcxz", raw: []byte{0xe3, 0x05}, want: false},
		{name: "mov store", raw: []byte{0x4c, 0x89, 0x75, 0x38}, want: false},
		{name: "empty", raw: nil, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, kernelEmulates(tt.raw))
		})
	}
}

func TestRegOf(t *testing.T) {
	tests := []struct {
		in   x86asm.Reg
		want Reg
	}{
		{x86asm.RAX, RegRAX}, {x86asm.EAX, RegRAX}, {x86asm.AX, RegRAX}, {x86asm.AL, RegRAX}, {x86asm.AH, RegRAX},
		{x86asm.BH, RegRBX}, {x86asm.SPB, RegRSP}, {x86asm.BPB, RegRBP}, {x86asm.SIB, RegRSI}, {x86asm.DIB, RegRDI},
		{x86asm.R8B, RegR8}, {x86asm.R15W, RegR15}, {x86asm.R13L, RegR13}, {x86asm.R14, RegR14}, {x86asm.RDI, RegRDI},
		{x86asm.RIP, RegNone}, {x86asm.X0, RegNone}, {x86asm.FS, RegNone},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			assert.Equal(t, tt.want, regOf(tt.in))
		})
	}
	assert.Equal(t, "r15", RegR15.String())
	assert.Equal(t, "none", RegNone.String())
	assert.Equal(t, "Reg(40)", Reg(40).String())
}

// probeTestDecode decodes hand-assembled code located at pc.
func probeTestDecode(t *testing.T, pc uint64, code ...[]byte) []probeInsn {
	t.Helper()
	var all []byte
	for _, c := range code {
		all = append(all, c...)
	}
	insns, err := decodeRun(all, pc, 100, func(probeInsn) bool { return false })
	require.NoError(t, err)
	require.Len(t, insns, len(code))
	return insns
}

// Hand-assembled instructions (GNU syntax).
var (
	asmStoreRBP   = []byte{0x4c, 0x89, 0x75, 0x38}       // mov %r14,0x38(%rbp)
	asmStoreRAX   = []byte{0x4c, 0x89, 0x70, 0x38}       // mov %r14,0x38(%rax)
	asmLoadRAX    = []byte{0x48, 0x8b, 0x45, 0x20}       // mov 0x20(%rbp),%rax
	asmTestEAX    = []byte{0x85, 0xc0}                   // test %eax,%eax
	asmJE         = []byte{0x74, 0x05}                   // je .+7
	asmCopyRBPRDI = []byte{0x48, 0x89, 0xef}             // mov %rbp,%rdi
	asmCopyRBPRAX = []byte{0x48, 0x89, 0xe8}             // mov %rbp,%rax
	asmDerefRBP   = []byte{0x48, 0x8b, 0x6d, 0x00}       // mov 0x0(%rbp),%rbp
	asmMovzxEBP   = []byte{0x0f, 0xb6, 0xe8}             // movzbl %al,%ebp
	asmJmpRAX     = []byte{0xff, 0xe0}                   // jmp *%rax
	asmEndbr64    = []byte{0xf3, 0x0f, 0x1e, 0xfa}       // endbr64
	asmPushR15    = []byte{0x41, 0x57}                   // push %r15
	asmSubRSP     = []byte{0x48, 0x81, 0xec, 0, 1, 0, 0} // sub $0x100,%rsp
	asmXchgRBPRDX = []byte{0x48, 0x87, 0xea}             // xchg %rbp,%rdx
	asmMulRBX     = []byte{0x48, 0xf7, 0xe3}             // mul %rbx
)

func TestRegWrites(t *testing.T) {
	tests := []struct {
		name string
		code []byte
		want regSet
	}{
		{name: "store", code: asmStoreRBP, want: 0},
		{name: "load", code: asmLoadRAX, want: regSetOf(RegRAX)},
		{name: "test", code: asmTestEAX, want: 0},
		{name: "32-bit write", code: asmMovzxEBP, want: regSetOf(RegRBP)},
		{name: "push", code: asmPushR15, want: regSetOf(RegRSP)},
		{name: "xchg", code: asmXchgRBPRDX, want: regSetOf(RegRBP, RegRDX)},
		{name: "mul", code: asmMulRBX, want: regSetOf(RegRAX, RegRDX)},
		{name: "endbr64", code: asmEndbr64, want: 0},
		{name: "cpuid", code: []byte{0x0f, 0xa2}, want: regSetOf(RegRAX, RegRBX, RegRCX, RegRDX)}, // cpuid
		{name: "syscall", code: []byte{0x0f, 0x05}, want: regSetOf(RegRAX, RegRCX, RegR11)},       // syscall
		{name: "vector destination", code: []byte{0x66, 0x0f, 0xef, 0xc0}, want: 0},               // pxor %xmm0,%xmm0
		{name: "rdtsc", code: []byte{0x0f, 0x31}, want: regSetOf(RegRAX, RegRDX)},                 // rdtsc
		{name: "not modelled: all", code: []byte{0x48, 0x0f, 0xc7, 0xf0}, want: allGPRs},          // rdrand %rax
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeInsn(tt.code, 0x1000)
			require.NoError(t, err)
			assert.Equal(t, tt.want.String(), regWrites(p.in).String(), p.String())
		})
	}
}

func TestFrameRegsAt(t *testing.T) {
	insns := probeTestDecode(t, 0x1000, asmCopyRBPRAX, asmStoreRAX, asmCopyRBPRDI, asmDerefRBP, asmJE)
	tests := []struct {
		name    string
		known   Reg
		knownAt int
		at      int
		want    regSet
	}{
		{name: "at the store", known: RegRAX, knownAt: 1, at: 1, want: regSetOf(RegRAX, RegRBP)},
		{name: "backward through the copy", known: RegRAX, knownAt: 1, at: 0, want: regSetOf(RegRBP)},
		{name: "forward: rbp is still a copy", known: RegRAX, knownAt: 1, at: 3, want: regSetOf(RegRAX, RegRBP, RegRDI)},
		{name: "forward: rbp overwritten", known: RegRAX, knownAt: 1, at: 4, want: regSetOf(RegRAX, RegRDI)},
		{name: "backward past the write", known: RegRDI, knownAt: 4, at: 0, want: regSetOf(RegRBP)},
		{name: "lost", known: RegRBP, knownAt: 4, at: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want.String(), frameRegsAt(insns, tt.known, tt.knownAt, tt.at).String())
		})
	}
}

// probeTestPlan plans a synthetic RESUME handler at 0x1000 and decides with
// the given branch targets.
func probeTestPlan(t *testing.T, targets map[uint64]string, code ...[]byte) (probePlan, probeChoice, error) {
	t.Helper()
	var all []byte
	for _, c := range code {
		all = append(all, c...)
	}
	p, err := planProbe(ProbeResume, 151, 0x1000, all)
	require.NoError(t, err)
	i, base, ok := instrPtrStore(p.insns, 0x38)
	require.True(t, ok, "no instr_ptr store")
	p.known, p.knownAt, p.knownBy = base, i, "store"
	c, err := p.decide(targets)
	return p, c, err
}

func TestProbePlacement(t *testing.T) {
	tests := []struct {
		name    string
		code    [][]byte
		targets map[uint64]string
		wantAt  uint64 // offset of the probe from the handler
		wantReg Reg
		wantWhy string
		wantErr string
	}{
		{
			name:   "moved to the first emulated instruction",
			code:   [][]byte{asmStoreRBP, asmLoadRAX, asmTestEAX, asmJE},
			wantAt: 10, wantReg: RegRBP, wantWhy: "first emulated instruction",
		},
		{
			name:    "a branch target in the stretch keeps the probe",
			code:    [][]byte{asmStoreRBP, asmLoadRAX, asmTestEAX, asmJE},
			targets: map[uint64]string{0x1004: "the target of a jump"},
			wantAt:  0, wantReg: RegRBP, wantWhy: "0x1004 (+4) is the target of a jump",
		},
		{
			name:    "a branch target at the probe keeps the probe",
			code:    [][]byte{asmStoreRBP, asmLoadRAX, asmTestEAX, asmJE},
			targets: map[uint64]string{0x100a: "a code pointer"},
			wantAt:  0, wantReg: RegRBP, wantWhy: "0x100a (+10) is a code pointer",
		},
		{
			name:    "the handler start itself may be a target",
			code:    [][]byte{asmStoreRBP, asmLoadRAX, asmTestEAX, asmJE},
			targets: map[uint64]string{0x1000: "the dispatch-table entry"},
			wantAt:  10, wantReg: RegRBP,
		},
		{
			name:   "frame copied before its register is overwritten",
			code:   [][]byte{asmStoreRBP, asmCopyRBPRDI, asmDerefRBP, asmJE},
			wantAt: 11, wantReg: RegRDI,
		},
		{
			name:   "frame lost: the probe stays",
			code:   [][]byte{asmStoreRBP, asmDerefRBP, asmJE},
			wantAt: 0, wantReg: RegRBP, wantWhy: "no register provably holds the frame at +8",
		},
		{
			name:   "frame tracked back through a copy",
			code:   [][]byte{asmCopyRBPRAX, asmStoreRAX, asmJE},
			wantAt: 7, wantReg: RegRAX,
		},
		{
			name:   "indirect jump: not emulated",
			code:   [][]byte{asmStoreRBP, asmJmpRAX},
			wantAt: 0, wantReg: RegRBP, wantWhy: "`jmp *%rax` at 0x1004 is not emulated",
		},
		{
			name:    "frame written before the store: no register at the handler",
			code:    [][]byte{asmDerefRBP, asmStoreRBP, asmJmpRAX},
			wantErr: "no register provably holds the frame at the handler 0x1000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c, err := probeTestPlan(t, tt.targets, tt.code...)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantAt, p.insns[c.at].pc-0x1000, c.why)
			assert.Equal(t, tt.wantReg, c.reg, c.why)
			assert.Contains(t, c.why, tt.wantWhy)
		})
	}
}

func TestProbePlacementEvalEntry(t *testing.T) {
	// A CET build starts the function with endbr64, which the kernel does
	// not emulate; the push after it is.
	p, err := planProbe(ProbeEvalEntry, -1, 0x2000, append(append(append([]byte{}, asmEndbr64...), asmPushR15...), asmSubRSP...))
	require.NoError(t, err)
	p.known, p.knownAt = RegRSI, 0
	c, err := p.decide(nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x2004), p.insns[c.at].pc)
	assert.Equal(t, RegRSI, c.reg)
	assert.Equal(t, "endbr64", p.insns[0].String())
	assert.True(t, kernelEmulates(p.insns[c.at].raw))

	// A branch to +4 keeps it at the start.
	c, err = p.decide(map[uint64]string{0x2004: "the target of a jump"})
	require.NoError(t, err)
	assert.Equal(t, 0, c.at)
}

func TestPlanProbeDecodeError(t *testing.T) {
	_, err := planProbe(ProbeResume, 151, 0x1000, []byte{0x06}) // push %es: invalid in 64-bit mode
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0x1000")

	p, err := planProbe(ProbeResume, 151, 0x1000, append(append([]byte{}, asmStoreRBP...), 0x06))
	require.NoError(t, err)
	assert.Equal(t, -1, p.move)
	assert.Contains(t, p.noMove, "0x1004")
}

// TestProbesRejectWrongOpcodeTable runs the placement on a real build with
// deliberately wrong opcode numbers and offsets.
func TestProbesRejectWrongOpcodeTable(t *testing.T) {
	var bin elfTestBinary
	for _, b := range elfTestBinaries() {
		if b.name == "pyenv-3.12.1" {
			bin = b
		}
	}
	b := elfTestAnalyze(t, bin.path)
	img, err := openELFImage(bin.path)
	require.NoError(t, err)
	defer img.close()
	tab, err := img.findDispatchTable(b.EvalFrame.Addr, b.EvalFrame.Size)
	require.NoError(t, err)
	uses := map[uint64]int{}
	shared := 0
	for op, h := range tab.handlers {
		if uses[h]++; uses[h] > uses[tab.handlers[shared]] {
			shared = op
		}
	}
	require.Greater(t, uses[tab.handlers[shared]], 1, "no shared unknown-opcode handler in this build")

	tests := []struct {
		name    string
		mutate  func(*cpython.Layout)
		wantErr string
		noProbe bool // a layout problem, not a *ProbeError
	}{
		{name: "duplicate opcode", mutate: func(l *cpython.Layout) { l.ResumeOpcodes = []uint8{151, 151} }, wantErr: "is also the handler of opcode 151"},
		{name: "unknown-opcode slot", mutate: func(l *cpython.Layout) { l.ResumeOpcodes = []uint8{151, uint8(shared)} }, wantErr: "dispatch-table slots"},
		{name: "wrong instr_ptr offset", mutate: func(l *cpython.Layout) { l.Frame_instr = 0x40 }, wantErr: "no store of next_instr to frame+0x40"},
		{name: "no opcodes", mutate: func(l *cpython.Layout) { l.ResumeOpcodes = nil }, wantErr: "lists no RESUME-family opcodes", noProbe: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := *b
			cp.Layout.ResumeOpcodes = append([]uint8(nil), b.Layout.ResumeOpcodes...)
			tt.mutate(&cp.Layout)
			a := probeAnalysis{img: img, bin: &cp, table: tab}
			_, _, _, err := a.place()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), "place ")
			assert.Contains(t, err.Error(), bin.path)
			if tt.noProbe {
				return
			}
			var pe *ProbeError
			require.True(t, errors.As(err, &pe), "%v", err)
			assert.Equal(t, bin.path, pe.Path)
		})
	}
}

// TestProbeHandlersMatchDWARF checks the handler addresses (and so the
// opcode numbers in Layout.ResumeOpcodes) against the DWARF labels of the
// pyenv builds: TARGET_RESUME's low_pc must be table[RESUME].
func TestProbeHandlersMatchDWARF(t *testing.T) {
	dwarfdump, err := exec.LookPath("llvm-dwarfdump")
	if err != nil {
		t.Skip("llvm-dwarfdump is not installed")
	}
	labels := map[int]map[int]string{
		11: {151: "RESUME", 150: "RESUME_QUICK", 83: "RETURN_VALUE", 75: "RETURN_GENERATOR"},
		12: {151: "RESUME", 240: "INSTRUMENTED_RESUME", 83: "RETURN_VALUE", 242: "INSTRUMENTED_RETURN_VALUE",
			121: "RETURN_CONST", 247: "INSTRUMENTED_RETURN_CONST", 75: "RETURN_GENERATOR"},
		13: {149: "RESUME", 207: "RESUME_CHECK", 236: "INSTRUMENTED_RESUME", 36: "RETURN_VALUE", 239: "INSTRUMENTED_RETURN_VALUE",
			103: "RETURN_CONST", 240: "INSTRUMENTED_RETURN_CONST", 35: "RETURN_GENERATOR"},
	}
	lowPC := regexp.MustCompile(`DW_AT_low_pc\s+\((0x[0-9a-f]+)\)`)
	for _, tt := range elfTestBinaries() {
		if !strings.HasPrefix(tt.name, "pyenv-3.1") || tt.version.Minor < 11 {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			b := elfTestAnalyze(t, tt.path)
			require.NoError(t, b.OutcomeErr)
			all := append(append([]ProbePoint(nil), b.Probes...), b.OutcomeProbes...)
			require.Len(t, all, len(labels[b.Layout.Minor]))
			for _, p := range all {
				name := labels[b.Layout.Minor][p.Opcode]
				require.NotEmpty(t, name, "opcode %d", p.Opcode)
				out, err := exec.CommandContext(t.Context(), dwarfdump, "--name=TARGET_"+name, tt.path).Output()
				require.NoError(t, err)
				m := lowPC.FindStringSubmatch(string(out))
				require.NotNil(t, m, "no DW_AT_low_pc for TARGET_%s in %s", name, tt.path)
				pc, err := strconv.ParseUint(m[1], 0, 64)
				require.NoError(t, err)
				assert.Equal(t, pc, p.Handler, "TARGET_%s", name)
			}
		})
	}
}

// TestProbeDescExplainsRefusal checks that the un-movable 3.13 RESUME says
// which branch lands inside its prefix.
func TestProbeDescExplainsRefusal(t *testing.T) {
	for _, tt := range elfTestBinaries() {
		if tt.name != "pyenv-3.13.0" {
			continue
		}
		b := elfTestAnalyze(t, tt.path)
		if b.BuildID != tt.buildID {
			t.Skipf("%s is not the measured build", tt.path)
		}
		require.NotEmpty(t, b.Probes)
		p := b.Probes[0]
		assert.Equal(t, 149, p.Opcode)
		assert.False(t, p.Emulated)
		assert.Contains(t, p.Desc, "not moved: 0x90a51 (+8) is the target of `jne 0x90a51` at 0x90aa2")
		assert.Contains(t, p.Desc, "single-stepped")
	}
}

func TestMemDisp(t *testing.T) {
	tests := []struct {
		name string
		code []byte
		want int64
	}{
		{name: "disp8", code: []byte{0x48, 0x8b, 0x40, 0xf0}, want: -0x10},                                  // mov -0x10(%rax),%rax
		{name: "negative disp32", code: []byte{0x48, 0x8b, 0x80, 0xf0, 0xff, 0xff, 0xff}, want: -0x10},      // mov -0x10(%rax),%rax
		{name: "positive disp32", code: []byte{0x48, 0x8d, 0x05, 0x00, 0x10, 0x00, 0x00}, want: 0x1000},     // lea 0x1000(%rip),%rax
		{name: "absolute fs", code: []byte{0x64, 0x48, 0x8b, 0x04, 0x25, 0xf8, 0xff, 0xff, 0xff}, want: -8}, // mov %fs:-8,%rax
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeInsn(tt.code, 0)
			require.NoError(t, err)
			m, ok := p.in.Args[1].(x86asm.Mem)
			require.True(t, ok)
			assert.Equal(t, tt.want, memDisp(m))
			assert.NotContains(t, p.String(), "0xfffffff")
		})
	}
}

// FuzzPlanProbe feeds arbitrary code to the probe planner, which decodes
// bytes read from interpreter files.
func FuzzPlanProbe(f *testing.F) {
	f.Add(append(append(append([]byte{}, asmStoreRBP...), asmLoadRAX...), asmJE...), uint8(0), uint8(RegRBP))
	f.Add(append(append([]byte{}, asmEndbr64...), asmPushR15...), uint8(0), uint8(RegRSI))
	f.Add([]byte{0x06, 0x0f}, uint8(3), uint8(40))
	f.Fuzz(func(t *testing.T, code []byte, knownAt, reg uint8) {
		p, err := planProbe(ProbeResume, 151, 0x1000, code)
		if err != nil {
			return
		}
		if _, _, ok := instrPtrStore(p.insns, 0x38); ok {
			_ = describePrefix(p.insns, 0x1000)
		}
		p.known, p.knownAt = Reg(reg%17), int(knownAt)%len(p.insns)
		c, err := p.decide(map[uint64]string{0x1001: "x", 0x1004: "y"})
		if err == nil && (c.at < 0 || c.at >= len(p.insns) || c.reg == RegNone) {
			t.Fatalf("bad choice %+v for %d instructions", c, len(p.insns))
		}
	})
}

// TestScanDirectBranchesInPieces checks that decoding the code in parallel
// pieces finds exactly the branches, instructions and skipped bytes of one
// sequential decode, in the same order, on every interpreter present.
func TestScanDirectBranchesInPieces(t *testing.T) {
	for _, tt := range elfTestBinaries() {
		t.Run(tt.name, func(t *testing.T) {
			elfTestRequire(t, tt.path)
			img, err := openELFImage(tt.path)
			require.NoError(t, err)
			defer img.close()
			type branch struct{ pc, target uint64 }

			// The sequential decode the pieces must reproduce.
			var want []branch
			wantInsns, wantSkipped := 0, 0
			for _, r := range img.execRanges() {
				code, err := img.readVA(r[0], int(r[1]-r[0]))
				require.NoError(t, err)
				syms, k := img.funcStart, 0
				for off := 0; off < len(code); {
					pc := r[0] + uint64(off)
					for k < len(syms) && syms[k] <= pc {
						k++
					}
					p, err := decodeInsn(code[off:], pc)
					if err != nil {
						wantSkipped++
						off++
						continue
					}
					wantInsns++
					if target, ok := directTarget(pc, p.in); ok {
						want = append(want, branch{pc, target})
					}
					next := p.next()
					if k < len(syms) && syms[k] < next {
						next = syms[k]
					}
					off = int(next - r[0])
				}
			}
			t.Logf("%d instructions, %d bytes skipped, %d direct branches", wantInsns, wantSkipped, len(want))
			for _, workers := range []int{2, 64} {
				var got []branch
				insns, skipped := img.scanDirectBranchesIn(workers, func(uint64) bool { return true }, func(pc, target uint64, _ x86asm.Inst) {
					got = append(got, branch{pc, target})
				})
				assert.Equal(t, wantInsns, insns, "%d pieces", workers)
				assert.Equal(t, wantSkipped, skipped, "%d pieces", workers)
				assert.Equal(t, len(want), len(got), "%d pieces", workers)
				assert.True(t, slices.Equal(want, got), "%d pieces: branches differ", workers)
			}
		})
	}
}
