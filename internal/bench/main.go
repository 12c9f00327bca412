// Command bench measures what recapid costs a traced process on every
// CPython on the machine. Start-up: how much longer `python -c pass` takes
// under recapid, and recapid's own steps (see startup.go). Per call: a
// call-heavy loop (testdata/workloads/bench.py) runs untraced and under
// recapid, and the difference in loop time divided by the calls is the cost
// per call. The kernel's BPF run-time accounting splits that cost into the
// BPF program itself and the rest (the breakpoint trap and the uprobe
// dispatch). Run as root: make bench.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/internal/testutil"
)

func main() {
	recapid := flag.String("recapid", "bin/recapid", "recapid binary")
	calls := flag.Int("calls", 1000000, "calls of target() per run")
	reps := flag.Int("reps", 5, "runs per configuration; the median is reported")
	startupReps := flag.Int("startup-reps", 10, "runs of the start-up measurement per interpreter")
	baseline := flag.String("baseline", "", "another recapid binary whose start-up is measured in turn with -recapid's, to compare under the same load")
	pythons := flag.String("python", "", "measure only these interpreters (comma-separated names, e.g. debian-3.11)")
	what := flag.String("what", "all", "what to measure: startup, calls or all")
	flag.Parse()
	only := map[string]bool{}
	for _, n := range strings.Split(*pythons, ",") {
		if n != "" {
			only[n] = true
		}
	}
	var err error
	if *what == "all" || *what == "startup" {
		bins := []string{*recapid}
		if *baseline != "" {
			bins = append(bins, *baseline)
		}
		for i := range bins {
			if bins[i], err = filepath.Abs(bins[i]); err != nil {
				break
			}
		}
		if err == nil {
			err = startup(bins, *startupReps, only)
		}
	}
	if err == nil && (*what == "all" || *what == "calls") {
		err = run(*recapid, *calls, *reps, only)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// loopSeconds runs bench.py and returns the loop time it reports.
func loopSeconds(argv []string) (float64, error) {
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	var r struct {
		Seconds float64 `json:"seconds"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return 0, fmt.Errorf("parse bench.py output %q: %w", out, err)
	}
	return r.Seconds, nil
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// config is one way of running bench.py under recapid.
type config struct {
	name       string
	containers bool     // bench.py's container arguments
	flags      []string // recapid flags
}

var configs = []config{
	{name: "calls (--returns=off)", flags: []string{"--returns=off"}},
	{name: "calls + returns (--returns=always)", flags: []string{"--returns=always"}},
	{name: "container arguments (--returns=off)", containers: true, flags: []string{"--returns=off"}},
}

func run(recapid string, calls, reps int, only map[string]bool) error {
	tmp, err := os.MkdirTemp("", "recapi-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Printf("calls per run: %d, median of %d runs; cost = traced - untraced loop time per call;\n", calls, reps)
	fmt.Printf("BPF = the programs' own run time per call (kernel bpf_stats), trap = cost - BPF\n\n")
	head := "| interpreter |"
	sep := "|---|"
	for _, c := range configs {
		head += fmt.Sprintf(" %s: untraced / cost / BPF / trap ns |", c.name)
		sep += "---|"
	}
	fmt.Println(head)
	fmt.Println(sep)
	tb := &testing.T{}
	for _, py := range testutil.Interpreters(tb) {
		if len(only) > 0 && !only[py.Name] {
			continue
		}
		script := py.Stage(tb, "workloads/bench.py")
		row := "| " + py.Name + " |"
		for _, c := range configs {
			argv := py.Command(script, fmt.Sprint(calls))
			if c.containers {
				argv = append(argv, "containers")
			}
			base := append([]string{recapid, "--summary=false", "--log-level=warn"}, c.flags...)
			var plain, traced, prog []float64
			for i := 0; i < reps; i++ {
				s, err := loopSeconds(argv)
				if err != nil {
					return err
				}
				plain = append(plain, s)
				s, err = loopSeconds(append(append(append([]string(nil), base...), "--"), argv...))
				if err != nil {
					return err
				}
				traced = append(traced, s)
				// A separate run measures the programs' own time: the
				// kernel's accounting adds two clock reads per run, kept
				// out of the cost.
				snap := filepath.Join(tmp, "b.recapi.zst")
				if _, err := loopSeconds(append(append(append([]string(nil), base...), "--bpf-stats", "-o", snap, "--"), argv...)); err != nil {
					return err
				}
				sn, err := aggregate.ReadFile(snap)
				if err != nil {
					return err
				}
				if ns := sn.Header.Stats["bpf_run_ns"]; ns > 0 {
					prog = append(prog, float64(ns)/float64(calls))
				}
			}
			p, t := median(plain)*1e9/float64(calls), median(traced)*1e9/float64(calls)
			bp := 0.0
			if len(prog) > 0 {
				bp = median(prog)
			}
			row += fmt.Sprintf(" %.0f / %.0f / %.0f / %.0f |", p, t-p, bp, t-p-bp)
		}
		fmt.Println(row)
	}
	return nil
}
