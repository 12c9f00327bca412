package infer_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/infer"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "plain", in: "builtins.int", want: "builtins.int"},
		{name: "none", in: "None", want: "None"},
		{name: "nonetype", in: "builtins.NoneType", want: "None"},
		{name: "nested", in: "builtins.dict[builtins.str, builtins.list[builtins.int]]", want: "builtins.dict[builtins.str, builtins.list[builtins.int]]"},
		{name: "tuple", in: "builtins.tuple[builtins.int,builtins.str]", want: "builtins.tuple[builtins.int, builtins.str]"},
		{name: "empty tuple", in: "builtins.tuple[()]", want: "builtins.tuple[()]"},
		{name: "empty brackets", in: "builtins.list[]", want: "builtins.list[()]"},
		{name: "var tuple", in: "builtins.tuple[builtins.int, ...]", want: "builtins.tuple[builtins.int, ...]"},
		{name: "var tuple no space", in: "builtins.tuple[builtins.int,...]", want: "builtins.tuple[builtins.int, ...]"},
		{name: "var tuple of containers", in: "builtins.tuple[builtins.dict[builtins.str, builtins.list[()]], ...]", want: "builtins.tuple[builtins.dict[builtins.str, builtins.list[()]], ...]"},
		{name: "var tuple inside a dict", in: "builtins.dict[builtins.str, builtins.tuple[builtins.int, ...]]", want: "builtins.dict[builtins.str, builtins.tuple[builtins.int, ...]]"},
		{name: "pair", in: "builtins.tuple[builtins.int, builtins.str]", want: "builtins.tuple[builtins.int, builtins.str]"},
		{name: "empty list", in: "builtins.list[()]", want: "builtins.list[()]"},
		{name: "empty dict", in: "builtins.dict[()]", want: "builtins.dict[()]"},
		{name: "union element", in: "builtins.list[builtins.int | None]", want: "builtins.list[builtins.int | None]"},
		{name: "ellipsis alone", in: "...", wantErr: true},
		{name: "ellipsis in a union", in: "builtins.tuple[builtins.int | ...]", wantErr: true},
		{name: "ellipsis before a union", in: "builtins.tuple[... | builtins.int]", wantErr: true},
		{name: "ellipsis at the top of a union", in: "builtins.int | ...", wantErr: true},
		{name: "unclosed var tuple", in: "builtins.tuple[builtins.int, ...", wantErr: true},
		{name: "union", in: "builtins.int | None", want: "builtins.int | None"},
		{name: "nested class", in: "__main__.Outer.Inner", want: "__main__.Outer.Inner"},
		{name: "unclosed", in: "builtins.list[builtins.int", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "trailing", in: "builtins.int]", wantErr: true},
		{name: "missing arg", in: "builtins.dict[, builtins.int]", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := infer.Parse(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.String())
		})
	}
}

func TestParseStructure(t *testing.T) {
	got := infer.MustParse("builtins.tuple[builtins.int, ...]")
	assert.Equal(t, infer.Type{Name: "builtins.tuple", Args: []infer.Type{{Name: "builtins.int"}, {Name: infer.Ellipsis}}}, got)
	got = infer.MustParse("builtins.list[()]")
	assert.Equal(t, infer.Type{Name: "builtins.list", Empty: true}, got)
	got = infer.MustParse("builtins.dict[builtins.str, builtins.list[builtins.int]]")
	assert.Equal(t, infer.Type{Name: "builtins.dict", Args: []infer.Type{{Name: "builtins.str"}, {Name: "builtins.list", Args: []infer.Type{{Name: "builtins.int"}}}}}, got)
}

