package tracer

import (
	"errors"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/recapi/recapi/bpf"
)

// catchUp waits until the event reader has handled every event submitted
// so far, however long that takes: a drain that went on without them would
// record calls whose names are still in the ring buffer. (Giving up after a
// while also left the reader's answer in caughtUp, where the next catchUp
// took it for its own.)
func (t *Tracer) catchUp() {
	if err := t.rd.Flush(); err != nil {
		t.log.Warn("flush event reader", "err", err)
		return
	}
	start := time.Now()
	slow := time.NewTicker(5 * time.Second)
	defer slow.Stop()
	for {
		select {
		case <-t.caughtUp:
			return
		case <-t.readerDone:
			return
		case <-slow.C:
			t.log.Warn("still waiting for the event reader to catch up", "waited", time.Since(start).Round(time.Second))
		}
	}
}

// readEvents reads the ring buffer of first-sight events until it is closed.
func (t *Tracer) readEvents() {
	defer close(t.readerDone)
	var rec ringbuf.Record
	for {
		err := t.rd.ReadInto(&rec)
		switch {
		case err == nil:
			ev, derr := bpf.DecodeEvent(rec.RawSample)
			if derr != nil {
				t.undecodable.Add(1)
				continue
			}
			t.handle(ev)
		case errors.Is(err, ringbuf.ErrFlushed):
			select {
			case t.caughtUp <- struct{}{}:
			default:
			}
		case errors.Is(err, ringbuf.ErrClosed):
			return
		default:
			t.log.Warn("read events", "err", err)
			return
		}
	}
}

// handle gives an event to the target it is about, which names it on its
// own goroutine: the reader goes on to the next event at once, and never
// holds the Tracer's lock.
func (t *Tracer) handle(ev bpf.Event) {
	if tg := t.target(eventPID(ev)); tg != nil {
		tg.arrive(ev)
	}
}
