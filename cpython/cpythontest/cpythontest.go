// Package cpythontest builds the memory of a fake CPython interpreter for
// tests: type, str, dict, tuple, code, function, module and descriptor
// objects, and a _PyRuntime whose interpreter has a sys.modules, laid out
// with the offsets of a cpython.Layout. Tests of cpython.Reader, and of
// the packages that name what they read through it, run against every
// supported version without a process, an interpreter or root.
//
// It writes CPython's formats from CPython's own definitions (cited at each
// one) rather than from package cpython's readers, so that a mistake in a
// reader is not repeated by the fake that tests it.
package cpythontest

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/proc"
)

// Layouts returns the layout of every supported minor version, oldest first.
func Layouts() []cpython.Layout {
	var ls []cpython.Layout
	for minor := cpython.MinMinor; minor <= cpython.MaxMinor; minor++ {
		l, err := cpython.LayoutFor(cpython.Version{Major: 3, Minor: minor})
		if err != nil {
			panic(fmt.Sprintf("cpythontest: no layout for 3.%d: %v", minor, err))
		}
		ls = append(ls, l)
	}
	return ls
}

// Memory is an address space for tests: Buf mapped at Base, and nothing
// else. A read that runs past the end of Buf returns what it could read
// with io.EOF, as /proc/PID/mem returns what precedes an unmapped page.
type Memory struct {
	Base uint64
	Buf  []byte
}

// NewMemory returns an empty Memory at base. The first 64 bytes stay
// unused, so that no object sits at base.
func NewMemory(base uint64) *Memory {
	return &Memory{Base: base, Buf: make([]byte, 64)}
}