func TestSimplifyRules(t *testing.T) {
	all := infer.DefaultOptions()
	off := func(f func(*infer.Options)) infer.Options {
		o := infer.DefaultOptions()
		f(&o)
		return o
	}
	tests := []struct {
		name string
		in   []string
		o    infer.Options
		want string
	}{
		{name: "single", in: []string{"builtins.int"}, o: all, want: "builtins.int"},
		{name: "optional", in: []string{"None", "builtins.str"}, o: all, want: "builtins.str | None"},
		{name: "optional off", in: []string{"None", "builtins.str"}, o: off(func(o *infer.Options) { o.Optional = false }), want: "builtins.str"},
		{name: "only none", in: []string{"None"}, o: off(func(o *infer.Options) { o.Optional = false }), want: "None"},
		{name: "drop empty", in: []string{"builtins.list[()]", "builtins.list[builtins.int]"}, o: all, want: "builtins.list[builtins.int]"},
		{name: "drop empty off", in: []string{"builtins.list[()]", "builtins.list[builtins.int]"}, o: off(func(o *infer.Options) { o.DropEmpty = false }), want: "builtins.list[()] | builtins.list[builtins.int]"},
		{name: "empty alone kept", in: []string{"builtins.dict[()]"}, o: all, want: "builtins.dict[()]"},
		{name: "numeric tower", in: []string{"builtins.int", "builtins.float"}, o: all, want: "builtins.float"},
		{name: "complex", in: []string{"builtins.int", "builtins.float", "builtins.complex"}, o: all, want: "builtins.complex"},
		{name: "numeric tower off", in: []string{"builtins.int", "builtins.float"}, o: off(func(o *infer.Options) { o.NumericTower = false }), want: "builtins.float | builtins.int"},
		{name: "bool kept", in: []string{"builtins.bool", "builtins.int"}, o: all, want: "builtins.bool | builtins.int"},
		{name: "bool kept with float", in: []string{"builtins.bool", "builtins.float"}, o: all, want: "builtins.bool | builtins.float"},
		{name: "bool folded", in: []string{"builtins.bool", "builtins.int"}, o: off(func(o *infer.Options) { o.KeepBool = false }), want: "builtins.int"},
		{name: "merge elements", in: []string{"builtins.list[builtins.int]", "builtins.list[builtins.str]"}, o: all, want: "builtins.list[builtins.int | builtins.str]"},
		{name: "merge dict values with tower", in: []string{"builtins.dict[builtins.str, builtins.int]", "builtins.dict[builtins.str, builtins.float]"}, o: all, want: "builtins.dict[builtins.str, builtins.float]"},
		{name: "merge tuples same length", in: []string{"builtins.tuple[builtins.int, builtins.str]", "builtins.tuple[builtins.int, None]"}, o: all, want: "builtins.tuple[builtins.int, builtins.str | None]"},
		{name: "merge tuples other length", in: []string{"builtins.tuple[builtins.int]", "builtins.tuple[builtins.int, builtins.str]"}, o: all, want: "builtins.tuple[builtins.int | builtins.str, ...]"},
		{name: "merge var tuples", in: []string{"builtins.tuple[builtins.int, ...]", "builtins.tuple[builtins.str, ...]"}, o: all, want: "builtins.tuple[builtins.int | builtins.str, ...]"},
		{name: "merge var tuple and pair", in: []string{"builtins.tuple[builtins.int, ...]", "builtins.tuple[builtins.int, builtins.str]"}, o: all, want: "builtins.tuple[builtins.int | builtins.str, ...]"},
		{name: "merge var tuple and single", in: []string{"builtins.tuple[builtins.int, ...]", "builtins.tuple[builtins.float]"}, o: all, want: "builtins.tuple[builtins.float, ...]"},
		{name: "var tuple and empty tuple", in: []string{"builtins.tuple[builtins.int, ...]", "builtins.tuple[()]"}, o: all, want: "builtins.tuple[builtins.int, ...]"},
		{name: "merge off", in: []string{"builtins.list[builtins.int]", "builtins.list[builtins.str]"}, o: off(func(o *infer.Options) { o.MergeElements = false }), want: "builtins.list[builtins.int] | builtins.list[builtins.str]"},
		{name: "large union to object", in: []string{"a.A", "a.B", "a.C", "a.D", "a.E", "a.F", "None"}, o: all, want: "builtins.object | None"},
		{name: "large union to any", in: []string{"a.A", "a.B", "a.C", "a.D", "a.E", "a.F"}, o: off(func(o *infer.Options) { o.Fallback = "typing.Any" }), want: "typing.Any"},
		{name: "large union to base", in: []string{"a.A", "a.B", "a.C"}, o: off(func(o *infer.Options) {
			o.LargeUnion = 2
			o.Bases = map[string][]string{"a.A": {"a.Base", "builtins.object"}, "a.B": {"a.Mid", "a.Base", "builtins.object"}, "a.C": {"a.Base", "builtins.object"}}
		}), want: "a.Base"},
		{name: "large union builtin bases", in: []string{"builtins.KeyError", "builtins.IndexError", "builtins.ValueError"}, o: off(func(o *infer.Options) { o.LargeUnion = 2 }), want: "builtins.Exception"},
		{name: "large union off", in: []string{"a.A", "a.B", "a.C", "a.D", "a.E", "a.F"}, o: off(func(o *infer.Options) { o.LargeUnion = 0 }), want: "a.A | a.B | a.C | a.D | a.E | a.F"},
		{name: "five kept", in: []string{"a.A", "a.B", "a.C", "a.D", "a.E", "None"}, o: all, want: "a.A | a.B | a.C | a.D | a.E | None"},
		{name: "all off", in: []string{"builtins.int", "builtins.float", "None"}, o: infer.Options{}, want: "builtins.float | builtins.int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var obs []infer.Observed
			for _, s := range tt.in {
				obs = append(obs, infer.Observed{Type: s, Calls: 1})
			}
			got, ok := infer.Infer(obs, tt.o)
			require.True(t, ok)
			assert.Equal(t, tt.want, got.String())
		})
	}
}

