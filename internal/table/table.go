// Package table renders aggregate summaries for people at a terminal: the
// per-function table that recapi show prints and recapid prints at exit, and
// the note of resumptions, creations and raises that follows a call count
// there and in stub comments.
package table

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/recapi/recapi/aggregate"
)

// Write writes the first top summaries (all when top <= 0) as an aligned
// text table with the columns CALLS, FUNCTION (module.qualname, with its code
// kind when it is not a plain function), SIGNATURES and MOST COMMON SIGNATURE
// (types without "builtins."). The CALLS column also shows, when there are
// any, the resumptions of generators and coroutines ("+N resumed"), the
// objects they created ("N created") and the calls and resumptions that
// raised ("N raised"): "40 (+4000 resumed, 40 created, 2 raised)". Control
// characters in names are escaped, so a snapshot from elsewhere cannot send
// escape sequences to a terminal.
func Write(w io.Writer, s []aggregate.FunctionSummary, top int) error {
	rest := 0
	if top > 0 && len(s) > top {
		rest = len(s) - top
		s = s[:top]
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CALLS\tFUNCTION\tSIGNATURES\tMOST COMMON SIGNATURE")
	for _, f := range s {
		calls := strconv.FormatUint(f.Calls, 10) + CountsNote(f.Resumptions, f.Created, f.Raised)
		name := f.Function.Name()
		if f.CodeKind != "" {
			name += " [" + f.CodeKind + "]"
		}
		sig := "-"
		if len(f.Top) > 0 {
			sig = aggregate.Signature(f.Top[0], true)
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

// printable escapes non-printable runes (tabs, escape sequences) Go-style.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// CountsNote is what follows a call count in tables and stub comments: the
// resumptions, creations and raises, " (+3 resumed, 2 created, 1 raised)",
// or "" when all are zero.
func CountsNote(resumptions, created, raised uint64) string {
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
