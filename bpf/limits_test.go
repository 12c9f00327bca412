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
