package cpython

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadPyStringForms(t *testing.T) {
	tests := []struct {
		name string
		in   string
		form namesStrForm
	}{
		{name: "compact ascii", in: "__module__"},
		{name: "empty", in: ""},
		{name: "compact latin-1", in: "héllo"},
		{name: "compact ucs2", in: "日本"},
		{name: "compact ucs4", in: "emoji 😀!"},
		{name: "longest", in: strings.Repeat("x", MaxPyStringLen)},
		{name: "legacy ascii", in: "plain", form: namesStrLegacy},
		{name: "legacy latin-1", in: "héllo", form: namesStrLegacy},
		{name: "legacy ucs2", in: "日本", form: namesStrLegacy},
		{name: "legacy ucs4", in: "😀", form: namesStrLegacy},
	}
	for _, l := range namesAllLayouts() {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("3.%d/%s", l.Minor, tt.name), func(t *testing.T) {
				r := newNamesFakeRuntime(l, 0x7f0000001000)
				obj := r.str(tt.in, tt.form)
				got, err := NewReader(r.memory(), l).Str(obj)
				require.NoError(t, err)
				assert.Equal(t, tt.in, got)
			})
		}
	}
}

func TestReadPyStringErrors(t *testing.T) {
	l, err := LayoutFor(Version{Major: 3, Minor: 11})
	require.NoError(t, err)
	state := func(r *namesFakeRuntime, obj uint64, v uint32) {
		r.put32(obj+uint64(l.PyUnicodeObject_state), v)
	}
	tests := []struct {
		name    string
		build   func(r *namesFakeRuntime) uint64
		wantErr error
		wantMsg string
	}{
		{name: "null", build: func(*namesFakeRuntime) uint64 { return 0 }, wantErr: ErrNullPointer},
		{name: "misaligned", build: func(r *namesFakeRuntime) uint64 { return r.str("abc", namesStrCompact) + 4 }, wantMsg: "misaligned"},
		{name: "unmapped", build: func(*namesFakeRuntime) uint64 { return 0x10 }, wantMsg: "bytes at 0x10: unexpected EOF"},
		{name: "not a str", build: func(r *namesFakeRuntime) uint64 { return r.object(r.intType, 64) }, wantErr: ErrNotStr},
		{name: "too long", build: func(r *namesFakeRuntime) uint64 {
			return r.str(strings.Repeat("y", MaxPyStringLen+1), namesStrCompact)
		}, wantErr: ErrStringTooLong},
		{name: "negative length", build: func(r *namesFakeRuntime) uint64 {
			obj := r.str("abc", namesStrCompact)
			r.put64(obj+uint64(l.PyUnicodeObject_length), ^uint64(0))
			return obj
		}, wantMsg: "negative str length -1"},
		{name: "huge length", build: func(r *namesFakeRuntime) uint64 {
			obj := r.str("abc", namesStrCompact)
			r.put64(obj+uint64(l.PyUnicodeObject_length), 1<<62)
			return obj
		}, wantErr: ErrStringTooLong},
		{name: "not ready", build: func(r *namesFakeRuntime) uint64 {
			obj := r.str("abc", namesStrLegacy)
			state(r, obj, 0) // PyUnicode_WCHAR_KIND
			return obj
		}, wantMsg: "not ready"},
		{name: "legacy without data", build: func(r *namesFakeRuntime) uint64 {
			obj := r.str("abc", namesStrLegacy)
			r.put64(obj+uint64(l.PyUnicodeObject_data), 0)
			return obj
		}, wantMsg: "no data"},
		{name: "invalid kind", build: func(r *namesFakeRuntime) uint64 {
			obj := r.str("abc", namesStrCompact)
			state(r, obj, 3<<pyStrKindShift|pyStrCompact)
			return obj
		}, wantMsg: "invalid str kind 3"},
		{name: "ascii with kind 2", build: func(r *namesFakeRuntime) uint64 {
			obj := r.str("abc", namesStrCompact)
			state(r, obj, 2<<pyStrKindShift|pyStrCompact|pyStrASCII)
			return obj
		}, wantMsg: "ascii with kind 2"},
		{name: "ascii flag on a high byte", build: func(r *namesFakeRuntime) uint64 {
			obj := r.str("abc", namesStrCompact)
			r.put8(obj+uint64(l.PyASCIIObjectSize)+1, 0xe9)
			return obj
		}, wantMsg: "ascii str has byte 0xe9 at index 1"},
		{name: "code point beyond unicode", build: func(r *namesFakeRuntime) uint64 {
			obj := r.str("😀", namesStrCompact)
			r.put32(obj+uint64(l.PyCompactUnicodeObjectSize), 0x110000)
			return obj
		}, wantMsg: "code point 0x110000 out of range"},
		{name: "legacy data unmapped", build: func(r *namesFakeRuntime) uint64 {
			obj := r.str("abc", namesStrLegacy)
			r.put64(obj+uint64(l.PyUnicodeObject_data), 0x7fff00000000)
			return obj
		}, wantMsg: "read str data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newNamesFakeRuntime(l, 0x7f0000001000)
			obj := tt.build(r)
			_, err := NewReader(r.memory(), l).Str(obj)
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
	l, err := LayoutFor(Version{Major: 3, Minor: 12})
	require.NoError(t, err)
	r := newNamesFakeRuntime(l, 0x1000)
	obj := r.str("日x", namesStrCompact) // kind 2
	r.at(obj + uint64(l.PyCompactUnicodeObjectSize))[0] = 0x00
	r.at(obj + uint64(l.PyCompactUnicodeObjectSize))[1] = 0xd8 // U+D800
	got, err := NewReader(r.memory(), l).Str(obj)
	require.NoError(t, err)
	assert.Equal(t, "\uFFFDx", got)
}
