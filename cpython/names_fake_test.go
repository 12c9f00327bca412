package cpython

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/recapi/recapi/proc"
)

// namesFakeMem is a synthetic address space for unit and fuzz tests: a byte
// slice mapped at base. Objects are laid out with the offsets of a Layout,
// so the readers are tested against every version without a process.
type namesFakeMem struct {
	base uint64
	buf  []byte
}

func newNamesFakeMem(base uint64) *namesFakeMem {
	// Leave the first 64 bytes unused so that no object sits at base.
	return &namesFakeMem{base: base, buf: make([]byte, 64)}
}

func (f *namesFakeMem) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || uint64(off) < f.base || uint64(off)-f.base >= uint64(len(f.buf)) {
		return 0, io.EOF
	}
	n := copy(p, f.buf[uint64(off)-f.base:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *namesFakeMem) memory() *proc.Memory { return proc.NewMemory(f) }

// alloc reserves n zeroed bytes, 16-byte aligned like pymalloc.
func (f *namesFakeMem) alloc(n int) uint64 {
	for len(f.buf)%16 != 0 {
		f.buf = append(f.buf, 0)
	}
	addr := f.base + uint64(len(f.buf))
	f.buf = append(f.buf, make([]byte, n)...)
	return addr
}

func (f *namesFakeMem) at(addr uint64) []byte { return f.buf[addr-f.base:] }

func (f *namesFakeMem) put64(addr, v uint64) { binary.LittleEndian.PutUint64(f.at(addr), v) }
func (f *namesFakeMem) put32(addr uint64, v uint32) {
	binary.LittleEndian.PutUint32(f.at(addr), v)
}
func (f *namesFakeMem) put8(addr uint64, v uint8) { f.at(addr)[0] = v }

// cstring stores a NUL-terminated string.
func (f *namesFakeMem) cstring(s string) uint64 {
	a := f.alloc(len(s) + 1)
	copy(f.at(a), s)
	return a
}

// namesFakeRuntime is a minimal set of type objects in a namesFakeMem.
type namesFakeRuntime struct {
	*namesFakeMem
	l                                                Layout
	typeType, strType, dictType, tupleType, codeType uint64
	intType                                          uint64
}

const namesFakeTypeSize = 1024 // covers ht_qualname on every version

func newNamesFakeRuntime(l Layout, base uint64) *namesFakeRuntime {
	r := &namesFakeRuntime{namesFakeMem: newNamesFakeMem(base), l: l}
	r.typeType = r.staticType("type", Py_TPFLAGS_TYPE_SUBCLASS)
	r.put64(r.typeType+uint64(l.PyObject_ob_type), r.typeType)
	r.strType = r.staticType("str", Py_TPFLAGS_UNICODE_SUBCLASS)
	r.dictType = r.staticType("dict", Py_TPFLAGS_DICT_SUBCLASS)
	r.tupleType = r.staticType("tuple", Py_TPFLAGS_TUPLE_SUBCLASS)
	r.codeType = r.staticType("code", 0)
	r.intType = r.staticType("int", 1<<24)
	return r
}

func (r *namesFakeRuntime) staticType(name string, flags uint64) uint64 {
	t := r.alloc(namesFakeTypeSize)
	r.put64(t+uint64(r.l.PyObject_ob_type), r.typeType)
	r.put64(t+uint64(r.l.PyTypeObject_tp_name), r.cstring(name))
	r.put64(t+uint64(r.l.PyTypeObject_tp_flags), flags)
	return t
}

// heapType creates a heap type with ht_qualname and a tp_dict.
func (r *namesFakeRuntime) heapType(shortName, qualname string, dict uint64) uint64 {
	t := r.staticType(shortName, Py_TPFLAGS_HEAPTYPE)
	r.put64(t+uint64(r.l.PyHeapTypeObject_ht_qualname), r.str(qualname, namesStrCompact))
	r.put64(t+uint64(r.l.PyTypeObject_tp_dict), dict)
	return t
}

func (r *namesFakeRuntime) object(typ uint64, size int) uint64 {
	o := r.alloc(size)
	r.put64(o+uint64(r.l.PyObject_ob_type), typ)
	return o
}

type namesStrForm int

const (
	namesStrCompact namesStrForm = iota // compact (ASCII or not)
	namesStrLegacy                      // non-compact, data behind PyUnicodeObject.data
)

// str lays out s in the smallest kind, like PyUnicode_New does.
func (r *namesFakeRuntime) str(s string, form namesStrForm) uint64 {
	runes := []rune(s)
	kind, ascii := 1, true
	for _, c := range runes {
		if c >= 0x80 {
			ascii = false
		}
		if c > 0xff {
			kind = max(kind, 2)
		}
		if c > 0xffff {
			kind = 4
		}
	}
	data := make([]byte, (len(runes)+1)*kind)
	for i, c := range runes {
		switch kind {
		case 1:
			data[i] = byte(c)
		case 2:
			binary.LittleEndian.PutUint16(data[i*2:], uint16(c))
		case 4:
			binary.LittleEndian.PutUint32(data[i*4:], uint32(c))
		}
	}
	state := uint32(kind) << pyStrKindShift
	if ascii {
		state |= pyStrASCII
	}
	var obj uint64
	switch {
	case form == namesStrLegacy:
		obj = r.object(r.strType, r.l.PyUnicodeObject_data+8)
		d := r.alloc(len(data))
		copy(r.at(d), data)
		r.put64(obj+uint64(r.l.PyUnicodeObject_data), d)
	case ascii:
		state |= pyStrCompact
		obj = r.object(r.strType, r.l.PyASCIIObjectSize+len(data))
		copy(r.at(obj+uint64(r.l.PyASCIIObjectSize)), data)
	default:
		state |= pyStrCompact
		obj = r.object(r.strType, r.l.PyCompactUnicodeObjectSize+len(data))
		copy(r.at(obj+uint64(r.l.PyCompactUnicodeObjectSize)), data)
	}
	r.put64(obj+uint64(r.l.PyUnicodeObject_length), uint64(len(runes)))
	r.put32(obj+uint64(r.l.PyUnicodeObject_state), state|1 /* interned */)
	return obj
}

// namesFakeItem is one dict entry; a zero key is a deleted entry.
type namesFakeItem struct {
	key, value uint64
}

// dict builds a dict with the version's keys layout. split stores the
// values separately, as instance dicts do.
func (r *namesFakeRuntime) dict(items []namesFakeItem, split, unicodeKeys bool) uint64 {
	l := r.l
	log2 := uint64(3)
	for (uint64(1)<<log2)*2/3 < uint64(len(items)) {
		log2++
	}
	width := dictIndexWidth(log2)
	indexBytes := (uint64(1) << log2) * width
	entrySize, keyOff, valueOff := uint64(24), uint64(8), uint64(16)
	newLayout := l.PyDictKeysObject_dk_size < 0
	if newLayout && (split || unicodeKeys) {
		entrySize, keyOff, valueOff = 16, 0, 8
	}
	keys := r.alloc(l.PyDictKeysObject_dk_indices + int(indexBytes) + len(items)*int(entrySize))
	if newLayout {
		r.put8(keys+uint64(l.PyDictKeysObject_dk_log2_size), uint8(log2))
		r.put8(keys+uint64(l.PyDictKeysObject_dk_log2_index_bytes), uint8(log2+uint64(bits.TrailingZeros64(width))))
		kind := uint8(dictKeysGeneral)
		switch {
		case split:
			kind = dictKeysSplit
		case unicodeKeys:
			kind = dictKeysUnicode
		}
		r.put8(keys+uint64(l.PyDictKeysObject_dk_kind), kind)
	} else {
		r.put64(keys+uint64(l.PyDictKeysObject_dk_size), 1<<log2)
	}
	r.put64(keys+uint64(l.PyDictKeysObject_dk_nentries), uint64(len(items)))
	entries := keys + uint64(l.PyDictKeysObject_dk_indices) + indexBytes
	var values uint64
	if split {
		values = r.alloc(l.PyDictValues_values + 8*len(items))
		if l.PyDictValues_values > 0 {
			r.put8(values, uint8(len(items))) // capacity
		}
	}
	for i, it := range items {
		e := entries + uint64(i)*entrySize
		r.put64(e+keyOff, it.key)
		if split {
			r.put64(values+uint64(l.PyDictValues_values)+uint64(i)*8, it.value)
		} else {
			r.put64(e+valueOff, it.value)
		}
	}
	d := r.object(r.dictType, 48)
	r.put64(d+uint64(l.PyDictObject_ma_keys), keys)
	r.put64(d+uint64(l.PyDictObject_ma_values), values)
	return d
}

// tuple builds a tuple of the given items.
func (r *namesFakeRuntime) tuple(items ...uint64) uint64 {
	t := r.object(r.tupleType, r.l.PyTupleObject_ob_item+8*len(items))
	r.put64(t+uint64(r.l.PyVarObject_ob_size), uint64(len(items)))
	for i, it := range items {
		r.put64(t+uint64(r.l.PyTupleObject_ob_item)+uint64(i)*8, it)
	}
	return t
}

// code builds a code object for want; its ParamNames become the first names
// of the names tuple, followed by extra local names.
func (r *namesFakeRuntime) code(want CodeInfo, extraLocals ...string) uint64 {
	l := r.l
	c := r.object(r.codeType, 256)
	r.put32(c+uint64(l.PyCodeObject_co_argcount), uint32(want.ArgCount))
	r.put32(c+uint64(l.PyCodeObject_co_posonlyargcount), uint32(want.PosOnlyArgCount))
	r.put32(c+uint64(l.PyCodeObject_co_kwonlyargcount), uint32(want.KwOnlyArgCount))
	r.put32(c+uint64(l.PyCodeObject_co_flags), want.Flags)
	r.put32(c+uint64(l.PyCodeObject_co_firstlineno), uint32(want.FirstLine))
	r.put64(c+uint64(l.PyCodeObject_co_name), r.str(want.Name, namesStrCompact))
	if l.PyCodeObject_co_qualname >= 0 {
		r.put64(c+uint64(l.PyCodeObject_co_qualname), r.str(want.Qualname, namesStrCompact))
	}
	r.put64(c+uint64(l.PyCodeObject_co_filename), r.str(want.Filename, namesStrCompact))
	var names []uint64
	for _, n := range append(append([]string(nil), want.ParamNames...), extraLocals...) {
		names = append(names, r.str(n, namesStrCompact))
	}
	r.put64(c+uint64(l.PyCodeObject_co_varnames), r.tuple(names...))
	return c
}

// namesAllLayouts returns the layout of every supported minor version.
func namesAllLayouts() []Layout {
	var ls []Layout
	for minor := MinMinor; minor <= MaxMinor; minor++ {
		l, err := LayoutFor(Version{Major: 3, Minor: minor})
		if err != nil {
			panic(fmt.Sprintf("no layout for 3.%d: %v", minor, err))
		}
		ls = append(ls, l)
	}
	return ls
}
