package cpython

import (
	"fmt"
	"regexp"
	"strconv"
)

// versionPattern matches PY_VERSION ("3.11.2", "3.13.0rc2", "3.12.0a7+").
var versionPattern = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)((?:a|b|rc)\d+)?(\+)?$`)

// ParseVersion parses a CPython PY_VERSION string such as "3.11.2",
// "3.13.0rc2" or "3.14.0a1+".
func ParseVersion(s string) (Version, error) {
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("parse CPython version %q: want MAJOR.MINOR.PATCH[a|b|rcN][+]", s)
	}
	var v Version
	var err error
	for i, dst := range []*int{&v.Major, &v.Minor, &v.Patch} {
		if *dst, err = strconv.Atoi(m[i+1]); err != nil {
			return Version{}, fmt.Errorf("parse CPython version %q: %w", s, err)
		}
	}
	v.Release = m[4] + m[5]
	return v, nil
}

// VersionFromHex decodes PY_VERSION_HEX (Py_Version, _Py_DebugOffsets.version):
// 0xMMmmppLS with release level L (0xA alpha, 0xB beta, 0xC candidate,
// 0xF final) and serial S.
func VersionFromHex(h uint64) (Version, error) {
	if h>>32 != 0 || h>>24 == 0 {
		return Version{}, fmt.Errorf("decode PY_VERSION_HEX %#x: not a CPython version", h)
	}
	v := Version{Major: int(h >> 24), Minor: int(h >> 16 & 0xff), Patch: int(h >> 8 & 0xff)}
	serial := h & 0xf
	switch level := h >> 4 & 0xf; level {
	case 0xa:
		v.Release = fmt.Sprintf("a%d", serial)
	case 0xb:
		v.Release = fmt.Sprintf("b%d", serial)
	case 0xc:
		v.Release = fmt.Sprintf("rc%d", serial)
	case 0xf:
	default:
		return Version{}, fmt.Errorf("decode PY_VERSION_HEX %#x: release level %#x is not a, b, c or f", h, level)
	}
	return v, nil
}

// Version is a CPython version as found in the interpreter binary.
type Version struct {
	Major, Minor, Patch int
	// Release is the pre-release suffix ("a1", "b2", "rc1", "+"), empty for a final release.
	Release string
}

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d%s", v.Major, v.Minor, v.Patch, v.Release)
}

// Short is "3.11" style.
func (v Version) Short() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// VersionError reports an interpreter version recapid cannot trace.
type VersionError struct {
	Path  string
	Found Version
}

func (e *VersionError) Error() string {
	where := ""
	if e.Path != "" {
		where = e.Path + ": "
	}
	return fmt.Sprintf("%sCPython %s is not supported: recapid traces CPython 3.%d to 3.%d on x86-64", where, e.Found, MinMinor, MaxMinor)
}
