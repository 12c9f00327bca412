package cpython_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/proc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// namesTargetScript is the child each live test reads from.
const namesTargetScript = "testdata/names_target.py"

// namesTarget is the JSON line testdata/names_target.py prints.
type namesTarget struct {
	Version []int `json:"version"`
	Objects map[string]struct {
		Obj      uint64 `json:"obj"`
		Type     uint64 `json:"type"`
		Module   string `json:"module"`
		Qualname string `json:"qualname"`
	} `json:"objects"`
	Strings map[string]struct {
		Obj   uint64 `json:"obj"`
		Value string `json:"value"`
	} `json:"strings"`
	TooLong   uint64 `json:"too_long"`
	Functions map[string]struct {
		Code            uint64   `json:"code"`
		Name            string   `json:"name"`
		Qualname        string   `json:"qualname"`
		Filename        string   `json:"filename"`
		FirstLine       int      `json:"firstline"`
		ArgCount        int      `json:"argcount"`
		PosOnlyArgCount int      `json:"posonlyargcount"`
		KwOnlyArgCount  int      `json:"kwonlyargcount"`
		Flags           uint32   `json:"flags"`
		ParamNames      []string `json:"param_names"`
		ParamKinds      []string `json:"param_kinds"`
		Module          string   `json:"module"`
	} `json:"functions"`
	Dicts map[string]struct {
		Dict    uint64            `json:"dict"`
		Present map[string]uint64 `json:"present"`
		Absent  []string          `json:"absent"`
	} `json:"dicts"`
	InnerType   uint64 `json:"inner_type"`
	InnerMethod uint64 `json:"inner_method"`
}

// namesInterpreter is a CPython binary the live tests run when present.
type namesInterpreter struct {
	name, path string
}

// namesInterpreters lists the Debian build and the pyenv builds recapi is
// tested against. Unlike testutil.Interpreters it also names the absent
// ones, so that each shows up as a skip with its reason.
func namesInterpreters() []namesInterpreter {
	its := []namesInterpreter{{name: "debian-3.11", path: testutil.DebianPython}}
	for _, v := range []struct{ full, short string }{
		{"3.8.18", "3.8"}, {"3.9.18", "3.9"}, {"3.10.13", "3.10"},
		{"3.11.7", "3.11"}, {"3.12.1", "3.12"}, {"3.13.0", "3.13"},
	} {
		its = append(its, namesInterpreter{
			name: "pyenv-" + v.full,
			path: filepath.Join(testutil.PyenvRoot(), "versions", v.full, "bin", "python"+v.short),
		})
	}
	return its
}

// startNamesTarget runs the target script under python and returns its
// report and pid. The child lives until the test ends.
func startNamesTarget(t *testing.T, python string) (namesTarget, int) {
	t.Helper()
	var out namesTarget
	pid := testutil.StartPyTarget(t, python, namesTargetScript, &out)
	require.Len(t, out.Version, 3)
	return out, pid
}

// requireLiveInterpreter skips a test whose interpreter is absent, except
// Debian's, which privileged runs require (scripts/install-deps.sh).
func requireLiveInterpreter(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if path == testutil.DebianPython && os.Getenv(testutil.PrivilegedEnv) == "1" {
			t.Fatalf("%s is required: run scripts/install-deps.sh (%v)", path, err)
		}
		t.Skipf("%s is not available: %v", path, err)
	}
}

// TestNamesLive reads types, strings, dicts and code objects out of running
// interpreters and compares them with what the interpreter says itself.
func TestNamesLive(t *testing.T) {
	for _, it := range namesInterpreters() {
		t.Run(it.name, func(t *testing.T) {
			requireLiveInterpreter(t, it.path)
			target, pid := startNamesTarget(t, it.path)
			v := cpython.Version{Major: target.Version[0], Minor: target.Version[1], Patch: target.Version[2]}
			l, err := cpython.LayoutFor(v)
			require.NoError(t, err)
			m, err := proc.OpenMemory(pid)
			if errors.Is(err, fs.ErrPermission) {
				t.Skipf("cannot read the memory of child pid %d: %v", pid, err)
			}
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, m.Close()) })

			t.Run("types", func(t *testing.T) { namesLiveTypes(t, m, l, target) })
			t.Run("strings", func(t *testing.T) { namesLiveStrings(t, m, l, target) })
			t.Run("code", func(t *testing.T) { namesLiveCode(t, m, l, target) })
			t.Run("dicts", func(t *testing.T) { namesLiveDicts(t, m, l, target) })
		})
	}
}

func namesLiveTypes(t *testing.T, m *proc.Memory, l cpython.Layout, target namesTarget) {
	tests := []struct {
		obj  string
		want string
	}{
		{obj: "int", want: "builtins.int"},
		{obj: "str", want: "builtins.str"},
		{obj: "none", want: "None"},
		{obj: "inner", want: "__main__.Outer.Inner"},
		{obj: "ordered_dict", want: "collections.OrderedDict"},
		{obj: "decimal", want: "decimal.Decimal"},
		{obj: "str_subclass", want: "__main__.StrSubclass"},
		{obj: "json_decoder", want: "json.decoder.JSONDecoder"},
		{obj: "function", want: "builtins.function"},
		{obj: "list", want: "builtins.list"},
		{obj: "abc_instance", want: "__main__.Concrete"},
		{obj: "enum_member", want: "__main__.Color"},
	}
	require.Len(t, target.Objects, len(tests), "every object of the target is checked")
	for _, tt := range tests {
		t.Run(tt.obj, func(t *testing.T) {
			o, ok := target.Objects[tt.obj]
			require.True(t, ok)
			// The type the test reads is the one ob_type points at.
			typ, err := m.U64(o.Obj + uint64(l.PyObject_ob_type))
			require.NoError(t, err)
			require.Equal(t, o.Type, typ)

			got, err := cpython.NewReader(m, l).TypeName(o.Type)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			if tt.want != "None" {
				assert.Equal(t, o.Module+"."+o.Qualname, got, "what the interpreter says")
			}
		})
	}
	t.Run("not a type", func(t *testing.T) {
		_, err := cpython.NewReader(m, l).TypeName(target.Objects["int"].Obj)
		assert.ErrorIs(t, err, cpython.ErrNotType)
	})
}

