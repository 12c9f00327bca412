package cpython

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxPyStringLen is the longest str, in code points, that Reader.Str reads.
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

// strHeadSize is what Str reads at once: a str head and up to 80 bytes of
// compact ASCII data, which most names fit in.
func (r *Reader) strHeadSize() int { return r.Layout.PyASCIIObjectSize + 80 }

// Str reads a str object (or an instance of a str subclass) and returns it
// as UTF-8. It handles compact ASCII strings, compact non-ASCII strings of
// kind 1, 2 and 4, and non-compact strings whose data sit behind
// PyUnicodeObject.data (str subclass instances, and legacy "ready" strings
// on 3.8-3.11). A lone surrogate, which Go strings cannot hold, becomes
// U+FFFD. Strings longer than MaxPyStringLen code points fail with
// ErrStringTooLong; objects that are not a str fail with ErrNotStr.
//
// A short compact ASCII str, the common case, costs two reads: its head
// with the characters, and its type's tp_flags.
func (r *Reader) Str(obj uint64) (string, error) {
	s, err := r.str(obj, MaxPyStringLen)
	if err != nil {
		return "", fmt.Errorf("read str at %#x: %w", obj, err)
	}
	return s, nil
}

// str reads a str of at most maxLen code points, checking its type. Errors
// carry no object address; callers add their own context.
func (r *Reader) str(obj uint64, maxLen int) (string, error) {
	if err := checkObjectPointer(obj); err != nil {
		return "", err
	}
	b, err := r.head(obj, r.strHeadSize())
	if err != nil {
		return "", err
	}
	typ, ok := u64At(b, r.Layout.PyObject_ob_type)
	if !ok {
		return "", errShortObject("ob_type", len(b))
	}
	if err := r.checkTypeFlags(typ, Py_TPFLAGS_UNICODE_SUBCLASS); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotStr, err)
	}
	return r.strFromHead(obj, b, maxLen)
}

// strFromHead decodes the str at obj, whose type the caller has checked,
// from its head b (read by head, at least strHeadSize bytes unless at the
// end of a mapping). The characters of a compact str are taken from b when
// they are all in it, and read otherwise.
func (r *Reader) strFromHead(obj uint64, b []byte, maxLen int) (string, error) {
	h, err := r.strHeader(obj, b)
	if err != nil {
		return "", err
	}
	if h.length > int64(maxLen) {
		return "", fmt.Errorf("length %d: %w (limit %d)", h.length, ErrStringTooLong, maxLen)
	}
	if h.length == 0 {
		return "", nil
	}
	n := uint64(h.length) * uint64(h.kind)
	if h.data >= obj && h.data-obj <= uint64(len(b)) && n <= uint64(len(b))-(h.data-obj) {
		return decodePyStr(b[h.data-obj:][:n], h)
	}
	raw, err := r.Mem.Bytes(h.data, int(n))
	if err != nil {
		return "", fmt.Errorf("read str data: %w", err)
	}
	return decodePyStr(raw, h)
}

// pyStrHeader is the decoded head of a str object.
type pyStrHeader struct {
	length int64
	kind   int // bytes per code point: 1, 2 or 4
	ascii  bool
	data   uint64 // address of the code points
}

// strHeader validates the length and state of the str at obj, whose head
// is b, and locates its code points.
func (r *Reader) strHeader(obj uint64, b []byte) (pyStrHeader, error) {
	l := r.Layout
	length, ok := u64At(b, l.PyUnicodeObject_length)
	if !ok {
		return pyStrHeader{}, errShortObject("str length", len(b))
	}
	state, ok := u32At(b, l.PyUnicodeObject_state)
	if !ok {
		return pyStrHeader{}, errShortObject("str state", len(b))
	}
	h := pyStrHeader{
		length: int64(length),
		kind:   int(state>>pyStrKindShift) & pyStrKindMask,
		ascii:  state&pyStrASCII != 0,
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
		return pyStrHeader{}, fmt.Errorf("invalid str state %#x: ascii with kind %d", state, h.kind)
	}
	switch {
	case state&pyStrCompact != 0 && h.ascii:
		h.data = obj + uint64(l.PyASCIIObjectSize)
	case state&pyStrCompact != 0:
		h.data = obj + uint64(l.PyCompactUnicodeObjectSize)
	default:
		p, ok := u64At(b, l.PyUnicodeObject_data)
		if !ok {
			var err error
			if p, err = r.Mem.U64(obj + uint64(l.PyUnicodeObject_data)); err != nil {
				return pyStrHeader{}, fmt.Errorf("read data pointer: %w", err)
			}
		}
		if p == 0 {
			return pyStrHeader{}, fmt.Errorf("non-compact str has no data (not ready)")
		}
		h.data = p
	}
	return h, nil
}

// decodePyStr decodes the code points raw of a str with header h.
func decodePyStr(raw []byte, h pyStrHeader) (string, error) {
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

// strEqual reports whether obj is a str equal to want. It compares the
// length first and checks the type and decodes the data only on a match,
// so scanning a dict costs one read per key; a key that is not a str is
// simply not equal.
func (r *Reader) strEqual(obj uint64, want string) (bool, error) {
	if err := checkObjectPointer(obj); err != nil {
		return false, err
	}
	b, err := r.head(obj, r.strHeadSize())
	if err != nil {
		return false, err
	}
	typ, ok := u64At(b, r.Layout.PyObject_ob_type)
	if !ok {
		return false, errShortObject("ob_type", len(b))
	}
	length, ok := u64At(b, r.Layout.PyUnicodeObject_length)
	if ok && length != uint64(utf8.RuneCountInString(want)) {
		return false, nil
	}
	// A small non-str key at the very end of a mapping cannot be read as
	// far as a str header: it is still not equal.
	isStr, err := r.hasTypeFlags(typ, Py_TPFLAGS_UNICODE_SUBCLASS)
	if err != nil || !isStr {
		return false, err
	}
	got, err := r.strFromHead(obj, b, int(length))
	if err != nil {
		return false, err
	}
	return got == want, nil
}
