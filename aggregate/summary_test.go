package aggregate_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/aggregate/aggregatetest"
)

func p(name, kind, typ string) aggregate.Param {
	return aggregate.Param{Name: name, Kind: kind, Type: typ}
}

const (
	pk     = aggregate.KindPositionalOrKeyword
	po     = aggregate.KindPositionalOnly
	varPos = aggregate.KindVarPositional
	kwOnly = aggregate.KindKeywordOnly
	varKw  = aggregate.KindVarKeyword
)

func TestSignature(t *testing.T) {
	tests := []struct {
		name      string
		qualname  string
		params    []aggregate.Param
		returns   *string
		yields    *string
		want      string
		wantShort string
	}{
		{
			name: "no params", qualname: "f",
			want: "f()",
		},
		{
			name: "positional or keyword", qualname: "parse",
			params:    []aggregate.Param{p("a", pk, "builtins.int"), p("b", pk, "builtins.str")},
			returns:   strp("builtins.int"),
			want:      "parse(a: builtins.int, b: builtins.str) -> builtins.int",
			wantShort: "parse(a: int, b: str) -> int",
		},
		{
			name: "method, name is the last part of the qualname", qualname: "Outer.Inner.method",
			params:    []aggregate.Param{p("self", pk, "__main__.Outer.Inner")},
			returns:   strp("None"),
			want:      "method(self: __main__.Outer.Inner) -> None",
			wantShort: "method(self: __main__.Outer.Inner) -> None",
		},
		{
			name: "nested function", qualname: "f.<locals>.<lambda>",
			params: []aggregate.Param{p("x", pk, "")},
			want:   "<lambda>(x)",
		},
		{
			name: "var positional and var keyword", qualname: "emit",
			params: []aggregate.Param{
				p("msg", pk, "builtins.str"),
				p("args", varPos, "builtins.tuple[builtins.int, builtins.str]"),
				p("kwargs", varKw, "builtins.dict[builtins.str, builtins.list[builtins.int]]"),
			},
			want:      "emit(msg: builtins.str, *args: builtins.tuple[builtins.int, builtins.str], **kwargs: builtins.dict[builtins.str, builtins.list[builtins.int]])",
			wantShort: "emit(msg: str, *args: tuple[int, str], **kwargs: dict[str, list[int]])",
		},
		{
			name: "keyword only gets a bare star", qualname: "fetch",
			params:    []aggregate.Param{p("url", pk, "builtins.str"), p("timeout", kwOnly, "builtins.float"), p("retries", kwOnly, "builtins.int")},
			returns:   strp("builtins.bytes"),
			want:      "fetch(url: builtins.str, *, timeout: builtins.float, retries: builtins.int) -> builtins.bytes",
			wantShort: "fetch(url: str, *, timeout: float, retries: int) -> bytes",
		},
		{
			name: "keyword only after *args needs no bare star", qualname: "f",
			params:    []aggregate.Param{p("args", varPos, "builtins.tuple[()]"), p("key", kwOnly, "None")},
			want:      "f(*args: builtins.tuple[()], key: None)",
			wantShort: "f(*args: tuple[()], key: None)",
		},
		{
			name: "only keyword only", qualname: "f",
			params: []aggregate.Param{p("key", kwOnly, "None")},
			want:   "f(*, key: None)",
		},
		{
			name: "positional only", qualname: "clamp",
			params:    []aggregate.Param{p("x", po, "builtins.int"), p("lo", po, "builtins.int"), p("hi", pk, "builtins.int"), p("strict", kwOnly, "builtins.bool")},
			want:      "clamp(x: builtins.int, lo: builtins.int, /, hi: builtins.int, *, strict: builtins.bool)",
			wantShort: "clamp(x: int, lo: int, /, hi: int, *, strict: bool)",
		},
		{
			name: "only positional only", qualname: "f",
			params: []aggregate.Param{p("x", po, "")},
			want:   "f(x, /)",
		},
		{
			name: "every kind", qualname: "f",
			params: []aggregate.Param{
				p("a", po, "builtins.int"), p("b", pk, "builtins.int"), p("args", varPos, "builtins.tuple[()]"),
				p("c", kwOnly, "builtins.int"), p("kwargs", varKw, "builtins.dict[builtins.str, builtins.int]"),
			},
			returns:   strp("collections.OrderedDict"),
			wantShort: "f(a: int, /, b: int, *args: tuple[()], c: int, **kwargs: dict[str, int]) -> collections.OrderedDict",
		},
		{
			name: "unknown name and type", qualname: "f",
			params:    []aggregate.Param{p("", pk, ""), p("", kwOnly, "builtins.int")},
			want:      "f(?, *, ?: builtins.int)",
			wantShort: "f(?, *, ?: int)",
		},
		{
			name: "no qualname at all", qualname: "",
			want: "()",
		},
		{
			name: "yields", qualname: "items",
			params:    []aggregate.Param{p("n", pk, "builtins.int")},
			yields:    strp("builtins.tuple[builtins.int, ...]"),
			want:      "items(n: builtins.int) -> yields builtins.tuple[builtins.int, ...]",
			wantShort: "items(n: int) -> yields tuple[int, ...]",
		},
		{
			name: "empty container", qualname: "f",
			params:    []aggregate.Param{p("xs", pk, "builtins.list[()]")},
			returns:   strp("builtins.dict[builtins.str, builtins.list[builtins.int]]"),
			wantShort: "f(xs: list[()]) -> dict[str, list[int]]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := aggregate.Record{Function: fn("m", tt.qualname), Params: tt.params, Returns: tt.returns, Yields: tt.yields}
			if tt.want != "" {
				assert.Equal(t, tt.want, aggregate.Signature(r, false))
			}
			wantShort := tt.wantShort
			if wantShort == "" {
				wantShort = tt.want
			}
			assert.Equal(t, wantShort, aggregate.Signature(r, true))
		})
	}
}

