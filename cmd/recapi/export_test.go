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

// callsOf maps each record's key (as show --json prints it, without
// counts) to its calls.
func callsOf(recs []aggregate.Record) map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range recs {
		c := r.Calls
		r.Calls, r.Resumptions = 0, 0
		if r.Params == nil {
			r.Params = []aggregate.Param{}
		}
		out[r.Function.Name()+" "+fmtRecord(r)] += c
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
	for k := range double {
		double[k] *= 2
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
