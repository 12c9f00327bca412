package aggregate

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
)

// WriteTable writes the first top summaries (all when top <= 0) as the text
// table of table.Write (package internal/table).
//
// Deprecated: use table.Write. This copy of it is here only because recapid
// (daemon/main.go) still prints its summary at exit with WriteTable, and
// internal/table imports aggregate, so WriteTable cannot call it. Delete this
// file once daemon calls table.Write.
func WriteTable(w io.Writer, s []FunctionSummary, top int) error {
	rest := 0
	if top > 0 && len(s) > top {
		rest = len(s) - top
		s = s[:top]
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CALLS\tFUNCTION\tSIGNATURES\tMOST COMMON SIGNATURE")
	for _, f := range s {
		calls := strconv.FormatUint(f.Calls, 10) + countsNote(f.Resumptions, f.Created, f.Raised)
		name := f.Function.Name()
		if f.CodeKind != "" {
			name += " [" + f.CodeKind + "]"
		}
		sig := "-"
		if len(f.Top) > 0 {
			sig = Signature(f.Top[0], true)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", calls, printable(name), f.Signatures, printable(sig))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if rest > 0 {
		noun := "functions"
		if rest == 1 {
			noun = "function"
		}
		if _, err := fmt.Fprintf(w, "(%d more %s not shown)\n", rest, noun); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	return nil
}

// printable is the escaping of table.Write.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// countsNote is table.CountsNote.
func countsNote(resumptions, created, raised uint64) string {
	var extra []string
	if resumptions > 0 {
		extra = append(extra, fmt.Sprintf("+%d resumed", resumptions))
	}
	if created > 0 {
		extra = append(extra, fmt.Sprintf("%d created", created))
	}
	if raised > 0 {
		extra = append(extra, fmt.Sprintf("%d raised", raised))
	}
	if len(extra) == 0 {
		return ""
	}
	return " (" + strings.Join(extra, ", ") + ")"
}
