package stub_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/infer"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/stub"
)

func str(s string) *string { return &s }

const pk = aggregate.KindPositionalOrKeyword

func param(name, typ string) aggregate.Param {
	return aggregate.Param{Name: name, Kind: pk, Type: typ}
}

// render returns the stub of module m for recs.
func render(t *testing.T, recs []aggregate.Record) string {
	t.Helper()
	files := stub.Render(infer.Analyze(recs, infer.DefaultOptions()), stub.Options{Infer: infer.DefaultOptions()})
	require.Len(t, files, 1)
	return string(files[0].Text)
}

// defs returns the def lines of a stub.
func defs(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "def ") || strings.HasPrefix(l, "async def ") {
			out = append(out, l)
		}
	}
	return out
}

func TestRenderElementTypes(t *testing.T) {
	fn := func(q string) aggregate.Function { return aggregate.Function{Module: "m", Qualname: q} }
	recs := []aggregate.Record{
		{Function: fn("long"), Params: []aggregate.Param{param("t", "builtins.tuple[builtins.int, ...]")}, Returns: str("builtins.tuple[builtins.str, builtins.int]"), Calls: 1},
		{Function: fn("nested"), Params: []aggregate.Param{param("d", "builtins.dict[builtins.str, builtins.list[builtins.int]]")}, Returns: str("builtins.tuple[()]"), Calls: 1},
		{Function: fn("empty"), Params: []aggregate.Param{param("xs", "builtins.list[()]"), param("d", "builtins.dict[()]")}, Returns: str("builtins.set[()]"), Calls: 1},
		{Function: fn("merged"), Params: []aggregate.Param{param("t", "builtins.tuple[builtins.int]")}, Calls: 1},
		{Function: fn("merged"), Params: []aggregate.Param{param("t", "builtins.tuple[builtins.int, builtins.str]")}, Calls: 1},
		{Function: fn("star"), Params: []aggregate.Param{{Name: "args", Kind: aggregate.KindVarPositional, Type: "builtins.tuple[builtins.float, ...]"}}, Calls: 1},
	}
	assert.Equal(t, []string{
		"def empty(xs: list[Any], d: dict[Any, Any]) -> set[Any]: ...",
		"def long(t: tuple[int, ...]) -> tuple[str, int]: ...",
		"def merged(t: tuple[int | str, ...]): ...",
		"def nested(d: dict[str, list[int]]) -> tuple[()]: ...",
		"def star(*args: float): ...",
	}, defs(render(t, recs)))
}

func TestRenderGeneratorsAndCoroutines(t *testing.T) {
	fn := func(q string) aggregate.Function { return aggregate.Function{Module: "m", Qualname: q} }
	n := func(typ string) []aggregate.Param { return []aggregate.Param{param("n", typ)} }
	gen, co, agen := aggregate.CodeGenerator, aggregate.CodeCoroutine, aggregate.CodeAsyncGenerator
	recs := []aggregate.Record{
		// Yields int, returns None.
		{Function: fn("count"), Params: n("builtins.int"), Created: 2, CodeKind: gen},
		{Function: fn("count"), Params: n("builtins.int"), Yields: str("builtins.int"), Calls: 2, CodeKind: gen},
		{Function: fn("count"), Params: n(""), Returns: str("None"), Resumptions: 2, CodeKind: gen},
		// Yields str, returns a value.
		{Function: fn("parse"), Params: n("builtins.str"), Yields: str("builtins.str"), Calls: 1, CodeKind: gen},
		{Function: fn("parse"), Params: n(""), Returns: str("builtins.tuple[builtins.int, ...]"), Resumptions: 1, CodeKind: gen},
		// Yields seen, never finished.
		{Function: fn("forever"), Params: n("builtins.int"), Yields: str("builtins.float"), Calls: 1, CodeKind: gen},
		// Only created: nothing seen of what it yields or returns.
		{Function: fn("lazy"), Params: n("builtins.int"), Created: 1, CodeKind: gen},
		// Started and raised.
		{Function: fn("broken"), Params: n("builtins.int"), Calls: 1, Raised: 1, CodeKind: gen},
		// A coroutine that awaits and returns.
		{Function: fn("fetch"), Params: n("builtins.str"), Created: 3, CodeKind: co},
		{Function: fn("fetch"), Params: n("builtins.str"), Yields: str("_asyncio.Future"), Calls: 3, CodeKind: co},
		{Function: fn("fetch"), Params: n(""), Returns: str("builtins.bytes"), Resumptions: 2, CodeKind: co},
		{Function: fn("fetch"), Params: n(""), Resumptions: 1, Raised: 1, CodeKind: co},
		// A coroutine that only ever raised.
		{Function: fn("fail"), Params: n("builtins.str"), Calls: 1, Raised: 1, CodeKind: co},
		// An async generator: a def in a stub (an async def there would be
		// a coroutine function that returns an async generator).
		{Function: fn("chunks"), Params: n("builtins.int"), Yields: str("builtins.bytes"), Calls: 1, CodeKind: agen},
		{Function: fn("chunks"), Params: n(""), Returns: str("None"), Resumptions: 1, CodeKind: agen},
		{Function: fn("quiet"), Params: n("builtins.int"), Created: 1, CodeKind: agen},
		// A plain function that only raised: no return type made up.
		{Function: fn("check"), Params: n("builtins.int"), Calls: 4, Raised: 4},
	}
	text := render(t, recs)
	assert.Equal(t, []string{
		"def broken(n: int) -> Generator[Any, Any, Any]: ...",
		"def check(n: int): ...",
		"def chunks(n: int) -> AsyncGenerator[bytes, Any]: ...",
		"def count(n: int) -> Generator[int, Any, None]: ...",
		"async def fail(n: str): ...",
		"async def fetch(n: str) -> bytes: ...",
		"def forever(n: int) -> Generator[float, Any, Any]: ...",
		"def lazy(n: int) -> Generator[Any, Any, Any]: ...",
		"def parse(n: str) -> Generator[str, Any, tuple[int, ...]]: ...",
		"def quiet(n: int) -> AsyncGenerator[Any, Any]: ...",
	}, defs(text))
	assert.Contains(t, text, "# calls: 3 (+3 resumed, 3 created, 1 raised); callers: <C> 3 (1 function)\n")
	assert.Contains(t, text, "# calls: 0 (1 created); callers: <C> 1 (1 function)\ndef lazy(n: int)", "created, never started: the creations count")
	assert.Contains(t, text, "from collections.abc import AsyncGenerator, Generator\n")
	mypy(t, map[string]string{"m.pyi": text})
}

