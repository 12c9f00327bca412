package aggregate_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
)

func strp(s string) *string { return &s }

func fn(module, qualname string) aggregate.Function {
	return aggregate.Function{Module: module, Qualname: qualname}
}

func intStr() []aggregate.Param {
	return []aggregate.Param{
		{Name: "a", Kind: aggregate.KindPositionalOrKeyword, Type: "builtins.int"},
		{Name: "b", Kind: aggregate.KindPositionalOrKeyword, Type: "builtins.str"},
	}
}

func TestAggregatorMerges(t *testing.T) {
	f := fn("app", "f")
	caller := fn("app", "main")
	base := aggregate.Record{Function: f, Caller: &caller, Params: intStr(), Returns: strp("None"), Calls: 1, Python: "3.11"}
	with := func(change func(r *aggregate.Record)) aggregate.Record {
		r := base
		r.Params = intStr()
		c := caller
		r.Caller = &c
		r.Returns = strp("None")
		change(&r)
		return r
	}

	tests := []struct {
		name      string
		other     aggregate.Record
		wantMerge bool
	}{
		{name: "same key", other: with(func(r *aggregate.Record) {}), wantMerge: true},
		{name: "equal values at other addresses", other: with(func(r *aggregate.Record) { r.Calls = 5 }), wantMerge: true},
		{name: "partial does not split", other: with(func(r *aggregate.Record) { r.Partial = true }), wantMerge: true},
		{name: "resumptions do not split", other: with(func(r *aggregate.Record) { r.Resumptions = 3 }), wantMerge: true},
		{name: "raised does not split", other: with(func(r *aggregate.Record) { r.Raised = 2 }), wantMerge: true},
		{name: "created does not split", other: with(func(r *aggregate.Record) { r.Created = 4 }), wantMerge: true},
		{name: "other file", other: with(func(r *aggregate.Record) { r.Function.File = "/x.py" }), wantMerge: false},
		{name: "other line", other: with(func(r *aggregate.Record) { r.Function.Line = 2 }), wantMerge: false},
		{name: "no caller", other: with(func(r *aggregate.Record) { r.Caller = nil }), wantMerge: false},
		{name: "other caller", other: with(func(r *aggregate.Record) { r.Caller.Qualname = "other" }), wantMerge: false},
		{name: "other param type", other: with(func(r *aggregate.Record) { r.Params[1].Type = "None" }), wantMerge: false},
		{name: "other param kind", other: with(func(r *aggregate.Record) { r.Params[1].Kind = aggregate.KindKeywordOnly }), wantMerge: false},
		{name: "unknown param kind", other: with(func(r *aggregate.Record) { r.Params[1].Kind = "future_kind" }), wantMerge: false},
		{name: "other param name", other: with(func(r *aggregate.Record) { r.Params[1].Name = "c" }), wantMerge: false},
		{name: "fewer params", other: with(func(r *aggregate.Record) { r.Params = r.Params[:1] }), wantMerge: false},
		{name: "return not observed", other: with(func(r *aggregate.Record) { r.Returns = nil }), wantMerge: false},
		{name: "empty return type", other: with(func(r *aggregate.Record) { r.Returns = strp("") }), wantMerge: false},
		{name: "yields", other: with(func(r *aggregate.Record) { r.Yields = strp("builtins.int") }), wantMerge: false},
		{name: "yields instead of returns", other: with(func(r *aggregate.Record) { r.Returns, r.Yields = nil, strp("None") }), wantMerge: false},
		{name: "empty yield type", other: with(func(r *aggregate.Record) { r.Yields = strp("") }), wantMerge: false},
		{name: "code kind", other: with(func(r *aggregate.Record) { r.CodeKind = aggregate.CodeGenerator }), wantMerge: false},
		{name: "python version", other: with(func(r *aggregate.Record) { r.Python = "3.12" }), wantMerge: false},
		// Fields are length-prefixed in the key: text moved from one
		// field to the next makes another key.
		{name: "text moved between module and qualname", other: with(func(r *aggregate.Record) { r.Function = fn("ap", "pf") }), wantMerge: false},
		{name: "text moved between type and next name", other: with(func(r *aggregate.Record) { r.Params[0].Type, r.Params[1].Name = "builtins.i", "ntb" }), wantMerge: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := aggregate.NewAggregator()
			a.Add(base)
			a.Add(tt.other)
			if !tt.wantMerge {
				assert.Equal(t, 2, a.Len())
				return
			}
			require.Equal(t, 1, a.Len())
			got := a.Records()[0]
			assert.Equal(t, base.Calls+tt.other.Calls, got.Calls)
			assert.Equal(t, base.Resumptions+tt.other.Resumptions, got.Resumptions)
			assert.Equal(t, base.Raised+tt.other.Raised, got.Raised)
			assert.Equal(t, base.Created+tt.other.Created, got.Created)
			assert.Equal(t, base.Partial || tt.other.Partial, got.Partial)
		})
	}
}

