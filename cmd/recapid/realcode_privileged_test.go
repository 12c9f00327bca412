package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/internal/testutil"
)

// realSuite is the real code of the real-code test: modules of CPython's
// own test suite (Debian ships its 3.11's as libpython3.11-testsuite; pyenv
// builds keep theirs), about two million Python calls and 50,000 call
// shapes on one thread, run by `python -m test`. Left out: modules that use
// threads (the ground truth watches one thread) or that test recursion
// limits (they raise inside any profile function).
var realSuite = []string{"test_argparse", "test_dataclasses", "test_configparser", "test_difflib", "test_csv",
	"test_pprint", "test_shlex", "test_string", "test_textwrap", "test_fractions"}

// realRuns are the interpreters and loads of the real-code test: Debian's
// stripped 3.11 and a 3.13 (the two probe designs of 3.11+), each idle and
// with a CPU hog on every core, and a 3.10 (the eval-loop entry of 3.8-3.10)
// idle.
var realRuns = []struct {
	interp string
	busy   bool
}{{"debian-3.11", false}, {"debian-3.11", true}, {"pyenv-3.13.0", false}, {"pyenv-3.13.0", true}, {"pyenv-3.10.13", false}}

// recapid attached to a real test suite agrees with an in-process profiler
// watching the same run (testdata/realcode: a C profile function, so that
// the profiler makes no Python-level call recapid would count): calls
// matched >= 99.9%, exact counts for >= 98% of functions, argument and
// return types recalled for >= 99% of calls (--returns always), no name
// lost, and the suite's verdict unchanged; idle and on a busy machine.
func TestRealSuiteMatchesInProcessProfiler(t *testing.T) {
	testutil.RequireBPF(t)
	byName := map[string]testutil.Interpreter{}
	for _, py := range testutil.Interpreters(t) {
		byName[py.Name] = py
	}
	for _, run := range realRuns {
		name := run.interp
		if run.busy {
			name += "-busy"
		}
		t.Run(name, func(t *testing.T) {
			py, ok := byName[run.interp]
			if !ok {
				testutil.Missing(t, "interpreter "+run.interp)
				return
			}
			if _, err := exec.Command(py.Path, "-c", "import test.test_argparse").CombinedOutput(); err != nil {
				testutil.Missing(t, fmt.Sprintf("%s's test suite (Debian: libpython3.%d-testsuite, scripts/install-deps.sh)", py.Name, py.Minor))
				return
			}
			ext := buildGTProfile(t, py)
			if run.busy {
				hogEveryCore(t)
			}
			gt, snap, took := runRealSuite(t, py, ext)
			cmp := compareWithProfiler(gt, snap)
			t.Logf("%s: %d calls (%d by the profiler) in %v; matched %.5f, exact %d/%d functions (%.4f), argument types %.5f, return types %.5f; stats %v",
				name, cmp.recapidCalls, cmp.gtCalls, took.Round(time.Second), cmp.matched, cmp.exact, cmp.functions, cmp.exactRatio(),
				cmp.typeRecall, cmp.returnRecall, lossStats(snap))
			for _, d := range cmp.worst {
				t.Logf("  differs: %s", d)
			}
			assert.Zero(t, gt.Errors, "profile events the ground truth could not record")
			assert.GreaterOrEqual(t, cmp.matched, 0.999, "calls matched")
			assert.GreaterOrEqual(t, cmp.exactRatio(), 0.98, "functions counted exactly")
			assert.GreaterOrEqual(t, cmp.typeRecall, 0.99, "argument types recalled")
			assert.GreaterOrEqual(t, cmp.returnRecall, 0.99, "return types recalled")
			for _, k := range []string{"events_lost", "signatures_unknown", "values_unknown", "counts_map_full"} {
				assert.Zero(t, snap.Header.Stats[k], k)
			}
		})
	}
}

// buildGTProfile compiles testdata/realcode/gtprofile.c for py and returns
// the directory that holds the extension.
func buildGTProfile(t *testing.T, py testutil.Interpreter) string {
	t.Helper()
	q := func(expr string) string {
		out, err := exec.Command(py.Path, "-c", "import sysconfig; print("+expr+")").Output()
		require.NoError(t, err, "ask %s for %s", py.Path, expr)
		return strings.TrimSpace(string(out))
	}
	include, suffix := q(`sysconfig.get_paths()["include"]`), q(`sysconfig.get_config_var("EXT_SUFFIX")`)
	if _, err := os.Stat(filepath.Join(include, "Python.h")); err != nil {
		testutil.Missing(t, fmt.Sprintf("%s's C headers (%s/Python.h; Debian: python3.%d-dev, scripts/install-deps.sh)", py.Name, include, py.Minor))
	}
	dir := t.TempDir()
	src, err := filepath.Abs("../../testdata/realcode/gtprofile.c")
	require.NoError(t, err)
	out, err := exec.Command("cc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-I"+include, src, "-o", filepath.Join(dir, "_gtprofile"+suffix)).CombinedOutput()
	require.NoError(t, err, "build _gtprofile for %s:\n%s", py.Name, out)
	return dir
}

