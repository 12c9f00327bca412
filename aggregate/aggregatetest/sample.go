// Package aggregatetest builds realistic snapshots for tests of aggregate and
// of the packages that consume its records (the recapi CLI, stubs, stores).
package aggregatetest

import (
	"time"

	"github.com/recapi/recapi/aggregate"
)

// Created is the fixed creation time of Sample, so output that shows it stays
// the same from run to run.
var Created = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Sample returns a snapshot of a small web app traced under Python 3.11: a
// module function called 100000 times with (int, str), a method with self, a
// generator with the objects it created, its yields, its resumptions and its
// final return, a coroutine that suspends, returns and sometimes raises, an
// async generator, a function that sometimes raises, *args and **kwargs,
// keyword-only and positional-only parameters, a lambda called from C, a
// nested class as a type, a partial record and element types with
// brackets. Records are in Aggregator order. Each call returns a fresh
// snapshot that the caller may change.
func Sample() *aggregate.Snapshot {
	handle := &aggregate.Function{Module: "app.views", Qualname: "handle", File: "/srv/app/views.py", Line: 12}
	a := aggregate.NewAggregator()
	for _, r := range sampleRecords(handle) {
		a.Add(r)
	}
	return &aggregate.Snapshot{
		Header: aggregate.Header{
			Snapshot: aggregate.SnapshotVersion,
			Created:  Created,
			Host:     "build-7",
			Mode:     aggregate.ModeExact,
			Interpreters: []aggregate.Interpreter{
				{PID: 4242, Python: "3.11.2", Path: "/usr/bin/python3.11", Command: []string{"python3", "-m", "app"}},
			},
			Stats: map[string]uint64{"dropped_calls": 0, "lost_events": 3},
		},
		Records: a.Records(),
	}
}

func str(s string) *string { return &s }

func param(name, kind, typ string) aggregate.Param {
	return aggregate.Param{Name: name, Kind: kind, Type: typ}
}

const (
	pk     = aggregate.KindPositionalOrKeyword
	po     = aggregate.KindPositionalOnly
	varPos = aggregate.KindVarPositional
	kwOnly = aggregate.KindKeywordOnly
	varKw  = aggregate.KindVarKeyword
)

