package main_test

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/pyelf"
)

// Each bad input gives a message that says what failed and what to do, a
// non-zero exit, no snapshot, and leaves the target untouched.
func TestErrors(t *testing.T) {
	testutil.RequireBPF(t)

	sleeper := exec.Command("sleep", "60")
	require.NoError(t, sleeper.Start())
	defer sleeper.Process.Kill()

	tests := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{name: "no target", args: nil, code: 2, wants: []string{"nothing to trace"}},
		{name: "pid and command", args: []string{"--pid", "1", "--", "python3"}, code: 2, wants: []string{"either --pid or -- COMMAND"}},
		{name: "pid does not exist", args: []string{"--pid", "4194303"}, code: 1, wants: []string{"no process with pid 4194303"}},
		{name: "pid is not python", args: []string{"--pid", fmt.Sprint(sleeper.Process.Pid)}, code: 1, wants: []string{"is not a CPython interpreter", "sleep"}},
		{name: "command is not python", args: []string{"--", "/bin/true"}, code: 1, wants: []string{"/usr/bin/true exited with code 0 without running CPython", "launch python itself"}},
		{name: "command not found", args: []string{"--", "no-such-command-recapi"}, code: 1, wants: []string{"find command"}},
		{name: "bad mode", args: []string{"--mode", "budgeted", "--pid", "1"}, code: 2, wants: []string{"--mode \"budgeted\" is not available"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runRecapid(t, tt.args...)
			assert.Equal(t, tt.code, r.code, r.stderr)
			for _, w := range tt.wants {
				assert.Contains(t, r.stderr, w)
			}
			assert.Nil(t, r.snap, "no snapshot on error")
		})
	}
	require.NoError(t, sleeper.Process.Signal(syscall.Signal(0)), "the non-Python target is untouched")
}

// readyThenSleep is a Python program (2.7 to 3.15) that says "ready" and
// then waits to be killed.
const readyThenSleep = "import sys, time\nsys.stdout.write('ready\\n')\nsys.stdout.flush()\nwhile True: time.sleep(0.01)"

// An unsupported CPython (pyenv's 2.7, 3.6, 3.7) is refused by name, whether
// launched or attached, and an attached one keeps running.
func TestUnsupportedVersion(t *testing.T) {
	testutil.RequireBPF(t)
	old := testutil.UnsupportedInterpreters(t)
	if len(old) == 0 {
		t.Skip("no unsupported CPython on this machine (pyenv 2.7/3.6/3.7)")
	}
	for _, py := range old {
		t.Run(py.Name, func(t *testing.T) {
			r := runRecapid(t, append([]string{"--"}, py.Command("-c", "print('must not run')")...)...)
			assert.Equal(t, 1, r.code)
			assert.Contains(t, r.stderr, "is not supported: recapid traces CPython 3.8 to 3.15")
			assert.NotContains(t, r.stdout, "must not run", "a refused command never runs")

			// Attach once the interpreter runs Python code (it says so),
			// not after a pause a busy machine may outlast: before that,
			// its process may not be an interpreter yet.
			target, _ := startAttachTarget(t, py.Command("-c", readyThenSleep)...)
			r = runRecapid(t, "--pid", fmt.Sprint(target.Process.Pid))
			assert.Equal(t, 1, r.code)
			assert.Contains(t, r.stderr, "is not supported")
			assert.NoError(t, target.Process.Signal(syscall.Signal(0)), "target still running")
		})
	}
}

// A CPython whose dispatch table cannot be found (here: Debian's binary with
// the table zeroed in a copy) is refused before it runs a line.
func TestUnprobeableInterpreter(t *testing.T) {
	testutil.RequireBPF(t)
	b, err := pyelf.Analyze(testutil.DebianPython)
	require.NoError(t, err)
	raw, err := os.ReadFile(testutil.DebianPython)
	require.NoError(t, err)
	f, err := elf.Open(testutil.DebianPython)
	require.NoError(t, err)
	defer f.Close()
	off := fileOffset(t, f, b.Table)
	copy(raw[off:off+2048], make([]byte, 2048))
	broken := filepath.Join(t.TempDir(), "python3.11-broken")
	require.NoError(t, os.WriteFile(broken, raw, 0o755))

	r := runRecapid(t, "--", broken, "-c", "print('must not run')")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "dispatch table")
	assert.NotContains(t, r.stdout, "must not run")
}

func fileOffset(t *testing.T, f *elf.File, vaddr uint64) uint64 {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Filesz {
			return vaddr - p.Vaddr + p.Off
		}
	}
	t.Fatalf("vaddr %#x is not in a loaded segment", vaddr)
	return 0
}

// Without privileges recapid says what it needs.
func TestNotRoot(t *testing.T) {
	testutil.RequireBPF(t)
	cmd := exec.Command(recapidBin, "--", testutil.DebianPython, "-c", "print('must not run')")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, se.String(), "recapid needs root")
	assert.Contains(t, se.String(), "sudo")
	assert.Empty(t, so.String())
}
