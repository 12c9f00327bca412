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
	Name  string // "debian-3.11", "pyenv-3.12.1"
	Path  string // the python executable
	Minor int
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
// in privileged runs) and the pyenv builds 3.8-3.13.
func Interpreters(t testing.TB) []Interpreter {
	t.Helper()
	var out []Interpreter
	if _, err := os.Stat(DebianPython); err == nil {
		out = append(out, Interpreter{Name: "debian-3.11", Path: DebianPython, Minor: 11})
	} else if os.Getenv(PrivilegedEnv) == "1" {
		t.Fatalf("%s is required: run scripts/install-deps.sh", DebianPython)
	}
	return append(out, pyenvBuilds(8, 13)...)
}

// UnsupportedInterpreters returns pyenv builds older than 3.8 (2.7, 3.6, 3.7).
func UnsupportedInterpreters() []Interpreter { return pyenvBuilds(-1, 7) }

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
