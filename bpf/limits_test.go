package bpf

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stackFrameRound is how the verifier rounds each function's stack when it
// adds up a call chain: 32 bytes before Linux 6.10 (and when not JITed), 16
// after. The larger is the bound every kernel keeps.
const stackFrameRound = 32

// funcStack is one BPF function of a program: the stack it uses and the
// functions it calls.
type funcStack struct {
	stack int
	calls []string
}

// functionsOf splits a program's instructions into its functions (the
// program itself first) with each one's stack use, measured as the deepest
// r10-relative byte any instruction can touch, and its callees.
func functionsOf(insns asm.Instructions) (map[string]*funcStack, string) {
	funcs, order := functionOrder(insns)
	return funcs, order[0]
}

// functionOrder is functionsOf with the functions' names in the order they
// sit in the instructions.
func functionOrder(insns asm.Instructions) (map[string]*funcStack, []string) {
	funcs := map[string]*funcStack{}
	var cur *funcStack
	var order []string
	// r10-relative offsets held in registers since the last r10 copy, within
	// a function: clang materializes a stack address as "rX = r10; rX += off".
	var rel map[asm.Register]int64
	for _, ins := range insns {
		if sym := ins.Symbol(); sym != "" {
			cur = &funcStack{}
			funcs[sym] = cur
			order = append(order, sym)
			rel = map[asm.Register]int64{}
		}
		if cur == nil {
			continue
		}
		deepen := func(off int64) {
			if -off > int64(cur.stack) {
				cur.stack = int(-off)
			}
		}
		op := ins.OpCode
		switch {
		case ins.IsFunctionCall():
			cur.calls = append(cur.calls, ins.Reference())
		case op.Class().IsALU() && op.ALUOp() == asm.Mov && op.Source() == asm.RegSource:
			if ins.Src == asm.R10 {
				rel[ins.Dst] = 0
			} else if o, ok := rel[ins.Src]; ok {
				rel[ins.Dst] = o
			} else {
				delete(rel, ins.Dst)
			}
		case op.Class().IsALU() && op.ALUOp() == asm.Add && op.Source() == asm.ImmSource:
			if o, ok := rel[ins.Dst]; ok {
				rel[ins.Dst] = o + ins.Constant
				deepen(o + ins.Constant)
			}
		case op.Class().IsLoad() && op.Mode() == asm.MemMode:
			if ins.Src == asm.R10 {
				deepen(int64(ins.Offset))
			} else if o, ok := rel[ins.Src]; ok {
				deepen(o + int64(ins.Offset))
			}
			delete(rel, ins.Dst)
		case op.Class().IsStore():
			if ins.Dst == asm.R10 {
				deepen(int64(ins.Offset))
			} else if o, ok := rel[ins.Dst]; ok {
				deepen(o + int64(ins.Offset))
			}
		case op.Class().IsALU() || op.Class().IsLoad():
			delete(rel, ins.Dst)
		}
	}
	// The verifier allocates stack in 8-byte slots.
	for _, f := range funcs {
		f.stack = roundUp(f.stack, 8)
	}
	return funcs, order
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }

// deepestChain returns the largest combined stack of any call chain from
// entry, as the verifier adds it up, and the chain.
func deepestChain(funcs map[string]*funcStack, entry string) (int, []string) {
	var walk func(name string, seen map[string]bool) (int, []string)
	walk = func(name string, seen map[string]bool) (int, []string) {
		f := funcs[name]
		if f == nil || seen[name] {
			return 0, nil
		}
		seen[name] = true
		defer delete(seen, name)
		best, bestChain := 0, []string(nil)
		for _, c := range f.calls {
			d, chain := walk(c, seen)
			if d > best {
				best, bestChain = d, chain
			}
		}
		own := roundUp(max(f.stack, 1), stackFrameRound)
		return own + best, append([]string{fmt.Sprintf("%s %d", name, f.stack)}, bestChain...)
	}
	return walk(entry, map[string]bool{})
}

// Every program's deepest chain of bpf-to-bpf calls fits the classic
// 512-byte stack, computed from the compiled object without a kernel.
func TestCombinedStackFitsEveryKernel(t *testing.T) {
	spec, err := loadRecapi()
	require.NoError(t, err)
	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		funcs, entry := functionsOf(spec.Programs[name].Instructions)
		depth, chain := deepestChain(funcs, entry)
		t.Logf("%-16s combined stack %3d bytes: %s", name, depth, strings.Join(chain, " -> "))
		assert.LessOrEqual(t, depth, MaxCombinedStack, "%s: %s", name, strings.Join(chain, " -> "))
	}
}

// kernelSince is the first Linux release with each helper and map type the
// programs use (include/uapi/linux/bpf.h; features.HaveProgramHelper answers
// the same question on a live kernel). A helper or map type missing here
// fails the test: check the release that added it against MinKernel first.
// What the object's shape needs besides is older than the newest of these:
// bpf-to-bpf calls (4.16), bounded loops (5.3), global functions (5.6) with
// pointer arguments (5.12), attach cookies through perf_event links (5.15).
var kernelSince = map[string]string{
	"FnMapLookupElem":     "3.19",
	"FnMapUpdateElem":     "3.19",
	"FnMapDeleteElem":     "3.19",
	"FnGetCurrentPidTgid": "4.2",
	"FnProbeReadUser":     "5.5",
	"FnProbeReadUserStr":  "5.5",
	"FnRingbufOutput":     "5.8",
	"FnRingbufReserve":    "5.8",
	"FnRingbufSubmit":     "5.8",
	"FnGetAttachCookie":   "5.15",
	"Hash":                "3.19",
	"Array":               "3.19",
	"PerCPUArray":         "4.6",
	"LRUHash":             "4.10",
	"RingBuf":             "5.8",
}

// Every helper and map type the object uses exists in MinKernel.
func TestFeaturesExistInMinKernel(t *testing.T) {
	spec, err := loadRecapi()
	require.NoError(t, err)
	used := map[string]bool{}
	for _, p := range spec.Programs {
		for _, ins := range p.Instructions {
			if ins.IsBuiltinCall() {
				used[asm.BuiltinFunc(ins.Constant).String()] = true
			}
		}
	}
	for _, m := range spec.Maps {
		used[m.Type.String()] = true
	}
	require.NotEmpty(t, used)
	t.Logf("helpers and map types used: %v", sortedKeys(used))
	for name := range used {
		since, ok := kernelSince[name]
		if !assert.True(t, ok, "%s: add the release that introduced it to kernelSince", name) {
			continue
		}
		assert.True(t, versionAtMost(since, MinKernel), "%s needs Linux %s, newer than the supported %s", name, since, MinKernel)
	}
}

// versionAtMost reports whether dotted release a is no newer than b.
func versionAtMost(a, b string) bool {
	var a1, a2, b1, b2 int
	fmt.Sscanf(a, "%d.%d", &a1, &a2)
	fmt.Sscanf(b, "%d.%d", &b1, &b2)
	return a1 < b1 || a1 == b1 && a2 <= b2
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
