package cpython_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/cpython/cpythontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadTypeNameSynthetic(t *testing.T) {
	for _, l := range cpythontest.Layouts() {
		t.Run(fmt.Sprintf("3.%d", l.Minor), func(t *testing.T) {
			r := cpythontest.NewRuntime(l, 0x55aa00000000)
			modKey := r.Str("__module__")
			withModule := r.Dict(cpythontest.UnicodeDict,
				cpythontest.Item{Key: r.Str("__doc__"), Value: r.Int()},
				cpythontest.Item{Key: modKey, Value: r.Str("__main__")},
			)
			noModule := r.Dict(cpythontest.UnicodeDict, cpythontest.Item{Key: r.Str("__doc__"), Value: r.Int()})
			intModule := r.Dict(cpythontest.UnicodeDict, cpythontest.Item{Key: modKey, Value: r.Int()})

			tests := []struct {
				name    string
				typ     uint64
				want    string
				wantErr error
			}{
				{name: "builtin", typ: r.IntType, want: "builtins.int"},
				{name: "dotted static", typ: r.StaticType("collections.OrderedDict", 0), want: "collections.OrderedDict"},
				{name: "none", typ: r.StaticType("NoneType", 0), want: "None"},
				{name: "heap", typ: r.HeapType("Inner", "Outer.Inner", withModule), want: "__main__.Outer.Inner"},
				{name: "heap named NoneType", typ: r.HeapType("NoneType", "NoneType", withModule), want: "__main__.NoneType"},
				{name: "heap without __module__", typ: r.HeapType("X", "X", noModule), want: "builtins.X"},
				{name: "heap with non-str __module__", typ: r.HeapType("X", "X", intModule), wantErr: cpython.ErrNotStr},
				{name: "not a type", typ: r.Object(r.IntType, 64), wantErr: cpython.ErrNotType},
				{name: "null", typ: 0, wantErr: cpython.ErrNullPointer},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := r.Reader().TypeName(tt.typ)
					if tt.wantErr != nil {
						assert.ErrorIs(t, err, tt.wantErr)
						return
					}
					require.NoError(t, err)
					assert.Equal(t, tt.want, got)
				})
			}
		})
	}
}

func TestDictLookupStrSynthetic(t *testing.T) {
	for _, l := range cpythontest.Layouts() {
		for _, kind := range []cpythontest.DictKind{cpythontest.GeneralDict, cpythontest.UnicodeDict, cpythontest.SplitDict} {
			split, unicodeKeys := kind == cpythontest.SplitDict, kind != cpythontest.GeneralDict
			t.Run(fmt.Sprintf("3.%d/split=%v/unicode=%v", l.Minor, split, unicodeKeys), func(t *testing.T) {
				r := cpythontest.NewRuntime(l, 0x7f0000000000)
				var items []cpythontest.Item
				want := map[string]uint64{}
				n := 300 // 512 slots: 2-byte indices
				if split {
					n = 30 // CPython's SHARED_KEYS_MAX_SIZE
				}
				for i := range n {
					k := fmt.Sprintf("key%d", i)
					v := r.Int()
					items = append(items, cpythontest.Item{Key: r.Str(k), Value: v})
					want[k] = v
				}
				items[5].Key = 0 // deleted
				delete(want, "key5")
				items[7].Value = 0 // a shared key this split dict lacks; in a combined dict a broken entry
				delete(want, "key7")
				if !unicodeKeys {
					items[9].Key = r.Int()
					delete(want, "key9")
				}
				items[11].Key = r.LegacyStr("ключ")
				delete(want, "key11")
				want["ключ"] = items[11].Value
				d := r.Dict(kind, items...)
				rd := r.Reader()

				for k, v := range want {
					got, ok, err := rd.DictLookupStr(d, k)
					require.NoError(t, err, k)
					assert.True(t, ok, k)
					assert.Equal(t, v, got, k)
				}
				absent := []string{"key5", "key7", "key300", "", "ключ2"}
				if !unicodeKeys {
					absent = append(absent, "key9")
				}
				for _, k := range absent {
					_, ok, err := rd.DictLookupStr(d, k)
					require.NoError(t, err, k)
					assert.False(t, ok, k)
				}
			})
		}
	}
}

