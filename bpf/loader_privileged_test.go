package bpf

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/internal/testutil"
)

// The kernel's verifier accepts every program, each within recapi's limits,
// and each function's stack is no deeper than the static analysis of the
// object says (TestCombinedStackFitsEveryKernel relies on that).
func TestLoad(t *testing.T) {
	testutil.RequireBPF(t)
	o, err := Load()
	require.NoError(t, err)
	defer o.Close()
	names := make([]string, 0, len(o.spec.Programs))
	for name := range o.spec.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		_, err := o.program(name)
		require.NoError(t, err, name)
		st := o.Verified()[name]
		t.Logf("kernel %s: %-15s processed %7d insns, stack %s, loaded in %v",
			kernelRelease(), name, st.Insns, joinInts(st.Stack), st.LoadTime.Round(100_000))
		assert.Positive(t, st.Insns, "%s: no statistics in the verifier log", name)
		assert.LessOrEqual(t, st.Insns, MaxProcessedInsns, name)

		// The verifier lists functions in the order they sit in the
		// program's instructions.
		funcs, order := functionOrder(o.spec.Programs[name].Instructions)
		require.Len(t, st.Stack, len(order), "%s: functions", name)
		for i, fn := range order {
			assert.LessOrEqual(t, st.Stack[i], funcs[fn].stack, "%s: stack of %s, verifier vs. static analysis", name, fn)
		}
	}
	require.NoError(t, o.WaitForPrograms())
	st, err := o.Stats()
	require.NoError(t, err)
	assert.Len(t, st, len(StatNames))
	for _, name := range StatNames {
		assert.Zero(t, st[name], name)
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, "+")
}

// fileOffsetOf returns the file offset of an exported function of an ELF file.
func fileOffsetOf(t *testing.T, path, name string) uint64 {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	for _, s := range syms {
		if s.Name != name {
			continue
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && s.Value >= p.Vaddr && s.Value < p.Vaddr+p.Filesz {
				return s.Value - p.Vaddr + p.Off
			}
		}
	}
	t.Fatalf("%s has no function %s", path, name)
	return 0
}

// Attach gives each program one link for all its points where the kernel
// has uprobe_multi links, one link per point otherwise, and leaves nothing
// attached when a point is refused.
func TestAttach(t *testing.T) {
	testutil.RequireBPF(t)
	python := testutil.DebianPython
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s is not installed", python)
	}
	cmd := exec.Command(python, "-c", "import time; time.sleep(60)")
	require.NoError(t, cmd.Start())
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	ex, err := link.OpenExecutable(python)
	require.NoError(t, err)
	probes := []Probe{
		{FileOffset: fileOffsetOf(t, python, "PyObject_GetAttr"), How: ProbeCall, FrameReg: RegRAX},
		{FileOffset: fileOffsetOf(t, python, "PyObject_SetAttr"), How: ProbeCreate, FrameReg: RegRAX},
		{FileOffset: fileOffsetOf(t, python, "PyObject_Repr"), How: ProbeReturnValue, FrameReg: RegRAX},
		{FileOffset: fileOffsetOf(t, python, "PyObject_Str"), How: ProbeEvalReturn},
	}
	tests := []struct {
		name      string
		multi     bool
		wantLinks int
	}{
		{name: "a link per point", multi: false, wantLinks: len(probes)},
		{name: "a uprobe_multi link per program", multi: true, wantLinks: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.multi && !useUprobeMulti() {
				t.Skipf("Linux %s: recapid uses uprobe_multi links from Linux 6.12", kernelRelease())
			}
			o, err := LoadMaps(MapOptions{})
			require.NoError(t, err)
			defer o.Close()
			o.multi = tt.multi
			links, err := o.Attach(ex, cmd.Process.Pid, probes)
			require.NoError(t, err)
			assert.Len(t, links, tt.wantLinks)
			for _, l := range links {
				assert.NoError(t, l.Close())
			}

			bad := append(slices.Clone(probes), Probe{FileOffset: probes[0].FileOffset, How: ProbeCall, FrameReg: RegRSP})
			links, err = o.Attach(ex, cmd.Process.Pid, bad)
			assert.ErrorContains(t, err, "no BPF program reads the frame from register")
			assert.Empty(t, links)
		})
	}
}