func namesLiveStrings(t *testing.T, m *proc.Memory, l cpython.Layout, target namesTarget) {
	require.NotEmpty(t, target.Strings)
	for name, s := range target.Strings {
		t.Run(name, func(t *testing.T) {
			got, err := cpython.NewReader(m, l).Str(s.Obj)
			require.NoError(t, err)
			assert.Equal(t, s.Value, got)
		})
	}
	t.Run("too long", func(t *testing.T) {
		_, err := cpython.NewReader(m, l).Str(target.TooLong)
		assert.ErrorIs(t, err, cpython.ErrStringTooLong)
	})
	t.Run("not a str", func(t *testing.T) {
		_, err := cpython.NewReader(m, l).Str(target.Objects["int"].Obj)
		assert.ErrorIs(t, err, cpython.ErrNotStr)
	})
}

func namesLiveCode(t *testing.T, m *proc.Memory, l cpython.Layout, target namesTarget) {
	tests := []struct {
		fn       string
		wantKind string
	}{
		{fn: "method"},
		{fn: "params"},
		{fn: "no_params"},
		{fn: "closure"},
		{fn: "captured_param"},
		{fn: "gen", wantKind: "generator"},
		{fn: "coro", wantKind: "coroutine"},
		{fn: "agen", wantKind: "async_generator"},
		{fn: "legacy_coro", wantKind: "coroutine"},
		{fn: "lambda"},
		{fn: "json_dumps"},
		{fn: "json_decode"},
		{fn: "namedtuple"},
		{fn: "posixpath_join"},
	}
	require.Len(t, target.Functions, len(tests), "every function of the target is checked")
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			f, ok := target.Functions[tt.fn]
			require.True(t, ok)
			got, err := cpython.NewReader(m, l).Code(f.Code)
			require.NoError(t, err)
			want := cpython.CodeInfo{
				Name: f.Name, Qualname: f.Qualname, Filename: f.Filename, FirstLine: f.FirstLine,
				ArgCount: f.ArgCount, PosOnlyArgCount: f.PosOnlyArgCount, KwOnlyArgCount: f.KwOnlyArgCount,
				Flags: f.Flags, ParamNames: f.ParamNames,
			}
			assert.Equal(t, want, got)
			kinds := make([]cpython.ParamKind, len(f.ParamKinds))
			for i, k := range f.ParamKinds {
				kinds[i] = cpython.ParamKind(k)
			}
			assert.Equal(t, kinds, got.ParamKinds(), "inspect.signature kinds")
			assert.Equal(t, len(f.ParamNames), got.NParams())
			assert.Equal(t, tt.wantKind, got.CodeKind())
			if f.Module != "__main__" {
				assert.Equal(t, f.Module, cpython.ModuleFromPath(got.Filename), "module of %s", got.Filename)
			}
		})
	}
	t.Run("qualified names", func(t *testing.T) {
		got, err := cpython.NewReader(m, l).Code(target.Functions["closure"].Code)
		require.NoError(t, err)
		want := "make_closure.<locals>.closure"
		if l.PyCodeObject_co_qualname < 0 {
			want = "closure" // 3.8-3.10 code objects have no co_qualname
		}
		assert.Equal(t, want, got.Qualname)
	})
	t.Run("not code", func(t *testing.T) {
		_, err := cpython.NewReader(m, l).Code(target.Objects["int"].Obj)
		assert.ErrorIs(t, err, cpython.ErrNotCode)
	})
}

func namesLiveDicts(t *testing.T, m *proc.Memory, l cpython.Layout, target namesTarget) {
	require.NotEmpty(t, target.Dicts)
	for name, d := range target.Dicts {
		t.Run(name, func(t *testing.T) {
			if name == "instance_full" || name == "instance_partial" {
				values, err := m.U64(d.Dict + uint64(l.PyDictObject_ma_values))
				require.NoError(t, err)
				assert.NotZero(t, values, "instance dicts are split dicts, so the split path is tested")
			}
			for key, want := range d.Present {
				got, ok, err := cpython.NewReader(m, l).DictLookupStr(d.Dict, key)
				require.NoError(t, err, key)
				assert.True(t, ok, key)
				assert.Equal(t, want, got, key)
			}
			for _, key := range d.Absent {
				_, ok, err := cpython.NewReader(m, l).DictLookupStr(d.Dict, key)
				require.NoError(t, err, key)
				assert.False(t, ok, key)
			}
		})
	}
	t.Run("type dict", func(t *testing.T) {
		dict, err := m.U64(target.InnerType + uint64(l.PyTypeObject_tp_dict))
		require.NoError(t, err)
		got, ok, err := cpython.NewReader(m, l).DictLookupStr(dict, "method")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, target.InnerMethod, got)

		mod, ok, err := cpython.NewReader(m, l).DictLookupStr(dict, "__module__")
		require.NoError(t, err)
		require.True(t, ok)
		s, err := cpython.NewReader(m, l).Str(mod)
		require.NoError(t, err)
		assert.Equal(t, "__main__", s)
	})
}