func TestAggregatorNilAndEmptyParamsAreOneKey(t *testing.T) {
	a := aggregate.NewAggregator()
	a.Add(aggregate.Record{Function: fn("m", "f"), Calls: 1})
	a.Add(aggregate.Record{Function: fn("m", "f"), Params: []aggregate.Param{}, Calls: 2})
	require.Equal(t, 1, a.Len())
	got := a.Records()[0]
	assert.Nil(t, got.Params)
	assert.Equal(t, uint64(3), got.Calls)
}

func TestAggregatorPartialIsOred(t *testing.T) {
	a := aggregate.NewAggregator()
	r := aggregate.Record{Function: fn("m", "f"), Calls: 1}
	a.Add(r)
	r.Partial = true
	a.Add(r)
	r.Partial = false
	a.Add(r)
	recs := a.Records()
	require.Len(t, recs, 1)
	assert.True(t, recs[0].Partial)
	assert.Equal(t, uint64(3), recs[0].Calls)
}

func TestAggregatorCopiesItsInput(t *testing.T) {
	caller := fn("app", "main")
	r := aggregate.Record{Function: fn("app", "f"), Caller: &caller, Params: intStr(), Returns: strp("None"), Calls: 1}
	g := aggregate.Record{Function: fn("app", "g"), Yields: strp("builtins.int"), Calls: 1, CodeKind: aggregate.CodeGenerator}
	a := aggregate.NewAggregator()
	a.Add(r)
	a.Add(g)

	// The daemon reuses its buffers between events.
	r.Params[0].Type = "builtins.float"
	caller.Qualname = "changed"
	*r.Returns = "changed"
	*g.Yields = "changed"

	got := a.Records()
	require.Len(t, got, 2)
	assert.Equal(t, "builtins.int", got[0].Params[0].Type)
	assert.Equal(t, "main", got[0].Caller.Qualname)
	assert.Equal(t, "None", *got[0].Returns)
	assert.Equal(t, "builtins.int", *got[1].Yields)

	// Nor does changing what Records returned change the aggregate.
	got[0].Params[0].Type = "x"
	got[0].Caller.Qualname = "x"
	*got[0].Returns = "x"
	*got[1].Yields = "x"
	again := a.Records()
	assert.Equal(t, "builtins.int", again[0].Params[0].Type)
	assert.Equal(t, "main", again[0].Caller.Qualname)
	assert.Equal(t, "None", *again[0].Returns)
	assert.Equal(t, "builtins.int", *again[1].Yields)
}

