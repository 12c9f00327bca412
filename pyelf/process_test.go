package pyelf

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/proc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// procTestReadyScript prints "ready" once the interpreter is up (so that
// libpython is mapped) and then sleeps; it runs on Python 2 and 3.
const procTestReadyScript = `import sys, time; sys.stdout.write("ready\n"); sys.stdout.flush(); time.sleep(30)`

// procTestStart runs a command that prints "ready" when it is up, waits for
// that line, and kills the process when the test ends.
func procTestStart(t *testing.T, name string, args ...string) int {
	t.Helper()
	elfTestRequire(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, name, args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "wait for %s to start", name)
	require.Equal(t, "ready\n", line)
	return cmd.Process.Pid
}

// procTestStartPython starts python with procTestReadyScript.
func procTestStartPython(t *testing.T, python string) int {
	t.Helper()
	return procTestStart(t, python, "-c", procTestReadyScript)
}

// procTestOpenMem opens /proc/PID/mem, skipping when this user may not.
func procTestOpenMem(t *testing.T, pid int) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "mem"))
	if errors.Is(err, fs.ErrPermission) {
		t.Skipf("cannot read the memory of child pid %d (euid %d, check kernel.yama.ptrace_scope): %v", pid, os.Geteuid(), err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFindInterpreter(t *testing.T) {
	for _, tt := range elfTestBinaries() {
		t.Run(tt.name, func(t *testing.T) {
			elfTestRequire(t, tt.path)
			var pid int
			if tt.root != "" {
				// A test root's interpreter runs under chroot. In recapid's
				// mount namespace the kernel names its files by their host
				// paths, and recapid opens them through map_files.
				testutil.RequireRoot(t, "chroot into "+tt.root)
				pid = procTestStart(t, "/usr/sbin/chroot", tt.root, strings.TrimPrefix(tt.python, tt.root), "-c", procTestReadyScript)
			} else {
				pid = procTestStartPython(t, tt.python)
			}

			p, err := FindInterpreter(pid)
			require.NoError(t, err)
			assert.Equal(t, pid, p.PID)
			assert.Equal(t, tt.python, p.Exe)
			assert.Equal(t, tt.path, p.ELFPath)
			if tt.root == "" {
				assert.Equal(t, filepath.Join("/proc", strconv.Itoa(pid), "root", tt.path), p.OpenPath)
			}
			opened, err := os.Stat(p.OpenPath)
			require.NoError(t, err)
			file, err := os.Stat(tt.path)
			require.NoError(t, err)
			assert.True(t, os.SameFile(file, opened), "%s opens %s", p.OpenPath, tt.path)
			assert.Equal(t, p.OpenPath, p.Binary.Path)
			assert.Equal(t, tt.version.Short(), p.Binary.Version.Short())
			if tt.shared {
				assert.NotZero(t, p.Bias)
				assert.Zero(t, p.Bias&0xfff, "bias %#x is not page-aligned", p.Bias)
			} else {
				assert.Zero(t, p.Bias)
			}

			// The bias is right if the eval loop's code is where it says.
			mem := procTestOpenMem(t, pid)
			img, err := openELFImage(tt.path)
			require.NoError(t, err)
			defer img.close()
			want, err := img.readVA(p.Binary.EvalFrame.Addr, 32)
			require.NoError(t, err)
			got := make([]byte, len(want))
			_, err = mem.ReadAt(got, int64(p.Binary.EvalFrame.Addr+p.Bias))
			require.NoError(t, err)
			assert.Equal(t, want, got, "code of _PyEval_EvalFrameDefault at %#x+%#x", p.Binary.EvalFrame.Addr, p.Bias)
			for _, probe := range p.Binary.Probes {
				want, err := img.readVA(probe.Addr, 8)
				require.NoError(t, err)
				got := make([]byte, len(want))
				_, err = mem.ReadAt(got, int64(probe.Addr+p.Bias))
				require.NoError(t, err)
				assert.Equal(t, want, got, "code at probe %#x", probe.Addr)
			}
			if p.Binary.Layout.Minor >= 13 {
				cookie := make([]byte, 8)
				_, err = mem.ReadAt(cookie, int64(p.Binary.Runtime+p.Bias))
				require.NoError(t, err)
				assert.Equal(t, "xdebugpy", string(cookie))
			}
		})
	}
}

func TestFindInterpreterUnsupported(t *testing.T) {
	root := elfTestPyenvRoot()
	tests := []struct {
		name, python string
		want         cpython.Version
	}{
		{name: "2.7", python: filepath.Join(root, "versions/2.7.18/bin/python2.7"), want: cpython.Version{Major: 2, Minor: 7, Patch: 18}},
		{name: "3.6", python: filepath.Join(root, "versions/3.6.15/bin/python3.6"), want: cpython.Version{Major: 3, Minor: 6, Patch: 15}},
		{name: "3.7", python: filepath.Join(root, "versions/3.7.16/bin/python3.7"), want: cpython.Version{Major: 3, Minor: 7, Patch: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid := procTestStartPython(t, tt.python)
			_, err := FindInterpreter(pid)
			var ve *cpython.VersionError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.want, ve.Found)
			assert.Contains(t, ve.Path, "/proc/"+strconv.Itoa(pid)+"/root/")
			assert.Contains(t, err.Error(), "pid "+strconv.Itoa(pid))
		})
	}
}

func TestFindInterpreterNotPython(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("sleep is not installed")
	}
	pid := procTestStart(t, "/bin/sh", "-c", `echo ready; exec `+sleep+` 30`)
	// sh prints ready before it execs sleep: wait for the exec.
	require.Eventually(t, func() bool {
		exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
		return err == nil && filepath.Base(exe) == "sleep"
	}, 10*time.Second, 10*time.Millisecond)

	_, err = FindInterpreter(pid)
	require.ErrorIs(t, err, ErrNotPython)
	assert.Contains(t, err.Error(), "pid "+strconv.Itoa(pid))
}

