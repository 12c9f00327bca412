package main_test

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
	"golang.org/x/sys/unix"

	"github.com/recapi/recapi/aggregate"
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
// only the calls counted since the last flush. Both halves are checked on
// the workload's own clock, not at an average call rate (a loop that is
// itself descheduled on a busy machine has none): the workload logs
// (CLOCK_MONOTONIC, calls so far) at every batch, and every call it had made
// one flush plus one drain interval before the kill, with room for a busy
// scheduler, must be in the store afterwards. The store must also keep all
// it held before the kill, and never hold more than the workload made.
func TestSIGKILLLosesAtMostOneFlushInterval(t *testing.T) {
	testutil.RequireBPF(t)
	script := workload(t, "attach.py")
	dir := t.TempDir()
	trigger := filepath.Join(dir, "go")
	progress := filepath.Join(dir, "progress")
	url := "sqlite:" + filepath.Join(dir, "recapi.db")
	const flush, interval = time.Second, 100 * time.Millisecond
	// How late a flush may land on a machine with every core busy (timer
	// and scheduler latency, the SQLite commit): half an interval again.
	const late = (flush + interval) / 2
	d := exec.Command(recapidBin, "--store", url, "--flush-interval", flush.String(), "--interval", interval.String(),
		"--summary=false", "--", testutil.DebianPython, script, trigger, "1000", "120", progress)
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
	// Kill part way through the next interval, where a flush's worth of
	// calls is at stake.
	time.Sleep(flush * 7 / 10)
	killedAt := monotonicNow(t)
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
	due := callsMadeBy(t, progress, killedAt-flush-interval-late)
	t.Logf("workload made %d calls; the store held %d and then %d before the kill, %d after; %d were made %v before the kill",
		res.Before, first, last, stored, due, flush+interval+late)
	assert.LessOrEqual(t, stored, res.Before, "never more than the workload made")
	assert.GreaterOrEqual(t, stored, last, "the kill lost calls the store had taken")
	assert.Positive(t, due, "the progress log reaches back %v before the kill", flush+interval+late)
	assert.GreaterOrEqual(t, stored, due, "lost calls made more than one flush interval before the kill")
	assert.Zero(t, storeCalls(t, url, script, "after"), "nothing after the kill")
}

// monotonicNow reads CLOCK_MONOTONIC, the clock of Python's time.monotonic.
func monotonicNow(t *testing.T) time.Duration {
	t.Helper()
	var ts unix.Timespec
	require.NoError(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts))
	return time.Duration(ts.Nano())
}

// callsMadeBy reads attach.py's progress log ("<seconds> <calls>" lines on
// CLOCK_MONOTONIC) and returns the calls made by time at, 0 if none.
func callsMadeBy(t *testing.T, path string, at time.Duration) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var calls uint64
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var sec float64
		var n uint64
		_, err := fmt.Sscanf(l, "%f %d", &sec, &n)
		require.NoError(t, err, "progress line %q", l)
		if time.Duration(sec*float64(time.Second)) > at {
			break
		}
		calls = n
	}
	return calls
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

// raisesAndCreates runs for about two seconds, many flush intervals: each
// batch makes calls that return, calls that raise, and generators that are
// created and never started.
const raisesAndCreates = `import time


def risky(i):
    if i % 2:
        raise ValueError(i)
    return i


def numbers(n):
    yield n


def main():
    end = time.monotonic() + 2
    made = []
    while time.monotonic() < end:
        for i in range(100):
            try:
                risky(i)
            except ValueError:
                pass
            made.append(numbers(i))
        time.sleep(0.01)


main()
`

// storedCounts maps the key of each record (store.Key) to its counts.
func storedCounts(recs []aggregate.Record) map[string]string {
	out := map[string]string{}
	for i := range recs {
		r := &recs[i]
		out[store.Key(r)] = fmt.Sprintf("calls %d resumptions %d raised %d created %d partial %v",
			r.Calls, r.Resumptions, r.Raised, r.Created, r.Partial)
	}
	return out
}

// The store ends up with the counts of the snapshot written at exit (the
// tracer's totals), each count once, after many flushes of a workload that
// raises and creates generators it never starts.
func TestStoreHoldsTheSnapshotsCounts(t *testing.T) {
	testutil.RequireBPF(t)
	stores := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{name: "sqlite", url: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "recapi.db") }},
		{name: "postgres", url: func(t *testing.T) string { return testutil.PostgresDatabase(t, testutil.Postgres(t)) }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			url := st.url(t)
			dir := t.TempDir()
			script := filepath.Join(dir, "raises.py")
			require.NoError(t, os.WriteFile(script, []byte(raisesAndCreates), 0o644))
			out := filepath.Join(dir, "run.recapi.zst")
			d := exec.Command(recapidBin, "--store", url, "-o", out, "--flush-interval", "200ms", "--interval", "50ms",
				"--returns", "always", "--summary=false", "--", testutil.DebianPython, script)
			var se bytes.Buffer
			d.Stderr = &se
			require.NoError(t, d.Run(), "recapid:\n%s", se.String())
			snap, err := aggregate.ReadFile(out)
			require.NoError(t, err)

			ctx := context.Background()
			s, err := store.Open(ctx, url)
			require.NoError(t, err)
			defer s.Close()
			es, err := s.Filter(ctx, store.Query{})
			require.NoError(t, err)
			assert.Equal(t, storedCounts(snap.Records), storedCounts(store.Records(es)), "recapid:\n%s", se.String())

			var raised, created uint64
			for _, r := range snap.Records {
				if r.Function.File == script {
					raised += r.Raised
					created += r.Created
				}
			}
			assert.Positive(t, raised, "the workload raised")
			assert.Positive(t, created, "the workload created generators")
		})
	}
}
