package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/recapi/recapi/store"
)

func runImport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("import", "[-store URL] SNAPSHOT...",
		`Add the records of each SNAPSHOT (.recapi.zst) to a store: counts of
records already there add up, so importing the same snapshot twice counts
it twice. Each snapshot is added in one transaction: all of it or nothing.`, stderr)
	url := fs.String("store", store.DefaultURL, "the store to add to: sqlite:PATH or postgres://USER@HOST/DB")
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(fs, stderr, "missing SNAPSHOT arguments")
	}
	if !store.IsURL(*url) {
		return usageError(fs, stderr, "-store %q: use sqlite:PATH or postgres://USER@HOST/DB", *url)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *url)
	if err != nil {
		fmt.Fprintf(stderr, "recapi import: %v\n", err)
		return exitError
	}
	defer st.Close()
	for _, p := range fs.Args() {
		s, err := readSource(p)
		if err != nil {
			fmt.Fprintf(stderr, "recapi import: %v\n", err)
			return exitError
		}
		seen := s.Header.Created
		if seen.IsZero() {
			seen = time.Now()
		}
		if err := st.Add(ctx, s.Records, seen); err != nil {
			fmt.Fprintf(stderr, "recapi import: %s: %v\n", p, err)
			return exitError
		}
		fmt.Fprintf(stderr, "recapi import: added %d records from %s to %s\n", len(s.Records), p, store.Redact(*url))
	}
	return exitOK
}