func TestDictLookupStrErrors(t *testing.T) {
	for _, l := range cpythontest.Layouts() {
		t.Run(fmt.Sprintf("3.%d", l.Minor), func(t *testing.T) {
			r := cpythontest.NewRuntime(l, 0x7f0000000000)
			keysOf := func(d uint64) uint64 {
				v, err := r.Proc().U64(d + uint64(l.PyDictObject_ma_keys))
				require.NoError(t, err)
				return v
			}
			good := func() uint64 {
				return r.Dict(cpythontest.UnicodeDict, cpythontest.Item{Key: r.Str("a"), Value: r.Int()})
			}
			tests := []struct {
				name    string
				build   func() uint64
				wantMsg string
			}{
				{name: "null", build: func() uint64 { return 0 }, wantMsg: "null pointer"},
				{name: "not a dict", build: func() uint64 { return r.Object(r.IntType, 64) }, wantMsg: "not a dict"},
				{name: "null keys", build: func() uint64 {
					d := good()
					r.PutU64(d+uint64(l.PyDictObject_ma_keys), 0)
					return d
				}, wantMsg: "null pointer"},
				{name: "too many entries", build: func() uint64 {
					d := good()
					r.PutU64(keysOf(d)+uint64(l.PyDictKeysObject_dk_nentries), cpython.MaxDictEntries+1)
					return d
				}, wantMsg: "dk_nentries 131073 out of range"},
				{name: "more entries than slots", build: func() uint64 {
					d := good()
					r.PutU64(keysOf(d)+uint64(l.PyDictKeysObject_dk_nentries), 9)
					return d
				}, wantMsg: "exceeds the table size 8"},
				{name: "bad size", build: func() uint64 {
					d := good()
					if l.PyDictKeysObject_dk_size != cpython.Absent {
						r.PutU64(keysOf(d)+uint64(l.PyDictKeysObject_dk_size), 12)
					} else {
						r.PutU8(keysOf(d)+uint64(l.PyDictKeysObject_dk_log2_index_bytes), 7)
					}
					return d
				}, wantMsg: "dk_"},
				{name: "unmapped entries", build: func() uint64 {
					// A copy of the keys header at the end of the mapping:
					// its entries start right where the mapping ends.
					d := good()
					hdr := append([]byte(nil), r.At(keysOf(d))[:l.PyDictKeysObject_dk_indices+8]...)
					keys := r.Alloc(len(hdr))
					copy(r.At(keys), hdr)
					r.PutU64(keys+uint64(l.PyDictKeysObject_dk_nentries), 8)
					r.PutU64(d+uint64(l.PyDictObject_ma_keys), keys)
					return d
				}, wantMsg: "read entries 0-7"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					d := tt.build()
					_, ok, err := r.Reader().DictLookupStr(d, "a")
					require.Error(t, err)
					assert.False(t, ok)
					assert.Contains(t, err.Error(), fmt.Sprintf(`look up "a" in dict at %#x: `, d))
					assert.Contains(t, err.Error(), tt.wantMsg)
				})
			}
		})
	}
}

func TestReadCodeSynthetic(t *testing.T) {
	for _, l := range cpythontest.Layouts() {
		t.Run(fmt.Sprintf("3.%d", l.Minor), func(t *testing.T) {
			r := cpythontest.NewRuntime(l, 0x7f0000000000)
			want := cpython.CodeInfo{
				Name: "method", Qualname: "Outer.method", Filename: "/srv/app.py", FirstLine: 42,
				ArgCount: 3, PosOnlyArgCount: 1, KwOnlyArgCount: 1, Flags: 0x3 | cpython.CO_VARARGS | cpython.CO_VARKEYWORDS,
				ParamNames: []string{"self", "x", "y", "key", "args", "kw"},
			}
			withLocal := want
			withLocal.ParamNames = append(append([]string(nil), want.ParamNames...), "local")
			code := r.Code(withLocal)
			got, err := r.Reader().Code(code)
			require.NoError(t, err)
			if l.PyCodeObject_co_qualname == cpython.Absent {
				want.Qualname = want.Name
			}
			assert.Equal(t, want, got)

			t.Run("no parameters", func(t *testing.T) {
				want := cpython.CodeInfo{Name: "f", Qualname: "f", Filename: "<string>", FirstLine: 1, ParamNames: []string{}}
				got, err := r.Reader().Code(r.Code(want))
				require.NoError(t, err)
				assert.Equal(t, want, got)
			})

			bad := []struct {
				name    string
				build   func() uint64
				wantMsg string
			}{
				{name: "not code", build: func() uint64 { return r.Object(r.IntType, 256) }, wantMsg: `type is "int"`},
				{name: "posonly beyond argcount", build: func() uint64 {
					return r.Code(cpython.CodeInfo{Name: "f", Qualname: "f", Filename: "x", ArgCount: 1, PosOnlyArgCount: 2, ParamNames: []string{"a"}})
				}, wantMsg: "invalid parameter counts"},
				{name: "negative count", build: func() uint64 {
					return r.Code(cpython.CodeInfo{Name: "f", Qualname: "f", Filename: "x", ArgCount: -1})
				}, wantMsg: "invalid parameter counts"},
				{name: "too many parameters", build: func() uint64 {
					return r.Code(cpython.CodeInfo{Name: "f", Qualname: "f", Filename: "x", ArgCount: 1 << 30})
				}, wantMsg: "invalid parameter counts"},
				{name: "fewer names than parameters", build: func() uint64 {
					c := r.Code(cpython.CodeInfo{Name: "f", Qualname: "f", Filename: "x", ArgCount: 2, ParamNames: []string{"a"}})
					r.PutU32(c+uint64(l.PyCodeObject_co_argcount), 2)
					return c
				}, wantMsg: "tuple of 1 items has no 2 items"},
				{name: "name not a str", build: func() uint64 {
					c := r.Code(cpython.CodeInfo{Name: "f", Qualname: "f", Filename: "x"})
					r.PutU64(c+uint64(l.PyCodeObject_co_name), r.Object(r.IntType, 64))
					return c
				}, wantMsg: "read co_name at"},
			}
			for _, tt := range bad {
				t.Run(tt.name, func(t *testing.T) {
					c := tt.build()
					_, err := r.Reader().Code(c)
					require.Error(t, err)
					assert.Contains(t, err.Error(), fmt.Sprintf("read code object at %#x: ", c))
					assert.Contains(t, err.Error(), tt.wantMsg)
				})
			}
		})
	}
}

