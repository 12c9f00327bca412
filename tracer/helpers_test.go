package tracer

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/proc"
)

// newTestTracer is a Tracer without BPF: its counts come from counts, its
// events from rd (nil: an event reader with no events), and no event
// reader runs unless the test starts one.
func newTestTracer(t *testing.T, counts countMaps, policy OutcomePolicy) *Tracer {
	t.Helper()
	tr := &Tracer{
		log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		counts:     counts,
		caughtUp:   make(chan struct{}, 1),
		readerDone: make(chan struct{}),
		targets:    map[uint32]*target{},
		agg:        aggregate.NewAggregator(),
		stats:      map[string]uint64{},
		policy:     policy,
	}
	tr.rd = &caughtUpReader{caughtUp: tr.caughtUp}
	return tr
}

// addTestTarget adds a target for pid, running CPython 3.minor, whose
// memory is mem (nil: none), with its naming goroutine running until the
// test ends.
func addTestTarget(t *testing.T, tr *Tracer, pid uint32, minor int, mem io.ReaderAt) *target {
	t.Helper()
	l, err := cpython.LayoutFor(cpython.Version{Major: 3, Minor: minor})
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{
		pid:    int(pid),
		layout: l,
		python: fmt.Sprintf("3.%d", minor),
		info:   aggregate.Interpreter{PID: int(pid), Python: fmt.Sprintf("3.%d.0", minor)},
		log:    tr.log,
		codes:  map[codeKey]*codeMeta{},
		nested: map[uint64]cpython.CodeName{},
		types:  map[uint64]typeMeta{},
		sigs:   map[uint64][]uint64{},
		values: map[uint64][]uint64{},
		shapes: map[shapeID]struct{}{},
	}
	if mem != nil {
		tg.mem = proc.NewMemory(mem)
		tg.rd = cpython.NewReader(tg.mem, l)
	}
	tg.startNaming()
	t.Cleanup(tg.close)
	tr.setMu.Lock()
	tr.targets[pid] = tg
	tr.setMu.Unlock()
	return tg
}

// caughtUpReader is an event reader with no events: Flush answers at once.
type caughtUpReader struct{ caughtUp chan struct{} }

func (r *caughtUpReader) ReadInto(*ringbuf.Record) error { return ringbuf.ErrClosed }
func (r *caughtUpReader) Flush() error                   { r.caughtUp <- struct{}{}; return nil }
func (r *caughtUpReader) Close() error                   { return nil }