func TestFindInterpreterNoProcess(t *testing.T) {
	pid := 0
	for candidate := 4194303; candidate > 1; candidate-- {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(candidate))); errors.Is(err, fs.ErrNotExist) {
			pid = candidate
			break
		}
	}
	require.NotZero(t, pid)
	_, err := FindInterpreter(pid)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.NotErrorIs(t, err, ErrNotPython)
	assert.Contains(t, err.Error(), "pid "+strconv.Itoa(pid))
}

// TestFindInterpreterCache checks that two processes of one interpreter
// share the analysis but each get their own paths.
func TestFindInterpreterCache(t *testing.T) {
	const python = "/usr/bin/python3.11"
	pid1 := procTestStartPython(t, python)
	pid2 := procTestStartPython(t, python)
	p1, err := FindInterpreter(pid1)
	require.NoError(t, err)
	start := time.Now()
	p2, err := FindInterpreter(pid2)
	require.NoError(t, err)
	t.Logf("second FindInterpreter took %v", time.Since(start))
	assert.Contains(t, p1.Binary.Path, "/proc/"+strconv.Itoa(pid1)+"/")
	assert.Contains(t, p2.Binary.Path, "/proc/"+strconv.Itoa(pid2)+"/")
	assert.Equal(t, p1.Binary.Probes, p2.Binary.Probes)
	assert.Equal(t, p1.Binary.BuildID, p2.Binary.BuildID)
}

func TestProcLoadBias(t *testing.T) {
	so := &Binary{loads: []elfLoad{
		{vaddr: 0, off: 0, filesz: 0x5e538},
		{vaddr: 0x5f000, off: 0x5f000, filesz: 0x21e029, exec: true},
		{vaddr: 0x36fcb0, off: 0x36ecb0, filesz: 0x38c50},
	}}
	exe := &Binary{FirstLoad: 0x400000, loads: []elfLoad{
		{vaddr: 0x400000, off: 0, filesz: 0x20000},
		{vaddr: 0x420f10, off: 0x20f10, filesz: 0x2b0000, exec: true},
	}}
	const base = 0x7f0000000000
	tests := []struct {
		name    string
		bin     *Binary
		maps    []proc.Mapping
		want    uint64
		wantErr bool
	}{
		{
			name: "shared library",
			bin:  so,
			maps: []proc.Mapping{
				{Start: base, Offset: 0, Perms: "r--p"},
				{Start: base + 0x5f000, Offset: 0x5f000, Perms: "r-xp"},
				{Start: base + 0x36f000, Offset: 0x36e000, Perms: "rw-p"},
			},
			want: base,
		},
		{
			name: "non-PIE executable",
			bin:  exe,
			maps: []proc.Mapping{{Start: 0x400000, Offset: 0, Perms: "r--p"}, {Start: 0x420000, Offset: 0x20000, Perms: "r-xp"}},
			want: 0,
		},
		{
			name: "no executable mapping: offset 0 and FirstLoad",
			bin:  exe,
			maps: []proc.Mapping{{Start: 0x400000, Offset: 0, Perms: "r--p"}},
			want: 0,
		},
		{
			name: "mapped twice",
			bin:  so,
			maps: []proc.Mapping{
				{Start: base + 0x5f000, Offset: 0x5f000, Perms: "r-xp"},
				{Start: base + 0x1000000 + 0x5f000, Offset: 0x5f000, Perms: "r-xp"},
			},
			wantErr: true,
		},
		{
			name:    "nothing usable",
			bin:     so,
			maps:    []proc.Mapping{{Start: base + 0x36f000, Offset: 0x36e000, Perms: "rw-p"}},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := procLoadBias(tt.maps, tt.bin)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
