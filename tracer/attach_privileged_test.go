package tracer

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/pyelf"
)

// openFiles lists this process's open file descriptors by what they
// point at, leaving out BPF objects (anon_inode:bpf-map, bpf-prog, ...),
// which the tracer's background loads create at their own pace.
func openFiles(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		dst, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || strings.HasPrefix(dst, "anon_inode:") {
			continue // the directory's own fd, closed since; a BPF object
		}
		out = append(out, dst)
	}
	return out
}

// An Attach that fails after opening the process's memory (here: the
// interpreter's file is removed between its analysis and the attach, so
// no probe can be put in it) leaves nothing behind: no target in the
// tracer's set, no interpreter in its snapshot, no open file, the process's
// memory least of all. The traced process is short-lived: a copy of
// Debian's python3.11 that waits for its stdin to close.
func TestFailedAttachLeavesNoFiles(t *testing.T) {
	testutil.RequireBPF(t)
	tr, err := New(slog.New(slog.DiscardHandler), Options{Outcomes: OutcomePolicy{Mode: "off"}})
	require.NoError(t, err)
	defer tr.Close()
	// The call program loads in the background (the only one with
	// --returns off): let it finish, so that its files come and go first.
	require.Eventually(t, func() bool { return len(tr.objs.Verified()) > 0 }, 60*time.Second, 10*time.Millisecond)

	raw, err := os.ReadFile(testutil.DebianPython)
	require.NoError(t, err)
	exe := filepath.Join(t.TempDir(), "python3.11")
	require.NoError(t, os.WriteFile(exe, raw, 0o755))
	cmd := exec.Command(exe, "-c", "import sys; print('ready', flush=True); sys.stdin.read()")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	p, err := pyelf.FindInterpreter(pid)
	require.NoError(t, err)
	require.NoError(t, os.Remove(exe))

	before := openFiles(t)
	err = tr.Attach(p, nil)
	require.Error(t, err, "attach to pid %d, whose interpreter file is gone", pid)
	t.Logf("attach: %v", err)
	assert.ElementsMatch(t, before, openFiles(t), "files left open by a failed attach")
	assert.NotContains(t, openFiles(t), fmt.Sprintf("/proc/%d/mem", pid))
	assert.True(t, tr.target(uint32(pid)) == nil, "the target of a failed attach is still in the set")
	assert.Empty(t, tr.Snapshot("h").Header.Interpreters, "a failed attach is listed as traced")
}

// A process attached twice keeps its one set of probes: the second Attach
// is refused by pid, and the first target stays in the set.
func TestAttachSameProcessTwice(t *testing.T) {
	testutil.RequireBPF(t)
	tr, err := New(slog.New(slog.DiscardHandler), Options{Outcomes: OutcomePolicy{Mode: "off"}})
	require.NoError(t, err)
	defer tr.Close()

	cmd, _ := startReady(t, []string{testutil.DebianPython, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"})
	pid := cmd.Process.Pid
	p, err := pyelf.FindInterpreter(pid)
	require.NoError(t, err)
	require.NoError(t, tr.Attach(p, nil))
	first := tr.target(uint32(pid))
	require.NotNil(t, first)
	err = tr.Attach(p, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("pid %d is already traced", pid))
	assert.Same(t, first, tr.target(uint32(pid)), "the first target stays")
}

// startReady starts argv, a Python that prints "ready" once it is running
// and lives until its stdin closes (at the end of the test), and returns it
// with the rest of its output.
func startReady(t *testing.T, argv []string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	return cmd, r
}
