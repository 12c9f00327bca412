package bpf

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/internal/testutil"
)

// The verifier accepts every register variant of the call program on this kernel.
func TestLoad(t *testing.T) {
	testutil.RequireBPF(t)
	o, err := Load()
	require.NoError(t, err)
	defer o.Close()
	for reg, name := range callProgramNames {
		p, err := o.callProgram(reg)
		require.NoError(t, err, name)
		assert.NotNil(t, p, name)
	}
	st, err := o.Stats()
	require.NoError(t, err)
	assert.Len(t, st, len(StatNames))
	for _, name := range StatNames {
		assert.Zero(t, st[name], name)
	}
}