// hogEveryCore keeps every CPU busy until the test ends.
func hogEveryCore(t *testing.T) {
	t.Helper()
	for range runtime.NumCPU() {
		hog := exec.Command("sh", "-c", "while :; do :; done")
		require.NoError(t, hog.Start())
		t.Cleanup(func() {
			_ = hog.Process.Kill()
			_ = hog.Wait()
		})
	}
}

// gtResult is testdata/realcode/gtrun.py's output, as JSON.
type gtResult struct {
	ExitCode    int                 `json:"exit_code"`
	Errors      int                 `json:"errors"`
	Calls       [][]json.RawMessage `json:"calls"`       // [function, caller, [types], n]
	Resumptions [][]json.RawMessage `json:"resumptions"` // [function, n]
	Returns     [][]json.RawMessage `json:"returns"`     // [function, type, n]
}

// runRealSuite runs the suite under the profiler, attaches recapid before
// the first test starts, and returns both records and the suite's run time.
func runRealSuite(t *testing.T, py testutil.Interpreter, ext string) (*gtResult, *aggregate.Snapshot, time.Duration) {
	t.Helper()
	dir := t.TempDir()
	runner, err := filepath.Abs("../../testdata/realcode/gtrun.py")
	require.NoError(t, err)
	marshalOut := filepath.Join(dir, "gt.marshal")
	cmd := exec.Command(py.Path, append([]string{runner, marshalOut, "-m", "test"}, realSuite...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONPATH="+ext)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewReader(stdout)
	first, err := lines.ReadString('\n')
	require.NoError(t, err, "gtrun.py did not start: %s", stderr.String())
	require.Equal(t, "ready\n", first)
	var output bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&output, lines)
		close(copied)
	}()

	snapPath := filepath.Join(dir, "real.recapi.zst")
	d := exec.Command(recapidBin, "--pid", fmt.Sprint(cmd.Process.Pid), "-o", snapPath, "--summary=false", "--returns=always")
	var dse syncBuffer
	d.Stderr = &dse
	require.NoError(t, d.Start())
	t.Cleanup(func() { _ = d.Process.Kill() })
	require.Eventually(t, func() bool { return strings.Contains(dse.String(), "msg=attached") }, 2*time.Minute, 20*time.Millisecond,
		"recapid did not attach:\n%s", dse.String())

	start := time.Now()
	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)
	waitErr := cmd.Wait()
	took := time.Since(start)
	<-copied
	require.NoError(t, waitErr, "the suite failed under recapid (its verdict must not change):\n%s\n%s", tail(output.String(), 3000), stderr.String())
	require.NoError(t, d.Wait(), "recapid:\n%s", dse.String())

	conv := exec.Command(py.Path, "-c", "import json, marshal, sys; json.dump(marshal.load(open(sys.argv[1], 'rb')), sys.stdout)", marshalOut)
	raw, err := conv.Output()
	require.NoError(t, err)
	var gt gtResult
	require.NoError(t, json.Unmarshal(raw, &gt))
	require.Zero(t, gt.ExitCode)
	snap, err := aggregate.ReadFile(snapPath)
	require.NoError(t, err)
	return &gt, snap, took
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// realFn identifies a function the way both sides can: file, first line
// and name (the last part of recapi's qualname, the profiler's co_name).
type realFn struct {
	File string
	Line int
	Name string
}

func (f realFn) String() string { return fmt.Sprintf("%s:%d %s", f.File, f.Line, f.Name) }

type typedFn struct {
	fn    realFn
	types string // argument types joined, or the return type
}

type realComparison struct {
	gtCalls, recapidCalls uint64
	matched               float64
	exact, functions      int
	typeRecall            float64
	returnRecall          float64
	worst                 []string // the largest count differences
}

func (c realComparison) exactRatio() float64 {
	if c.functions == 0 {
		return 0
	}
	return float64(c.exact) / float64(c.functions)
}

