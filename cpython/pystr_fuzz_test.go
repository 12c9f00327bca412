package cpython_test

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/cpython/cpythontest"
	"github.com/recapi/recapi/proc"
)

// namesFuzzLayout maps a fuzz byte to a supported layout.
func namesFuzzLayout(t *testing.T, minor uint8) cpython.Layout {
	l, err := cpython.LayoutFor(cpython.Version{Major: 3, Minor: cpython.MinMinor + int(minor)%(cpython.MaxMinor-cpython.MinMinor+1)})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// FuzzReadPyString reads a str out of random memory: it must return an error
// or valid UTF-8, never panic, and never read without bound.
func FuzzReadPyString(f *testing.F) {
	for _, l := range cpythontest.Layouts() {
		for _, s := range []string{"abc", "", "héllo", "日本", "😀"} {
			for _, legacy := range []bool{false, true} {
				r := cpythontest.NewRuntime(l, 0)
				obj := r.Str(s)
				if legacy {
					obj = r.LegacyStr(s)
				}
				f.Add(r.Buf, obj, uint8(l.Minor-cpython.MinMinor))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, obj uint64, minor uint8) {
		l := namesFuzzLayout(t, minor)
		m := proc.NewMemory(bytes.NewReader(data))
		s, err := cpython.NewReader(m, l).Str(obj)
		if err != nil {
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
		if n := utf8.RuneCountInString(s); n > cpython.MaxPyStringLen {
			t.Fatalf("read %d code points, more than cpython.MaxPyStringLen", n)
		}
	})
}