func TestCodeInfoKinds(t *testing.T) {
	tests := []struct {
		name      string
		code      cpython.CodeInfo
		wantN     int
		wantKinds []cpython.ParamKind
		wantKind  string
	}{
		{name: "no parameters", code: cpython.CodeInfo{}, wantN: 0, wantKinds: []cpython.ParamKind{}},
		{
			name:  "all kinds",
			code:  cpython.CodeInfo{ArgCount: 3, PosOnlyArgCount: 2, KwOnlyArgCount: 2, Flags: cpython.CO_VARARGS | cpython.CO_VARKEYWORDS},
			wantN: 7,
			wantKinds: []cpython.ParamKind{
				cpython.PositionalOnly, cpython.PositionalOnly, cpython.PositionalOrKeyword, cpython.KeywordOnly, cpython.KeywordOnly, cpython.VarPositional, cpython.VarKeyword,
			},
		},
		{name: "only **kwargs", code: cpython.CodeInfo{Flags: cpython.CO_VARKEYWORDS}, wantN: 1, wantKinds: []cpython.ParamKind{cpython.VarKeyword}},
		{name: "generator", code: cpython.CodeInfo{ArgCount: 1, Flags: cpython.CO_GENERATOR}, wantN: 1, wantKinds: []cpython.ParamKind{cpython.PositionalOrKeyword}, wantKind: "generator"},
		{name: "coroutine", code: cpython.CodeInfo{Flags: cpython.CO_COROUTINE}, wantN: 0, wantKinds: []cpython.ParamKind{}, wantKind: "coroutine"},
		{name: "iterable coroutine", code: cpython.CodeInfo{Flags: cpython.CO_GENERATOR | cpython.CO_ITERABLE_COROUTINE}, wantN: 0, wantKinds: []cpython.ParamKind{}, wantKind: "coroutine"},
		{name: "async generator", code: cpython.CodeInfo{Flags: cpython.CO_ASYNC_GENERATOR}, wantN: 0, wantKinds: []cpython.ParamKind{}, wantKind: "async_generator"},
		{name: "inconsistent counts", code: cpython.CodeInfo{ArgCount: 1, PosOnlyArgCount: 5}, wantN: 1, wantKinds: []cpython.ParamKind{cpython.PositionalOnly}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.wantN, tt.code.NParams())
			assert.Equal(t, tt.wantKinds, tt.code.ParamKinds())
			assert.Equal(t, tt.wantKind, tt.code.CodeKind())
		})
	}
}

func TestModuleFromPath(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"/x/site-packages/jinja2/environment.py", "jinja2.environment"},
		{"/venv/lib/python3.11/site-packages/jinja2/__init__.py", "jinja2"},
		{"/usr/lib/python3/dist-packages/requests/adapters.py", "requests.adapters"},
		{"/usr/lib/python3.11/json/decoder.py", "json.decoder"},
		{"/usr/lib/python3.11/json/__init__.py", "json"},
		{"/root/.pyenv/versions/3.13.0/lib/python3.13/collections/__init__.py", "collections"},
		{"/usr/lib/python3.11/os.py", "os"},
		{"/usr/lib64/python3.13t/asyncio/tasks.py", "asyncio.tasks"},
		{"/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so", "_ssl"},
		{"/x/site-packages/pkg/_speedups.abi3.so", "pkg._speedups"},
		{"/usr/lib/python311.zip/json/decoder.py", "json.decoder"},
		{"/x/site-packages/foo-1.0-py3.11.egg/foo/bar.py", "foo.bar"},
		{"/x/site-packages/pip/__main__.py", "pip.__main__"},
		{"/x/site-packages/six.py", "six"},
		{"/x/site-packages/__init__.py", "__init__"},
		{"/srv/app/server.py", "server"},
		{"/srv/app/pkg/__init__.py", "pkg"},
		{"server.py", "server"},
		{"script", "script"},
		{"<string>", "<string>"},
		{"<stdin>", "<stdin>"},
		{"<frozen importlib._bootstrap>", "importlib._bootstrap"},
		{"<frozen zipimport>", "zipimport"},
		{"<frozen >", "<frozen >"},
		{"", ""},
		{"/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, cpython.ModuleFromPath(tt.in))
		})
	}
}

func TestModuleFromPathNeverPanics(t *testing.T) {
	for _, in := range []string{"<", ">", "<>", "<frozen", "//", "a/b/", strings.Repeat("/site-packages", 3), "/lib/python3.11/"} {
		assert.NotPanics(t, func() { cpython.ModuleFromPath(in) }, in)
	}
}
