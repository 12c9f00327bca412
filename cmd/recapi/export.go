package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/store"
)

// readSource reads SRC, a snapshot file or a store URL; "" is the default
// store (store.DefaultURL), the one recapid writes without --store.
func readSource(src string) (*aggregate.Snapshot, error) {
	if src == "" {
		src = store.DefaultURL
	}
	if !store.IsURL(src) {
		return aggregate.ReadFile(src)
	}
	if path, ok := strings.CutPrefix(src, "sqlite:"); ok {
		// Opening creates the file: do not leave an empty store behind a
		// typo, and say what to give instead.
		if _, err := os.Stat(path); err != nil {
			if src == store.DefaultURL {
				return nil, fmt.Errorf("no snapshot given and no store at %s: give a .recapi.zst file or a store URL, or run recapid here first", path)
			}
			return nil, fmt.Errorf("read store %s: %w", src, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, src)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	es, err := st.Filter(ctx, store.Query{})
	if err != nil {
		return nil, err
	}
	s := &aggregate.Snapshot{Header: aggregate.Header{Snapshot: aggregate.SnapshotVersion, Host: store.Redact(src), Mode: aggregate.ModeExact}}
	for _, e := range es {
		if e.LastSeen.After(s.Header.Created) {
			s.Header.Created = e.LastSeen.Truncate(time.Second)
		}
	}
	s.Records = store.Records(es)
	aggregate.SortRecords(s.Records)
	return s, nil
}

// exportConfig is what "recapi export" was asked to do.
type exportConfig struct {
	Src    string
	Out    string
	Format string
	Module string
}

// Validate checks what the flag package cannot.
func (c exportConfig) Validate() error {
	switch {
	case c.Out == "":
		return errors.New("missing -o FILE")
	case c.Format != "snapshot" && c.Format != "monkeytype":
		return fmt.Errorf("-format %q: use snapshot or monkeytype", c.Format)
	case store.IsURL(c.Out):
		return fmt.Errorf("-o %s is a store: use recapi import to add a snapshot to a store", c.Out)
	}
	return nil
}

func runExport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("export", "[-format snapshot|monkeytype] [-module PREFIX] -o FILE [SRC]",
		`Write what SRC holds to FILE. SRC is a snapshot file or a store URL
(sqlite:PATH, postgres://USER@HOST/DB); without it, the default store
`+store.DefaultURL+`.

-format snapshot (the default) writes a .recapi.zst snapshot. -format
monkeytype writes an SQLite file in MonkeyType's own format (table
monkeytype_call_traces, one row per distinct call shape), so that
"MONKEYTYPE_TRACE_DB=FILE monkeytype list-modules", "monkeytype stub MODULE"
and "monkeytype apply MODULE" use what recapid recorded. FILE is written to
a temporary name, synced and renamed: readers never see half of it.`, stderr)
	c := exportConfig{Format: "snapshot"}
	fs.StringVar(&c.Out, "o", "", "write to `FILE`")
	fs.StringVar(&c.Format, "format", "snapshot", "output format: snapshot or monkeytype")
	fs.StringVar(&c.Module, "module", "", "only functions in module `PREFIX` or its submodules")
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	switch fs.NArg() {
	case 0:
	case 1:
		c.Src = fs.Arg(0)
	default:
		return usageError(fs, stderr, "want at most one SRC, got %d arguments", fs.NArg())
	}
	if err := c.Validate(); err != nil {
		return usageError(fs, stderr, "%v", err)
	}
	s, err := readSource(c.Src)
	if err != nil {
		fmt.Fprintf(stderr, "recapi export: %v\n", err)
		return exitError
	}
	s.Records = filterModule(s.Records, c.Module)
	if c.Format == "monkeytype" {
		err = writeMonkeyType(c.Out, s)
	} else {
		err = aggregate.WriteFile(c.Out, s)
	}
	if err != nil {
		fmt.Fprintf(stderr, "recapi export: %v\n", err)
		return exitError
	}
	return exitOK
}
