package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/internal/testutil"
)

// A chrooted process's working directory is given as it sees it: the link
// /proc/PID/cwd reads as the host path (root + cwd), and joining that under
// Root(pid) again named a path that does not exist.
func TestCwdOfChrootedProcess(t *testing.T) {
	testutil.RequireRoot(t, "chroot")
	busybox, err := exec.LookPath("busybox")
	require.NoError(t, err, "busybox-static (scripts/install-deps.sh installs it)")
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "srv", "app"), 0o755))
	b, err := os.ReadFile(busybox)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "busybox"), b, 0o755))

	for _, tt := range []struct{ dir, want string }{{"/srv/app", "/srv/app"}, {"/", "/"}} {
		t.Run(tt.dir, func(t *testing.T) {
			cmd := exec.Command("chroot", root, "/busybox", "sh", "-c", "cd "+tt.dir+" && exec /busybox sleep 60")
			require.NoError(t, cmd.Start())
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			pid := cmd.Process.Pid
			// Once the shell has exec'd sleep, the directory is final.
			require.Eventually(t, func() bool {
				c := Cmdline(pid)
				return len(c) > 1 && c[1] == "sleep"
			}, 30*time.Second, 10*time.Millisecond)
			assert.Equal(t, tt.want, Cwd(pid))
			st, err := os.Stat(Root(pid) + Cwd(pid))
			require.NoError(t, err, "the directory through Root")
			assert.True(t, st.IsDir())
		})
	}
}
