package pyelf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/recapi/recapi/proc"
)

// Process is a running CPython interpreter: which ELF file holds its eval
// loop, and where that file is loaded.
type Process struct {
	PID int
	Exe string // readlink /proc/PID/exe
	// ELFPath is the interpreter ELF as shown in /proc/PID/maps (inside the
	// process's mount namespace).
	ELFPath string
	// OpenPath opens that file from our mount namespace: /proc/PID/root +
	// ELFPath, or /proc/PID/map_files/... when the file on disk is no longer
	// the mapped one (deleted or replaced by an upgrade).
	OpenPath string
	// Bias is the load bias: run-time address = vaddr + Bias (0 for a
	// non-PIE executable).
	Bias   uint64
	Binary *Binary
}

// procRoot is where /proc is mounted; tests do not change it.
const procRoot = "/proc"

// libpythonName matches the file names of shared libpython builds,
// including the unsupported ones, so that they are reported as such:
// libpython3.11.so.1.0, libpython3.6m.so.1.0, libpython2.7.so.1.0,
// libpython3.13t.so.1.0.
var libpythonName = regexp.MustCompile(`^libpython[23]\.\d+[a-z]*\.so`)

// FindInterpreter finds the CPython interpreter of process pid: the
// executable if it contains the eval loop, else the first mapped libpython.
// The error wraps os.ErrNotExist when the process is gone, ErrNotPython
// when no mapped ELF file has an eval loop (checked: the executable, then
// every mapped libpython*.so), and a *VersionError for an unsupported
// CPython.
//
// Analysis results are cached by file identity (device, inode, size,
// mtime): processes that share an interpreter share one analysis. Each
// Process gets its own copy of the Binary, with Path set to its OpenPath;
// the Probes slice is shared and must not be modified.
func FindInterpreter(pid int) (*Process, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	exe, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil {
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("find interpreter of pid %d: process does not exist: %w", pid, serr)
		}
		if errors.Is(err, fs.ErrNotExist) { // kernel thread or zombie
			return nil, fmt.Errorf("find interpreter of pid %d: process has no executable: %w", pid, ErrNotPython)
		}
		return nil, fmt.Errorf("find interpreter of pid %d: %w (run as root, or grant CAP_SYS_PTRACE)", pid, err)
	}
	maps, err := os.ReadFile(filepath.Join(dir, "maps"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return nil, fmt.Errorf("find interpreter of pid %d: process exited: %w", pid, os.ErrNotExist)
		}
		return nil, fmt.Errorf("find interpreter of pid %d: read maps: %w (run as root, or grant CAP_SYS_PTRACE)", pid, err)
	}
	mappings, err := proc.ParseMaps(maps)
	if err != nil {
		return nil, fmt.Errorf("find interpreter of pid %d: %w", pid, err)
	}
	if len(mappings) == 0 {
		return nil, fmt.Errorf("find interpreter of pid %d (%s): process has no mappings (exited?): %w", pid, exe, ErrNotPython)
	}

	// The executable first (matched by inode: the path in maps and the
	// link target can differ across mount namespaces), then libpython.
	var exeIno uint64
	if st, err := os.Stat(filepath.Join(dir, "exe")); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			exeIno = sys.Ino
		}
	}
	var candidates []string
	seen := map[string]bool{}
	for _, m := range mappings {
		if m.Inode != 0 && m.Inode == exeIno && !seen[m.Path] {
			candidates = append(candidates, m.Path)
			seen[m.Path] = true
		}
	}
	for _, m := range mappings {
		if libpythonName.MatchString(filepath.Base(m.Path)) && !seen[m.Path] {
			candidates = append(candidates, m.Path)
			seen[m.Path] = true
		}
	}
	for _, path := range candidates {
		var own []proc.Mapping
		for _, m := range mappings {
			if m.Path == path {
				own = append(own, m)
			}
		}
		openPath := proc.OpenPath(pid, own[0])
		bin, err := analyzeCached(openPath)
		if errors.Is(err, ErrNotPython) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("find interpreter of pid %d: %w", pid, err)
		}
		bias, err := procLoadBias(own, bin)
		if err != nil {
			return nil, fmt.Errorf("find interpreter of pid %d: %s: %w", pid, path, err)
		}
		return &Process{PID: pid, Exe: exe, ELFPath: strings.TrimSuffix(path, " (deleted)"), OpenPath: openPath, Bias: bias, Binary: bin}, nil
	}
	return nil, fmt.Errorf("find interpreter of pid %d (%s): no mapped ELF file has _PyEval_EvalFrameDefault: %w", pid, exe, ErrNotPython)
}

// procLoadBias computes the load bias of bin from its mappings: every
// executable mapping of an executable PT_LOAD segment gives bias = mapping
// start - segment vaddr (page-aligned); they must agree. Without one, the
// mapping of file offset 0 and FirstLoad are used.
func procLoadBias(own []proc.Mapping, bin *Binary) (uint64, error) {
	const pageMask = 0xfff
	biases := map[uint64]bool{}
	for _, m := range own {
		if !strings.Contains(m.Perms, "x") {
			continue
		}
		for _, s := range bin.loads {
			if s.exec && s.off&^pageMask == m.Offset {
				biases[m.Start-s.vaddr&^pageMask] = true
			}
		}
	}
	switch len(biases) {
	case 1:
		for b := range biases {
			return b, nil
		}
	case 0:
		for _, m := range own {
			if m.Offset == 0 {
				return m.Start - bin.FirstLoad&^pageMask, nil
			}
		}
		return 0, errors.New("compute load bias: no executable mapping and no mapping of file offset 0")
	}
	return 0, fmt.Errorf("compute load bias: the file is mapped %d times with different biases", len(biases))
}