func TestInferNothingKnown(t *testing.T) {
	_, ok := infer.Infer([]infer.Observed{{Type: ""}, {Type: "builtins.list["}}, infer.DefaultOptions())
	assert.False(t, ok)
}

func p(name, kind, typ string) aggregate.Param {
	return aggregate.Param{Name: name, Kind: kind, Type: typ}
}

func TestMethodKind(t *testing.T) {
	pk := aggregate.KindPositionalOrKeyword
	tests := []struct {
		name     string
		qualname string
		binding  string
		params   []aggregate.Param
		want     string
	}{
		{name: "function", qualname: "f", params: []aggregate.Param{p("self", pk, "m.A")}, want: infer.KindFunction},
		{name: "nested function", qualname: "f.<locals>.g", params: []aggregate.Param{p("self", pk, "m.A")}, want: infer.KindFunction},
		{name: "method", qualname: "A.f", params: []aggregate.Param{p("self", pk, "m.A")}, want: infer.KindMethod},
		{name: "classmethod", qualname: "A.make", params: []aggregate.Param{p("cls", pk, "builtins.type")}, want: infer.KindClassMethod},
		{name: "classmethod metaclass", qualname: "A.make", params: []aggregate.Param{p("cls", pk, "abc.ABCMeta")}, want: infer.KindClassMethod},
		{name: "metaclass method", qualname: "Meta.__call__", params: []aggregate.Param{p("cls", pk, "m.Meta")}, want: infer.KindMethod},
		{name: "staticmethod", qualname: "A.check", params: []aggregate.Param{p("x", pk, "builtins.int")}, want: infer.KindStaticMethod},
		{name: "staticmethod no params", qualname: "A.check", want: infer.KindStaticMethod},
		{name: "binding wins", qualname: "A.f", binding: aggregate.BindingClass, params: []aggregate.Param{p("klass", pk, "builtins.type")}, want: infer.KindClassMethod},
		{name: "binding instance", qualname: "A.f", binding: aggregate.BindingInstance, params: []aggregate.Param{p("this", pk, "m.A")}, want: infer.KindMethod},
		{name: "__new__", qualname: "A.__new__", params: []aggregate.Param{p("cls", pk, "builtins.type")}, want: infer.KindImplicitClassMethod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := aggregate.Record{Function: aggregate.Function{Module: "m", Qualname: tt.qualname}, Params: tt.params, Binding: tt.binding, Calls: 1}
			assert.Equal(t, tt.want, infer.MethodKind([]aggregate.Record{r}, infer.DefaultOptions()))
		})
	}
}

func strp(s string) *string { return &s }

func TestSelfReturn(t *testing.T) {
	pk := aggregate.KindPositionalOrKeyword
	rec := func(qual, self, ret string) aggregate.Record {
		r := aggregate.Record{Function: aggregate.Function{Module: "m", Qualname: qual}, Params: []aggregate.Param{p("self", pk, self)}, Calls: 1}
		if ret != "" {
			r.Returns = strp(ret)
		}
		return r
	}
	tests := []struct {
		name string
		recs []aggregate.Record
		kind string
		want bool
	}{
		{name: "returns self", recs: []aggregate.Record{rec("A.copy", "m.A", "m.A"), rec("A.copy", "m.B", "m.B")}, kind: infer.KindMethod, want: true},
		{name: "returns other", recs: []aggregate.Record{rec("A.copy", "m.A", "m.A"), rec("A.copy", "m.B", "m.A")}, kind: infer.KindMethod},
		{name: "no returns", recs: []aggregate.Record{rec("A.copy", "m.A", "")}, kind: infer.KindMethod},
		{name: "classmethod", recs: []aggregate.Record{rec("A.make", "builtins.type", "m.A")}, kind: infer.KindClassMethod, want: true},
		{name: "classmethod type arg", recs: []aggregate.Record{rec("A.make", "builtins.type[m.B]", "m.B")}, kind: infer.KindClassMethod, want: true},
		{name: "function", recs: []aggregate.Record{rec("copy", "m.A", "m.A")}, kind: infer.KindFunction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, infer.SelfReturn(tt.recs, tt.kind))
		})
	}
}

