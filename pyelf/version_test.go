package pyelf

import (
	"path/filepath"
	"testing"

	"github.com/recapi/recapi/cpython"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPythonVersionSources reads the version of every interpreter on this
// machine both ways: through Py_GetVersion (every version) and Py_Version
// (3.11+), which must agree.
func TestPythonVersionSources(t *testing.T) {
	root := elfTestPyenvRoot()
	pyenvLib := func(full, lib string) string { return filepath.Join(root, "versions", full, "lib", lib) }
	tests := []struct {
		name, path string
		want       cpython.Version
		hasHex     bool
	}{
		{name: "debian-3.11.2", path: "/usr/bin/python3.11", want: cpython.Version{Major: 3, Minor: 11, Patch: 2}, hasHex: true},
		{name: "pyenv-2.7.18", path: pyenvLib("2.7.18", "libpython2.7.so.1.0"), want: cpython.Version{Major: 2, Minor: 7, Patch: 18}},
		{name: "pyenv-3.6.15", path: pyenvLib("3.6.15", "libpython3.6m.so.1.0"), want: cpython.Version{Major: 3, Minor: 6, Patch: 15}},
		{name: "pyenv-3.7.16", path: pyenvLib("3.7.16", "libpython3.7m.so.1.0"), want: cpython.Version{Major: 3, Minor: 7, Patch: 16}},
		{name: "pyenv-3.8.18", path: pyenvLib("3.8.18", "libpython3.8.so.1.0"), want: cpython.Version{Major: 3, Minor: 8, Patch: 18}},
		{name: "pyenv-3.9.18", path: pyenvLib("3.9.18", "libpython3.9.so.1.0"), want: cpython.Version{Major: 3, Minor: 9, Patch: 18}},
		{name: "pyenv-3.10.13", path: pyenvLib("3.10.13", "libpython3.10.so.1.0"), want: cpython.Version{Major: 3, Minor: 10, Patch: 13}},
		{name: "pyenv-3.11.7", path: pyenvLib("3.11.7", "libpython3.11.so.1.0"), want: cpython.Version{Major: 3, Minor: 11, Patch: 7}, hasHex: true},
		{name: "pyenv-3.12.1", path: pyenvLib("3.12.1", "libpython3.12.so.1.0"), want: cpython.Version{Major: 3, Minor: 12, Patch: 1}, hasHex: true},
		{name: "pyenv-3.13.0", path: pyenvLib("3.13.0", "libpython3.13.so.1.0"), want: cpython.Version{Major: 3, Minor: 13, Patch: 0}, hasHex: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elfTestRequire(t, tt.path)
			img, err := openELFImage(tt.path)
			require.NoError(t, err)
			defer img.close()

			fromString, err := img.versionFromGetVersion()
			require.NoError(t, err)
			assert.Equal(t, tt.want, fromString)

			got, src, err := img.pythonVersion()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			if tt.hasHex {
				assert.Equal(t, "Py_Version", src)
			} else {
				assert.Equal(t, "Py_GetVersion", src)
			}
		})
	}
}

func TestVersionPatterns(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" = no match
	}{
		{name: "folded Py_GetVersion", in: "\x003.10.13 (main, Nov 10 2023, 12:00:00) [GCC 12.2.0]\x00", want: "3.10.13"},
		{name: "release candidate", in: "\x003.13.0rc2 (tags/v3.13.0rc2:ec61006, Sep  6 2024)\x00", want: "3.13.0rc2"},
		{name: "other text in parentheses", in: "\x002.2.2 (whatever)\x00", want: ""},
		{name: "bare version", in: "\x003.11.2\x00", want: ""},
		{name: "no separator before", in: "SRE 2.2.2 Copyright", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := rodataVersion.FindStringSubmatch(tt.in)
			if tt.want == "" {
				assert.Nil(t, m)
				return
			}
			require.NotNil(t, m)
			assert.Equal(t, tt.want, m[1])
		})
	}
}
