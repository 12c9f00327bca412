package cpython

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadTypeNameSynthetic(t *testing.T) {
	for _, l := range namesAllLayouts() {
		t.Run(fmt.Sprintf("3.%d", l.Minor), func(t *testing.T) {
			r := newNamesFakeRuntime(l, 0x55aa00000000)
			modKey := r.str("__module__", namesStrCompact)
			withModule := r.dict([]namesFakeItem{
				{key: r.str("__doc__", namesStrCompact), value: r.object(r.intType, 32)},
				{key: modKey, value: r.str("__main__", namesStrCompact)},
			}, false, true)
			noModule := r.dict([]namesFakeItem{{key: r.str("__doc__", namesStrCompact), value: r.object(r.intType, 32)}}, false, true)
			intModule := r.dict([]namesFakeItem{{key: modKey, value: r.object(r.intType, 32)}}, false, true)

			tests := []struct {
				name    string
				typ     uint64
				want    string
				wantErr error
			}{
				{name: "builtin", typ: r.intType, want: "builtins.int"},
				{name: "dotted static", typ: r.staticType("collections.OrderedDict", 0), want: "collections.OrderedDict"},
				{name: "none", typ: r.staticType("NoneType", 0), want: "None"},
				{name: "heap", typ: r.heapType("Inner", "Outer.Inner", withModule), want: "__main__.Outer.Inner"},
				{name: "heap named NoneType", typ: r.heapType("NoneType", "NoneType", withModule), want: "__main__.NoneType"},
				{name: "heap without __module__", typ: r.heapType("X", "X", noModule), want: "builtins.X"},
				{name: "heap with non-str __module__", typ: r.heapType("X", "X", intModule), wantErr: ErrNotStr},
				{name: "not a type", typ: r.object(r.intType, 64), wantErr: ErrNotType},
				{name: "null", typ: 0, wantErr: ErrNullPointer},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := NewReader(r.memory(), l).TypeName(tt.typ)
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
	for _, l := range namesAllLayouts() {
		for _, split := range []bool{false, true} {
			for _, unicodeKeys := range []bool{false, true} {
				if split && !unicodeKeys {
					continue // split dicts only have str keys
				}
				t.Run(fmt.Sprintf("3.%d/split=%v/unicode=%v", l.Minor, split, unicodeKeys), func(t *testing.T) {
					r := newNamesFakeRuntime(l, 0x7f0000000000)
					var items []namesFakeItem
					want := map[string]uint64{}
					n := 300 // 512 slots: 2-byte indices
					if split {
						n = 30 // CPython's SHARED_KEYS_MAX_SIZE
					}
					for i := range n {
						k := fmt.Sprintf("key%d", i)
						v := r.object(r.intType, 32)
						items = append(items, namesFakeItem{key: r.str(k, namesStrCompact), value: v})
						want[k] = v
					}
					items[5].key = 0 // deleted
					delete(want, "key5")
					items[7].value = 0 // a shared key this split dict lacks; in a combined dict a broken entry
					delete(want, "key7")
					if !unicodeKeys {
						items[9].key = r.object(r.intType, 32)
						delete(want, "key9")
					}
					items[11].key = r.str("ключ", namesStrLegacy)
					delete(want, "key11")
					want["ключ"] = items[11].value
					d := r.dict(items, split, unicodeKeys)
					m := r.memory()

					for k, v := range want {
						got, ok, err := NewReader(m, l).DictLookupStr(d, k)
						require.NoError(t, err, k)
						assert.True(t, ok, k)
						assert.Equal(t, v, got, k)
					}
					absent := []string{"key5", "key7", "key300", "", "ключ2"}
					if !unicodeKeys {
						absent = append(absent, "key9")
					}
					for _, k := range absent {
						_, ok, err := NewReader(m, l).DictLookupStr(d, k)
						require.NoError(t, err, k)
						assert.False(t, ok, k)
					}
				})
			}
		}
	}
}

func TestDictLookupStrErrors(t *testing.T) {
	for _, l := range namesAllLayouts() {
		t.Run(fmt.Sprintf("3.%d", l.Minor), func(t *testing.T) {
			r := newNamesFakeRuntime(l, 0x7f0000000000)
			keysOf := func(d uint64) uint64 {
				v, err := r.memory().U64(d + uint64(l.PyDictObject_ma_keys))
				require.NoError(t, err)
				return v
			}
			good := func() uint64 {
				return r.dict([]namesFakeItem{{key: r.str("a", namesStrCompact), value: r.object(r.intType, 32)}}, false, true)
			}
			tests := []struct {
				name    string
				build   func() uint64
				wantMsg string
			}{
				{name: "null", build: func() uint64 { return 0 }, wantMsg: "null pointer"},
				{name: "not a dict", build: func() uint64 { return r.object(r.intType, 64) }, wantMsg: "not a dict"},
				{name: "null keys", build: func() uint64 {
					d := good()
					r.put64(d+uint64(l.PyDictObject_ma_keys), 0)
					return d
				}, wantMsg: "null pointer"},
				{name: "too many entries", build: func() uint64 {
					d := good()
					r.put64(keysOf(d)+uint64(l.PyDictKeysObject_dk_nentries), maxDictEntries+1)
					return d
				}, wantMsg: "dk_nentries 131073 out of range"},
				{name: "more entries than slots", build: func() uint64 {
					d := good()
					r.put64(keysOf(d)+uint64(l.PyDictKeysObject_dk_nentries), 9)
					return d
				}, wantMsg: "exceeds the table size 8"},
				{name: "bad size", build: func() uint64 {
					d := good()
					if l.PyDictKeysObject_dk_size >= 0 {
						r.put64(keysOf(d)+uint64(l.PyDictKeysObject_dk_size), 12)
					} else {
						r.put8(keysOf(d)+uint64(l.PyDictKeysObject_dk_log2_index_bytes), 7)
					}
					return d
				}, wantMsg: "dk_"},
				{name: "unmapped entries", build: func() uint64 {
					// A copy of the keys header at the end of the mapping:
					// its entries start right where the mapping ends.
					d := good()
					hdr := append([]byte(nil), r.at(keysOf(d))[:l.PyDictKeysObject_dk_indices+8]...)
					keys := r.alloc(len(hdr))
					copy(r.at(keys), hdr)
					r.put64(keys+uint64(l.PyDictKeysObject_dk_nentries), 8)
					r.put64(d+uint64(l.PyDictObject_ma_keys), keys)
					return d
				}, wantMsg: "read entries 0-7"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					d := tt.build()
					_, ok, err := NewReader(r.memory(), l).DictLookupStr(d, "a")
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
	for _, l := range namesAllLayouts() {
		t.Run(fmt.Sprintf("3.%d", l.Minor), func(t *testing.T) {
			r := newNamesFakeRuntime(l, 0x7f0000000000)
			want := CodeInfo{
				Name: "method", Qualname: "Outer.method", Filename: "/srv/app.py", FirstLine: 42,
				ArgCount: 3, PosOnlyArgCount: 1, KwOnlyArgCount: 1, Flags: 0x3 | CO_VARARGS | CO_VARKEYWORDS,
				ParamNames: []string{"self", "x", "y", "key", "args", "kw"},
			}
			code := r.code(want, "local")
			got, err := NewReader(r.memory(), l).Code(code)
			require.NoError(t, err)
			if l.PyCodeObject_co_qualname < 0 {
				want.Qualname = want.Name
			}
			assert.Equal(t, want, got)

			t.Run("no parameters", func(t *testing.T) {
				want := CodeInfo{Name: "f", Qualname: "f", Filename: "<string>", FirstLine: 1, ParamNames: []string{}}
				got, err := NewReader(r.memory(), l).Code(r.code(want))
				require.NoError(t, err)
				assert.Equal(t, want, got)
			})

			bad := []struct {
				name    string
				build   func() uint64
				wantMsg string
			}{
				{name: "not code", build: func() uint64 { return r.object(r.intType, 256) }, wantMsg: `type is "int"`},
				{name: "posonly beyond argcount", build: func() uint64 {
					return r.code(CodeInfo{Name: "f", Qualname: "f", Filename: "x", ArgCount: 1, PosOnlyArgCount: 2, ParamNames: []string{"a"}})
				}, wantMsg: "invalid parameter counts"},
				{name: "negative count", build: func() uint64 {
					return r.code(CodeInfo{Name: "f", Qualname: "f", Filename: "x", ArgCount: -1})
				}, wantMsg: "invalid parameter counts"},
				{name: "too many parameters", build: func() uint64 {
					return r.code(CodeInfo{Name: "f", Qualname: "f", Filename: "x", ArgCount: 1 << 30})
				}, wantMsg: "invalid parameter counts"},
				{name: "fewer names than parameters", build: func() uint64 {
					c := r.code(CodeInfo{Name: "f", Qualname: "f", Filename: "x", ArgCount: 2, ParamNames: []string{"a"}})
					r.put32(c+uint64(l.PyCodeObject_co_argcount), 2)
					return c
				}, wantMsg: "tuple of 1 items has no 2 items"},
				{name: "name not a str", build: func() uint64 {
					c := r.code(CodeInfo{Name: "f", Qualname: "f", Filename: "x"})
					r.put64(c+uint64(l.PyCodeObject_co_name), r.object(r.intType, 64))
					return c
				}, wantMsg: "read co_name at"},
			}
			for _, tt := range bad {
				t.Run(tt.name, func(t *testing.T) {
					c := tt.build()
					_, err := NewReader(r.memory(), l).Code(c)
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
		code      CodeInfo
		wantN     int
		wantKinds []ParamKind
		wantKind  string
	}{
		{name: "no parameters", code: CodeInfo{}, wantN: 0, wantKinds: []ParamKind{}},
		{
			name:  "all kinds",
			code:  CodeInfo{ArgCount: 3, PosOnlyArgCount: 2, KwOnlyArgCount: 2, Flags: CO_VARARGS | CO_VARKEYWORDS},
			wantN: 7,
			wantKinds: []ParamKind{
				PositionalOnly, PositionalOnly, PositionalOrKeyword, KeywordOnly, KeywordOnly, VarPositional, VarKeyword,
			},
		},
		{name: "only **kwargs", code: CodeInfo{Flags: CO_VARKEYWORDS}, wantN: 1, wantKinds: []ParamKind{VarKeyword}},
		{name: "generator", code: CodeInfo{ArgCount: 1, Flags: CO_GENERATOR}, wantN: 1, wantKinds: []ParamKind{PositionalOrKeyword}, wantKind: "generator"},
		{name: "coroutine", code: CodeInfo{Flags: CO_COROUTINE}, wantN: 0, wantKinds: []ParamKind{}, wantKind: "coroutine"},
		{name: "iterable coroutine", code: CodeInfo{Flags: CO_GENERATOR | CO_ITERABLE_COROUTINE}, wantN: 0, wantKinds: []ParamKind{}, wantKind: "coroutine"},
		{name: "async generator", code: CodeInfo{Flags: CO_ASYNC_GENERATOR}, wantN: 0, wantKinds: []ParamKind{}, wantKind: "async_generator"},
		{name: "inconsistent counts", code: CodeInfo{ArgCount: 1, PosOnlyArgCount: 5}, wantN: 1, wantKinds: []ParamKind{PositionalOnly}},
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
			assert.Equal(t, tt.want, ModuleFromPath(tt.in))
		})
	}
}

func TestModuleFromPathNeverPanics(t *testing.T) {
	for _, in := range []string{"<", ">", "<>", "<frozen", "//", "a/b/", strings.Repeat("/site-packages", 3), "/lib/python3.11/"} {
		assert.NotPanics(t, func() { ModuleFromPath(in) }, in)
	}
}
