// Command benchmerge measures "recapi merge" and "recapi stub" on generated
// snapshots: merging many snapshots of 100,000 records each (a fleet of
// processes running the same code: each snapshot holds a window of one pool
// of distinct records), and writing stubs for 50,000 functions. It runs the
// recapi binary as a child, so the peak memory reported is that of the
// command alone (getrusage of the child).
//
//	go run ./internal/benchmerge -recapi bin/recapi [-snapshots 100] [-records 100000] [-functions 50000]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/recapi/recapi/aggregate"
)

func main() {
	var (
		recapi    = flag.String("recapi", "bin/recapi", "the recapi binary to measure")
		snapshots = flag.Int("snapshots", 100, "number of snapshots to merge")
		records   = flag.Int("records", 100000, "records per snapshot")
		pool      = flag.Int("pool", 200000, "distinct records the snapshots draw from")
		functions = flag.Int("functions", 50000, "functions in the stub benchmark")
		dir       = flag.String("dir", "", "work directory (default: a new temporary one, removed afterwards)")
	)
	flag.Parse()
	if err := run(*recapi, *snapshots, *records, *pool, *functions, *dir); err != nil {
		fmt.Fprintf(os.Stderr, "benchmerge: %v\n", err)
		os.Exit(1)
	}
}

func run(recapi string, nSnap, nRec, pool, nFunc int, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "benchmerge-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	types := []string{"builtins.int", "builtins.str", "builtins.float", "None", "builtins.list[builtins.int]", "builtins.dict[builtins.str, builtins.int]", "app.models.User", "builtins.bytes"}
	rec := func(i int, calls uint64) aggregate.Record {
		fn := i / 4 // 4 shapes per function
		f := aggregate.Function{Module: fmt.Sprintf("app.mod%03d", fn%500), Qualname: fmt.Sprintf("Class%d.method_%d", fn%37, fn), File: fmt.Sprintf("/srv/app/mod%03d.py", fn%500), Line: fn % 1000}
		caller := &aggregate.Function{Module: fmt.Sprintf("client%d.views", i%13), Qualname: fmt.Sprintf("handler_%d", i%101), File: "/srv/client/views.py", Line: 10}
		return aggregate.Record{
			Function: f, Caller: caller,
			Params: []aggregate.Param{
				{Name: "self", Kind: aggregate.KindPositionalOrKeyword, Type: "app.models.User"},
				{Name: "a", Kind: aggregate.KindPositionalOrKeyword, Type: types[i%len(types)]},
				{Name: "b", Kind: aggregate.KindPositionalOrKeyword, Type: types[(i/3)%len(types)]},
				{Name: "opts", Kind: aggregate.KindKeywordOnly, Type: types[(i/7)%len(types)]},
			},
			Calls: calls, Python: "3.11",
		}
	}
	gen := time.Now()
	var paths []string
	for s := 0; s < nSnap; s++ {
		snap := &aggregate.Snapshot{Header: aggregate.Header{Created: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Host: fmt.Sprintf("host-%d", s%10), Mode: aggregate.ModeExact,
			Interpreters: []aggregate.Interpreter{{PID: 1000 + s, Python: "3.11.2", Path: "/usr/bin/python3.11"}}}}
		snap.Records = make([]aggregate.Record, nRec)
		start := s * (pool / nSnap)
		for i := range snap.Records {
			snap.Records[i] = rec((start+i)%pool, uint64(1+i%97))
		}
		p := filepath.Join(dir, fmt.Sprintf("s%03d.recapi.zst", s))
		if err := aggregate.WriteFile(p, snap); err != nil {
			return err
		}
		paths = append(paths, p)
	}
	var size int64
	for _, p := range paths {
		st, _ := os.Stat(p)
		size += st.Size()
	}
	fmt.Printf("machine: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Printf("generated %d snapshots x %d records (pool %d distinct, %.0f MB compressed) in %s\n", nSnap, nRec, pool, float64(size)/1e6, time.Since(gen).Round(time.Millisecond))

	out := filepath.Join(dir, "merged.recapi.zst")
	wall, rss, err := measure(recapi, append([]string{"merge", "-o", out}, paths...)...)
	if err != nil {
		return err
	}
	total := float64(nSnap * nRec)
	fmt.Printf("merge: %d records in %s = %.2f M records/s, peak RSS %d MB\n", nSnap*nRec, wall.Round(time.Millisecond), total/wall.Seconds()/1e6, rss>>20)

	// Stubs: nFunc functions, 2 records each.
	snap := &aggregate.Snapshot{Header: aggregate.Header{Created: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Host: "h", Mode: aggregate.ModeExact}}
	for i := 0; i < nFunc*4; i += 2 {
		snap.Records = append(snap.Records, rec(i, 5), rec(i+1, 3))
	}
	sp := filepath.Join(dir, "funcs.recapi.zst")
	if err := aggregate.WriteFile(sp, snap); err != nil {
		return err
	}
	wall, rss, err = measure(recapi, "stub", "-o", filepath.Join(dir, "stubs"), sp)
	if err != nil {
		return err
	}
	fmt.Printf("stub: %d functions (%d records) in %s, peak RSS %d MB\n", nFunc, len(snap.Records), wall.Round(time.Millisecond), rss>>20)
	return nil
}

// measure runs recapi with args and returns its wall time and peak RSS in
// bytes.
func measure(recapi string, args ...string) (time.Duration, int64, error) {
	cmd := exec.Command(recapi, args...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("run %s %s: %w", recapi, args[0], err)
	}
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return wall, ru.Maxrss * 1024, nil
}