// A class named only by what a generator yields is declared.
func TestRenderYieldedClass(t *testing.T) {
	recs := []aggregate.Record{
		{Function: aggregate.Function{Module: "m", Qualname: "rows"}, Yields: str("m.Row"), Calls: 1, CodeKind: aggregate.CodeGenerator},
	}
	text := render(t, recs)
	assert.Contains(t, text, "class Row:\n    ...\n")
	assert.Contains(t, text, "def rows() -> Generator[Row, Any, Any]: ...")
}

func TestBuildAPINewFields(t *testing.T) {
	f := aggregate.Function{Module: "m", Qualname: "g"}
	recs := []aggregate.Record{
		{Function: f, Params: []aggregate.Param{param("n", "builtins.int")}, Created: 5, CodeKind: aggregate.CodeGenerator},
		{Function: f, Params: []aggregate.Param{param("n", "builtins.int")}, Yields: str("builtins.int"), Calls: 5, CodeKind: aggregate.CodeGenerator},
		{Function: f, Params: []aggregate.Param{param("n", "")}, Yields: str("builtins.bool"), Resumptions: 7, CodeKind: aggregate.CodeGenerator},
		{Function: f, Params: []aggregate.Param{param("n", "")}, Resumptions: 5, Raised: 5, CodeKind: aggregate.CodeGenerator},
	}
	api := stub.BuildAPI(infer.Analyze(recs, infer.DefaultOptions()), nil)
	g := api.Modules["m"].Functions["g"]
	assert.Equal(t, []uint64{5, 12, 5, 5}, []uint64{g.Calls, g.Resumptions, g.Created, g.Raised})
	assert.Nil(t, g.Returns, "nothing returned")
	require.NotNil(t, g.Yields)
	assert.Equal(t, map[string]uint64{"builtins.int": 5, "builtins.bool": 7}, g.Yields.Types)
	assert.Equal(t, "builtins.bool | builtins.int", *g.Yields.Inferred)
	require.Len(t, g.Signatures, 1)
	assert.Equal(t, stub.APISignature{Signature: "g(n: builtins.int) -> yields builtins.int", Calls: 5}, g.Signatures[0])
}

// mypy checks stub files with Debian's mypy; without it the check is
// skipped, unless RECAPI_PRIVILEGED_TESTS=1 (CI installs it).
func mypy(t *testing.T, files map[string]string) {
	t.Helper()
	bin, err := exec.LookPath("mypy")
	if err != nil {
		if os.Getenv("RECAPI_PRIVILEGED_TESTS") == "1" {
			t.Fatal("mypy not found; it is required in this run (make deps)")
		}
		t.Log("mypy not found: stubs not type-checked (apt-get install mypy)")
		return
	}
	dir := t.TempDir()
	for name, text := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	cmd := exec.Command(bin, "--no-incremental", "--cache-dir", filepath.Join(t.TempDir(), "cache"), "--ignore-missing-imports", ".")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "mypy rejects the stubs:\n%s", out)
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	files := []stub.File{{Path: "app/__init__.pyi", Text: []byte("")}, {Path: "app/views.pyi", Text: []byte("def f() -> int: ...\n")}}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "app"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app", "views.pyi"), []byte("old"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app", "keep.pyi"), []byte("mine"), 0o644))

	require.NoError(t, stub.Write(dir, files))
	got, err := os.ReadFile(filepath.Join(dir, "app", "views.pyi"))
	require.NoError(t, err)
	assert.Equal(t, "def f() -> int: ...\n", string(got))
	fi, err := os.Stat(filepath.Join(dir, "app", "views.pyi"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	// Other files left alone, no temporary files.
	testutil.AssertOnlyFiles(t, filepath.Join(dir, "app"), "__init__.pyi", "keep.pyi", "views.pyi")

	// A directory where a stub goes: the error names the stub's path.
	taken := filepath.Join(dir, "taken.pyi")
	require.NoError(t, os.Mkdir(taken, 0o755))
	err = stub.Write(dir, []stub.File{{Path: "taken.pyi", Text: []byte("x")}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "write stubs: write "+taken+": ")
}
