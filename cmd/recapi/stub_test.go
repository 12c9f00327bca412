package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
)

// fixtures are snapshots recorded from testdata workloads by
// "make update-fixtures" (as root) and committed.
var fixtures = map[string]string{
	"calls": filepath.Join("..", "..", "testdata", "fixtures", "calls.recapi.zst"),
	"demo":  filepath.Join("..", "..", "testdata", "fixtures", "demo.recapi.zst"),
}

// readTree returns every file under dir as "==> PATH <==" sections, sorted
// by path, for one golden file per tree.
func readTree(t *testing.T, dir string) []byte {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b.WriteString("==> " + filepath.ToSlash(rel) + " <==\n")
		b.Write(data)
		return nil
	})
	require.NoError(t, err)
	return []byte(b.String())
}

// mypy checks the stub tree in dir with Debian's mypy. Without mypy the test
// skips, unless RECAPI_PRIVILEGED_TESTS=1 (CI installs it: scripts/install-deps.sh).
func mypy(t *testing.T, dir string) {
	t.Helper()
	bin, err := exec.LookPath("mypy")
	if err != nil {
		reason := "mypy not found (apt-get install mypy, or make deps)"
		if os.Getenv("RECAPI_PRIVILEGED_TESTS") == "1" {
			t.Fatalf("%s; it is required in this run", reason)
		}
		t.Skip(reason)
	}
	cmd := exec.Command(bin, "--no-incremental", "--cache-dir", filepath.Join(t.TempDir(), "cache"), "--ignore-missing-imports", ".")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "mypy rejects the stubs in %s:\n%s", dir, out)
}

func TestStubGoldenAndMypy(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "stub_calls", args: []string{"--module", "__main__", fixtures["calls"]}},
		{name: "stub_calls_overloads", args: []string{"--module", "__main__", "--overloads", fixtures["calls"]}},
		{name: "stub_demo", args: []string{"--module", "__main__", fixtures["demo"]}},
		{name: "stub_sample", args: []string{"--overloads", "SAMPLE"}},
		{name: "stub_json", args: []string{"--module", "json", "--module", "posixpath", fixtures["demo"]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"stub", "-o", dir}, tt.args...)
			for i, a := range args {
				if a == "SAMPLE" {
					args[i] = sampleFile(t)
				}
			}
			code, stdout, stderr := recapi(args...)
			require.Equal(t, exitOK, code, stderr)
			assert.Empty(t, stdout)
			golden(t, tt.name, readTree(t, dir))
			mypy(t, dir)
		})
	}
}

func TestAPIGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "api_calls", args: []string{"--module", "__main__", fixtures["calls"]}},
		{name: "api_demo", args: []string{"--module", "__main__", fixtures["demo"]}},
		{name: "api_sample", args: []string{"SAMPLE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "api.json")
			args := append([]string{"api", "-o", out}, tt.args...)
			for i, a := range args {
				if a == "SAMPLE" {
					args[i] = sampleFile(t)
				}
			}
			code, _, stderr := recapi(args...)
			require.Equal(t, exitOK, code, stderr)
			got, err := os.ReadFile(out)
			require.NoError(t, err)
			golden(t, tt.name, got)
		})
	}
}

// api -o and stub -o replace their files whole (atomicfile): no temporary
// file stays beside them, and a failed write names the file and leaves the
// old one.
func TestAPIAndStubOutputReplaced(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "api.json")
	require.NoError(t, os.WriteFile(out, []byte("old report"), 0o600))
	code, _, stderr := recapi("api", "-o", out, sampleFile(t))
	require.Equal(t, exitOK, code, stderr)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(got), "{"), "the new report")
	fi, err := os.Stat(out)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())

	tree := filepath.Join(dir, "stubs")
	code, _, stderr = recapi("stub", "-o", tree, sampleFile(t))
	require.Equal(t, exitOK, code, stderr)
	first := readTree(t, tree)
	code, _, stderr = recapi("stub", "-o", tree, sampleFile(t))
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, string(first), string(readTree(t, tree)), "written again over itself, no temporary files")

	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 2, "api.json and stubs/ only")

	missing := filepath.Join(dir, "missing", "api.json")
	code, _, stderr = recapi("api", "-o", missing, sampleFile(t))
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "recapi api: write output: write "+missing+": ")
}

func TestMergeOrderIndependent(t *testing.T) {
	dir := t.TempDir()
	ab, ba := filepath.Join(dir, "ab.recapi.zst"), filepath.Join(dir, "ba.recapi.zst")
	code, _, stderr := recapi("merge", "-o", ab, fixtures["calls"], fixtures["demo"], sampleFile(t))
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = recapi("merge", fixtures["demo"], sampleFile(t), fixtures["calls"], "-o", ba)
	require.Equal(t, exitOK, code, stderr)
	_, j1, _ := recapi("show", "--json", ab)
	_, j2, _ := recapi("show", "--json", ba)
	assert.Equal(t, j1, j2)
	// Merging a snapshot with itself doubles every count.
	twice := filepath.Join(dir, "twice.recapi.zst")
	code, _, stderr = recapi("merge", "-o", twice, fixtures["calls"], fixtures["calls"])
	require.Equal(t, exitOK, code, stderr)
	_, top, _ := recapi("show", "--top", "1", twice)
	assert.Contains(t, top, "202000  __main__.f")
}

func TestDiffGolden(t *testing.T) {
	code, stdout, stderr := recapi("diff", fixtures["calls"], fixtures["demo"])
	require.Equal(t, exitOK, code, stderr)
	golden(t, "diff_calls_demo", []byte(stdout))
	code, stdout, _ = recapi("diff", fixtures["calls"], fixtures["calls"])
	require.Equal(t, exitOK, code)
	assert.Equal(t, "0 functions added, 0 removed; 0 signatures added, 0 removed\n", stdout)
}