func TestAnalyze(t *testing.T) {
	pk := aggregate.KindPositionalOrKeyword
	yes := true
	f := aggregate.Function{Module: "lib.core", Qualname: "run"}
	recs := []aggregate.Record{
		{Function: f, Caller: &aggregate.Function{Module: "app.views", Qualname: "a"}, Params: []aggregate.Param{p("x", pk, "builtins.int"), {Name: "y", Kind: pk, Type: "None", HasDefault: &yes}}, Calls: 10},
		{Function: f, Caller: &aggregate.Function{Module: "app.cli", Qualname: "b"}, Params: []aggregate.Param{p("x", pk, "builtins.float"), p("y", pk, "builtins.str")}, Calls: 5},
		{Function: f, Params: []aggregate.Param{p("x", pk, "builtins.int"), p("y", pk, "None")}, Calls: 1},
	}
	got := infer.Analyze(recs, infer.DefaultOptions())
	require.Len(t, got, 1)
	fn := got[0]
	assert.Equal(t, uint64(16), fn.Calls)
	assert.Equal(t, infer.KindFunction, fn.Kind)
	assert.Equal(t, "builtins.float", fn.Params[0].Type.String())
	assert.Equal(t, "builtins.str | None", fn.Params[1].Type.String())
	assert.True(t, fn.Params[1].HasDefault)
	assert.Equal(t, map[string]uint64{"None": 11, "builtins.str": 5}, fn.Params[1].Types)
	assert.Equal(t, uint64(15), fn.Callers["app"].Calls)
	assert.Equal(t, 2, fn.Callers["app"].Functions)
	assert.Equal(t, uint64(1), fn.Callers[infer.CallerFromC].Calls)
	assert.Len(t, fn.Signatures, 2)
	assert.Equal(t, uint64(11), fn.Signatures[0].Calls)
}

func TestAnalyzeGenerator(t *testing.T) {
	pk := aggregate.KindPositionalOrKeyword
	f := aggregate.Function{Module: "app.feed", Qualname: "items"}
	caller := &aggregate.Function{Module: "app.views", Qualname: "handle"}
	gen := aggregate.CodeGenerator
	recs := []aggregate.Record{
		{Function: f, Caller: caller, Params: []aggregate.Param{p("n", pk, "builtins.int")}, Created: 40, CodeKind: gen},
		{Function: f, Caller: caller, Params: []aggregate.Param{p("n", pk, "builtins.int")}, Yields: strp("builtins.int"), Calls: 38, CodeKind: gen},
		// Started and returned at once (an empty generator).
		{Function: f, Caller: caller, Params: []aggregate.Param{p("n", pk, "builtins.int")}, Returns: strp("None"), Calls: 2, CodeKind: gen},
		{Function: f, Caller: caller, Params: []aggregate.Param{p("n", pk, "")}, Yields: strp("builtins.int"), Resumptions: 900, CodeKind: gen},
		{Function: f, Caller: caller, Params: []aggregate.Param{p("n", pk, "")}, Yields: strp("builtins.bool"), Resumptions: 10, CodeKind: gen},
		{Function: f, Caller: caller, Params: []aggregate.Param{p("n", pk, "")}, Returns: strp("None"), Resumptions: 30, CodeKind: gen},
		{Function: f, Caller: caller, Params: []aggregate.Param{p("n", pk, "")}, Resumptions: 6, Raised: 6, CodeKind: gen},
	}
	got := infer.Analyze(recs, infer.DefaultOptions())
	require.Len(t, got, 1)
	fn := got[0]
	assert.Equal(t, []uint64{40, 946, 6, 40}, []uint64{fn.Calls, fn.Resumptions, fn.Raised, fn.Created})
	assert.Equal(t, map[string]uint64{"builtins.int": 938, "builtins.bool": 10}, fn.Yields, "by calls and resumptions")
	assert.Equal(t, map[string]uint64{"None": 32}, fn.Returns, "the start that returned and the last resumptions")
	require.True(t, fn.HasYield)
	assert.Equal(t, "builtins.bool | builtins.int", fn.Yield.String())
	require.True(t, fn.HasReturn)
	assert.Equal(t, "None", fn.Return.String())
	assert.Equal(t, map[string]uint64{"builtins.int": 40}, fn.Params[0].Types, "param types count calls, not creations")
	assert.Equal(t, uint64(40), fn.Callers["app"].Calls)
	require.Len(t, fn.Signatures, 2, "yielding and returning starts")
	assert.Equal(t, "items(n: builtins.int) -> yields builtins.int", aggregate.Signature(fn.Signatures[0].Record, false))
}