// ReadAt reads len(p) bytes at the address off.
func (m *Memory) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || uint64(off) < m.Base || uint64(off)-m.Base >= uint64(len(m.Buf)) {
		return 0, io.EOF
	}
	n := copy(p, m.Buf[uint64(off)-m.Base:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Proc returns a proc.Memory that reads m.
func (m *Memory) Proc() *proc.Memory { return proc.NewMemory(m) }

// Alloc reserves n zeroed bytes, 16-byte aligned like pymalloc's blocks,
// and returns their address.
func (m *Memory) Alloc(n int) uint64 {
	for len(m.Buf)%16 != 0 {
		m.Buf = append(m.Buf, 0)
	}
	addr := m.Base + uint64(len(m.Buf))
	m.Buf = append(m.Buf, make([]byte, n)...)
	return addr
}

// At returns the bytes of m from addr to the end, to read or change.
func (m *Memory) At(addr uint64) []byte { return m.Buf[addr-m.Base:] }

// PutU64 stores a little-endian uint64 at addr.
func (m *Memory) PutU64(addr, v uint64) { binary.LittleEndian.PutUint64(m.At(addr), v) }

// PutU32 stores a little-endian uint32 at addr.
func (m *Memory) PutU32(addr uint64, v uint32) { binary.LittleEndian.PutUint32(m.At(addr), v) }

// PutU8 stores a byte at addr.
func (m *Memory) PutU8(addr uint64, v uint8) { m.At(addr)[0] = v }

// CString stores s with a terminating NUL and returns its address.
func (m *Memory) CString(s string) uint64 {
	a := m.Alloc(len(s) + 1)
	copy(m.At(a), s)
	return a
}

// Bits of PyASCIIObject.state (CPython v3.12.0
// Include/cpython/unicodeobject.h): interned:2, kind:3, compact:1, ascii:1.
const (
	StrStateInterned  = 1
	StrStateKindShift = 2
	StrStateCompact   = 1 << 5
	StrStateASCII     = 1 << 6
)

// tp_flags bits (CPython v3.12.0 Include/object.h).
const (
	tpflagsHeapType        = 1 << 9
	tpflagsLongSubclass    = 1 << 24
	tpflagsTupleSubclass   = 1 << 26
	tpflagsUnicodeSubclass = 1 << 28
	tpflagsDictSubclass    = 1 << 29
	tpflagsTypeSubclass    = 1 << 31
)

// TypeSize is the size of every type object a Runtime makes: more than
// sizeof(PyHeapTypeObject) up to ht_qualname in every supported version.
const TypeSize = 1024

// Runtime is a fake interpreter in a Memory: the static types every
// CPython has, and constructors for objects laid out with Layout. The
// constructors return object addresses; fields they do not set are NULL.
type Runtime struct {
	*Memory
	Layout cpython.Layout

	// Static types, named by tp_name as in CPython: "type", "str", "dict",
	// "tuple", "code", "int", "function", "module", "staticmethod",
	// "classmethod", "property" and "cell".
	TypeType, StrType, DictType, TupleType, CodeType, IntType   uint64
	FunctionType, ModuleType, StaticmethodType, ClassmethodType uint64
	PropertyType, CellType                                      uint64
}

// NewRuntime returns a Runtime for layout l in a new Memory at base.
func NewRuntime(l cpython.Layout, base uint64) *Runtime {
	r := &Runtime{Memory: NewMemory(base), Layout: l}
	r.TypeType = r.StaticType("type", tpflagsTypeSubclass)
	r.PutU64(r.TypeType+uint64(l.PyObject_ob_type), r.TypeType)
	r.StrType = r.StaticType("str", tpflagsUnicodeSubclass)
	r.DictType = r.StaticType("dict", tpflagsDictSubclass)
	r.TupleType = r.StaticType("tuple", tpflagsTupleSubclass)
	r.CodeType = r.StaticType("code", 0)
	r.IntType = r.StaticType("int", tpflagsLongSubclass)
	r.FunctionType = r.StaticType("function", 0)
	r.ModuleType = r.StaticType("module", 0)
	r.StaticmethodType = r.StaticType("staticmethod", 0)
	r.ClassmethodType = r.StaticType("classmethod", 0)
	r.PropertyType = r.StaticType("property", 0)
	r.CellType = r.StaticType("cell", 0)
	return r
}

// Reader returns a cpython.Reader of the runtime's memory.
func (r *Runtime) Reader() *cpython.Reader { return cpython.NewReader(r.Proc(), r.Layout) }

// off converts a Layout offset for address arithmetic.
func off(o int) uint64 { return uint64(o) }

// StaticType makes a static type object named tpName with tp_flags flags.
// Its type is type (TypeType), or itself for TypeType.
func (r *Runtime) StaticType(tpName string, flags uint64) uint64 {
	l := r.Layout
	t := r.Alloc(TypeSize)
	r.PutU64(t+off(l.PyObject_ob_type), r.TypeType)
	r.PutU64(t+off(l.PyTypeObject_tp_name), r.CString(tpName))
	r.PutU64(t+off(l.PyTypeObject_tp_flags), flags)
	return t
}

// HeapType makes a class: a heap type named shortName (tp_name) with
// ht_qualname qualname and tp_dict dict.
func (r *Runtime) HeapType(shortName, qualname string, dict uint64) uint64 {
	l := r.Layout
	t := r.StaticType(shortName, tpflagsHeapType)
	r.PutU64(t+off(l.PyHeapTypeObject_ht_qualname), r.Str(qualname))
	r.PutU64(t+off(l.PyTypeObject_tp_dict), dict)
	return t
}

// Object makes a zeroed object of size bytes whose type is typ.
func (r *Runtime) Object(typ uint64, size int) uint64 {
	o := r.Alloc(size)
	r.PutU64(o+off(r.Layout.PyObject_ob_type), typ)
	return o
}

// Int makes an object of type int (its value is not set).
func (r *Runtime) Int() uint64 { return r.Object(r.IntType, 32) }

// Str makes a compact str holding s, in the smallest kind that holds its
// code points, as PyUnicode_New does (CPython v3.12.0
// Objects/unicodeobject.c).
func (r *Runtime) Str(s string) uint64 { return r.str(s, true) }

// LegacyStr makes a non-compact str holding s: its code points sit in a
// separate block that PyUnicodeObject.data points at, as in an instance of
// a str subclass.
func (r *Runtime) LegacyStr(s string) uint64 { return r.str(s, false) }

func (r *Runtime) str(s string, compact bool) uint64 {
	l := r.Layout
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
	data := make([]byte, (len(runes)+1)*kind) // with the terminating NUL
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
	state := uint32(kind)<<StrStateKindShift | StrStateInterned
	if ascii {
		state |= StrStateASCII
	}
	var obj uint64
	switch {
	case !compact:
		obj = r.Object(r.StrType, l.PyUnicodeObject_data+8)
		d := r.Alloc(len(data))
		copy(r.At(d), data)
		r.PutU64(obj+off(l.PyUnicodeObject_data), d)
	case ascii:
		state |= StrStateCompact
		obj = r.Object(r.StrType, l.PyASCIIObjectSize+len(data))
		copy(r.At(obj+off(l.PyASCIIObjectSize)), data)
	default:
		state |= StrStateCompact
		obj = r.Object(r.StrType, l.PyCompactUnicodeObjectSize+len(data))
		copy(r.At(obj+off(l.PyCompactUnicodeObjectSize)), data)
	}
	r.PutU64(obj+off(l.PyUnicodeObject_length), uint64(len(runes)))
	r.PutU32(obj+off(l.PyUnicodeObject_state), state)
	return obj
}

// Item is one dict entry: the addresses of its key and value. A zero Key
// is a deleted entry; a zero Value in a split dict is a shared key that
// this dict has no value for.
type Item struct {
	Key, Value uint64
}

// DictKind is how a dict stores its entries.
type DictKind int

// Dict kinds. Before 3.11 every dict stores {hash, key, value} entries;
// from 3.11 a dict whose keys are all str drops the hash (CPython v3.11.0
// Include/internal/pycore_dict.h, DICT_KEYS_UNICODE). A split dict, an
// instance dict sharing its keys with the class, keeps its values in a
// separate array (from 3.13 behind a header, struct _dictvalues).
const (
	GeneralDict DictKind = iota
	UnicodeDict
	SplitDict
)

// Dict makes a dict of kind holding items in that order.
func (r *Runtime) Dict(kind DictKind, items ...Item) uint64 {
	l := r.Layout
	log2 := uint64(3) // PyDict_MINSIZE 8, at most 2/3 full
	for (uint64(1)<<log2)*2/3 < uint64(len(items)) {
		log2++
	}
	width := indexWidth(log2)
	indexBytes := (uint64(1) << log2) * width
	newKeys := l.PyDictKeysObject_dk_size == cpython.Absent // 3.11+
	entrySize, keyOff, valueOff := uint64(24), uint64(8), uint64(16)
	if newKeys && kind != GeneralDict {
		entrySize, keyOff, valueOff = 16, 0, 8
	}
	keys := r.Alloc(l.PyDictKeysObject_dk_indices + int(indexBytes) + len(items)*int(entrySize))
	if newKeys {
		r.PutU8(keys+off(l.PyDictKeysObject_dk_log2_size), uint8(log2))
		r.PutU8(keys+off(l.PyDictKeysObject_dk_log2_index_bytes), uint8(log2+uint64(bits.TrailingZeros64(width))))
		// DICT_KEYS_GENERAL 0, DICT_KEYS_UNICODE 1, DICT_KEYS_SPLIT 2.
		r.PutU8(keys+off(l.PyDictKeysObject_dk_kind), uint8(kind))
	} else {
		r.PutU64(keys+off(l.PyDictKeysObject_dk_size), 1<<log2)
	}
	r.PutU64(keys+off(l.PyDictKeysObject_dk_nentries), uint64(len(items)))
	entries := keys + off(l.PyDictKeysObject_dk_indices) + indexBytes
	var values uint64
	if kind == SplitDict {
		values = r.Alloc(l.PyDictValues_values + 8*len(items))
		if l.PyDictValues_values > 0 {
			r.PutU8(values, uint8(len(items))) // 3.13 struct _dictvalues: capacity first
		}
	}
	for i, it := range items {
		e := entries + uint64(i)*entrySize
		r.PutU64(e+keyOff, it.Key)
		if kind == SplitDict {
			r.PutU64(values+off(l.PyDictValues_values)+uint64(i)*8, it.Value)
		} else {
			r.PutU64(e+valueOff, it.Value)
		}
	}
	d := r.Object(r.DictType, l.PyDictObject_ma_values+8)
	r.PutU64(d+off(l.PyDictObject_ma_keys), keys)
	r.PutU64(d+off(l.PyDictObject_ma_values), values)
	return d
}

// indexWidth is the byte width of a dk_indices slot in a table of
// 1<<log2Size slots (CPython v3.11.0 Objects/dictobject.c, DK_IXSIZE).
func indexWidth(log2Size uint64) uint64 {
	switch {
	case log2Size < 8:
		return 1
	case log2Size < 16:
		return 2
	case log2Size < 32:
		return 4
	}
	return 8
}

// Tuple makes a tuple of items.
func (r *Runtime) Tuple(items ...uint64) uint64 {
	l := r.Layout
	t := r.Object(r.TupleType, l.PyTupleObject_ob_item+8*len(items))
	r.PutU64(t+off(l.PyVarObject_ob_size), uint64(len(items)))
	for i, it := range items {
		r.PutU64(t+off(l.PyTupleObject_ob_item)+uint64(i)*8, it)
	}
	return t
}

// Code makes a code object with the names, file, first line, counts and
// flags of c. Its co_varnames (co_localsplusnames from 3.11) holds
// c.ParamNames, which may go on past the parameters with other locals, and
// its co_consts holds consts. Before 3.11, which has no co_qualname,
// c.Qualname is not stored.
func (r *Runtime) Code(c cpython.CodeInfo, consts ...uint64) uint64 {
	l := r.Layout
	size := 8 + max(l.PyCodeObject_co_argcount, l.PyCodeObject_co_posonlyargcount, l.PyCodeObject_co_kwonlyargcount,
		l.PyCodeObject_co_flags, l.PyCodeObject_co_firstlineno, l.PyCodeObject_co_consts, l.PyCodeObject_co_varnames,
		l.PyCodeObject_co_filename, l.PyCodeObject_co_name, l.PyCodeObject_co_qualname)
	code := r.Object(r.CodeType, size)
	r.PutU32(code+off(l.PyCodeObject_co_argcount), uint32(c.ArgCount))
	r.PutU32(code+off(l.PyCodeObject_co_posonlyargcount), uint32(c.PosOnlyArgCount))
	r.PutU32(code+off(l.PyCodeObject_co_kwonlyargcount), uint32(c.KwOnlyArgCount))
	r.PutU32(code+off(l.PyCodeObject_co_flags), c.Flags)
	r.PutU32(code+off(l.PyCodeObject_co_firstlineno), uint32(c.FirstLine))
	r.PutU64(code+off(l.PyCodeObject_co_name), r.Str(c.Name))
	if l.PyCodeObject_co_qualname != cpython.Absent {
		r.PutU64(code+off(l.PyCodeObject_co_qualname), r.Str(c.Qualname))
	}
	r.PutU64(code+off(l.PyCodeObject_co_filename), r.Str(c.Filename))
	var names []uint64
	for _, n := range c.ParamNames {
		names = append(names, r.Str(n))
	}
	r.PutU64(code+off(l.PyCodeObject_co_varnames), r.Tuple(names...))
	r.PutU64(code+off(l.PyCodeObject_co_consts), r.Tuple(consts...))
	return code
}

// Function makes a function object running code, with __qualname__
// qualname and __module__ module.
func (r *Runtime) Function(qualname, module string, code uint64) uint64 {
	l := r.Layout
	f := r.Object(r.FunctionType, 8+max(l.PyFunctionObject_func_code, l.PyFunctionObject_func_qualname,
		l.PyFunctionObject_func_module, l.PyFunctionObject_func_closure, l.PyFunctionObject_func_dict,
		l.PyFunctionObject_func_defaults, l.PyFunctionObject_func_kwdefaults))
	r.PutU64(f+off(l.PyFunctionObject_func_code), code)
	r.PutU64(f+off(l.PyFunctionObject_func_qualname), r.Str(qualname))
	r.PutU64(f+off(l.PyFunctionObject_func_module), r.Str(module))
	return f
}

// Staticmethod makes a staticmethod object wrapping callable.
func (r *Runtime) Staticmethod(callable uint64) uint64 {
	o := r.Object(r.StaticmethodType, r.Layout.Staticmethod_sm_callable+8)
	r.PutU64(o+off(r.Layout.Staticmethod_sm_callable), callable)
	return o
}

// Classmethod makes a classmethod object wrapping callable.
func (r *Runtime) Classmethod(callable uint64) uint64 {
	o := r.Object(r.ClassmethodType, r.Layout.Classmethod_cm_callable+8)
	r.PutU64(o+off(r.Layout.Classmethod_cm_callable), callable)
	return o
}

// Property makes a property object with the given accessors (0 for none).
func (r *Runtime) Property(get, set, del uint64) uint64 {
	l := r.Layout
	o := r.Object(r.PropertyType, 8+max(l.Propertyobject_prop_get, l.Propertyobject_prop_set, l.Propertyobject_prop_del))
	r.PutU64(o+off(l.Propertyobject_prop_get), get)
	r.PutU64(o+off(l.Propertyobject_prop_set), set)
	r.PutU64(o+off(l.Propertyobject_prop_del), del)
	return o
}

// Cell makes a cell object holding obj, as a closure does.
func (r *Runtime) Cell(obj uint64) uint64 {
	o := r.Object(r.CellType, r.Layout.PyCellObject_ob_ref+8)
	r.PutU64(o+off(r.Layout.PyCellObject_ob_ref), obj)
	return o
}

// Module makes a module object whose __dict__ is dict.
func (r *Runtime) Module(dict uint64) uint64 {
	m := r.Object(r.ModuleType, r.Layout.PyModuleObject_md_dict+8)
	r.PutU64(m+off(r.Layout.PyModuleObject_md_dict), dict)
	return m
}

// Interpreter makes a _PyRuntime whose interpreters.head is an interpreter
// with sys.modules modules, and returns the address of the _PyRuntime, the
// start of Reader.QualnameIndex's walk.
func (r *Runtime) Interpreter(modules uint64) uint64 {
	l := r.Layout
	interp := r.Alloc(l.PyInterpreterState_modules + 8)
	r.PutU64(interp+off(l.PyInterpreterState_modules), modules)
	runtime := r.Alloc(l.PyRuntimeState_interpreters_head + 8)
	r.PutU64(runtime+off(l.PyRuntimeState_interpreters_head), interp)
	return runtime
}
