package sink

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/aggregate/aggregatetest"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/store"
)

// flakyAdder is a real store that refuses the Adds whose number (from 1)
// is in fail.
type flakyAdder struct {
	store.Store
	fail  map[int]bool
	tries int
}

func (f *flakyAdder) Add(ctx context.Context, recs []aggregate.Record, seen time.Time) error {
	f.tries++
	if f.fail[f.tries] {
		return errors.New("connection reset by peer")
	}
	return f.Store.Add(ctx, recs, seen)
}

// interval is what a traced program does in one flush interval, as the
// kernel counts it: every count here is this interval's, none a total.
func interval() []aggregate.Record {
	str := func(s string) *string { return &s }
	caller := &aggregate.Function{Module: "app", Qualname: "main"}
	intParam := []aggregate.Param{{Name: "n", Kind: aggregate.KindPositionalOrKeyword, Type: "builtins.int"}}
	fn := func(q string) aggregate.Function {
		return aggregate.Function{Module: "app.work", Qualname: q, File: "/src/app/work.py", Line: 10}
	}
	return []aggregate.Record{
		// A call that returned, two of them.
		{Function: fn("add"), Caller: caller, Params: intParam, Returns: str("builtins.int"), Calls: 2, Python: "3.12"},
		// A call that raised: counted in Calls and Raised, no return type.
		{Function: fn("risky"), Caller: caller, Params: intParam, Calls: 1, Raised: 1, Python: "3.12"},
		// A generator created and never started: Calls 0, only Created.
		{Function: fn("numbers"), Caller: caller, Params: intParam, CodeKind: aggregate.CodeGenerator, Created: 1, Python: "3.12"},
		// Resumptions of another generator that yielded, and one that raised.
		{Function: fn("pairs"), Caller: caller, CodeKind: aggregate.CodeGenerator, Yields: str("builtins.tuple[builtins.int, builtins.int]"),
			Resumptions: 3, Python: "3.12"},
		{Function: fn("pairs"), Caller: caller, CodeKind: aggregate.CodeGenerator, Resumptions: 1, Raised: 1, Python: "3.12"},
		// A coroutine created and then started: Created and Calls.
		{Function: fn("fetch"), Caller: caller, CodeKind: aggregate.CodeCoroutine, Created: 1, Python: "3.12"},
		{Function: fn("fetch"), Caller: caller, CodeKind: aggregate.CodeCoroutine, Returns: str("None"), Calls: 1, Python: "3.12", Partial: true},
	}
}

// times returns recs with every count multiplied by n.
func times(recs []aggregate.Record, n uint64) []aggregate.Record {
	out := make([]aggregate.Record, len(recs))
	for i, r := range recs {
		r.Calls, r.Resumptions, r.Raised, r.Created = n*r.Calls, n*r.Resumptions, n*r.Raised, n*r.Created
		out[i] = r
	}
	return out
}

// stored reads every record of the store at url.
func stored(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	require.NoError(t, err)
	defer st.Close()
	es, err := st.Filter(ctx, store.Query{})
	require.NoError(t, err)
	return aggregatetest.Lines(store.Records(es))
}

// TestSinkStoresEveryCount runs three flush intervals of the same calls
// through the sink into real stores: each stored count (calls, resumptions,
// raised, created) is three intervals' worth, whether the middle flush
// failed or not, and records that only count created generators are stored.
func TestSinkStoresEveryCount(t *testing.T) {
	stores := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{name: "sqlite", url: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "recapi.db") }},
		{name: "postgres", url: func(t *testing.T) string { return testutil.PostgresDatabase(t, testutil.Postgres(t)) }},
	}
	flushes := []struct {
		name string
		fail map[int]bool
	}{
		{name: "every flush succeeds"},
		{name: "the second flush fails", fail: map[int]bool{2: true}},
	}
	for _, st := range stores {
		for _, fl := range flushes {
			t.Run(st.name+"/"+fl.name, func(t *testing.T) {
				url := st.url(t)
				opened, err := store.Open(context.Background(), url)
				require.NoError(t, err)
				adder := &flakyAdder{Store: opened, fail: fl.fail}
				s, c := newTestSink(t, nil)
				s.store, s.url = adder, "test"
				src := &fakeSource{agg: aggregate.NewAggregator()}
				d := newTestDrainer(s, src)

				for range 3 {
					src.add(interval()...)
					c.advance(s.interval)
					d.Tick()
				}
				want := aggregatetest.Lines(times(interval(), 3))
				assert.Equal(t, want, stored(t, url), "three intervals' counts, each once")

				d.Drain()
				require.NoError(t, s.Close(src.Snapshot("h")))
				assert.Equal(t, want, stored(t, url), "nothing more at exit")
			})
		}
	}
}
