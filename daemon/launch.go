package daemon

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

	"golang.org/x/sys/unix"

	"github.com/recapi/recapi/symbolize"
)

// maxSyscallStops bounds how long a launched process is stepped while we wait
// for the dynamic loader to map libpython (a CPython start needs a few dozen).
const maxSyscallStops = 20000

// launched is a command started by recapid, held stopped until probes are
// attached so that tracing covers its first line of Python.
type launched struct {
	cmd *exec.Cmd
	// resume detaches ptrace and lets the process run. It must run on the
	// goroutine that called launch (ptrace requests come from the tracer thread).
	resume func() error
}

// launch starts argv under ptrace and returns with the process stopped at a
// point where the interpreter ELF is mapped and no Python code has run:
// right after exec for an executable with libpython linked in, or at the
// syscall that maps libpython3.X.so for a shared build.
//
// The caller must have locked its OS thread (runtime.LockOSThread) and keep it
// locked until resume or kill.
func launch(argv []string) (*launched, *symbolize.Process, error) {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, nil, fmt.Errorf("find command %q: %w", argv[0], err)
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	pid := cmd.Process.Pid
	fail := func(err error) (*launched, *symbolize.Process, error) {
		_ = cmd.Process.Kill()
		_ = syscall.PtraceDetach(pid)
		_ = cmd.Wait()
		return nil, nil, err
	}
	// The child stops with SIGTRAP right after execve.
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return fail(fmt.Errorf("wait for %s to exec: %w", path, err))
	}
	if !ws.Stopped() {
		return fail(fmt.Errorf("start %s: it exited before it could be traced (%v)", path, ws))
	}
	if err := syscall.PtraceSetOptions(pid, unix.PTRACE_O_TRACESYSGOOD|unix.PTRACE_O_EXITKILL); err != nil {
		return fail(fmt.Errorf("set ptrace options on pid %d: %w", pid, err))
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return fail(fmt.Errorf("read the executable of pid %d: %w", pid, err))
	}
	needsLib, err := needsLibpython(exe)
	if err != nil {
		return fail(err)
	}

	proc, err := symbolize.FindInterpreter(pid)
	for stops := 0; needsLib && errors.Is(err, symbolize.ErrNotPython) && stops < maxSyscallStops; stops++ {
		// Step to the next syscall stop; the loader maps libpython with mmap.
		if err := syscall.PtraceSyscall(pid, 0); err != nil {
			return fail(fmt.Errorf("step pid %d: %w", pid, err))
		}
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			return fail(fmt.Errorf("wait for pid %d: %w", pid, err))
		}
		if ws.Exited() || ws.Signaled() {
			_ = cmd.Wait()
			return nil, nil, fmt.Errorf("%s exited before libpython was loaded (%v)", path, ws)
		}
		if !libpythonMapped(pid) {
			continue
		}
		proc, err = symbolize.FindInterpreter(pid)
	}
	if err != nil {
		if errors.Is(err, symbolize.ErrNotPython) {
			err = fmt.Errorf("%s is not a CPython interpreter (%w): recapid traces the process it launches, so launch python itself (e.g. recapid -- python3 app.py)", exe, err)
		}
		return fail(err)
	}
	l := &launched{cmd: cmd, resume: func() error {
		if err := syscall.PtraceDetach(pid); err != nil {
			return fmt.Errorf("resume pid %d: %w", pid, err)
		}
		return nil
	}}
	return l, proc, nil
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

// lockThread pins the calling goroutine to its OS thread for ptrace.
func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
