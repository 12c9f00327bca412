package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/internal/table"
)

// defaultTop is how many functions show lists unless told otherwise.
const defaultTop = 20

// showConfig is what "recapi show" was asked to do.
type showConfig struct {
	JSON   bool
	Top    int
	Module string
	Sort   string
	Path   string
}

// Validate checks what the flag package cannot.
func (c showConfig) Validate() error {
	if c.Sort != "calls" && c.Sort != "name" {
		return fmt.Errorf("-sort %q: want calls or name", c.Sort)
	}
	if c.Top < 0 {
		return fmt.Errorf("-top %d: want 0 (all) or more", c.Top)
	}
	return nil
}

func runShow(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("show", "[-json] [-top N] [-module PREFIX] [-sort calls|name] [SRC]",
		`Show the functions in SRC (a .recapi.zst snapshot written by recapid -o or
-snapshot-dir, or a store), most called first: how often each was called, how many
distinct signatures it was called with, and the most common one. Types are
shown without "builtins."; "-> yields T" is what a generator or coroutine
yielded. Next to the calls: how often generators and coroutines were resumed
and how many of their objects were created (calls count their starts), and
how many calls and resumptions raised. A store is sqlite:PATH or
postgres://USER@HOST/DB; without SRC, show reads the default store,
sqlite:./recapi.db.`, stderr)
	var c showConfig
	fs.BoolVar(&c.JSON, "json", false, "print the header and every record as JSON instead of a table")
	fs.IntVar(&c.Top, "top", defaultTop, "show the `N` most called functions, 0 for all (table only)")
	fs.StringVar(&c.Sort, "sort", "calls", "order of the table: `calls` (most first) or name (module.qualname)")
	fs.StringVar(&c.Module, "module", "", "only functions in module `PREFIX` or its submodules (\"app\" matches app and app.views)")
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	switch fs.NArg() {
	case 0:
	case 1:
		c.Path = fs.Arg(0)
	default:
		return usageError(fs, stderr, "want one SNAPSHOT, got %d arguments", fs.NArg())
	}
	if err := c.Validate(); err != nil {
		return usageError(fs, stderr, "%v", err)
	}

	s, err := readSource(c.Path)
	if err != nil {
		fmt.Fprintf(stderr, "recapi show: %v\n", err)
		return exitError
	}
	s.Records = filterModule(s.Records, c.Module)
	if c.JSON {
		err = writeJSON(stdout, s)
	} else {
		sums := aggregate.Summarize(s.Records)
		if c.Sort == "name" {
			slices.SortStableFunc(sums, func(a, b aggregate.FunctionSummary) int {
				return cmp.Compare(a.Function.Name(), b.Function.Name())
			})
		}
		if err = writeHeader(stdout, s); err == nil {
			err = table.Write(stdout, sums, c.Top)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "recapi show: write output: %v\n", err)
		return exitError
	}
	return exitOK
}

// lossStats are the snapshot stats that mean something was not recorded in
// full, with what to tell the reader.
var lossStats = []struct{ key, what string }{
	{"counts_map_full", "calls not counted: the kernel count map was full (drain more often with --interval)"},
	{"calls_skipped_preempted", "calls not counted: the kernel preempted a BPF program run and another met it on the same CPU (a preempt=full or RT kernel)"},
	{"events_lost", "names refused by a full ring buffer, each sent again at its shape's next call (a larger recapid --event-buffer avoids the retries)"},
	{"frames_unreadable", "calls whose frame could not be read"},
	{"code_unreadable", "calls whose code object could not be read"},
	{"signatures_unknown", "call shapes recorded without argument types: their descriptions never arrived (left out of stubs and API reports)"},
	{"values_unknown", "returned values recorded without type: their descriptions never arrived"},
	{"resume_oparg_unknown", "RESUME instructions not decoded (start/resumption guessed)"},
}

// maxHeaderInterpreters bounds the interpreters listed in the header of a
// merged fleet snapshot.
const maxHeaderInterpreters = 5

// writeHeader prints what the snapshot is, as "#" comment lines: when and
// where it was recorded, the interpreters, and anything not recorded in full.
func writeHeader(w io.Writer, s *aggregate.Snapshot) error {
	h := s.Header
	var b strings.Builder
	when := "at an unknown time"
	if !h.Created.IsZero() {
		when = h.Created.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	host := h.Host
	if host == "" {
		host = "an unknown host"
	}
	fmt.Fprintf(&b, "# recorded %s on %s, mode %s: %d call shapes from %d interpreter(s)\n", when, host, h.Mode, len(s.Records), len(h.Interpreters))
	for i, in := range h.Interpreters {
		if i == maxHeaderInterpreters {
			fmt.Fprintf(&b, "#   (+%d more)\n", len(h.Interpreters)-i)
			break
		}
		fmt.Fprintf(&b, "#   pid %d  CPython %s  %s", in.PID, in.Python, in.Path)
		if len(in.Command) > 0 {
			fmt.Fprintf(&b, "  (%s)", strings.Join(in.Command, " "))
		}
		b.WriteByte('\n')
	}
	for _, in := range h.Interpreters {
		if in.Unrecorded != "" {
			fmt.Fprintf(&b, "# warning: pid %d (CPython %s): not recorded: %s\n", in.PID, in.Python, in.Unrecorded)
		}
	}
	for _, l := range lossStats {
		if n := h.Stats[l.key]; n > 0 {
			fmt.Fprintf(&b, "# warning: %d %s\n", n, l.what)
		}
	}
	partial := 0
	for _, r := range s.Records {
		if r.Partial {
			partial++
		}
	}
	if partial > 0 {
		fmt.Fprintf(&b, "# warning: %d call shapes have partial names (read in kernel space only; the process exited first): their types are left out of stubs and API reports\n", partial)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// filterModule keeps the records of functions in module prefix or below it.
// A prefix ending in "." matches any module that starts with it.
func filterModule(rs []aggregate.Record, prefix string) []aggregate.Record {
	if prefix == "" {
		return rs
	}
	out := rs[:0]
	for _, r := range rs {
		if inModule(r.Function.Module, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func inModule(module, prefix string) bool {
	if strings.HasSuffix(prefix, ".") {
		return strings.HasPrefix(module, prefix)
	}
	return module == prefix || strings.HasPrefix(module, prefix+".")
}

// writeJSON prints s as one indented JSON object {"header": ..., "records":
// [...]}, records in aggregate order, so two runs on the same snapshot (or
// on two snapshots of the same records) print the same text.
func writeJSON(w io.Writer, s *aggregate.Snapshot) error {
	if s.Header.Interpreters == nil {
		s.Header.Interpreters = []aggregate.Interpreter{}
	}
	if s.Records == nil {
		s.Records = []aggregate.Record{}
	}
	for i := range s.Records {
		if s.Records[i].Params == nil {
			s.Records[i].Params = []aggregate.Param{}
		}
	}
	aggregate.SortRecords(s.Records)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(s)
}
