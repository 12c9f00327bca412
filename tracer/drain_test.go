package tracer

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/aggregate/aggregatetest"
	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/proc"
)

// fakeCounts are the kernel's count maps: what BPF counts goes into the
// active maps, SwapCounts makes them the ones DrainCounts and DrainOutcomes
// read and clear.
type fakeCounts struct {
	calls, drainedCalls       map[bpf.CallKey]uint64
	outcomes, drainedOutcomes map[bpf.OutcomeKey]uint64
}

func newFakeCounts() *fakeCounts {
	return &fakeCounts{calls: map[bpf.CallKey]uint64{}, outcomes: map[bpf.OutcomeKey]uint64{}}
}

func (f *fakeCounts) SwapCounts(bool) error {
	f.drainedCalls, f.calls = f.calls, map[bpf.CallKey]uint64{}
	f.drainedOutcomes, f.outcomes = f.outcomes, map[bpf.OutcomeKey]uint64{}
	return nil
}

func (f *fakeCounts) DrainCounts(fn func(k *bpf.CallKey, n uint64)) error {
	for k, n := range f.drainedCalls {
		fn(&k, n)
	}
	f.drainedCalls = nil
	return nil
}

func (f *fakeCounts) DrainOutcomes(fn func(k *bpf.OutcomeKey, n uint64)) error {
	for k, n := range f.drainedOutcomes {
		fn(&k, n)
	}
	f.drainedOutcomes = nil
	return nil
}

// TestDrainReturnsTheIntervalsCounts drains three intervals of the same
// kernel counts (calls counted at their start, a call that raised, a
// generator created and never started, a call whose end went unseen): each
// Drain returns that interval's counts and no more, and the tracer keeps the
// totals for Snapshot.
func TestDrainReturnsTheIntervalsCounts(t *testing.T) {
	const pid = 42
	counts := newFakeCounts()
	tr := newTestTracer(t, counts, OutcomePolicy{Mode: "off"})
	fn := func(q, kind string) *codeMeta {
		return &codeMeta{name: q, kind: kind, fn: aggregate.Function{Module: "app", Qualname: q, File: "/src/app.py", Line: 1}}
	}
	tg := addTestTarget(t, tr, pid, 12, nil)
	tg.codes = map[codeKey]*codeMeta{
		{0x10, 1}: fn("main", ""),
		{0x20, 2}: fn("add", ""),
		{0x30, 3}: fn("risky", ""),
		{0x40, 4}: fn("numbers", aggregate.CodeGenerator),
	}
	call := func(code, fp uint64, kind uint8) bpf.CallKey {
		return bpf.CallKey{Pid: pid, Kind: kind, Code: code, CodeFp: fp, Caller: 0x10, CallerFp: 1}
	}
	add, risky, created := call(0x20, 2, bpf.CallStart), call(0x30, 3, bpf.CallStart), call(0x40, 4, bpf.CallCreate)
	riskyPending := risky
	riskyPending.Kind |= bpf.CallPending
	// One interval: two calls of add, a call of risky that raised (counted
	// at its end, from the outcome map), a generator created.
	interval := func() {
		counts.calls[add] += 2
		counts.calls[riskyPending]++
		counts.outcomes[bpf.OutcomeKey{Call: risky, Outcome: bpf.OutcomeRaised}]++
		counts.calls[created]++
	}
	caller := &aggregate.Function{Module: "app", Qualname: "main", File: "/src/app.py", Line: 1}
	rec := func(q, kind string, calls, raised, created uint64) aggregate.Record {
		return aggregate.Record{Function: aggregate.Function{Module: "app", Qualname: q, File: "/src/app.py", Line: 1}, Caller: caller,
			CodeKind: kind, Calls: calls, Raised: raised, Created: created, Python: "3.12"}
	}
	for i := range 3 {
		interval()
		adds := uint64(2)
		if i == 1 {
			// A call of add that was still waiting for its end when its
			// outcome window closed: counted once, as ended unseen (same
			// key: no return type).
			tg.swept = append(tg.swept, add)
			adds++
		}
		got, err := tr.Drain()
		require.NoError(t, err)
		want := []aggregate.Record{rec("add", "", adds, 0, 0), rec("risky", "", 1, 1, 0), rec("numbers", aggregate.CodeGenerator, 0, 0, 1)}
		assert.Equal(t, aggregatetest.Lines(want), aggregatetest.Lines(got), "drain %d returns its interval's counts", i+1)
	}
	got, err := tr.Drain()
	require.NoError(t, err)
	assert.Empty(t, got, "nothing counted, nothing returned")

	totals := []aggregate.Record{rec("add", "", 7, 0, 0), rec("risky", "", 3, 3, 0), rec("numbers", aggregate.CodeGenerator, 0, 0, 3)}
	assert.Equal(t, aggregatetest.Lines(totals), aggregatetest.Lines(tr.agg.Records()), "the totals, for snapshots and the summary")
}

// A count drained before the descriptions of its arguments arrived waits
// for them: it is recorded, with its types, at the drain after they came
// (BPF sends them again at the shape's next call when the ring buffer
// refused them). Once no description can come any more (every probe is
// detached), what still waits is recorded without its types, marked
// partial and counted as signatures_unknown.
func TestCountsWaitForTheirSignatures(t *testing.T) {
	counts := newFakeCounts()
	tr := newTestTracer(t, counts, OutcomePolicy{Mode: "off"})
	pid := uint32(os.Getpid()) // a live process: its events may still come
	tg := addTestTarget(t, tr, pid, 12, nil)
	tg.started = proc.StartTime(int(pid))
	fn := aggregate.Function{Module: "app", Qualname: "add", File: "/src/app.py", Line: 1}
	tg.codes = map[codeKey]*codeMeta{{0x20, 2}: {name: "add", fn: fn, names: []string{"x"}, kinds: []cpython.ParamKind{cpython.PositionalOrKeyword}}}
	tg.types = map[uint64]typeMeta{0x5000: {name: "builtins.int"}}
	key := func(sig uint64) bpf.CallKey {
		return bpf.CallKey{Pid: pid, Kind: bpf.CallStart, Code: 0x20, CodeFp: 2, Nparams: 1, Sig: sig}
	}
	named, never := key(0xaaa), key(0xbbb)

	counts.calls[named] = 3
	got, err := tr.Drain()
	require.NoError(t, err)
	assert.Empty(t, got, "a count whose signature has not arrived waits")

	nodes := make([]uint64, bpf.NodesPerValue)
	nodes[0] = 0x5000
	tg.mu.Lock()
	tg.sigs[named.Sig] = nodes // as handle does with its event
	tg.mu.Unlock()
	counts.calls[named] = 2
	counts.calls[never] = 1
	got, err = tr.Drain()
	require.NoError(t, err)
	want := aggregate.Record{Function: fn, Params: []aggregate.Param{{Name: "x", Kind: "positional_or_keyword", Type: "builtins.int"}}, Calls: 5, Python: "3.12"}
	assert.Equal(t, aggregatetest.Lines([]aggregate.Record{want}), aggregatetest.Lines(got), "the waiting count with this drain's, named")

	tr.detached = true
	got, err = tr.Drain()
	require.NoError(t, err)
	partial := aggregate.Record{Function: fn, Params: []aggregate.Param{{Name: "x", Kind: "positional_or_keyword"}}, Calls: 1, Python: "3.12", Partial: true}
	assert.Equal(t, aggregatetest.Lines([]aggregate.Record{partial}), aggregatetest.Lines(got), "recorded without types once none can come")
	assert.Equal(t, uint64(1), tr.Snapshot("h").Header.Stats["signatures_unknown"])
}