func TestShortType(t *testing.T) {
	tests := []struct{ in, want string }{
		{"builtins.int", "int"},
		{"None", "None"},
		{"", ""},
		{"builtins.dict[builtins.str, builtins.list[builtins.int]]", "dict[str, list[int]]"},
		{"builtins.int | None", "int | None"},
		{"builtins.tuple[()]", "tuple[()]"},
		{"mybuiltins.int", "mybuiltins.int"},
		{"pkg.builtins.int", "pkg.builtins.int"},
		{"builtins.list[pkg.builtins.X]", "list[pkg.builtins.X]"},
		{"builtins", "builtins"},
		{"collections.OrderedDict", "collections.OrderedDict"},
		{"builtins.Ωmega", "Ωmega"},
		{"Ωbuiltins.x", "Ωbuiltins.x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, aggregate.ShortType(tt.in))
		})
	}
}

func TestSummarize(t *testing.T) {
	s := aggregatetest.Sample()
	sum := aggregate.Summarize(s.Records)

	var names []string
	for _, f := range sum {
		names = append(names, f.Function.Name())
	}
	assert.Equal(t, []string{
		"app.util.parse", "app.models.User.save", "app.log.emit", "app.http.fetch", "app.http.get_json",
		"app.mathx.clamp", "app.views.handle.<locals>.<lambda>", "app.feed.items", "app.feed.stream", "app.cli.banner", "app.cli.shutdown",
	}, names, "by calls, then resumptions, then name")

	parse := sum[0]
	assert.Equal(t, uint64(100250), parse.Calls)
	assert.Equal(t, 2, parse.Signatures)
	require.Len(t, parse.Top, 2)
	assert.Equal(t, "parse(a: int, b: str) -> int", aggregate.Signature(parse.Top[0], true))
	assert.Equal(t, uint64(100000), parse.Top[0].Calls)
	assert.Equal(t, "parse(a: int, b: None) -> None", aggregate.Signature(parse.Top[1], true))
	assert.Equal(t, "app.views", parse.Top[0].Caller.Module, "one caller: kept")
	assert.Equal(t, "3.11", parse.Top[0].Python)

	fetch := sum[3]
	assert.Equal(t, "app.http.fetch", fetch.Function.Name())
	assert.Equal(t, uint64(312), fetch.Calls)
	assert.Equal(t, uint64(12), fetch.Raised)
	require.Len(t, fetch.Top, 2, "calls that raised have no return type: another signature")
	assert.Equal(t, "fetch(url: str, *, timeout: float, retries: int)", aggregate.Signature(fetch.Top[1], true))
	assert.Equal(t, uint64(12), fetch.Top[1].Raised)
	assert.Zero(t, fetch.Top[0].Raised)

	getJSON := sum[4]
	assert.Equal(t, "app.http.get_json", getJSON.Function.Name())
	assert.Equal(t, []uint64{120, 120, 120, 2}, []uint64{getJSON.Calls, getJSON.Resumptions, getJSON.Created, getJSON.Raised})

	items := sum[7]
	assert.Equal(t, "app.feed.items", items.Function.Name())
	assert.Equal(t, uint64(40), items.Calls)
	assert.Equal(t, uint64(4000), items.Resumptions)
	assert.Equal(t, uint64(40), items.Created)
	assert.Zero(t, items.Raised)
	assert.Equal(t, aggregate.CodeGenerator, items.CodeKind)
	assert.Equal(t, 1, items.Signatures, "neither the untyped resumption records nor the record of created objects are signatures")
	assert.Equal(t, "items(n: int) -> yields int", aggregate.Signature(items.Top[0], true))
	assert.Zero(t, items.Top[0].Created, "the signature is of the calls that started a generator")
}

