package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPIDFiles(t *testing.T) {
	t.Run("self", func(t *testing.T) {
		pid := os.Getpid()
		assert.Equal(t, os.Args, Cmdline(pid))
		exe, err := os.Executable()
		require.NoError(t, err)
		name := filepath.Base(exe)
		assert.Equal(t, name[:min(len(name), 15)], Comm(pid))
		assert.NotZero(t, StartTime(pid))
		wd, err := os.Getwd()
		require.NoError(t, err)
		assert.Equal(t, wd, Cwd(pid))
		st, err := os.Stat(Root(pid) + exe)
		require.NoError(t, err, "the executable through /proc/PID/root")
		assert.True(t, st.Mode().IsRegular())
	})
	t.Run("no such process", func(t *testing.T) {
		cmd := exec.Command("true")
		require.NoError(t, cmd.Run())
		pid := cmd.Process.Pid // reaped: the pid is free
		assert.Nil(t, Cmdline(pid))
		assert.Empty(t, Comm(pid))
		assert.Zero(t, StartTime(pid))
		assert.Empty(t, Cwd(pid))
	})
}
