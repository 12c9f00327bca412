package symbolize

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	mappings, err := parseProcMaps(maps)
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
		if m.inode != 0 && m.inode == exeIno && !seen[m.path] {
			candidates = append(candidates, m.path)
			seen[m.path] = true
		}
	}
	for _, m := range mappings {
		if libpythonName.MatchString(filepath.Base(m.path)) && !seen[m.path] {
			candidates = append(candidates, m.path)
			seen[m.path] = true
		}
	}
	for _, path := range candidates {
		var own []procMapping
		for _, m := range mappings {
			if m.path == path {
				own = append(own, m)
			}
		}
		openPath := procOpenPath(dir, own)
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

// procMapping is one line of /proc/PID/maps with a file behind it.
type procMapping struct {
	start, end, offset uint64
	perms              string
	inode              uint64
	path               string
}

// parseProcMaps parses /proc/PID/maps, keeping file-backed mappings.
func parseProcMaps(data []byte) ([]procMapping, error) {
	var out []procMapping
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// start-end perms offset dev inode   path (the path may contain spaces)
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[5], "/") {
			continue
		}
		rng := strings.SplitN(f[0], "-", 2)
		if len(rng) != 2 {
			return nil, fmt.Errorf("parse maps line %q: bad address range", line)
		}
		var m procMapping
		var err1, err2, err3, err4 error
		m.start, err1 = strconv.ParseUint(rng[0], 16, 64)
		m.end, err2 = strconv.ParseUint(rng[1], 16, 64)
		m.offset, err3 = strconv.ParseUint(f[2], 16, 64)
		m.inode, err4 = strconv.ParseUint(f[4], 10, 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return nil, fmt.Errorf("parse maps line %q: %w", line, err)
		}
		m.perms = f[1]
		m.path = line[strings.Index(line, f[5]):]
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse maps: %w", err)
	}
	return out, nil
}

// procOpenPath returns a path to open the mapped file from our mount
// namespace: /proc/PID/root/PATH when that is still the mapped file (same
// inode), else /proc/PID/map_files/START-END of its first mapping, which
// reaches the mapped file even after it was deleted or replaced (root only).
func procOpenPath(dir string, own []procMapping) string {
	m := own[0]
	path := strings.TrimSuffix(m.path, " (deleted)")
	viaRoot := filepath.Join(dir, "root", path)
	if st, err := os.Stat(viaRoot); err == nil && path == m.path {
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Ino == m.inode {
			return viaRoot
		}
	}
	viaMapFiles := filepath.Join(dir, "map_files", fmt.Sprintf("%x-%x", m.start, m.end))
	if _, err := os.Stat(viaMapFiles); err == nil {
		return viaMapFiles
	}
	return viaRoot
}

// procLoadBias computes the load bias of bin from its mappings: every
// executable mapping of an executable PT_LOAD segment gives bias = mapping
// start - segment vaddr (page-aligned); they must agree. Without one, the
// mapping of file offset 0 and FirstLoad are used.
func procLoadBias(own []procMapping, bin *Binary) (uint64, error) {
	const pageMask = 0xfff
	biases := map[uint64]bool{}
	for _, m := range own {
		if !strings.Contains(m.perms, "x") {
			continue
		}
		for _, s := range bin.loads {
			if s.exec && s.off&^pageMask == m.offset {
				biases[m.start-s.vaddr&^pageMask] = true
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
			if m.offset == 0 {
				return m.start - bin.FirstLoad&^pageMask, nil
			}
		}
		return 0, errors.New("compute load bias: no executable mapping and no mapping of file offset 0")
	}
	return 0, fmt.Errorf("compute load bias: the file is mapped %d times with different biases", len(biases))
}

// analyzeCache memoizes Analyze by file identity. Failures are cached too,
// so a host full of non-Python processes is not re-read on every scan.
var analyzeCache = struct {
	sync.Mutex
	m map[analyzeKey]analyzeResult
}{m: map[analyzeKey]analyzeResult{}}

const analyzeCacheMax = 512

// analyzeKey identifies a file's contents: a change of the contents changes
// the change time (Ctime) even when the modification time is kept.
type analyzeKey struct {
	Dev, Ino           uint64
	Size, Mtime, Ctime int64
}

type analyzeResult struct {
	bin *Binary
	err error
}

// analyzeCached is Analyze with a cache keyed by the file's identity, in
// memory and, for successful analyses, on disk (CacheAnalyses).
func analyzeCached(path string) (*Binary, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return Analyze(path)
	}
	key := analyzeKey{Dev: sys.Dev, Ino: sys.Ino, Size: st.Size(), Mtime: st.ModTime().UnixNano(),
		Ctime: sys.Ctim.Sec*1e9 + sys.Ctim.Nsec}
	analyzeCache.Lock()
	r, hit := analyzeCache.m[key]
	analyzeCache.Unlock()
	if hit {
		return r.forPath(path)
	}
	var bin *Binary
	if bin = loadAnalysis(key); bin != nil {
		bin.Path = path
	} else if bin, err = Analyze(path); err == nil {
		storeAnalysis(key, bin)
	}
	var ve *VersionError
	if err == nil || errors.Is(err, ErrNotPython) || errors.As(err, &ve) {
		analyzeCache.Lock()
		if len(analyzeCache.m) >= analyzeCacheMax {
			clear(analyzeCache.m)
		}
		analyzeCache.m[key] = analyzeResult{bin, err}
		analyzeCache.Unlock()
	}
	return bin, err
}

// forPath returns the cached result as if Analyze had read path: the same
// analysis, with Path (and a VersionError's Path) set to path. The Probes
// slice is shared.
func (r analyzeResult) forPath(path string) (*Binary, error) {
	var ve *VersionError
	switch {
	case r.bin != nil:
		cp := *r.bin
		cp.Path = path
		return &cp, nil
	case errors.As(r.err, &ve):
		cp := *ve
		cp.Path = path
		return nil, &cp
	}
	return nil, r.err
}
