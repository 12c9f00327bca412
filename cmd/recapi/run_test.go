package main

import (
	"bytes"
	"encoding/json"
	"github.com/recapi/recapi/internal/testutil"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/aggregate/aggregatetest"
)

// golden compares got with testdata/NAME.golden (testutil.Golden).
func golden(t *testing.T, name string, got []byte) { testutil.Golden(t, name, got) }

// recapi runs the CLI as main would and returns its exit code and output.
func recapi(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// sampleFile writes aggregatetest.Sample to a snapshot file.
func sampleFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sample.recapi.zst")
	require.NoError(t, aggregate.WriteFile(path, aggregatetest.Sample()))
	return path
}

func TestShowGolden(t *testing.T) {
	path := sampleFile(t)
	tests := []struct {
		name string
		args []string
	}{
		{name: "show", args: []string{"show", path}},
		{name: "show_top3", args: []string{"show", "-top", "3", path}},
		{name: "show_module", args: []string{"show", "--module", "app.http", path}},
		{name: "show_json", args: []string{"show", "--json", path}},
		{name: "show_json_module", args: []string{"show", "-json", "-module", "app.cli", path}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := recapi(tt.args...)
			assert.Equal(t, exitOK, code)
			assert.Empty(t, stderr)
			golden(t, tt.name, []byte(stdout))
		})
	}
}

func TestShowFlagsAfterFile(t *testing.T) {
	path := sampleFile(t)
	_, want, _ := recapi("show", "-json", "-top", "2", path)
	code, got, stderr := recapi("show", path, "--top=2", "--json")
	assert.Equal(t, exitOK, code, stderr)
	assert.Equal(t, want, got)
}

func TestShowJSONIsTheSnapshot(t *testing.T) {
	code, stdout, stderr := recapi("show", "--json", sampleFile(t))
	require.Equal(t, exitOK, code, stderr)
	var got aggregate.Snapshot
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	want := aggregatetest.Sample()
	assert.True(t, want.Header.Created.Equal(got.Header.Created))
	got.Header.Created = want.Header.Created
	for i := range got.Records {
		if len(got.Records[i].Params) == 0 {
			got.Records[i].Params = nil
		}
	}
	assert.Equal(t, want, &got)
}

func TestShowEmptySnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.recapi.zst")
	require.NoError(t, aggregate.WriteFile(path, &aggregate.Snapshot{Header: aggregate.Header{Created: aggregatetest.Created, Mode: aggregate.ModeExact}}))

	code, stdout, _ := recapi("show", path)
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "# recorded 2025-06-01 12:00:00 UTC on an unknown host, mode exact: 0 call shapes from 0 interpreter(s)\n"+
		"CALLS  FUNCTION  SIGNATURES  MOST COMMON SIGNATURE\n", stdout)

	code, stdout, _ = recapi("show", "--json", path)
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, `"interpreters": []`)
	assert.Contains(t, stdout, `"records": []`)
}

func TestShowErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(sampleFile(t))
	require.NoError(t, err)
	truncated := filepath.Join(dir, "truncated.recapi.zst")
	require.NoError(t, os.WriteFile(truncated, good[:len(good)/2], 0o644))
	plain := filepath.Join(dir, "plain.jsonl")
	require.NoError(t, os.WriteFile(plain, []byte(`{"recapi_snapshot":1}`+"\n"), 0o644))
	missing := filepath.Join(dir, "missing.recapi.zst")

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string // a regexp
	}{
		{name: "missing file", args: []string{"show", missing}, wantCode: exitError,
			wantStderr: `^recapi show: read snapshot: open ` + regexp.QuoteMeta(missing) + `: no such file or directory\n$`},
		{name: "truncated file", args: []string{"show", truncated}, wantCode: exitError,
			wantStderr: `^recapi show: read snapshot ` + regexp.QuoteMeta(truncated) + `: truncated file .*cut short`},
		{name: "not compressed", args: []string{"show", "--json", plain}, wantCode: exitError,
			wantStderr: `^recapi show: read snapshot ` + regexp.QuoteMeta(plain) + `: not zstd-compressed \(it looks like plain JSON Lines: compress it with zstd\)\n$`},
		{name: "no snapshot and no default store", args: []string{"show"}, wantCode: exitError,
			wantStderr: `^recapi show: no snapshot given and no store at \./recapi\.db: give a \.recapi\.zst file or a store URL, or run recapid here first\n$`},
		{name: "two snapshots", args: []string{"show", truncated, plain}, wantCode: exitUsage,
			wantStderr: `^recapi show: want one SNAPSHOT, got 2 arguments\n`},
		{name: "unknown flag", args: []string{"show", "--color", truncated}, wantCode: exitUsage,
			wantStderr: `^flag provided but not defined: -color\nRun 'recapi show -h' for usage.\n$`},
		{name: "bad top", args: []string{"show", "--top", "many", truncated}, wantCode: exitUsage,
			wantStderr: `invalid value "many" for flag -top`},
		{name: "negative top", args: []string{"show", "--top", "-1", truncated}, wantCode: exitUsage,
			wantStderr: `^recapi show: -top -1: want 0 \(all\) or more\n`},
		{name: "unknown command", args: []string{"shwo"}, wantCode: exitUsage,
			wantStderr: `^recapi: unknown command "shwo"\nRun 'recapi help' for usage.\n$`},
		{name: "no command", args: nil, wantCode: exitUsage, wantStderr: `^recapi shows what recapid recorded`},
		{name: "help for unknown command", args: []string{"help", "shwo"}, wantCode: exitUsage,
			wantStderr: `^recapi help: unknown command "shwo"`},
		{name: "version with arguments", args: []string{"version", "now"}, wantCode: exitUsage,
			wantStderr: `^recapi version: unexpected arguments: now\n`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := recapi(tt.args...)
			assert.Equal(t, tt.wantCode, code)
			assert.Empty(t, stdout)
			assert.Regexp(t, tt.wantStderr, stderr)
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "help", args: []string{"help"}},
		{name: "help", args: []string{"--help"}},
		{name: "help", args: []string{"-h"}},
		{name: "help", args: []string{"help", "help"}},
		{name: "help_show", args: []string{"help", "show"}},
		{name: "help_show", args: []string{"show", "-h"}},
		{name: "help_show", args: []string{"show", "--help", "file"}},
		{name: "help_version", args: []string{"version", "-h"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := recapi(tt.args...)
			assert.Equal(t, exitOK, code)
			assert.Empty(t, stderr)
			golden(t, tt.name, []byte(stdout))
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := recapi(args...)
		assert.Equal(t, exitOK, code)
		assert.Empty(t, stderr)
		assert.Regexp(t, `^recapi \S+ \(go1\.\S+ \w+/\w+, snapshot format 1\)\n$`, stdout)
	}

	old := version
	t.Cleanup(func() { version = old })
	version = "v0.1.0"
	_, stdout, _ := recapi("version")
	assert.True(t, strings.HasPrefix(stdout, "recapi v0.1.0 ("), stdout)
}

func TestInModule(t *testing.T) {
	tests := []struct {
		module, prefix string
		want           bool
	}{
		{"app", "app", true},
		{"app.views", "app", true},
		{"app.views.admin", "app.views", true},
		{"apple", "app", false},
		{"myapp", "app", false},
		{"app", "app.views", false},
		{"app.views", "app.", true},
		{"app", "app.", false},
	}
	for _, tt := range tests {
		t.Run(tt.module+"/"+tt.prefix, func(t *testing.T) {
			assert.Equal(t, tt.want, inModule(tt.module, tt.prefix))
		})
	}
}
