package bpf

import (
	"testing"

	"github.com/recapi/recapi/internal/testutil"
	"github.com/stretchr/testify/require"
)

// The verifier accepts the programs on this kernel.
func TestLoad(t *testing.T) {
	testutil.RequireBPF(t)
	o, err := Load()
	require.NoError(t, err)
	defer o.Close()
	st, err := o.Stats()
	require.NoError(t, err)
	require.Len(t, st, len(StatNames))
}
