package bpf

import (
	"fmt"
	"sort"
	"strings"
	"testing"

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
