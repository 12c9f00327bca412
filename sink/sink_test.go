package sink

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
)

// fakeStore sums what it is given, or fails while fail is set.
type fakeStore struct {
	fail   error
	adds   int
	totals map[string]uint64 // qualname -> calls
	closed bool
}

func (f *fakeStore) Add(_ context.Context, recs []aggregate.Record, _ time.Time) error {
	if f.fail != nil {
		return f.fail
	}
	f.adds++
	for _, r := range recs {
		f.totals[r.Function.Qualname] += r.Calls + r.Resumptions
	}
	return nil
}

func (f *fakeStore) Close() error { f.closed = true; return nil }

// fakeSource is a tracer whose counts the test makes: Drain returns those
// made since the last Drain and adds them to the totals Snapshot returns.
type fakeSource struct {
	agg    *aggregate.Aggregator // totals
	delta  []aggregate.Record    // made since the last Drain
	drains int
}

func (f *fakeSource) Drain() ([]aggregate.Record, error) {
	f.drains++
	d := f.delta
	f.delta = nil
	for _, r := range d {
		f.agg.Add(r)
	}
	return d, nil
}

func (f *fakeSource) Snapshot(host string) *aggregate.Snapshot {
	return &aggregate.Snapshot{Header: aggregate.Header{Host: host, Mode: aggregate.ModeExact}, Records: f.agg.Records()}
}

func (f *fakeSource) call(qualname string, n uint64) {
	f.add(aggregate.Record{Function: aggregate.Function{Module: "m", Qualname: qualname}, Calls: n, Python: "3.11"})
}

func (f *fakeSource) add(recs ...aggregate.Record) { f.delta = append(f.delta, recs...) }

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestSink(t *testing.T, st *fakeStore) (*Sink, *clock) {
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := &Sink{
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		host:     "h",
		now:      c.now,
		sleep:    func(time.Duration) {},
		interval: 5 * time.Second,
		pending:  aggregate.NewAggregator(),
		backlog:  maxBacklog,
		spillDir: t.TempDir(),
		snapKeep: 12,
		lastTry:  c.t,
		lastSnap: c.t,
	}
	if st != nil {
		st.totals = map[string]uint64{}
		s.store, s.url = st, "fake"
	}
	return s, c
}

func newTestDrainer(s *Sink, src *fakeSource) *Drainer {
	return NewDrainer(src, s, s.log)
}

func TestSinkSendsDeltas(t *testing.T) {
	st := &fakeStore{}
	s, c := newTestSink(t, st)
	src := &fakeSource{agg: aggregate.NewAggregator()}
	d := newTestDrainer(s, src)

	src.call("f", 10)
	d.Tick() // not due yet
	assert.Equal(t, 0, st.adds)
	assert.Equal(t, 0, src.drains, "no drain when nothing is due")

	c.advance(5 * time.Second)
	d.Tick()
	assert.Equal(t, map[string]uint64{"f": 10}, st.totals)
	assert.Equal(t, 1, src.drains, "drained right before the flush")

	src.call("f", 5)
	c.advance(time.Second)
	d.Drain() // the drain loop, between two flushes
	src.call("g", 1)
	c.advance(4 * time.Second)
	d.Tick()
	assert.Equal(t, map[string]uint64{"f": 15, "g": 1}, st.totals, "only the difference is added")

	c.advance(5 * time.Second)
	d.Tick()
	assert.Equal(t, 2, st.adds, "nothing new, nothing sent")

	src.call("g", 2)
	d.Drain() // the final drain
	require.NoError(t, s.Close(src.Snapshot("h")))
	assert.Equal(t, map[string]uint64{"f": 15, "g": 3}, st.totals, "the final counts are flushed at close")
	assert.True(t, st.closed)
}

