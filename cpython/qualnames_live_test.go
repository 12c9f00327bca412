package cpython_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/proc"
	"github.com/recapi/recapi/pyelf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// qualnamesTargetScript is the child TestQualnameIndexLive reads from.
const qualnamesTargetScript = "testdata/qualnames_target.py"

// qualnamesTarget is the JSON line testdata/qualnames_target.py prints.
type qualnamesTarget struct {
	Version  []int `json:"version"`
	Expected []struct {
		Qualname string `json:"qualname"`
		Module   string `json:"module"`
		Code     uint64 `json:"code"`
	} `json:"expected"`
	// Truth maps id(code) to [__qualname__, __module__] of the function
	// objects that hold it.
	Truth map[string][2]string `json:"truth"`
}

// startQualnamesTarget runs the target script under python and returns its
// report and pid. The child lives until the test ends.
func startQualnamesTarget(t *testing.T, python string) (qualnamesTarget, int) {
	t.Helper()
	var out qualnamesTarget
	pid := testutil.StartPyTarget(t, python, qualnamesTargetScript, &out)
	require.Len(t, out.Version, 3)
	require.NotEmpty(t, out.Expected)
	return out, pid
}

// TestQualnameIndexLive builds the index of running interpreters and
// compares it with what the interpreter says about its own functions.
func TestQualnameIndexLive(t *testing.T) {
	for _, it := range namesInterpreters() {
		t.Run(it.name, func(t *testing.T) {
			requireLiveInterpreter(t, it.path)
			target, pid := startQualnamesTarget(t, it.path)
			p, err := pyelf.FindInterpreter(pid)
			require.NoError(t, err)
			l, err := cpython.LayoutFor(p.Binary.Version)
			require.NoError(t, err)
			require.Equal(t, target.Version[1], l.Minor)
			m, err := proc.OpenMemory(pid)
			if errors.Is(err, fs.ErrPermission) {
				t.Skipf("cannot read the memory of child pid %d: %v", pid, err)
			}
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, m.Close()) })
			runtime := p.Binary.Runtime + p.Bias
			if l.Minor >= 13 {
				qualnameCheckDebugOffsets(t, m, l, runtime)
			}

			start := time.Now()
			ix, err := cpython.NewReader(m, l).QualnameIndex(runtime)
			elapsed := time.Since(start)
			require.NoError(t, err)
			st := ix.Stats()
			t.Logf("CPython %d.%d.%d: %d code objects named in %v (%d modules, %d functions, %d objects read, %d skipped, limited %v)",
				target.Version[0], target.Version[1], target.Version[2], ix.Len(), elapsed.Round(time.Millisecond),
				st.Modules, st.Functions, st.Objects, st.Skipped, st.Limited)
			assert.False(t, st.Limited)

			t.Run("expected", func(t *testing.T) {
				for _, e := range target.Expected {
					got, ok := ix.Lookup(e.Code)
					if assert.True(t, ok, "%s (%s) at %#x not in the index", e.Qualname, e.Module, e.Code) {
						assert.Equal(t, cpython.CodeName{Qualname: e.Qualname, Module: e.Module}, got)
					}
				}
			})
			t.Run("truth", func(t *testing.T) {
				qualnameCheckTruth(t, ix, target)
			})
			if l.PyCodeObject_co_qualname >= 0 {
				t.Run("co_qualname", func(t *testing.T) {
					qualnameCheckCoQualname(t, m, l, ix, target)
				})
			}
			t.Run("changing memory", func(t *testing.T) {
				// One read in 50 returns garbage, as if the object had
				// been freed and reused: the walk skips, and goes on.
				cm := proc.NewMemory(&qualnameChaosReader{r: m, rng: rand.New(rand.NewPCG(uint64(pid), 2))})
				ix, err := cpython.NewReader(cm, l).QualnameIndex(runtime)
				if err != nil {
					t.Logf("sys.modules hit by garbage: %v", err)
					return
				}
				t.Logf("with garbage reads: %d code objects named, %d skipped", ix.Len(), ix.Stats().Skipped)
				assert.LessOrEqual(t, ix.Stats().Objects, cpython.MaxQualnameObjects+1)
			})
		})
	}
}

