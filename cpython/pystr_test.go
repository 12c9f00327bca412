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

func TestReadPyStringForms(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		legacy bool
	}{
		{name: "compact ascii", in: "__module__"},
		{name: "empty", in: ""},
		{name: "compact latin-1", in: "héllo"},
		{name: "compact ucs2", in: "日本"},
		{name: "compact ucs4", in: "emoji 😀!"},
		{name: "longest", in: strings.Repeat("x", cpython.MaxPyStringLen)},
		{name: "legacy ascii", in: "plain", legacy: true},
		{name: "legacy latin-1", in: "héllo", legacy: true},
		{name: "legacy ucs2", in: "日本", legacy: true},
		{name: "legacy ucs4", in: "😀", legacy: true},
	}
	for _, l := range cpythontest.Layouts() {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("3.%d/%s", l.Minor, tt.name), func(t *testing.T) {
				r := cpythontest.NewRuntime(l, 0x7f0000001000)
				obj := r.Str(tt.in)
				if tt.legacy {
					obj = r.LegacyStr(tt.in)
				}
				got, err := r.Reader().Str(obj)
				require.NoError(t, err)
				assert.Equal(t, tt.in, got)
			})
		}
	}
}

func TestReadPyStringErrors(t *testing.T) {
	l, err := cpython.LayoutFor(cpython.Version{Major: 3, Minor: 11})
	require.NoError(t, err)
	state := func(r *cpythontest.Runtime, obj uint64, v uint32) {
		r.PutU32(obj+uint64(l.PyUnicodeObject_state), v)
	}
	tests := []struct {
		name    string
		build   func(r *cpythontest.Runtime) uint64
		wantErr error
		wantMsg string
	}{
		{name: "null", build: func(*cpythontest.Runtime) uint64 { return 0 }, wantErr: cpython.ErrNullPointer},
		{name: "misaligned", build: func(r *cpythontest.Runtime) uint64 { return r.Str("abc") + 4 }, wantMsg: "misaligned"},
		{name: "unmapped", build: func(*cpythontest.Runtime) uint64 { return 0x10 }, wantMsg: "bytes at 0x10: unexpected EOF"},
		{name: "not a str", build: func(r *cpythontest.Runtime) uint64 { return r.Object(r.IntType, 64) }, wantErr: cpython.ErrNotStr},
		{name: "too long", build: func(r *cpythontest.Runtime) uint64 {
			return r.Str(strings.Repeat("y", cpython.MaxPyStringLen+1))
		}, wantErr: cpython.ErrStringTooLong},
		{name: "negative length", build: func(r *cpythontest.Runtime) uint64 {
			obj := r.Str("abc")
			r.PutU64(obj+uint64(l.PyUnicodeObject_length), ^uint64(0))
			return obj
		}, wantMsg: "negative str length -1"},
		{name: "huge length", build: func(r *cpythontest.Runtime) uint64 {
			obj := r.Str("abc")
			r.PutU64(obj+uint64(l.PyUnicodeObject_length), 1<<62)
			return obj
		}, wantErr: cpython.ErrStringTooLong},
		{name: "not ready", build: func(r *cpythontest.Runtime) uint64 {
			obj := r.LegacyStr("abc")
			state(r, obj, 0) // PyUnicode_WCHAR_KIND
			return obj
		}, wantMsg: "not ready"},
		{name: "legacy without data", build: func(r *cpythontest.Runtime) uint64 {
			obj := r.LegacyStr("abc")
			r.PutU64(obj+uint64(l.PyUnicodeObject_data), 0)
			return obj
		}, wantMsg: "no data"},
		{name: "invalid kind", build: func(r *cpythontest.Runtime) uint64 {
			obj := r.Str("abc")
			state(r, obj, 3<<cpythontest.StrStateKindShift|cpythontest.StrStateCompact)
			return obj
		}, wantMsg: "invalid str kind 3"},
		{name: "ascii with kind 2", build: func(r *cpythontest.Runtime) uint64 {
			obj := r.Str("abc")
			state(r, obj, 2<<cpythontest.StrStateKindShift|cpythontest.StrStateCompact|cpythontest.StrStateASCII)
			return obj
		}, wantMsg: "ascii with kind 2"},
		{name: "ascii flag on a high byte", build: func(r *cpythontest.Runtime) uint64 {
			obj := r.Str("abc")
			r.PutU8(obj+uint64(l.PyASCIIObjectSize)+1, 0xe9)
			return obj
		}, wantMsg: "ascii str has byte 0xe9 at index 1"},
		{name: "code point beyond unicode", build: func(r *cpythontest.Runtime) uint64 {
			obj := r.Str("😀")
			r.PutU32(obj+uint64(l.PyCompactUnicodeObjectSize), 0x110000)
			return obj
		}, wantMsg: "code point 0x110000 out of range"},
		{name: "legacy data unmapped", build: func(r *cpythontest.Runtime) uint64 {
			obj := r.LegacyStr("abc")
			r.PutU64(obj+uint64(l.PyUnicodeObject_data), 0x7fff00000000)
			return obj
		}, wantMsg: "read str data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cpythontest.NewRuntime(l, 0x7f0000001000)
			obj := tt.build(r)
			_, err := r.Reader().Str(obj)
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("read str at %#x: ", obj))
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

// TestReadPyStringSurrogate checks that a lone surrogate, valid in a Python
// str but not in UTF-8, reads as U+FFFD instead of producing invalid UTF-8.
func TestReadPyStringSurrogate(t *testing.T) {
	l, err := cpython.LayoutFor(cpython.Version{Major: 3, Minor: 12})
	require.NoError(t, err)
	r := cpythontest.NewRuntime(l, 0x1000)
	obj := r.Str("日x") // kind 2
	r.At(obj + uint64(l.PyCompactUnicodeObjectSize))[0] = 0x00
	r.At(obj + uint64(l.PyCompactUnicodeObjectSize))[1] = 0xd8 // U+D800
	got, err := r.Reader().Str(obj)
	require.NoError(t, err)
	assert.Equal(t, "\uFFFDx", got)
}