func TestAnalyzeRaisedAndReturns(t *testing.T) {
	pk := aggregate.KindPositionalOrKeyword
	f := aggregate.Function{Module: "m", Qualname: "f"}
	recs := []aggregate.Record{
		{Function: f, Params: []aggregate.Param{p("x", pk, "builtins.int")}, Returns: strp("builtins.int"), Calls: 7},
		{Function: f, Params: []aggregate.Param{p("x", pk, "builtins.str")}, Calls: 3, Raised: 3},
	}
	fn := infer.Analyze(recs, infer.DefaultOptions())[0]
	assert.Equal(t, uint64(10), fn.Calls)
	assert.Equal(t, uint64(3), fn.Raised)
	assert.Equal(t, map[string]uint64{"builtins.int": 7}, fn.Returns, "calls that raised return nothing")
	assert.Nil(t, fn.Yields)
	assert.False(t, fn.HasYield)
	assert.Equal(t, "builtins.int | builtins.str", fn.Params[0].Type.String())

	// Nothing but raising: no return type is made up.
	fn = infer.Analyze(recs[1:], infer.DefaultOptions())[0]
	assert.Nil(t, fn.Returns)
	assert.False(t, fn.HasReturn)
}

func TestAnalyzeSelfReturnByCodeKind(t *testing.T) {
	pk := aggregate.KindPositionalOrKeyword
	rec := func(kind string) []aggregate.Record {
		f := aggregate.Function{Module: "m", Qualname: "A.f"}
		return []aggregate.Record{{Function: f, Params: []aggregate.Param{p("self", pk, "m.A")}, Returns: strp("m.A"), Calls: 1, CodeKind: kind}}
	}
	assert.True(t, infer.Analyze(rec(""), infer.DefaultOptions())[0].SelfReturn)
	assert.True(t, infer.Analyze(rec(aggregate.CodeCoroutine), infer.DefaultOptions())[0].SelfReturn, "async def f(self) -> Self")
	assert.False(t, infer.Analyze(rec(aggregate.CodeGenerator), infer.DefaultOptions())[0].SelfReturn, "a generator's return value is not what calling it gives")
}

func TestAnalyzeCreatedNeverStarted(t *testing.T) {
	pk := aggregate.KindPositionalOrKeyword
	f := aggregate.Function{Module: "m", Qualname: "lazy"}
	caller := &aggregate.Function{Module: "app.views", Qualname: "v"}
	recs := []aggregate.Record{
		{Function: f, Caller: caller, Params: []aggregate.Param{p("n", pk, "builtins.int")}, Created: 3, CodeKind: aggregate.CodeGenerator},
		{Function: f, Params: []aggregate.Param{p("n", pk, "None")}, Created: 1, CodeKind: aggregate.CodeGenerator},
	}
	fn := infer.Analyze(recs, infer.DefaultOptions())[0]
	assert.Zero(t, fn.Calls)
	assert.Equal(t, uint64(4), fn.Created)
	assert.Equal(t, map[string]uint64{"builtins.int": 3, "None": 1}, fn.Params[0].Types, "creations count when nothing started")
	assert.Equal(t, "builtins.int | None", fn.Params[0].Type.String())
	assert.Equal(t, uint64(3), fn.Callers["app"].Calls)
	assert.Equal(t, uint64(1), fn.Callers[infer.CallerFromC].Calls)

	// Once one started, only starts count.
	recs = append(recs, aggregate.Record{Function: f, Params: []aggregate.Param{p("n", pk, "builtins.str")}, Calls: 1, CodeKind: aggregate.CodeGenerator})
	fn = infer.Analyze(recs, infer.DefaultOptions())[0]
	assert.Equal(t, map[string]uint64{"builtins.str": 1}, fn.Params[0].Types)
}
