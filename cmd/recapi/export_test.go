package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/aggregate/aggregatetest"
)

// callsOf maps each record's key to its counts: calls, resumptions,
// raised, created.
func callsOf(recs []aggregate.Record) map[string][4]uint64 {
	out := map[string][4]uint64{}
	for _, r := range recs {
		k := r.Function.Name() + " " + fmtRecord(r)
		c := out[k]
		c[0] += r.Calls
		c[1] += r.Resumptions
		c[2] += r.Raised
		c[3] += r.Created
		out[k] = c
	}
	return out
}

func fmtRecord(r aggregate.Record) string {
	s := ""
	if r.Caller != nil {
		s += "<-" + r.Caller.Name()
	}
	for _, p := range r.Params {
		s += " " + p.Name + ":" + p.Type
	}
	if r.Returns != nil {
		s += " ->" + *r.Returns
	}
	if r.Yields != nil {
		s += " yields " + *r.Yields
	}
	return s + " " + r.CodeKind
}

func TestImportExportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	snap := sampleFile(t)
	db := "sqlite:" + filepath.Join(dir, "recapi.db")
	want := aggregatetest.Sample()

	code, _, stderr := recapi("import", "-store", db, snap)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "added")

	out := filepath.Join(dir, "out.recapi.zst")
	code, _, stderr = recapi("export", db, "-o", out)
	require.Equal(t, exitOK, code, stderr)
	got, err := aggregate.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, callsOf(want.Records), callsOf(got.Records))

	// Importing again adds the counts again.
	code, _, stderr = recapi("import", "-store", db, snap)
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = recapi("export", "-o", out, db) // flags after SRC too
	require.Equal(t, exitOK, code, stderr)
	got, err = aggregate.ReadFile(out)
	require.NoError(t, err)
	double := callsOf(want.Records)
	for k, c := range double {
		double[k] = [4]uint64{2 * c[0], 2 * c[1], 2 * c[2], 2 * c[3]}
	}
	assert.Equal(t, double, callsOf(got.Records))

	// show reads a store like a snapshot, and the default store when given nothing.
	code, stdout, stderr := recapi("show", "-top", "3", db)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "CALLS")
	t.Chdir(dir)
	code, stdout2, stderr := recapi("show", "-top", "3")
	require.Equal(t, exitOK, code, stderr)
	// The header names the source as given (an absolute path, then the
	// default ./recapi.db); the table below it is the same.
	assert.Contains(t, stdout, "# recorded 2025-06-01 12:00:00 UTC on "+db)
	assert.Contains(t, stdout2, "# recorded 2025-06-01 12:00:00 UTC on sqlite:./recapi.db")
	assert.Equal(t, withoutHeader(stdout), withoutHeader(stdout2))
}

// withoutHeader drops the "# " lines recapi show prints above its table.
func withoutHeader(out string) string {
	var keep []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if !strings.HasPrefix(l, "# ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

func TestExportErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, wantStderr string
		args             []string
		wantCode         int
	}{
		{name: "no output", args: []string{"export", sampleFile(t)}, wantCode: exitUsage, wantStderr: "missing -o FILE"},
		{name: "bad format", args: []string{"export", "-format", "csv", "-o", "x", sampleFile(t)}, wantCode: exitUsage, wantStderr: `-format "csv"`},
		{name: "store as output", args: []string{"export", "-o", "sqlite:x.db", sampleFile(t)}, wantCode: exitUsage, wantStderr: "use recapi import"},
		{name: "missing store", args: []string{"export", "-o", filepath.Join(dir, "x"), "sqlite:" + filepath.Join(dir, "none.db")}, wantCode: exitError, wantStderr: "no such file"},
		{name: "import nothing", args: []string{"import"}, wantCode: exitUsage, wantStderr: "missing SNAPSHOT"},
		{name: "import to a file", args: []string{"import", "-store", "x.db", sampleFile(t)}, wantCode: exitUsage, wantStderr: "use sqlite:PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := recapi(tt.args...)
			assert.Equal(t, tt.wantCode, code)
			assert.Contains(t, stderr, tt.wantStderr)
		})
	}
	_, err := os.Stat(filepath.Join(dir, "none.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "reading a store that is not there does not create it")
}

func TestParseType(t *testing.T) {
	mods := map[string]bool{"builtins": true, "app.models": true}
	tests := []struct{ in, want string }{
		{"builtins.int", `{"module": "builtins", "qualname": "int"}`},
		{"None", `{"module": "builtins", "qualname": "NoneType"}`},
		{"builtins.list", `{"module": "builtins", "qualname": "list"}`},
		{"builtins.list[builtins.int]", `{"elem_types": [{"module": "builtins", "qualname": "int"}], "module": "typing", "qualname": "List"}`},
		{"builtins.dict[builtins.str, builtins.list[None]]", `{"elem_types": [{"module": "builtins", "qualname": "str"}, {"elem_types": [{"module": "builtins", "qualname": "NoneType"}], "module": "typing", "qualname": "List"}], "module": "typing", "qualname": "Dict"}`},
		{"builtins.tuple[()]", `{"module": "builtins", "qualname": "tuple"}`},
		{"builtins.tuple[builtins.int, ...]", `{"module": "builtins", "qualname": "tuple"}`},
		{"builtins.tuple[builtins.int, builtins.str]", `{"elem_types": [{"module": "builtins", "qualname": "int"}, {"module": "builtins", "qualname": "str"}], "module": "typing", "qualname": "Tuple"}`},
		{"builtins.list[builtins.tuple[builtins.str, ...]]", `{"elem_types": [{"module": "builtins", "qualname": "tuple"}], "module": "typing", "qualname": "List"}`},
		{"builtins.list[()]", `{"module": "builtins", "qualname": "list"}`},
		{"builtins.int | None", `{"elem_types": [{"module": "builtins", "qualname": "int"}, {"module": "builtins", "qualname": "NoneType"}], "module": "typing", "qualname": "Union"}`},
		{"app.models.Order.Line", `{"module": "app.models", "qualname": "Order.Line"}`},
		{"collections.OrderedDict", `{"module": "collections", "qualname": "OrderedDict"}`},
		{"pkg.sub.thing", `{"module": "pkg.sub", "qualname": "thing"}`},
		{"__main__.Café", `{"module": "__main__", "qualname": "Caf\u00e9"}`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, pyJSON(typeDict(parseType(tt.in), mods)))
		})
	}
}

