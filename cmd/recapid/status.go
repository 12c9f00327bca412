package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/tracer"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// console is recapid's stderr on a terminal: log lines, and below them one
// status line redrawn after every drain. A log line first erases the status
// line, so that the two never run together.
type console struct {
	mu     sync.Mutex
	w      io.Writer
	status string // drawn last; "" when none is shown
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != "" {
		if _, err := io.WriteString(c.w, "\r\033[K"); err != nil {
			return 0, err
		}
	}
	n, err := c.w.Write(p)
	if err == nil && c.status != "" {
		_, err = io.WriteString(c.w, c.status)
	}
	return n, err
}

// show replaces the status line with s ("" erases it).
func (c *console) show(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, "\r\033[K"+s)
	c.status = s
}

// finish leaves the status line as it is, on a line of its own.
func (c *console) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != "" {
		_, _ = io.WriteString(c.w, "\n")
		c.status = ""
	}
}

// statusLine formats the status line from what each drain returned.
type statusLine struct {
	start time.Time
	last  time.Time
	calls uint64 // calls recorded so far
}

// line adds the calls of one drain's records and returns the status line
// for now.
func (s *statusLine) line(recs []aggregate.Record, st tracer.Status, now time.Time) string {
	var calls uint64
	for i := range recs {
		calls += recs[i].Calls + recs[i].Resumptions
	}
	s.calls += calls
	since := s.last
	if since.IsZero() {
		since = s.start
	}
	rate := 0.0
	if d := now.Sub(since).Seconds(); d > 0 {
		rate = float64(calls) / d
	}
	s.last = now
	var b strings.Builder
	fmt.Fprintf(&b, "recapid %s: %s %s, %s calls (%s/s), %s call %s",
		now.Sub(s.start).Round(time.Second), count(uint64(st.Processes)), plural(st.Processes, "process", "processes"),
		count(s.calls), count(uint64(rate)), count(uint64(st.Shapes)), plural(st.Shapes, "shape", "shapes"))
	if st.Waiting > 0 {
		fmt.Fprintf(&b, ", %s waiting for names", count(uint64(st.Waiting)))
	}
	if st.Resent > 0 {
		fmt.Fprintf(&b, ", %s names sent again", count(st.Resent))
	}
	if st.Lost > 0 {
		fmt.Fprintf(&b, ", %s lost", count(st.Lost))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// count writes n with thousands separators.
func count(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
