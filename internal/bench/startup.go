package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recapi/recapi/internal/testutil"
)

// startupPhases are the steps recapid's "startup" and "shutdown" debug
// lines report (cmd/recapid/phases.go), in the order of the table; steps a
// version of recapid does not report are left out.
var startupPhases = []string{
	"open_store", "open_cache", "bpf_maps", "verify_on_call", "verify_on_return", "verify_on_eval_return", "bpf_load",
	"launch", "analyze", "wait_bpf", "attach", "outcome_attach", "resume", "startup_total",
	"run", "detach", "drain", "snapshot", "close", "write", "shutdown_total",
}

// startup measures how much longer `python -c pass` takes under recapid
// (launched, default flags, writing to a store in a fresh directory) than
// alone, and where recapid spends the time, per interpreter: reps runs of
// each, alternating, reporting the minimum and median. Each binary of
// recapids (the one measured, then baselines to compare it with) runs in
// turn with the others, so that they meet the same load. only, if not
// empty, names the interpreters to measure.
func startup(recapids []string, reps int, only map[string]bool) error {
	dir, err := os.MkdirTemp("", "recapi-startup")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("start-up: `recapid -- PYTHON -c pass` against `PYTHON -c pass`, %d runs each, alternating; load average before: %s\n\n", reps, loadAvg())
	fmt.Println("| interpreter | recapid | untraced min / median ms | traced min / median ms | overhead (median) ms |")
	fmt.Println("|---|---|---|---|---|")
	tb := &testing.T{}
	type row struct {
		name   string
		phases map[string][]time.Duration
	}
	var rows []row
	for _, py := range testutil.Interpreters(tb) {
		if len(only) > 0 && !only[py.Name] {
			continue
		}
		argv := py.Command("-c", "pass")
		var plain []time.Duration
		traced := make([][]time.Duration, len(recapids))
		phases := make([]map[string][]time.Duration, len(recapids))
		for b := range recapids {
			phases[b] = map[string][]time.Duration{}
		}
		for i := 0; i < reps; i++ {
			d, _, err := timed(dir, argv)
			if err != nil {
				return err
			}
			plain = append(plain, d)
			for b, recapid := range recapids {
				d, stderr, err := timed(dir, append([]string{recapid, "--summary=false", "--log-level=debug", "--"}, argv...))
				if err != nil {
					return fmt.Errorf("%w: %s", err, stderr)
				}
				traced[b] = append(traced[b], d)
				for k, v := range parsePhases(stderr) {
					phases[b][k] = append(phases[b][k], v)
				}
			}
		}
		pm := medianDur(plain)
		for b, recapid := range recapids {
			tm := medianDur(traced[b])
			fmt.Printf("| %s | %s | %s / %s | %s / %s | %s |\n", py.Name, recapid, ms(slices.Min(plain)), ms(pm), ms(slices.Min(traced[b])), ms(tm), ms(tm-pm))
			name := py.Name
			if len(recapids) > 1 {
				name += " " + recapid
			}
			rows = append(rows, row{name, phases[b]})
		}
	}
	fmt.Printf("\nrecapid's own steps, median ms (cmd/recapid/phases.go; concurrent steps overlap, *_total is since recapid started):\n\n")
	var cols []string
	for _, p := range startupPhases {
		for _, r := range rows {
			if len(r.phases[p]) > 0 {
				cols = append(cols, p)
				break
			}
		}
	}
	fmt.Println("| interpreter | " + strings.Join(cols, " | ") + " |")
	fmt.Println("|---|" + strings.Repeat("---|", len(cols)))
	for _, r := range rows {
		line := "| " + r.name + " |"
		for _, c := range cols {
			if v := r.phases[c]; len(v) > 0 {
				line += " " + ms(medianDur(v)) + " |"
			} else {
				line += " |"
			}
		}
		fmt.Println(line)
	}
	fmt.Printf("\nload average after: %s\n\n", loadAvg())
	return nil
}

// timed runs argv in dir and returns its wall time and its stderr.
func timed(dir string, argv []string) (time.Duration, []byte, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, stderr.Bytes(), fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return d, stderr.Bytes(), nil
}

// parsePhases reads the durations of recapid's startup and shutdown lines
// (log/slog text format); each line's total becomes startup_total or
// shutdown_total.
func parsePhases(stderr []byte) map[string]time.Duration {
	out := map[string]time.Duration{}
	sc := bufio.NewScanner(bytes.NewReader(stderr))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var msg string
		for _, kv := range f {
			if v, ok := strings.CutPrefix(kv, "msg="); ok {
				msg = v
			}
		}
		if msg != "startup" && msg != "shutdown" {
			continue
		}
		for _, kv := range f {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				continue
			}
			if k == "total" {
				k = msg + "_total"
			}
			out[k] = d
		}
	}
	return out
}

func medianDur(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
