package tracer

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/aggregate/aggregatetest"
	"github.com/recapi/recapi/bpf"
)

// chanReader is an event reader fed by the test: each item of recs is one
// ring-buffer record, or nil where Flush was called.
type chanReader struct{ recs chan []byte }

func (r *chanReader) ReadInto(rec *ringbuf.Record) error {
	raw, ok := <-r.recs
	switch {
	case !ok:
		return ringbuf.ErrClosed
	case raw == nil:
		return ringbuf.ErrFlushed
	}
	rec.RawSample = raw
	return nil
}

func (r *chanReader) Flush() error { r.recs <- nil; return nil }
func (r *chanReader) Close() error { close(r.recs); return nil }

// blockingMem is process memory whose every read waits for release, and
// then fails; entered receives a value at the first read.
type blockingMem struct {
	entered chan struct{}
	release chan struct{}
}

func (m *blockingMem) ReadAt([]byte, int64) (int, error) {
	select {
	case m.entered <- struct{}{}:
	default:
	}
	<-m.release
	return 0, io.EOF
}

// codeEvent is the raw first-sight event of a code object named qualname
// in /src/app.py; truncated says BPF could not copy a name whole, so that
// naming it reads the process's memory.
func codeEvent(t *testing.T, pid uint32, ptr, fp uint64, qualname string, truncated bool) []byte {
	t.Helper()
	e := bpf.CodeEvent{Firstlineno: 1}
	e.Hdr.Type, e.Hdr.Pid, e.Hdr.Ptr, e.Hdr.Fp = bpf.EventCode, pid, ptr, fp
	cstr(e.Filename[:], "/src/app.py")
	cstr(e.Name[:], qualname)
	cstr(e.Qualname[:], qualname)
	if truncated {
		e.StrFlags = bpf.StrQualname
	}
	var b bytes.Buffer
	require.NoError(t, binary.Write(&b, binary.LittleEndian, &e))
	return b.Bytes()
}

// The event reader hands each event to its process's target and goes on:
// naming, which reads the process's memory and may walk all of its
// sys.modules, holds neither the tracer's lock nor the reader. Here one
// process's memory does not answer: the tracer's lock stays free, the next
// event (of another process) is named meanwhile, and Drain names what is
// left once the memory answers.
func TestReaderDoesNotWaitForNaming(t *testing.T) {
	const slow, fast = 1, 2
	counts := newFakeCounts()
	tr := newTestTracer(t, counts, OutcomePolicy{Mode: "off"})
	rd := &chanReader{recs: make(chan []byte, 16)}
	tr.rd = rd
	mem := &blockingMem{entered: make(chan struct{}, 1), release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(mem.release)
		}
	}
	t.Cleanup(release)
	slowTg := addTestTarget(t, tr, slow, 12, mem)
	fastTg := addTestTarget(t, tr, fast, 12, nil)
	go tr.readEvents()
	t.Cleanup(func() {
		release()
		_ = rd.Close()
		<-tr.readerDone
	})

	rd.recs <- codeEvent(t, slow, 0x100, 1, "stuck", true)
	select {
	case <-mem.entered:
	case <-time.After(30 * time.Second):
		require.FailNow(t, "the event of pid 1 was not named")
	}
	rd.recs <- codeEvent(t, fast, 0x200, 2, "quick", false)

	snapped := make(chan struct{})
	go func() {
		tr.Snapshot("h")
		close(snapped)
	}()
	select {
	case <-snapped:
	case <-time.After(5 * time.Second):
		assert.Fail(t, "Snapshot waited for the naming of another process: the tracer's lock is held while naming")
	}
	named := func(tg *target, k codeKey) bool {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		return tg.codes[k] != nil
	}
	assert.Eventually(t, func() bool { return named(fastTg, codeKey{0x200, 2}) }, 5*time.Second, 10*time.Millisecond,
		"the next event was not named while pid 1's naming waited: the reader waits for naming")

	release()
	counts.calls[bpf.CallKey{Pid: slow, Code: 0x100, CodeFp: 1}] = 3
	counts.calls[bpf.CallKey{Pid: fast, Code: 0x200, CodeFp: 2}] = 4
	recs, err := tr.Drain()
	require.NoError(t, err)
	fn := func(q string) aggregate.Function {
		return aggregate.Function{Module: "app", Qualname: q, File: "/src/app.py", Line: 1}
	}
	assert.Equal(t, aggregatetest.Lines([]aggregate.Record{
		{Function: fn("quick"), Params: []aggregate.Param{}, Calls: 4, Python: "3.12"},
		// Its memory failed: the names BPF copied, marked partial.
		{Function: fn("stuck"), Params: []aggregate.Param{}, Calls: 3, Python: "3.12", Partial: true},
	}), aggregatetest.Lines(recs))
	assert.True(t, named(slowTg, codeKey{0x100, 1}))
}
