package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/recapi/recapi/aggregate"
)

// sigCounts are the counts shown next to a signature.
type sigCounts struct{ calls, raised, created uint64 }

// String is "N calls", with the calls that raised and the generator or
// coroutine objects created when there are any.
func (c sigCounts) String() string {
	s := fmt.Sprintf("%d calls", c.calls)
	if c.raised > 0 {
		s += fmt.Sprintf(", %d raised", c.raised)
	}
	if c.created > 0 {
		s += fmt.Sprintf(", %d created", c.created)
	}
	return s
}

// signatureSet maps each function to its signatures (with what they
// returned or yielded) and their counts.
func signatureSet(s *aggregate.Snapshot) map[string]map[string]sigCounts {
	out := make(map[string]map[string]sigCounts)
	for _, f := range aggregate.Summarize(s.Records) {
		sigs := make(map[string]sigCounts)
		for _, r := range f.Top {
			k := aggregate.Signature(r, true)
			c := sigs[k]
			c.calls += r.Calls
			c.raised += r.Raised
			c.created += r.Created
			sigs[k] = c
		}
		out[f.Function.Name()] = sigs
	}
	return out
}

func runDiff(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("diff", "OLD NEW",
		`Show the functions and signatures that appeared in NEW ("+") or disappeared
from OLD ("-"), sorted by function name. A signature includes what the calls
returned ("-> int") or, for generators and coroutines, yielded ("-> yields
int"); calls that raised return nothing, so they have a signature of their
own, and their count is shown. Functions in both with the same signatures
are not shown. Exit status 0 either way.`, stderr)
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 2 {
		return usageError(fs, stderr, "want OLD and NEW snapshots, got %d arguments", fs.NArg())
	}
	var snaps [2]*aggregate.Snapshot
	for i, p := range fs.Args() {
		s, err := aggregate.ReadFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "recapi diff: %v\n", err)
			return exitError
		}
		snaps[i] = s
	}
	oldSet, newSet := signatureSet(snaps[0]), signatureSet(snaps[1])
	var names []string
	for n := range oldSet {
		names = append(names, n)
	}
	for n := range newSet {
		if _, ok := oldSet[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var fnAdded, fnRemoved, sigAdded, sigRemoved int
	for _, n := range names {
		o, inOld := oldSet[n]
		nw, inNew := newSet[n]
		switch {
		case !inOld:
			fnAdded++
			fmt.Fprintf(stdout, "+ %s\n", printable(n))
		case !inNew:
			fnRemoved++
			fmt.Fprintf(stdout, "- %s\n", printable(n))
		}
		var lines []string
		for sig, c := range o {
			if _, ok := nw[sig]; !ok {
				sigRemoved++
				lines = append(lines, fmt.Sprintf("    - %s  (%s)", printable(sig), c))
			}
		}
		for sig, c := range nw {
			if _, ok := o[sig]; !ok {
				sigAdded++
				lines = append(lines, fmt.Sprintf("    + %s  (%s)", printable(sig), c))
			}
		}
		if len(lines) == 0 {
			continue
		}
		if inOld && inNew {
			fmt.Fprintf(stdout, "~ %s\n", printable(n))
		}
		slices.SortFunc(lines, func(a, b string) int {
			// By signature, then - before +.
			if c := compareStr(a[6:], b[6:]); c != 0 {
				return c
			}
			return compareStr(b[4:6], a[4:6])
		})
		for _, l := range lines {
			fmt.Fprintln(stdout, l)
		}
	}
	fmt.Fprintf(stdout, "%d functions added, %d removed; %d signatures added, %d removed\n", fnAdded, fnRemoved, sigAdded, sigRemoved)
	return exitOK
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// printable escapes control characters, so a snapshot from elsewhere cannot
// send escape sequences to a terminal.
func printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			q := fmt.Sprintf("%q", s)
			return q[1 : len(q)-1]
		}
	}
	return s
}
