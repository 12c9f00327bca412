package testutil

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
)

// DebianPython is the distribution's stripped interpreter, required in CI
// (scripts/install-deps.sh installs it).
const DebianPython = "/usr/bin/python3.11"

// Interpreter is a CPython on this machine.
type Interpreter struct {
	Name  string // "debian-3.11", "pyenv-3.12.1", "trixie-3.13"
	Path  string // the python executable (inside Root, if set)
	Minor int
	// Root is set for Debian builds unpacked into a test root by
	// scripts/make-testroots.sh: they run under chroot, the way recapid
	// meets interpreters in containers.
	Root string
}

// TestRoots is where scripts/make-testroots.sh unpacks Debian's newer CPython builds.
const TestRoots = "/var/cache/recapi/testroots"

// Command is the argv that runs the interpreter with args.
func (i Interpreter) Command(args ...string) []string {
	if i.Root != "" {
		return append([]string{"chroot", i.Root, i.Path}, args...)
	}
	return append([]string{i.Path}, args...)
}

// Stage makes testdata/REL available to the interpreter and returns its
// path as the interpreter sees it: the repository path, or a copy inside
// Root. Each copy goes into a directory of its own, removed when the test
// ends: test roots are shared by every test run on the machine, and a copy
// rewritten in place while another run's interpreter reads it would be
// read truncated.
func (i Interpreter) Stage(t testing.TB, rel string) string {
	t.Helper()
	src := filepath.Join(RepoRoot(t), "testdata", rel)
	if i.Root == "" {
		return src
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(i.Root+"/tmp", "recapi-stage")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path[len(i.Root):]
}

// TempFile returns a fresh file name the interpreter can write, as it sees
// it, and the same file as the test sees it.
func (i Interpreter) TempFile(t testing.TB, name string) (inside, outside string) {
	t.Helper()
	if i.Root == "" {
		p := filepath.Join(t.TempDir(), name)
		return p, p
	}
	dir, err := os.MkdirTemp(i.Root+"/tmp", "recapi-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	outside = filepath.Join(dir, name)
	return outside[len(i.Root):], outside
}

// rootInterpreters lists the test roots' interpreters with minor version in [lo, hi].
func rootInterpreters(t testing.TB, lo, hi int) []Interpreter {
	roots := []Interpreter{
		{Name: "trixie-3.13", Path: "/usr/bin/python3.13", Minor: 13, Root: filepath.Join(TestRoots, "trixie")},
		{Name: "sid-3.14", Path: "/usr/bin/python3.14", Minor: 14, Root: filepath.Join(TestRoots, "sid")},
		{Name: "sid-3.15", Path: "/usr/bin/python3.15", Minor: 15, Root: filepath.Join(TestRoots, "sid")},
	}
	var out []Interpreter
	for _, r := range roots {
		if r.Minor < lo || r.Minor > hi {
			continue
		}
		if _, err := os.Stat(filepath.Join(r.Root, ".recapi-complete")); err != nil {
			if os.Getenv(PrivilegedEnv) == "1" {
				t.Fatalf("test root %s is missing: run scripts/make-testroots.sh", r.Root)
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

var pyenvVersion = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`)

// PyenvRoot is $PYENV_ROOT, or ~/.pyenv.
func PyenvRoot() string {
	if r := os.Getenv("PYENV_ROOT"); r != "" {
		return r
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".pyenv")
}

// pyenvBuilds lists pyenv's CPython builds with minor version in [lo, hi].
func pyenvBuilds(lo, hi int) []Interpreter {
	dirs, _ := os.ReadDir(filepath.Join(PyenvRoot(), "versions"))
	var out []Interpreter
	for _, d := range dirs {
		m := pyenvVersion.FindStringSubmatch(d.Name())
		if m == nil || m[1] != "3" && m[1] != "2" {
			continue
		}
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		if major == 2 {
			minor = -1 // below every 3.x bound
		}
		if minor < lo || minor > hi {
			continue
		}
		exe := filepath.Join(PyenvRoot(), "versions", d.Name(), "bin", "python"+m[1]+"."+m[2])
		if _, err := os.Stat(exe); err != nil {
			continue
		}
		out = append(out, Interpreter{Name: "pyenv-" + d.Name(), Path: exe, Minor: minor})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Minor < out[j].Minor })
	return out
}

// Interpreters returns every supported CPython present: Debian's (required
// in privileged runs), the pyenv builds 3.8-3.13, and the test roots'
// Debian builds: trixie's 3.13, sid's 3.14 and 3.15.
func Interpreters(t testing.TB) []Interpreter {
	t.Helper()
	var out []Interpreter
	if _, err := os.Stat(DebianPython); err == nil {
		out = append(out, Interpreter{Name: "debian-3.11", Path: DebianPython, Minor: 11})
	} else if os.Getenv(PrivilegedEnv) == "1" {
		t.Fatalf("%s is required: run scripts/install-deps.sh", DebianPython)
	}
	out = append(out, pyenvBuilds(8, 13)...)
	return append(out, rootInterpreters(t, 8, 15)...)
}

// UnsupportedInterpreters returns the interpreters recapid must refuse:
// pyenv builds older than 3.8 (2.7, 3.6, 3.7).
func UnsupportedInterpreters(t testing.TB) []Interpreter {
	return pyenvBuilds(-1, 7)
}

// RepoRoot is the repository root, found from the test's working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}