func TestAggregatorOrder(t *testing.T) {
	c1, c2 := fn("app", "a"), fn("app", "b")
	in := []aggregate.Record{
		{Function: fn("b", "f"), Calls: 5},
		{Function: fn("a", "g"), Calls: 5},
		{Function: fn("a", "f"), Calls: 5},
		{Function: aggregate.Function{Module: "a", Qualname: "f", File: "/b.py"}, Calls: 5},
		{Function: aggregate.Function{Module: "a", Qualname: "f", File: "/a.py", Line: 9}, Calls: 5},
		{Function: aggregate.Function{Module: "a", Qualname: "f", File: "/a.py", Line: 2}, Calls: 5},
		{Function: fn("z", "hot"), Calls: 100},
		{Function: fn("z", "gen"), Calls: 1, Resumptions: 50}, // 51 in all
		{Function: fn("c", "f"), Caller: &c2, Calls: 1},
		{Function: fn("c", "f"), Caller: &c1, Calls: 1},
		{Function: fn("c", "f"), Calls: 1}, // no caller first
		{Function: fn("d", "f"), Params: intStr(), Calls: 1},
		{Function: fn("d", "f"), Params: intStr()[:1], Calls: 1},
		{Function: fn("d", "f"), Params: intStr()[:1], Returns: strp("None"), Calls: 1},
		{Function: fn("d", "f"), Params: intStr()[:1], Yields: strp("None"), Calls: 1},
		{Function: fn("d", "f"), Params: intStr()[:1], Yields: strp("builtins.int"), Calls: 1},
	}
	want := []string{
		"z.hot", "z.gen",
		"a.f", "a.f /a.py:2", "a.f /a.py:9", "a.f /b.py:0", "a.g", "b.f",
		"c.f caller=<nil>", "c.f caller=app.a", "c.f caller=app.b",
		"d.f params=1 returns=<nil>", "d.f params=1 returns=<nil> yields=None", "d.f params=1 returns=<nil> yields=builtins.int",
		"d.f params=1 returns=None", "d.f params=2 returns=<nil>",
	}

	// Every order of adding gives the same result.
	for _, rotate := range []int{0, 3, 7} {
		t.Run(fmt.Sprintf("rotated %d", rotate), func(t *testing.T) {
			a := aggregate.NewAggregator()
			for i := range in {
				a.Add(in[(i+rotate)%len(in)])
			}
			var got []string
			for _, r := range a.Records() {
				s := r.Function.Name()
				switch r.Function.Module {
				case "a":
					if r.Function.File != "" {
						s += fmt.Sprintf(" %s:%d", r.Function.File, r.Function.Line)
					}
				case "c":
					if r.Caller == nil {
						s += " caller=<nil>"
					} else {
						s += " caller=" + r.Caller.Name()
					}
				case "d":
					ret := "<nil>"
					if r.Returns != nil {
						ret = *r.Returns
					}
					s += fmt.Sprintf(" params=%d returns=%s", len(r.Params), ret)
					if r.Yields != nil {
						s += " yields=" + *r.Yields
					}
				}
				got = append(got, s)
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestSortRecordsIsTotal(t *testing.T) {
	// Records with equal keys (as in a file merged by hand) still get one
	// order, by their counts.
	rs := []aggregate.Record{
		{Function: fn("m", "f"), Calls: 1, Resumptions: 2},
		{Function: fn("m", "f"), Calls: 2, Resumptions: 1},
		{Function: fn("m", "f"), Calls: 3, Partial: true},
		{Function: fn("m", "f"), Calls: 3, Raised: 1},
		{Function: fn("m", "f"), Calls: 3, Created: 1},
		{Function: fn("m", "f"), Calls: 3},
	}
	aggregate.SortRecords(rs)
	assert.Equal(t, []aggregate.Record{
		{Function: fn("m", "f"), Calls: 3, Created: 1},
		{Function: fn("m", "f"), Calls: 3, Raised: 1},
		{Function: fn("m", "f"), Calls: 3},
		{Function: fn("m", "f"), Calls: 3, Partial: true},
		{Function: fn("m", "f"), Calls: 2, Resumptions: 1},
		{Function: fn("m", "f"), Calls: 1, Resumptions: 2},
	}, rs)
}

// benchRecords returns n distinct records shaped like a drain of a web app:
// a few hundred functions, two or three params each, a handful of callers.
func benchRecords(n int) []aggregate.Record {
	types := []string{"builtins.int", "builtins.str", "None", "builtins.dict[builtins.str, builtins.int]", "app.models.User"}
	rs := make([]aggregate.Record, n)
	for i := range rs {
		caller := aggregate.Function{Module: "app.views", Qualname: fmt.Sprintf("view%d", i%7), File: "/srv/app/views.py", Line: 10 + i%7}
		rs[i] = aggregate.Record{
			Function: aggregate.Function{Module: fmt.Sprintf("app.mod%d", i%40), Qualname: fmt.Sprintf("Class%d.method%d", i%13, i%300), File: "/srv/app/mod.py", Line: i % 300},
			Caller:   &caller,
			Params: []aggregate.Param{
				{Name: "self", Kind: aggregate.KindPositionalOrKeyword, Type: "app.mod.Class"},
				{Name: "a", Kind: aggregate.KindPositionalOrKeyword, Type: types[i%len(types)]},
				{Name: "b", Kind: aggregate.KindKeywordOnly, Type: types[(i/len(types))%len(types)]},
			},
			Returns: &types[(i/3)%len(types)],
			Calls:   uint64(1 + i%10),
			Python:  "3.11",
		}
	}
	return rs
}

// BenchmarkAggregatorAdd adds records whose keys are mostly known already, as
// in a steady-state drain: 2000 distinct shapes, added over and over.
func BenchmarkAggregatorAdd(b *testing.B) {
	rs := benchRecords(2000)
	a := aggregate.NewAggregator()
	for _, r := range rs {
		a.Add(r)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a.Add(rs[i])
		i++
		if i == len(rs) {
			i = 0
		}
	}
}

// BenchmarkAggregatorAddNew adds only keys never seen before (the first
// drain), including the copy each new key costs.
func BenchmarkAggregatorAddNew(b *testing.B) {
	rs := benchRecords(100000)
	a := aggregate.NewAggregator()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(rs) {
			a = aggregate.NewAggregator()
			i = 0
		}
		a.Add(rs[i])
		i++
	}
}

func BenchmarkAggregatorRecords(b *testing.B) {
	a := aggregate.NewAggregator()
	for _, r := range benchRecords(10000) {
		a.Add(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Records()
	}
}
