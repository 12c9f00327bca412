package cpython

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/recapi/recapi/proc"
)

// MaxPyStringLen is the longest str, in code points, that ReadPyString reads.
// Names of modules, types, functions, parameters and files are far shorter;
// the bound keeps a garbage length from turning into a huge read.
const MaxPyStringLen = 4096

// ErrStringTooLong reports a str longer than MaxPyStringLen.
var ErrStringTooLong = errors.New("str longer than recapi reads")

// ErrNotStr reports an object whose type is not str or a str subclass.
var ErrNotStr = errors.New("object is not a str")

// Bits of PyASCIIObject.state, the same from 3.8 to 3.13 (CPython v3.12.0
// Include/cpython/unicodeobject.h): interned:2, kind:3, compact:1, ascii:1,
// then ready (up to 3.11) or statically_allocated (3.12+).
const (
	pyStrKindShift = 2
	pyStrKindMask  = 0x7
	pyStrCompact   = 1 << 5
	pyStrASCII     = 1 << 6
)

// pyStrHeader is the decoded head of a str object.
type pyStrHeader struct {
	length int64
	kind   int // bytes per code point: 1, 2 or 4
	ascii  bool
	data   uint64 // address of the code points
}

// ReadPyString reads a str object (or an instance of a str subclass) and
// returns it as UTF-8. It handles compact ASCII strings, compact non-ASCII
// strings of kind 1, 2 and 4, and non-compact strings whose data sit behind
// PyUnicodeObject.data (str subclass instances, and legacy "ready" strings
// on 3.8-3.11). A lone surrogate, which Go strings cannot hold, becomes
// U+FFFD. Strings longer than MaxPyStringLen code points fail with
// ErrStringTooLong; objects that are not a str fail with ErrNotStr.
func ReadPyString(m *proc.Memory, l Layout, obj uint64) (string, error) {
	s, err := readPyStrBounded(m, l, obj, MaxPyStringLen)
	if err != nil {
		return "", fmt.Errorf("read str at %#x: %w", obj, err)
	}
	return s, nil
}

// readPyStrBounded reads a str of at most maxLen code points, checking its
// type. Errors carry no object address; callers add their own context.
func readPyStrBounded(m *proc.Memory, l Layout, obj uint64, maxLen int) (string, error) {
	raw, err := readPyStrRaw(m, l, obj)
	if err != nil {
		return "", err
	}
	if err := checkTypeFlags(m, l, raw.typ, Py_TPFLAGS_UNICODE_SUBCLASS); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotStr, err)
	}
	h, err := raw.header(m, l, obj)
	if err != nil {
		return "", err
	}
	if h.length > int64(maxLen) {
		return "", fmt.Errorf("length %d: %w (limit %d)", h.length, ErrStringTooLong, maxLen)
	}
	return readPyStrData(m, h)
}

// pyStrRaw is the head of an object that may be a str, not yet validated.
type pyStrRaw struct {
	typ    uint64
	length int64
	state  uint32
}

// readPyStrRaw reads ob_type, length and state in one read.
func readPyStrRaw(m *proc.Memory, l Layout, obj uint64) (pyStrRaw, error) {
	if err := checkObjectPointer(obj); err != nil {
		return pyStrRaw{}, err
	}
	var buf [64]byte
	n := max(l.PyObject_ob_type+8, l.PyUnicodeObject_length+8, l.PyUnicodeObject_state+4)
	if n > len(buf) || l.PyUnicodeObject_length <= 0 || l.PyUnicodeObject_state <= 0 {
		return pyStrRaw{}, fmt.Errorf("layout for 3.%d has no str offsets", l.Minor)
	}
	if err := m.Read(buf[:n], obj); err != nil {
		return pyStrRaw{}, err
	}
	return pyStrRaw{
		typ:    binary.LittleEndian.Uint64(buf[l.PyObject_ob_type:]),
		length: int64(binary.LittleEndian.Uint64(buf[l.PyUnicodeObject_length:])),
		state:  binary.LittleEndian.Uint32(buf[l.PyUnicodeObject_state:]),
	}, nil
}

