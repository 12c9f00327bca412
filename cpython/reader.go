package cpython

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/recapi/recapi/proc"
)

// Reader reads CPython objects out of the memory of a running interpreter
// whose version has layout Layout: strings (Str), code objects (Code), type
// names (TypeName), dicts (DictLookupStr, DictItems), tuples (TupleItems)
// and the qualified names of the functions reachable from sys.modules
// (QualnameIndex). It keeps no state besides Mem and Layout, so it is safe
// for concurrent use whenever Mem is.
//
// Objects are read with one speculative read of their head, sized for the
// fields the reader needs (and, for a str, its first characters); an object
// near the end of a mapping is read up to the end of its page instead, and
// each field is checked to lie within what was read.
type Reader struct {
	Mem    *proc.Memory
	Layout Layout
}

// NewReader returns a Reader of the memory m of an interpreter with layout l.
func NewReader(m *proc.Memory, l Layout) *Reader {
	return &Reader{Mem: m, Layout: l}
}

// ErrNullPointer reports a NULL (zero) address where an object was expected.
var ErrNullPointer = errors.New("null pointer")

// checkObjectPointer rejects addresses that cannot hold a PyObject: NULL, and
// anything not 8-byte aligned (every allocator CPython uses, and every static
// object, aligns objects to at least 8 bytes on 64-bit targets).
func checkObjectPointer(obj uint64) error {
	if obj == 0 {
		return ErrNullPointer
	}
	if obj%8 != 0 {
		return fmt.Errorf("misaligned object pointer %#x", obj)
	}
	return nil
}

// head reads up to n bytes at addr in one read. When the n bytes cross
// into unmapped memory (an object near the end of its mapping), it returns
// fewer: what the read got before the gap, or else what is left of addr's
// page, read again (a read within one page either fails or succeeds whole,
// proc.PageSize). The caller checks each field against len(b) (u64At,
// u32At).
func (r *Reader) head(addr uint64, n int) ([]byte, error) {
	if addr > math.MaxInt64 {
		return nil, r.Mem.Read(nil, addr)
	}
	b := make([]byte, n)
	got, err := r.Mem.ReadAt(b, int64(addr))
	switch {
	case err == nil:
		return b, nil
	case got > 0:
		return b[:got], nil
	}
	if rest := proc.PageSize - int(addr%proc.PageSize); rest < n && r.Mem.Read(b[:rest], addr) == nil {
		return b[:rest], nil
	}
	return nil, err
}

// errShortObject reports a field beyond what head could read.
func errShortObject(field string, n int) error {
	return fmt.Errorf("%s beyond the %d readable bytes of the object", field, n)
}

// u64At returns the uint64 at off in b, false when b is too short.
func u64At(b []byte, off int) (uint64, bool) {
	if off < 0 || off+8 > len(b) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[off:]), true
}

// u32At returns the uint32 at off in b, false when b is too short.
func u32At(b []byte, off int) (uint32, bool) {
	if off < 0 || off+4 > len(b) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[off:]), true
}

// i32At returns the C int at off in b, false when b is too short.
func i32At(b []byte, off int) (int, bool) {
	v, ok := u32At(b, off)
	return int(int32(v)), ok
}

// ptrAt is u64At for a field holding an object pointer: false when b is
// too short or the field is NULL or misaligned.
func ptrAt(b []byte, off int) (uint64, bool) {
	p, ok := u64At(b, off)
	return p, ok && checkObjectPointer(p) == nil
}

// hasTypeFlags reports whether the type at typ has all bits of flags set in
// tp_flags.
func (r *Reader) hasTypeFlags(typ uint64, flags uint64) (bool, error) {
	if err := checkObjectPointer(typ); err != nil {
		return false, fmt.Errorf("read type: %w", err)
	}
	got, err := r.Mem.U64(typ + uint64(r.Layout.PyTypeObject_tp_flags))
	if err != nil {
		return false, fmt.Errorf("read tp_flags of type at %#x: %w", typ, err)
	}
	return got&flags == flags, nil
}

// checkTypeFlags is hasTypeFlags that fails when a flag is missing.
func (r *Reader) checkTypeFlags(typ uint64, flags uint64) error {
	ok, err := r.hasTypeFlags(typ, flags)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("type at %#x lacks tp_flags %#x", typ, flags)
	}
	return nil
}

// objectType reads ob_type of the object at obj.
func (r *Reader) objectType(obj uint64) (uint64, error) {
	if err := checkObjectPointer(obj); err != nil {
		return 0, err
	}
	typ, err := r.Mem.U64(obj + uint64(r.Layout.PyObject_ob_type))
	if err != nil {
		return 0, fmt.Errorf("read ob_type: %w", err)
	}
	return typ, nil
}

// checkObjectTypeFlags checks that the object at obj has a type with flags.
func (r *Reader) checkObjectTypeFlags(obj uint64, flags uint64) error {
	typ, err := r.objectType(obj)
	if err != nil {
		return err
	}
	return r.checkTypeFlags(typ, flags)
}

// headOfType reads the head of the object at obj (n bytes, see head) and
// checks that its type has flags.
func (r *Reader) headOfType(obj uint64, n int, flags uint64) ([]byte, error) {
	if err := checkObjectPointer(obj); err != nil {
		return nil, err
	}
	b, err := r.head(obj, n)
	if err != nil {
		return nil, err
	}
	typ, ok := u64At(b, r.Layout.PyObject_ob_type)
	if !ok {
		return nil, errShortObject("ob_type", len(b))
	}
	return b, r.checkTypeFlags(typ, flags)
}