// bareType drops a type's element types: the profiler names bare types.
var elementTypes = regexp.MustCompile(`\[.*\]$`)

func bareType(s string) string { return elementTypes.ReplaceAllString(s, "") }

// compareWithProfiler compares recapid's records with the profiler's, by
// function: calls (starts), and the argument and return types of calls.
// recapid's records of gtrun.py's own functions (which the profiler does
// not count) are left out.
func compareWithProfiler(gt *gtResult, snap *aggregate.Snapshot) realComparison {
	var (
		gtCalls, rcCalls   = map[realFn]uint64{}, map[realFn]uint64{}
		gtTypes, rcTypes   = map[typedFn]uint64{}, map[typedFn]uint64{}
		gtReturn, rcReturn = map[typedFn]uint64{}, map[typedFn]uint64{}
	)
	parseFn := func(raw json.RawMessage) realFn {
		var parts []json.RawMessage
		var f realFn
		if json.Unmarshal(raw, &parts) == nil && len(parts) == 3 {
			_ = json.Unmarshal(parts[0], &f.File)
			_ = json.Unmarshal(parts[1], &f.Line)
			_ = json.Unmarshal(parts[2], &f.Name)
		}
		return f
	}
	for _, c := range gt.Calls {
		fn := parseFn(c[0])
		var types []string
		var n uint64
		_ = json.Unmarshal(c[2], &types)
		_ = json.Unmarshal(c[3], &n)
		gtCalls[fn] += n
		gtTypes[typedFn{fn, strings.Join(types, ", ")}] += n
	}
	for _, r := range gt.Returns {
		var typ string
		var n uint64
		_ = json.Unmarshal(r[1], &typ)
		_ = json.Unmarshal(r[2], &n)
		gtReturn[typedFn{parseFn(r[0]), typ}] += n
	}
	for _, r := range snap.Records {
		if strings.HasSuffix(r.Function.File, "gtrun.py") || r.Calls == 0 {
			continue
		}
		q := r.Function.Qualname
		fn := realFn{r.Function.File, r.Function.Line, q[strings.LastIndexByte(q, '.')+1:]}
		rcCalls[fn] += r.Calls
		types := make([]string, len(r.Params))
		for i, p := range r.Params {
			types[i] = bareType(p.Type)
		}
		rcTypes[typedFn{fn, strings.Join(types, ", ")}] += r.Calls
		if r.Returns != nil && r.CodeKind == "" {
			rcReturn[typedFn{fn, bareType(*r.Returns)}] += r.Calls
		}
	}
	var c realComparison
	var matched uint64
	type diff struct {
		fn     realFn
		gt, rc uint64
	}
	var diffs []diff
	for fn, n := range gtCalls {
		c.gtCalls += n
		matched += min(n, rcCalls[fn])
		c.functions++
		if rcCalls[fn] == n {
			c.exact++
		} else {
			diffs = append(diffs, diff{fn, n, rcCalls[fn]})
		}
	}
	for _, n := range rcCalls {
		c.recapidCalls += n
	}
	if c.gtCalls > 0 {
		c.matched = float64(matched) / float64(c.gtCalls)
	}
	recall := func(want, got map[typedFn]uint64) float64 {
		var total, hit uint64
		for k, n := range want {
			total += n
			hit += min(n, got[k])
		}
		if total == 0 {
			return 0
		}
		return float64(hit) / float64(total)
	}
	c.typeRecall = recall(gtTypes, rcTypes)
	c.returnRecall = recall(gtReturn, rcReturn)
	abs := func(d diff) uint64 { return max(d.gt, d.rc) - min(d.gt, d.rc) }
	for i := 0; i < len(diffs) && i < 8; i++ { // the 8 largest, by selection
		m := i
		for j := i + 1; j < len(diffs); j++ {
			if abs(diffs[j]) > abs(diffs[m]) {
				m = j
			}
		}
		diffs[i], diffs[m] = diffs[m], diffs[i]
		c.worst = append(c.worst, fmt.Sprintf("%s: profiler %d, recapid %d", diffs[i].fn, diffs[i].gt, diffs[i].rc))
	}
	return c
}

// lossStats are the snapshot stats that say something was not recorded.
func lossStats(snap *aggregate.Snapshot) map[string]uint64 {
	out := map[string]uint64{}
	for _, k := range []string{"events_lost", "names_resent", "signatures_unknown", "values_unknown", "counts_map_full", "pending_map_full"} {
		if v := snap.Header.Stats[k]; v > 0 {
			out[k] = v
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