func sampleRecords(handle *aggregate.Function) []aggregate.Record {
	parse := aggregate.Function{Module: "app.util", Qualname: "parse", File: "/srv/app/util.py", Line: 3}
	items := aggregate.Function{Module: "app.feed", Qualname: "items", File: "/srv/app/feed.py", Line: 20}
	stream := aggregate.Function{Module: "app.feed", Qualname: "stream", File: "/srv/app/feed.py", Line: 31}
	fetch := aggregate.Function{Module: "app.http", Qualname: "fetch", File: "/srv/app/http.py", Line: 30}
	fetchParams := func() []aggregate.Param {
		return []aggregate.Param{param("url", pk, "builtins.str"), param("timeout", kwOnly, "builtins.float"), param("retries", kwOnly, "builtins.int")}
	}
	getJSON := aggregate.Function{Module: "app.http", Qualname: "get_json", File: "/srv/app/http.py", Line: 55}
	return []aggregate.Record{
		{
			Function: parse, Caller: handle,
			Params:  []aggregate.Param{param("a", pk, "builtins.int"), param("b", pk, "builtins.str")},
			Returns: str("builtins.int"), Calls: 100000, Python: "3.11",
		},
		{
			Function: parse, Caller: &aggregate.Function{Module: "app.cli", Qualname: "main", File: "/srv/app/cli.py", Line: 40},
			Params:  []aggregate.Param{param("a", pk, "builtins.int"), param("b", pk, "None")},
			Returns: str("None"), Calls: 250, Python: "3.11",
		},
		{
			Function: aggregate.Function{Module: "app.models", Qualname: "User.save", File: "/srv/app/models.py", Line: 88},
			Caller:   handle,
			Params:   []aggregate.Param{param("self", pk, "app.models.User"), param("force", pk, "builtins.bool")},
			Returns:  str("None"), Calls: 1200, Python: "3.11",
		},
		{
			// Calling a generator function only creates the generator.
			Function: items, Caller: handle,
			Params:  []aggregate.Param{param("n", pk, "builtins.int")},
			Created: 40, CodeKind: aggregate.CodeGenerator, Python: "3.11",
		},
		{
			// Its first next() starts it: a call, which yields.
			Function: items, Caller: handle,
			Params: []aggregate.Param{param("n", pk, "builtins.int")},
			Yields: str("builtins.int"), Calls: 40, CodeKind: aggregate.CodeGenerator, Python: "3.11",
		},
		{
			// Resumptions carry no types: the arguments were bound at the start.
			Function: items, Caller: handle,
			Params: []aggregate.Param{param("n", pk, "")},
			Yields: str("builtins.int"), Resumptions: 3960, CodeKind: aggregate.CodeGenerator, Python: "3.11",
		},
		{
			// The last resumption of each generator returns.
			Function: items, Caller: handle,
			Params:  []aggregate.Param{param("n", pk, "")},
			Returns: str("None"), Resumptions: 40, CodeKind: aggregate.CodeGenerator, Python: "3.11",
		},
		{
			Function: stream, Caller: handle,
			Params:  []aggregate.Param{param("chunk", pk, "builtins.int")},
			Created: 5, CodeKind: aggregate.CodeAsyncGenerator, Python: "3.11",
		},
		{
			Function: stream, Caller: handle,
			Params: []aggregate.Param{param("chunk", pk, "builtins.int")},
			Yields: str("builtins.bytes"), Calls: 5, CodeKind: aggregate.CodeAsyncGenerator, Python: "3.11",
		},
		{
			Function: stream, Caller: handle,
			Params: []aggregate.Param{param("chunk", pk, "")},
			Yields: str("builtins.bytes"), Resumptions: 45, CodeKind: aggregate.CodeAsyncGenerator, Python: "3.11",
		},
		{
			Function: stream, Caller: handle,
			Params:  []aggregate.Param{param("chunk", pk, "")},
			Returns: str("None"), Resumptions: 5, CodeKind: aggregate.CodeAsyncGenerator, Python: "3.11",
		},
		{
			Function: aggregate.Function{Module: "app.log", Qualname: "emit", File: "/srv/app/log.py", Line: 7},
			Caller:   handle,
			Params: []aggregate.Param{
				param("msg", pk, "builtins.str"),
				param("args", varPos, "builtins.tuple[builtins.int, builtins.str]"),
				param("kwargs", varKw, "builtins.dict[builtins.str, builtins.list[builtins.int]]"),
			},
			Returns: str("None"), Calls: 900, Python: "3.11",
		},
		{
			Function: fetch, Caller: handle, Params: fetchParams(),
			Returns: str("builtins.bytes"), Calls: 300, Python: "3.11",
		},
		{
			// Calls that raised return nothing.
			Function: fetch, Caller: handle, Params: fetchParams(),
			Calls: 12, Raised: 12, Python: "3.11",
		},
		{
			Function: getJSON, Caller: handle,
			Params:  []aggregate.Param{param("url", pk, "builtins.str")},
			Created: 120, CodeKind: aggregate.CodeCoroutine, Python: "3.11",
		},
		{
			// The first await suspends the coroutine on a future.
			Function: getJSON, Caller: handle,
			Params: []aggregate.Param{param("url", pk, "builtins.str")},
			Yields: str("_asyncio.Future"), Calls: 120, CodeKind: aggregate.CodeCoroutine, Python: "3.11",
		},
		{
			Function: getJSON, Caller: handle,
			Params:      []aggregate.Param{param("url", pk, "")},
			Returns:     str("builtins.dict[builtins.str, builtins.list[builtins.int]]"),
			Resumptions: 118, CodeKind: aggregate.CodeCoroutine, Python: "3.11",
		},
		{
			Function: getJSON, Caller: handle,
			Params:      []aggregate.Param{param("url", pk, "")},
			Resumptions: 2, Raised: 2, CodeKind: aggregate.CodeCoroutine, Python: "3.11",
		},
		{
			Function: aggregate.Function{Module: "app.mathx", Qualname: "clamp", File: "/srv/app/mathx.py", Line: 1},
			Caller:   &aggregate.Function{Module: "app.util", Qualname: "parse", File: "/srv/app/util.py", Line: 3},
			Params: []aggregate.Param{
				param("x", po, "builtins.int"), param("lo", po, "builtins.int"),
				param("hi", pk, "builtins.int"), param("strict", kwOnly, "builtins.bool"),
			},
			Returns: str("builtins.int"), Calls: 75, Python: "3.11",
		},
		{
			// Called from C (sorted(key=...)): no Python caller.
			Function: aggregate.Function{Module: "app.views", Qualname: "handle.<locals>.<lambda>", File: "/srv/app/views.py", Line: 19},
			Params:   []aggregate.Param{param("row", pk, "app.views.Outer.Inner")},
			Returns:  str("builtins.tuple[builtins.int, builtins.str]"), Calls: 60, Python: "3.11",
		},
		{
			Function: aggregate.Function{Module: "app.cli", Qualname: "shutdown", File: "/srv/app/cli.py", Line: 90},
			Params:   []aggregate.Param{param("code", pk, "")},
			Calls:    1, Partial: true, Python: "3.11",
		},
		{
			Function: aggregate.Function{Module: "app.cli", Qualname: "banner", File: "/srv/app/cli.py", Line: 80},
			Returns:  str("builtins.str"), Calls: 1, Python: "3.11",
		},
	}
}