func TestMonkeyTypeRowsReturns(t *testing.T) {
	str := func(s string) *string { return &s }
	f := aggregate.Function{Module: "m", Qualname: "f"}
	x := []aggregate.Param{{Name: "x", Kind: aggregate.KindPositionalOrKeyword, Type: "builtins.int"}}
	rows := monkeyTypeRows([]aggregate.Record{
		{Function: f, Params: x, Returns: str("builtins.str"), Calls: 3},
		{Function: f, Params: x, Calls: 2, Raised: 2},                                                                                                    // raised: no return type
		{Function: aggregate.Function{Module: "m", Qualname: "g"}, Params: x, Yields: str("builtins.int"), Calls: 1},                                     // yielded: not a return
		{Function: aggregate.Function{Module: "m", Qualname: "h"}, Params: x, Yields: str("builtins.int"), Calls: 1, CodeKind: aggregate.CodeGenerator},  // a generator start
		{Function: aggregate.Function{Module: "m", Qualname: "h"}, Params: x, Returns: str("None"), Resumptions: 1, CodeKind: aggregate.CodeGenerator},   // no types: not a trace
		{Function: aggregate.Function{Module: "m", Qualname: "h"}, Params: x, Created: 4, CodeKind: aggregate.CodeGenerator},                             // created only: not a trace
		{Function: aggregate.Function{Module: "m", Qualname: "c"}, Params: x, Returns: str("builtins.str"), Calls: 1, CodeKind: aggregate.CodeCoroutine}, // a coroutine's value
	})
	var got []string
	for _, r := range rows {
		ret := "<none>"
		if r.returnType != nil {
			ret = *r.returnType
		}
		got = append(got, r.qualname+" "+r.argTypes+" -> "+ret)
	}
	arg := `{"x": {"module": "builtins", "qualname": "int"}}`
	assert.Equal(t, []string{
		"f " + arg + ` -> {"module": "builtins", "qualname": "str"}`,
		"f " + arg + " -> <none>",
		"g " + arg + " -> <none>",
		"h " + arg + " -> <none>",
		"c " + arg + " -> <none>",
	}, got)
}

// The MonkeyType export is read back by a small Python reader that follows
// MonkeyType's schema and encoding.
func TestExportMonkeyType(t *testing.T) {
	const python = "/usr/bin/python3.11"
	if _, err := os.Stat(python); err != nil {
		if os.Getenv("RECAPI_PRIVILEGED_TESTS") == "1" {
			t.Fatalf("needs %s (sudo scripts/install-deps.sh)", python)
		}
		t.Skipf("needs %s: install it with sudo scripts/install-deps.sh", python)
	}
	out := filepath.Join(t.TempDir(), "monkeytype.sqlite3")
	code, _, stderr := recapi("export", "-format", "monkeytype", "-o", out, sampleFile(t))
	require.Equal(t, exitOK, code, stderr)
	got, err := exec.Command(python, filepath.Join("testdata", "monkeytype_reader.py"), out).CombinedOutput()
	require.NoError(t, err, "%s", got)
	golden(t, "export_monkeytype", got)

	// Written again over the old file: replaced whole, not appended to.
	code, _, stderr = recapi("export", "-format", "monkeytype", "-o", out, sampleFile(t))
	require.Equal(t, exitOK, code, stderr)
	again, err := exec.Command(python, filepath.Join("testdata", "monkeytype_reader.py"), out).CombinedOutput()
	require.NoError(t, err, "%s", again)
	assert.Equal(t, string(got), string(again))
	ents, _ := os.ReadDir(filepath.Dir(out))
	assert.Len(t, ents, 1, "no temporary files left")
}
