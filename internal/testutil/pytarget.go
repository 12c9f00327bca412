package testutil

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// StartPyTarget runs a Python script that prints one line of JSON and then
// waits on stdin, decodes that line into report, and returns the child's
// pid. The child lives until the test ends (its stdin is closed then).
func StartPyTarget(t testing.TB, python, script string, report any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, python, script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close() // the child exits when its stdin closes
		_ = cmd.Wait()
	})
	line, err := bufio.NewReaderSize(stdout, 1<<20).ReadBytes('\n')
	require.NoError(t, err, "read the target's report; stderr:\n%s", stderr.String())
	require.NoError(t, json.Unmarshal(line, report))
	return cmd.Process.Pid
}