// header validates the state bits and locates the code points.
func (r pyStrRaw) header(m *proc.Memory, l Layout, obj uint64) (pyStrHeader, error) {
	h := pyStrHeader{
		length: r.length,
		kind:   int(r.state>>pyStrKindShift) & pyStrKindMask,
		ascii:  r.state&pyStrASCII != 0,
	}
	if h.length < 0 {
		return pyStrHeader{}, fmt.Errorf("negative str length %d", h.length)
	}
	switch {
	case h.kind == 0:
		// PyUnicode_WCHAR_KIND: a 3.8-3.11 string created through the
		// deprecated Py_UNICODE API and never made "ready".
		return pyStrHeader{}, fmt.Errorf("str is not ready (wchar_t representation only)")
	case h.kind != 1 && h.kind != 2 && h.kind != 4:
		return pyStrHeader{}, fmt.Errorf("invalid str kind %d", h.kind)
	case h.ascii && h.kind != 1:
		return pyStrHeader{}, fmt.Errorf("invalid str state %#x: ascii with kind %d", r.state, h.kind)
	}
	switch {
	case r.state&pyStrCompact != 0 && h.ascii:
		h.data = obj + uint64(l.PyASCIIObjectSize)
	case r.state&pyStrCompact != 0:
		h.data = obj + uint64(l.PyCompactUnicodeObjectSize)
	default:
		if l.PyUnicodeObject_data <= 0 {
			return pyStrHeader{}, fmt.Errorf("layout for 3.%d has no PyUnicodeObject.data offset", l.Minor)
		}
		p, err := m.U64(obj + uint64(l.PyUnicodeObject_data))
		if err != nil {
			return pyStrHeader{}, fmt.Errorf("read data pointer: %w", err)
		}
		if p == 0 {
			return pyStrHeader{}, fmt.Errorf("non-compact str has no data (not ready)")
		}
		h.data = p
	}
	return h, nil
}

// readPyStrData reads and decodes the code points a header describes. The
// caller has bounded h.length.
func readPyStrData(m *proc.Memory, h pyStrHeader) (string, error) {
	if h.length == 0 {
		return "", nil
	}
	raw, err := m.Bytes(h.data, int(h.length)*h.kind)
	if err != nil {
		return "", fmt.Errorf("read str data: %w", err)
	}
	switch h.kind {
	case 1:
		if h.ascii {
			for i, c := range raw {
				if c >= utf8.RuneSelf {
					return "", fmt.Errorf("ascii str has byte %#x at index %d", c, i)
				}
			}
			return string(raw), nil
		}
		out := make([]byte, 0, len(raw)*2)
		for _, c := range raw {
			out = utf8.AppendRune(out, rune(c)) // Latin-1 is the first 256 code points
		}
		return string(out), nil
	case 2:
		out := make([]byte, 0, len(raw)/2*3)
		for i := 0; i+1 < len(raw); i += 2 {
			out = utf8.AppendRune(out, rune(binary.LittleEndian.Uint16(raw[i:])))
		}
		return string(out), nil
	default:
		out := make([]byte, 0, len(raw))
		for i := 0; i+3 < len(raw); i += 4 {
			c := binary.LittleEndian.Uint32(raw[i:])
			if c > utf8.MaxRune {
				return "", fmt.Errorf("code point %#x out of range at index %d", c, i/4)
			}
			out = utf8.AppendRune(out, rune(c))
		}
		return string(out), nil
	}
}

// pyStrEqual reports whether obj is a str equal to want. It compares the
// length first and checks the type and reads the data only on a match, so
// scanning a dict costs one read per key; a key that is not a str is simply
// not equal.
func pyStrEqual(m *proc.Memory, l Layout, obj uint64, want string) (bool, error) {
	raw, err := readPyStrRaw(m, l, obj)
	if err != nil {
		// A small non-str key at the very end of a mapping cannot be read
		// as far as a str header: it is still not equal.
		if typ, terr := objectType(m, l, obj); terr == nil {
			if isStr, ferr := hasTypeFlags(m, l, typ, Py_TPFLAGS_UNICODE_SUBCLASS); ferr == nil && !isStr {
				return false, nil
			}
		}
		return false, err
	}
	if raw.length != int64(utf8.RuneCountInString(want)) {
		return false, nil
	}
	isStr, err := hasTypeFlags(m, l, raw.typ, Py_TPFLAGS_UNICODE_SUBCLASS)
	if err != nil || !isStr {
		return false, err
	}
	h, err := raw.header(m, l, obj)
	if err != nil {
		return false, err
	}
	got, err := readPyStrData(m, h)
	if err != nil {
		return false, err
	}
	return got == want, nil
}
