package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/store"
)

// readInputs merges the snapshots and stores at srcs; none means the
// default store (./recapi.db). An error names the file or store and what is
// wrong with it.
func readInputs(srcs []string) (*aggregate.Snapshot, error) {
	if len(srcs) == 0 {
		return readSource("")
	}
	m := aggregate.NewMerger()
	for _, p := range srcs {
		if store.IsURL(p) {
			s, err := readSource(p)
			if err != nil {
				return nil, err
			}
			m.Add(s)
			continue
		}
		if err := m.AddFile(p); err != nil {
			return nil, err
		}
	}
	return m.Snapshot(), nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	if s == "" {
		return errors.New("empty value")
	}
	*l = append(*l, s)
	return nil
}

func runMerge(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("merge", "-o OUT SNAPSHOT...",
		`Merge snapshots (from other processes, hosts or days) into one: records
with the same function, caller and types add up their counts. The result is
the same whatever the order of the inputs: the latest creation time, every
host and interpreter, stats summed. OUT is written atomically.`, stderr)
	var out string
	fs.StringVar(&out, "o", "", "write the merged snapshot to `FILE` (.recapi.zst)")
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(fs, stderr, "missing SNAPSHOT arguments")
	}
	if out == "" {
		return usageError(fs, stderr, "missing -o OUT")
	}
	s, err := readInputs(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "recapi merge: %v\n", err)
		return exitError
	}
	if err := aggregate.WriteFile(out, s); err != nil {
		fmt.Fprintf(stderr, "recapi merge: %v\n", err)
		return exitError
	}
	return exitOK
}