func TestDiffYieldsRaisedCreated(t *testing.T) {
	str := func(s string) *string { return &s }
	f := aggregate.Function{Module: "m", Qualname: "f"}
	g := aggregate.Function{Module: "m", Qualname: "g"}
	x := []aggregate.Param{{Name: "x", Kind: aggregate.KindPositionalOrKeyword, Type: "builtins.int"}}
	gen := aggregate.CodeGenerator
	write := func(name string, recs ...aggregate.Record) string {
		path := filepath.Join(t.TempDir(), name+".recapi.zst")
		require.NoError(t, aggregate.WriteFile(path, &aggregate.Snapshot{Header: aggregate.Header{Mode: aggregate.ModeExact}, Records: recs}))
		return path
	}
	old := write("old",
		aggregate.Record{Function: f, Params: x, Returns: str("builtins.int"), Calls: 10},
		aggregate.Record{Function: g, Params: x, Yields: str("builtins.int"), Calls: 4, CodeKind: gen},
		aggregate.Record{Function: g, Params: x, Created: 4, CodeKind: gen},
	)
	nw := write("new",
		aggregate.Record{Function: f, Params: x, Returns: str("builtins.int"), Calls: 7},
		aggregate.Record{Function: f, Params: x, Calls: 3, Raised: 3},
		aggregate.Record{Function: g, Params: x, Yields: str("builtins.tuple[builtins.int, ...]"), Calls: 4, CodeKind: gen},
		aggregate.Record{Function: g, Params: x, Created: 4, CodeKind: gen},
	)
	code, stdout, stderr := recapi("diff", old, nw)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, `~ m.f
    + f(x: int)  (3 calls, 3 raised)
~ m.g
    - g(x: int) -> yields int  (4 calls)
    + g(x: int) -> yields tuple[int, ...]  (4 calls)
0 functions added, 0 removed; 2 signatures added, 1 removed
`, stdout)

	// Objects created and never started: the signature of their creation.
	only := write("only", aggregate.Record{Function: g, Params: x, Created: 2, CodeKind: gen})
	code, stdout, stderr = recapi("diff", old, only)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "    + g(x: int)  (0 calls, 2 created)\n")
}

func TestShowSort(t *testing.T) {
	code, stdout, stderr := recapi("show", "--sort", "name", "--top", "5", "--module", "__main__", fixtures["calls"])
	require.Equal(t, exitOK, code, stderr)
	golden(t, "show_sort_name", []byte(stdout))
	code, _, stderr = recapi("show", "--sort", "size", fixtures["calls"])
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `-sort "size": want calls or name`)
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		return p
	}
	good, err := os.ReadFile(fixtures["calls"])
	require.NoError(t, err)
	empty := write("empty.recapi.zst", nil)
	truncated := write("cut.recapi.zst", good[:len(good)/2])
	corrupt := append([]byte(nil), good...)
	for i := 100; i < 400; i++ {
		corrupt[i] ^= 0x5a
	}
	corruptPath := write("corrupt.recapi.zst", corrupt)
	newer := filepath.Join(dir, "newer.recapi.zst")
	{
		var data []byte
		cmd := exec.Command("zstd", "-q", "-c")
		cmd.Stdin = strings.NewReader(`{"recapi_snapshot": 2}` + "\n")
		data, err = cmd.Output()
		if err != nil {
			t.Skipf("zstd command: %v", err)
		}
		require.NoError(t, os.WriteFile(newer, data, 0o644))
	}
	tests := []struct {
		name, path, want string
	}{
		{name: "empty", path: empty, want: "file is empty"},
		{name: "truncated", path: truncated, want: "truncated"},
		{name: "corrupt", path: corruptPath, want: "corrupt"},
		{name: "newer", path: newer, want: "upgrade recapi"},
		{name: "missing", path: filepath.Join(dir, "nope.recapi.zst"), want: "no such file"},
	}
	for _, tt := range tests {
		for _, cmd := range [][]string{
			{"merge", "-o", filepath.Join(dir, "out.recapi.zst"), fixtures["calls"], tt.path},
			{"api", fixtures["calls"], tt.path},
			{"stub", "-o", filepath.Join(dir, "stubs"), tt.path},
			{"diff", fixtures["calls"], tt.path},
		} {
			t.Run(tt.name+"_"+cmd[0], func(t *testing.T) {
				code, _, stderr := recapi(cmd...)
				assert.Equal(t, exitError, code)
				assert.Contains(t, stderr, tt.path)
				assert.Contains(t, stderr, tt.want)
			})
		}
	}
	_, err = os.Stat(filepath.Join(dir, "out.recapi.zst"))
	assert.True(t, os.IsNotExist(err), "a failed merge writes nothing")
}

// With no source, api and stub read the default store, ./recapi.db.
func TestDefaultStoreMissing(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{{"api"}, {"stub", "-o", "out"}} {
		code, _, stderr := recapi(args...)
		assert.Equal(t, 1, code, args)
		assert.Contains(t, stderr, "no snapshot given and no store at ./recapi.db", args)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"merge", "a"}, want: "missing -o OUT"},
		{args: []string{"merge", "-o", "x"}, want: "missing SNAPSHOT"},
		{args: []string{"stub", "a"}, want: "missing -o DIR"},
		{args: []string{"api", "--large-union-fallback", "int", "a"}, want: "want object or Any"},
		{args: []string{"diff", "a"}, want: "want OLD and NEW"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := recapi(tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr, tt.want)
		})
	}
}
