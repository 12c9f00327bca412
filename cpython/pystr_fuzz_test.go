package cpython

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/recapi/recapi/proc"
)

// namesFuzzLayout maps a fuzz byte to a supported layout.
func namesFuzzLayout(t *testing.T, minor uint8) Layout {
	l, err := LayoutFor(Version{Major: 3, Minor: MinMinor + int(minor)%(MaxMinor-MinMinor+1)})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// FuzzReadPyString reads a str out of random memory: it must return an error
// or valid UTF-8, never panic, and never read without bound.
func FuzzReadPyString(f *testing.F) {
	for _, l := range namesAllLayouts() {
		for _, s := range []string{"abc", "", "héllo", "日本", "😀"} {
			for _, form := range []namesStrForm{namesStrCompact, namesStrLegacy} {
				r := newNamesFakeRuntime(l, 0)
				obj := r.str(s, form)
				f.Add(r.buf, obj, uint8(l.Minor-MinMinor))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, obj uint64, minor uint8) {
		l := namesFuzzLayout(t, minor)
		m := proc.NewMemory(bytes.NewReader(data))
		s, err := NewReader(m, l).Str(obj)
		if err != nil {
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
		if n := utf8.RuneCountInString(s); n > MaxPyStringLen {
			t.Fatalf("read %d code points, more than MaxPyStringLen", n)
		}
	})
}
