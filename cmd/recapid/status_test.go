package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/tracer"
)

// The status line counts calls across drains, their rate over the last
// interval, and mentions waiting names, retries and losses only when there
// are some.
func TestStatusLine(t *testing.T) {
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s := &statusLine{start: start}
	recs := []aggregate.Record{{Calls: 1500}, {Calls: 200, Resumptions: 300}}
	assert.Equal(t, "recapid 1s: 1 process, 2,000 calls (2,000/s), 1 call shape",
		s.line(recs, tracer.Status{Processes: 1, Shapes: 1}, start.Add(time.Second)))
	assert.Equal(t, "recapid 3s: 2 processes, 1,002,000 calls (500,000/s), 12,345 call shapes, 7 waiting for names, 3 names sent again, 4 lost",
		s.line([]aggregate.Record{{Calls: 1000000}}, tracer.Status{Processes: 2, Shapes: 12345, Waiting: 7, Resent: 3, Lost: 4}, start.Add(3*time.Second)))
}

// A log line written while a status line is shown erases it first and
// draws it again below; finish keeps the last one on a line of its own.
func TestConsoleKeepsLogAndStatusApart(t *testing.T) {
	var out bytes.Buffer
	c := &console{w: &out}
	_, _ = c.Write([]byte("before\n"))
	c.show("status 1")
	_, _ = c.Write([]byte("a log line\n"))
	c.show("status 2")
	c.finish()
	_, _ = c.Write([]byte("after\n"))
	assert.Equal(t, "before\n\r\033[Kstatus 1\r\033[Ka log line\nstatus 1\r\033[Kstatus 2\nafter\n", out.String())
}

func TestShowStatus(t *testing.T) {
	for _, tt := range []struct {
		status   string
		command  []string
		terminal bool
		want     bool
	}{
		{"auto", nil, true, true},
		{"auto", nil, false, false},
		{"auto", []string{"python3"}, true, false},
		{"on", []string{"python3"}, true, true},
		{"on", nil, false, false},
		{"off", nil, true, false},
	} {
		c := &Config{Status: tt.status, Command: tt.command}
		assert.Equal(t, tt.want, c.showStatus(tt.terminal), "%+v", tt)
	}
}