func TestSinkRetriesWithBackoff(t *testing.T) {
	st := &fakeStore{}
	s, c := newTestSink(t, st)
	src := &fakeSource{agg: aggregate.NewAggregator()}
	d := newTestDrainer(s, src)
	st.fail = errors.New("connection refused")

	src.call("f", 1)
	var tries []time.Duration
	start := c.t
	for range 40 {
		c.advance(time.Second)
		before := s.fails
		d.Tick()
		if s.fails != before {
			tries = append(tries, c.t.Sub(start))
		}
		src.call("f", 1)
	}
	// Every 5 s at first, then 1, 2, 4, 8 s after each failure (at least
	// the flush interval apart).
	assert.Equal(t, []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second, 28 * time.Second}, tries[:5])
	assert.Empty(t, st.totals)

	st.fail = nil
	c.advance(time.Minute)
	d.Tick()
	assert.Equal(t, map[string]uint64{"f": 41}, st.totals, "everything recorded while the store was down arrives once")
	assert.Equal(t, 0, s.fails)
}

func TestSinkSpillsPastBacklog(t *testing.T) {
	st := &fakeStore{fail: errors.New("disk full")}
	s, c := newTestSink(t, st)
	s.backlog = 1
	src := &fakeSource{agg: aggregate.NewAggregator()}
	d := newTestDrainer(s, src)
	src.call("f", 3)
	src.call("g", 4)
	c.advance(5 * time.Second)
	d.Tick()

	files, err := filepath.Glob(filepath.Join(s.spillDir, "recapi-unflushed-*.recapi.zst"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	sn, err := aggregate.ReadFile(files[0])
	require.NoError(t, err)
	assert.Len(t, sn.Records, 2)

	// The store comes back: the spilled counts are not sent again.
	st.fail = nil
	src.call("f", 1)
	c.advance(time.Minute)
	d.Tick()
	assert.Equal(t, map[string]uint64{"f": 1}, st.totals)
}

func TestSinkFinalFlushFallsBackToFile(t *testing.T) {
	st := &fakeStore{fail: errors.New("connection refused")}
	s, _ := newTestSink(t, st)
	src := &fakeSource{agg: aggregate.NewAggregator()}
	d := newTestDrainer(s, src)
	src.call("f", 7)
	d.Drain()
	require.NoError(t, s.Close(src.Snapshot("h")), "saved to a file: not an error")
	files, _ := filepath.Glob(filepath.Join(s.spillDir, "recapi-unflushed-*.recapi.zst"))
	require.Len(t, files, 1)

	// Neither store nor file: the error says so.
	st2 := &fakeStore{fail: errors.New("connection refused")}
	s2, _ := newTestSink(t, st2)
	s2.spillDir = filepath.Join(t.TempDir(), "missing")
	src.call("f", 7)
	newTestDrainer(s2, src).Drain()
	err := s2.Close(src.Snapshot("h"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection refused")
}

func TestSinkRotatesSnapshots(t *testing.T) {
	s, c := newTestSink(t, nil)
	s.snapDir, s.snapEvery, s.snapKeep = t.TempDir(), time.Minute, 3
	require.NoError(t, os.WriteFile(filepath.Join(s.snapDir, "recapi-unflushed-x.recapi.zst"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(s.snapDir, "other.txt"), nil, 0o644))
	src := &fakeSource{agg: aggregate.NewAggregator()}
	d := newTestDrainer(s, src)
	for i := range 5 {
		src.call("f", 1)
		c.advance(time.Minute)
		d.Tick()
		assert.Equal(t, i+1, src.drains)
	}
	assert.Zero(t, s.pending.Len(), "without a store, no counts wait for one")
	ents, err := os.ReadDir(s.snapDir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	assert.Equal(t, []string{"other.txt", "recapi-20260501T120300Z.recapi.zst", "recapi-20260501T120400Z.recapi.zst",
		"recapi-20260501T120500Z.recapi.zst", "recapi-unflushed-x.recapi.zst"}, names)
	sn, err := aggregate.ReadFile(filepath.Join(s.snapDir, "recapi-20260501T120500Z.recapi.zst"))
	require.NoError(t, err)
	assert.Equal(t, uint64(5), sn.Records[0].Calls, "a snapshot holds everything so far")
	for _, n := range names {
		assert.False(t, strings.HasPrefix(n, ".recapi-"), "no temporary file left: %s", n)
	}
}