func TestSummarizeCreatedNeverStarted(t *testing.T) {
	// Generators created and never iterated: the record of their creation
	// carries the argument types, the resumptions (of others, started
	// before recapid attached) none.
	recs := []aggregate.Record{
		{Function: fn("m", "gen"), Params: []aggregate.Param{p("n", pk, "builtins.int")}, Created: 3, CodeKind: aggregate.CodeGenerator},
		{Function: fn("m", "gen"), Params: []aggregate.Param{p("n", pk, "")}, Yields: strp("builtins.str"), Resumptions: 9, CodeKind: aggregate.CodeGenerator},
	}
	sum := aggregate.Summarize(recs)
	require.Len(t, sum, 1)
	assert.Equal(t, uint64(3), sum[0].Created)
	assert.Equal(t, 1, sum[0].Signatures)
	assert.Equal(t, "gen(n: int)", aggregate.Signature(sum[0].Top[0], true))
	assert.Equal(t, uint64(3), sum[0].Top[0].Created)
}

func TestSummarizeMergesAcrossCallersAndPaths(t *testing.T) {
	c1, c2 := fn("app", "a"), fn("app", "b")
	venv := aggregate.Function{Module: "lib", Qualname: "f", File: "/venv/lib/f.py", Line: 3}
	system := aggregate.Function{Module: "lib", Qualname: "f", File: "/usr/lib/python3/dist-packages/lib/f.py", Line: 3}
	sig := []aggregate.Param{p("x", pk, "builtins.int")}
	recs := []aggregate.Record{
		{Function: venv, Caller: &c1, Params: sig, Calls: 10, Python: "3.11"},
		{Function: system, Caller: &c2, Params: sig, Calls: 30, Python: "3.12"},
		{Function: system, Caller: &c2, Params: []aggregate.Param{p("x", pk, "None")}, Calls: 5, Partial: true, Python: "3.12"},
	}
	sum := aggregate.Summarize(recs)
	require.Len(t, sum, 1, "one function, found at two paths")
	f := sum[0]
	assert.Equal(t, system, f.Function, "the path of the most called record")
	assert.Equal(t, uint64(45), f.Calls)
	assert.Equal(t, 2, f.Signatures)
	require.Len(t, f.Top, 2)
	assert.Equal(t, uint64(40), f.Top[0].Calls)
	assert.Nil(t, f.Top[0].Caller, "callers differ")
	assert.Empty(t, f.Top[0].Python, "versions differ")
	assert.Equal(t, uint64(5), f.Top[1].Calls)
	assert.True(t, f.Top[1].Partial)
	assert.Equal(t, "3.12", f.Top[1].Python)
}

func TestSummarizeOnlyResumptions(t *testing.T) {
	// Attached after the generator started: only resumptions were seen.
	recs := []aggregate.Record{{
		Function: fn("m", "gen"), Params: []aggregate.Param{p("n", pk, "")},
		Resumptions: 9, CodeKind: aggregate.CodeGenerator,
	}}
	sum := aggregate.Summarize(recs)
	require.Len(t, sum, 1)
	assert.Equal(t, 1, sum[0].Signatures)
	assert.Equal(t, "gen(n)", aggregate.Signature(sum[0].Top[0], true))
}

// Keyword-only parameters sit before *args in frame slots, after it in a def.
func TestSignatureDeclarationOrder(t *testing.T) {
	r := aggregate.Record{
		Function: aggregate.Function{Module: "m", Qualname: "star"},
		Params: []aggregate.Param{
			{Name: "x", Kind: aggregate.KindPositionalOrKeyword, Type: "builtins.int"},
			{Name: "key", Kind: aggregate.KindKeywordOnly, Type: "None"},
			{Name: "args", Kind: aggregate.KindVarPositional, Type: "builtins.tuple"},
			{Name: "kw", Kind: aggregate.KindVarKeyword, Type: "builtins.dict"},
		},
	}
	assert.Equal(t, "star(x: int, *args: tuple, key: None, **kw: dict)", aggregate.Signature(r, true))
}
