package main

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// phases records how long the steps of recapid's start-up and exit take,
// for one Debug line each ("startup", "shutdown"), which internal/bench
// reads. Steps that run concurrently each report their own duration; total
// is the time since recapid started.
type phases struct {
	start time.Time
	mu    sync.Mutex
	attrs []slog.Attr
}

func newPhases(start time.Time) *phases { return &phases{start: start} }

// add records a step that took d. Safe for concurrent use; a nil *phases
// records nothing.
func (p *phases) add(name string, d time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.attrs = append(p.attrs, slog.Duration(name, d))
	p.mu.Unlock()
}

// since records the step that began at t0 and ended now, and returns now,
// where the next step begins.
func (p *phases) since(name string, t0 time.Time) time.Time {
	now := time.Now()
	p.add(name, now.Sub(t0))
	return now
}

// flush logs the steps recorded since the last flush as one line, with the
// time since start as total.
func (p *phases) flush(log *slog.Logger, msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	attrs := append(p.attrs, slog.Duration("total", time.Since(p.start)))
	p.attrs = nil
	p.mu.Unlock()
	log.LogAttrs(context.Background(), slog.LevelDebug, msg, attrs...)
}