// qualnameChaosReader corrupts one read in 50 of r.
type qualnameChaosReader struct {
	r   *proc.Memory
	rng *rand.Rand
}

func (c *qualnameChaosReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if c.rng.IntN(50) == 0 {
		for i := range p[:n] {
			p[i] = byte(c.rng.Uint32())
		}
	}
	return n, err
}

// qualnameCheckTruth compares the index with the __qualname__ and
// __module__ of every function object the target has, and reports how many
// of them the walk reached.
func qualnameCheckTruth(t *testing.T, ix *cpython.QualnameIndex, target qualnamesTarget) {
	found, mainFound, mainTotal := 0, 0, 0
	var missingMain []string
	for key, want := range target.Truth {
		code, err := strconv.ParseUint(key, 10, 64)
		require.NoError(t, err)
		got, ok := ix.Lookup(code)
		if want[0] == "<module>" {
			// 3.12+ wraps the code of __main__ in a function object that
			// only its frame holds. Module-level code is not indexed.
			continue
		}
		if want[1] == "__main__" {
			mainTotal++
		}
		if !ok {
			if want[1] == "__main__" {
				missingMain = append(missingMain, want[0])
			}
			continue
		}
		found++
		if want[1] == "__main__" {
			mainFound++
		}
		assert.Equal(t, cpython.CodeName{Qualname: want[0], Module: want[1]}, got, "code at %#x", code)
	}
	t.Logf("the index names %d of the target's %d function code objects (%d of %d in __main__)",
		found, len(target.Truth), mainFound, mainTotal)
	assert.Empty(t, missingMain, "functions of __main__ missing from the index")
	// Most functions live in module and class dicts; the rest hang off
	// instances, lists or frames, where the walk does not look.
	assert.Greater(t, found, len(target.Truth)*3/4, "coverage of the target's functions")
}

// qualnameCheckCoQualname compares every name in the index with the code
// object's own co_qualname (3.11+). They may differ only where a function's
// __qualname__ was set after compilation (dataclasses, namedtuple) and the
// index follows __qualname__, or below such a function.
func qualnameCheckCoQualname(t *testing.T, m *proc.Memory, l cpython.Layout, ix *cpython.QualnameIndex, target qualnamesTarget) {
	renamed := 0
	var bad []string
	for code, got := range ix.Names() {
		c, err := cpython.NewReader(m, l).Code(code)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%#x %s: %v", code, got.Qualname, err))
			continue
		}
		if c.Qualname == got.Qualname {
			continue
		}
		if want, ok := target.Truth[strconv.FormatUint(code, 10)]; ok && want[0] == got.Qualname {
			renamed++
			continue
		}
		bad = append(bad, fmt.Sprintf("%#x: index %q, co_qualname %q", code, got.Qualname, c.Qualname))
	}
	sort.Strings(bad)
	t.Logf("%d of %d names agree with co_qualname; %d follow a __qualname__ set after compilation",
		ix.Len()-renamed-len(bad), ix.Len(), renamed)
	assert.Empty(t, bad)
}

// qualnameCheckDebugOffsets checks the object graph offsets of the layout
// against the live _Py_DebugOffsets (3.13+).
func qualnameCheckDebugOffsets(t *testing.T, m *proc.Memory, l cpython.Layout, runtime uint64) {
	pos, size := cpython.DebugOffsetsPositions(cpython.DebugOffsetsLayouts[l.Minor])
	buf, err := m.Bytes(runtime, size)
	require.NoError(t, err)
	require.Equal(t, cpython.DebugOffsetsCookie, string(buf[:8]))
	u64 := func(field string) int {
		off, ok := pos[field]
		require.True(t, ok, field)
		return int(binary.LittleEndian.Uint64(buf[off:]))
	}
	assert.Equal(t, l.PyRuntimeState_interpreters_head, u64("runtime_state.interpreters_head"))
	assert.Equal(t, l.PyInterpreterState_modules, u64("interpreter_state.imports_modules"))
}
