package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/store"
)

// storeCalls sums the calls of qualname defined in file, as the store at
// url holds them.
func storeCalls(t *testing.T, url, file, qualname string) uint64 {
	t.Helper()
	n, err := readStoreCalls(url, file, qualname)
	require.NoError(t, err)
	return n
}

// readStoreCalls is storeCalls for a condition of require.Eventually, which
// runs on another goroutine.
func readStoreCalls(url, file, qualname string) (uint64, error) {
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	es, err := st.Filter(ctx, store.Query{QualnamePrefix: qualname})
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, e := range es {
		if e.Record.Function.File == file && e.Record.Function.Qualname == qualname {
			n += e.Record.Calls
		}
	}
	return n, nil
}

type attachResult struct {
	Before uint64 `json:"before"`
	After  uint64 `json:"after"`
}

// SIGKILL loses at most one flush interval: recapid adds what it counted to
// the store every flush interval while the workload runs, and a kill loses
// none of what was added, only the calls counted since. The test waits
// until the store has taken two flushes of a running loop, kills recapid,
// and checks that the store still holds at least what it held before the
// kill and never more than the workload made. (It once converted the lag
// into seconds at the workload's average call rate and bounded that: on a
// busy machine that measured how late recapid got to run, not what a kill
// loses.)
func TestSIGKILLLosesAtMostOneFlushInterval(t *testing.T) {
	testutil.RequireBPF(t)
	script := workload(t, "attach.py")
	dir := t.TempDir()
	trigger := filepath.Join(dir, "go")
	url := "sqlite:" + filepath.Join(dir, "recapi.db")
	const flush, interval = time.Second, 100 * time.Millisecond
	d := exec.Command(recapidBin, "--store", url, "--flush-interval", flush.String(), "--interval", interval.String(),
		"--summary=false", "--", testutil.DebianPython, script, trigger, "1000", "120")
	stdout, err := d.StdoutPipe()
	require.NoError(t, err)
	var se bytes.Buffer
	d.Stderr = &se
	require.NoError(t, d.Start())
	defer d.Process.Kill()
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	require.NoError(t, err, "recapid:\n%s", se.String())
	require.Equal(t, "ready\n", line)

	// Two flushes of the running loop: the store took calls of before()
	// and then more of them. (SQLite lets several processes open the file.)
	var first, last uint64
	require.Eventually(t, func() bool {
		n, err := readStoreCalls(url, script, "before")
		if err != nil || n == 0 {
			return false
		}
		if first == 0 {
			first = n
		}
		last = n
		return last > first
	}, 60*time.Second, 100*time.Millisecond, "the store did not take two flushes:\n%s", se.String())
	require.NoError(t, d.Process.Signal(syscall.SIGKILL))
	require.NoError(t, os.WriteFile(trigger, nil, 0o644))

	// The workload goes on untraced, finishes and reports its count (it
	// holds the pipe open; Wait would close it).
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	_ = d.Wait()
	var res attachResult
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(rest), &res), "%s", rest)

	stored := storeCalls(t, url, script, "before")
	t.Logf("workload made %d calls; the store held %d and then %d before the kill, %d after", res.Before, first, last, stored)
	assert.LessOrEqual(t, stored, res.Before, "never more than the workload made")
	assert.GreaterOrEqual(t, stored, last, "the kill lost calls the store had taken")
	assert.Zero(t, storeCalls(t, url, script, "after"), "nothing after the kill")
}

// SIGTERM flushes everything: with flushes far apart, the final one holds
// every call.
func TestSIGTERMKeepsEveryCall(t *testing.T) {
	testutil.RequireBPF(t)
	script := workload(t, "attach.py")
	dir := t.TempDir()
	trigger := filepath.Join(dir, "go")
	url := "sqlite:" + filepath.Join(dir, "recapi.db")
	const n = 30000
	target, stdout := startAttachTarget(t, testutil.DebianPython, script, trigger, fmt.Sprint(n))

	// Neither drains nor flushes before the signal: only the exit path can
	// save the counts.
	d := exec.Command(recapidBin, "--pid", fmt.Sprint(target.Process.Pid), "--store", url,
		"--flush-interval", "1h", "--interval", "1h", "--summary=false")
	var se bytes.Buffer
	d.Stderr = &se
	require.NoError(t, d.Start())
	defer d.Process.Kill()
	require.Eventually(t, func() bool { return strings.Contains(se.String(), "attached") }, 30*time.Second, 20*time.Millisecond, "recapid did not attach:\n%s", se.String())
	require.NoError(t, os.WriteFile(trigger, nil, 0o644))
	rest, err := io.ReadAll(stdout)
	require.NoError(t, err)
	require.NoError(t, target.Wait())
	assert.Contains(t, string(rest), fmt.Sprintf(`"after": %d`, n))

	require.NoError(t, d.Process.Signal(syscall.SIGTERM))
	require.NoError(t, waitTimeout(d, 60*time.Second), "recapid:\n%s", se.String())
	assert.Equal(t, uint64(n), storeCalls(t, url, script, "after"), "recapid:\n%s", se.String())
	assert.Positive(t, storeCalls(t, url, script, "before"))
}

// Two recapid processes tracing two workloads into one PostgreSQL store at
// the same time: the store holds the sum.
func TestTwoDaemonsOnePostgresStore(t *testing.T) {
	testutil.RequireBPF(t)
	url := testutil.PostgresDatabase(t, testutil.Postgres(t))
	script := workload(t, "bench.py")
	counts := []int{150000, 250000}
	var wg sync.WaitGroup
	errs := make([]error, len(counts))
	logs := make([]bytes.Buffer, len(counts))
	for i, n := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := exec.Command(recapidBin, "--store", url, "--flush-interval", "200ms", "--interval", "50ms", "--summary=false",
				"--", testutil.DebianPython, script, fmt.Sprint(n))
			d.Stderr = &logs[i]
			errs[i] = d.Run()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "recapid %d:\n%s", i, logs[i].String())
	}
	assert.Equal(t, uint64(counts[0]+counts[1]), storeCalls(t, url, script, "target"))
	assert.Equal(t, uint64(2), storeCalls(t, url, script, "run"))
}
