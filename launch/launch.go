package launch

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/recapi/recapi/pyelf"
)

// maxSyscallStops bounds how long a launched process is stepped while we wait
// for the dynamic loader to map libpython (a CPython start needs a few dozen).
const maxSyscallStops = 20000

// Child is a command started under ptrace, held stopped until probes are
// attached so that tracing covers its first line of Python.
type Child struct {
	Cmd *exec.Cmd
	// Process is the interpreter the command runs: its ELF file is
	// mapped, and no Python code has run.
	Process *pyelf.Process
	// Analyze is the time spent analysing the interpreter's ELF file,
	// Launch the rest of Start.
	Launch, Analyze time.Duration
	pid             int
}

// Start starts argv under ptrace and returns with the process stopped at a
// point where the interpreter ELF is mapped and no Python code has run:
// right after exec for an executable with libpython linked in, or at the
// syscall that maps libpython3.X.so for a shared build. It follows
// wrappers (env, chroot, a shell's exec) that exec the interpreter in the
// same process.
//
// The caller must have locked its OS thread (LockThread) and keep it locked
// until Resume, or until it kills the command.
func Start(argv []string) (*Child, error) {
	t0 := time.Now()
	var analyzing time.Duration
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("find command %q: %w", argv[0], err)
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	pid := cmd.Process.Pid
	fail := func(err error) (*Child, error) {
		_ = cmd.Process.Kill()
		_ = syscall.PtraceDetach(pid)
		_ = cmd.Wait()
		return nil, err
	}
	// The child stops with SIGTRAP right after execve.
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return fail(fmt.Errorf("wait for %s to exec: %w", path, err))
	}
	if !ws.Stopped() {
		return fail(fmt.Errorf("start %s: it exited before it could be traced (%v)", path, ws))
	}
	opts := unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_EXITKILL | unix.PTRACE_O_TRACEEXEC
	if err := syscall.PtraceSetOptions(pid, opts); err != nil {
		return fail(fmt.Errorf("set ptrace options on pid %d: %w", pid, err))
	}
	var (
		proc *pyelf.Process
		exe  string
	)
	for execs := 0; ; execs++ {
		if exe, err = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil {
			return fail(fmt.Errorf("read the executable of pid %d: %w", pid, err))
		}
		proc, err = untilInterpreter(pid, exe, &analyzing)
		if err == nil {
			break
		}
		if !errors.Is(err, pyelf.ErrNotPython) || execs >= maxExecs {
			return fail(err)
		}
		// Not an interpreter: perhaps a wrapper (env, chroot, nice, taskset,
		// a shell's exec) that will exec one in this same process.
		status, err := untilExec(pid)
		if err != nil {
			return fail(err)
		}
		if status != nil {
			_ = cmd.Wait()
			return nil, fmt.Errorf("%s %s without running CPython in its own process: recapid traces the process it launches and what it execs, not its children, so launch python itself (e.g. recapid -- python3 app.py)", exe, describeExit(*status))
		}
	}
	return &Child{Cmd: cmd, Process: proc, Launch: time.Since(t0) - analyzing, Analyze: analyzing, pid: pid}, nil
}

// Resume detaches ptrace and lets the process run. It must run on the
// thread that called Start: ptrace requests come from the tracer thread.
func (c *Child) Resume() error {
	if err := syscall.PtraceDetach(c.pid); err != nil {
		return fmt.Errorf("resume pid %d: %w", c.pid, err)
	}
	return nil
}

// maxExecs bounds how many wrapper programs recapid follows through exec.
const maxExecs = 8

// untilInterpreter returns the interpreter of a process stopped right after
// exec. For an executable that needs a shared libpython, it steps the process
// from syscall to syscall until the loader has mapped the library. It adds
// the time spent in pyelf.FindInterpreter to analyzing.
func untilInterpreter(pid int, exe string, analyzing *time.Duration) (*pyelf.Process, error) {
	needsLib, err := needsLibpython(exe)
	if err != nil {
		return nil, err
	}
	find := func() (*pyelf.Process, error) {
		t0 := time.Now()
		defer func() { *analyzing += time.Since(t0) }()
		return pyelf.FindInterpreter(pid)
	}
	proc, err := find()
	var ws syscall.WaitStatus
	for stops := 0; needsLib && errors.Is(err, pyelf.ErrNotPython) && stops < maxSyscallStops; stops++ {
		if err := syscall.PtraceSyscall(pid, 0); err != nil {
			return nil, fmt.Errorf("step pid %d: %w", pid, err)
		}
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			return nil, fmt.Errorf("wait for pid %d: %w", pid, err)
		}
		if ws.Exited() || ws.Signaled() {
			return nil, fmt.Errorf("%s exited before libpython was loaded (%v)", exe, ws)
		}
		if !libpythonMapped(pid) {
			continue
		}
		proc, err = find()
	}
	if errors.Is(err, pyelf.ErrNotPython) {
		return nil, fmt.Errorf("%s is not a CPython interpreter: %w", exe, err)
	}
	return proc, err
}

// untilExec lets a traced process run until its next exec (nil status) or
// its exit (the exit status). Signals it receives meanwhile are delivered.
func untilExec(pid int) (*syscall.WaitStatus, error) {
	sig := 0
	for {
		if err := syscall.PtraceCont(pid, sig); err != nil {
			return nil, fmt.Errorf("continue pid %d: %w", pid, err)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			return nil, fmt.Errorf("wait for pid %d: %w", pid, err)
		}
		switch {
		case ws.Exited() || ws.Signaled():
			return &ws, nil
		case ws.Stopped() && ws.StopSignal() == syscall.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXEC:
			return nil, nil
		case ws.Stopped():
			sig = int(ws.StopSignal())
			if sig == int(syscall.SIGTRAP) {
				sig = 0
			}
		}
	}
}

func describeExit(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("was killed by %v", ws.Signal())
	}
	return fmt.Sprintf("exited with code %d", ws.ExitStatus())
}

// needsLibpython reports whether exe links against a shared libpython (any
// version: an unsupported one must be named, not called "not Python").
func needsLibpython(exe string) (bool, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return false, fmt.Errorf("read executable %s: %w", exe, err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return false, fmt.Errorf("read the libraries %s needs: %w", exe, err)
	}
	for _, l := range libs {
		if strings.HasPrefix(l, "libpython") {
			return true, nil
		}
	}
	return false, nil
}

// libpythonMapped is a cheap check of /proc/PID/maps before the full analysis.
func libpythonMapped(pid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "/libpython") {
			return true
		}
	}
	return false
}

// LockThread pins the calling goroutine to its OS thread for ptrace, and
// returns the function that unpins it.
func LockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
