package cpython

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/recapi/recapi/proc"
)

// maxCodeParams bounds the parameter count Reader.Code accepts. CPython has no
// limit since 3.7, but a code object with more parameters than this is
// garbage in practice.
const maxCodeParams = 1 << 12

// ErrNotCode reports an object whose type is not code.
var ErrNotCode = errors.New("object is not a code object")

// CodeInfo is what recapi needs from a code object to name a function and
// its parameters.
type CodeInfo struct {
	Name string
	// Qualname is co_qualname on 3.11+ ("Outer.method", "f.<locals>.g").
	// 3.8-3.10 code objects have no qualified name, so it is co_name there.
	Qualname  string
	Filename  string
	FirstLine int

	// ArgCount includes the positional-only parameters, as co_argcount does.
	ArgCount, PosOnlyArgCount, KwOnlyArgCount int
	Flags                                     uint32
	// ParamNames are the first NParams() names of co_varnames (3.8-3.10) or
	// co_localsplusnames (3.11+), in the order of ParamKinds.
	ParamNames []string
}

// ParamKind is the kind of a parameter, spelled like inspect.Parameter.kind
// in lower case.
type ParamKind string

// Parameter kinds, in the order they appear in a frame's localsplus.
const (
	PositionalOnly      ParamKind = "positional_only"
	PositionalOrKeyword ParamKind = "positional_or_keyword"
	VarPositional       ParamKind = "var_positional"
	KeywordOnly         ParamKind = "keyword_only"
	VarKeyword          ParamKind = "var_keyword"
)

// NParams is the number of parameter slots at the start of localsplus:
// co_argcount + co_kwonlyargcount, plus one for *args and one for **kwargs.
func (c CodeInfo) NParams() int {
	n := c.ArgCount + c.KwOnlyArgCount
	if c.Flags&CO_VARARGS != 0 {
		n++
	}
	if c.Flags&CO_VARKEYWORDS != 0 {
		n++
	}
	return n
}

// ParamKinds returns the kind of each parameter slot in localsplus order:
// positional-only, positional-or-keyword, keyword-only, then *args, then
// **kwargs. Note that *args follows the keyword-only parameters there,
// unlike in inspect.signature.
func (c CodeInfo) ParamKinds() []ParamKind {
	posOnly := min(max(c.PosOnlyArgCount, 0), max(c.ArgCount, 0))
	kinds := make([]ParamKind, 0, max(c.NParams(), 0))
	for range posOnly {
		kinds = append(kinds, PositionalOnly)
	}
	for range max(c.ArgCount, 0) - posOnly {
		kinds = append(kinds, PositionalOrKeyword)
	}
	for range max(c.KwOnlyArgCount, 0) {
		kinds = append(kinds, KeywordOnly)
	}
	if c.Flags&CO_VARARGS != 0 {
		kinds = append(kinds, VarPositional)
	}
	if c.Flags&CO_VARKEYWORDS != 0 {
		kinds = append(kinds, VarKeyword)
	}
	return kinds
}

// CodeKind classifies the function: "generator", "coroutine",
// "async_generator", or "" for a plain function. A generator decorated with
// types.coroutine (CO_ITERABLE_COROUTINE) is a generator-based coroutine and
// reported as "coroutine".
func (c CodeInfo) CodeKind() string {
	switch {
	case c.Flags&CO_ASYNC_GENERATOR != 0:
		return "async_generator"
	case c.Flags&(CO_COROUTINE|CO_ITERABLE_COROUTINE) != 0:
		return "coroutine"
	case c.Flags&CO_GENERATOR != 0:
		return "generator"
	default:
		return ""
	}
}

// codeHeadSize covers the fields Code and the qualname walker read from a
// code object.
func (r *Reader) codeHeadSize() int {
	l := r.Layout
	return 8 + max(l.PyObject_ob_type, l.PyCodeObject_co_argcount, l.PyCodeObject_co_posonlyargcount,
		l.PyCodeObject_co_kwonlyargcount, l.PyCodeObject_co_flags, l.PyCodeObject_co_firstlineno,
		l.PyCodeObject_co_consts, l.PyCodeObject_co_varnames, l.PyCodeObject_co_filename,
		l.PyCodeObject_co_name, l.PyCodeObject_co_qualname)
}

// codeFields are the fixed-size fields of a code object.
type codeFields struct {
	argCount, posOnlyArgCount, kwOnlyArgCount, firstLine int
	flags                                                uint32
	// Object pointers; qualname is 0 before 3.11.
	name, qualname, filename, varnames, consts uint64
}

// codeFieldsFromHead decodes the fields of a code object from its head b,
// false when b is shorter than codeHeadSize.
func (r *Reader) codeFieldsFromHead(b []byte) (codeFields, bool) {
	l := r.Layout
	if len(b) < r.codeHeadSize() {
		return codeFields{}, false
	}
	i32 := func(off int) int { v, _ := i32At(b, off); return v }
	u64 := func(off int) uint64 { v, _ := u64At(b, off); return v }
	c := codeFields{
		argCount:        i32(l.PyCodeObject_co_argcount),
		posOnlyArgCount: i32(l.PyCodeObject_co_posonlyargcount),
		kwOnlyArgCount:  i32(l.PyCodeObject_co_kwonlyargcount),
		firstLine:       i32(l.PyCodeObject_co_firstlineno),
		name:            u64(l.PyCodeObject_co_name),
		filename:        u64(l.PyCodeObject_co_filename),
		varnames:        u64(l.PyCodeObject_co_varnames),
		consts:          u64(l.PyCodeObject_co_consts),
	}
	c.flags, _ = u32At(b, l.PyCodeObject_co_flags)
	if l.PyCodeObject_co_qualname != Absent {
		c.qualname = u64(l.PyCodeObject_co_qualname)
	}
	return c, true
}

// Code reads the code object at code: its names, file, first line, flags
// and parameters.
func (r *Reader) Code(code uint64) (CodeInfo, error) {
	c, err := r.code(code)
	if err != nil {
		return CodeInfo{}, fmt.Errorf("read code object at %#x: %w", code, err)
	}
	return c, nil
}

func (r *Reader) code(code uint64) (CodeInfo, error) {
	if err := checkObjectPointer(code); err != nil {
		return CodeInfo{}, err
	}
	b, err := r.head(code, r.codeHeadSize())
	if err != nil {
		return CodeInfo{}, err
	}
	typ, ok := u64At(b, r.Layout.PyObject_ob_type)
	if !ok {
		return CodeInfo{}, errShortObject("ob_type", len(b))
	}
	// PyCode_Type is a static type named "code" in every version.
	if name, err := r.typeCName(typ); err != nil || name != "code" {
		if err == nil {
			err = fmt.Errorf("type is %q", name)
		}
		return CodeInfo{}, fmt.Errorf("%w: %w", ErrNotCode, err)
	}
	f, ok := r.codeFieldsFromHead(b)
	if !ok {
		return CodeInfo{}, errShortObject("code object fields", len(b))
	}

	c := CodeInfo{
		FirstLine:       f.firstLine,
		ArgCount:        f.argCount,
		PosOnlyArgCount: f.posOnlyArgCount,
		KwOnlyArgCount:  f.kwOnlyArgCount,
		Flags:           f.flags,
	}
	if c.ArgCount < 0 || c.KwOnlyArgCount < 0 || c.PosOnlyArgCount < 0 || c.PosOnlyArgCount > c.ArgCount ||
		c.NParams() > maxCodeParams {
		return CodeInfo{}, fmt.Errorf("invalid parameter counts: argcount %d, posonlyargcount %d, kwonlyargcount %d, flags %#x",
			c.ArgCount, c.PosOnlyArgCount, c.KwOnlyArgCount, c.Flags)
	}

	strField := func(field string, p uint64) (string, error) {
		s, err := r.str(p, MaxPyStringLen)
		if err != nil {
			return "", fmt.Errorf("read %s at %#x: %w", field, p, err)
		}
		return s, nil
	}
	if c.Name, err = strField("co_name", f.name); err != nil {
		return CodeInfo{}, err
	}
	c.Qualname = c.Name
	if r.Layout.PyCodeObject_co_qualname != Absent {
		if c.Qualname, err = strField("co_qualname", f.qualname); err != nil {
			return CodeInfo{}, err
		}
	}
	if c.Filename, err = strField("co_filename", f.filename); err != nil {
		return CodeInfo{}, err
	}

	items, err := r.tupleFirst(f.varnames, c.NParams())
	if err != nil {
		return CodeInfo{}, fmt.Errorf("read parameter names at %#x: %w", f.varnames, err)
	}
	c.ParamNames = make([]string, len(items))
	for i, p := range items {
		if c.ParamNames[i], err = r.str(p, MaxPyStringLen); err != nil {
			return CodeInfo{}, fmt.Errorf("read parameter name %d at %#x: %w", i, p, err)
		}
	}
	return c, nil
}

// tupleHeadSize is what the tuple readers read at once: the head and the
// first 32 items.
func (r *Reader) tupleHeadSize() int { return r.Layout.PyTupleObject_ob_item + 32*8 }

// TupleItems returns the item pointers of the tuple (or tuple subclass
// instance) at tuple. A tuple of more than limit items is an error.
func (r *Reader) TupleItems(tuple uint64, limit int) ([]uint64, error) {
	b, err := r.headOfType(tuple, r.tupleHeadSize(), Py_TPFLAGS_TUPLE_SUBCLASS)
	if err != nil {
		return nil, fmt.Errorf("read tuple at %#x: %w", tuple, err)
	}
	size, ok := u64At(b, r.Layout.PyVarObject_ob_size)
	if !ok {
		return nil, fmt.Errorf("read tuple at %#x: %w", tuple, errShortObject("ob_size", len(b)))
	}
	if size > uint64(max(limit, 0)) {
		return nil, fmt.Errorf("read tuple at %#x: %d items, more than %d", tuple, int64(size), limit)
	}
	items, err := r.tupleItemsFromHead(tuple, b, int(size))
	if err != nil {
		return nil, fmt.Errorf("read tuple at %#x: %w", tuple, err)
	}
	return items, nil
}

// tupleFirst reads the first n item pointers of the tuple at tuple, which
// must have at least n items.
func (r *Reader) tupleFirst(tuple uint64, n int) ([]uint64, error) {
	b, err := r.headOfType(tuple, r.tupleHeadSize(), Py_TPFLAGS_TUPLE_SUBCLASS)
	if err != nil {
		return nil, fmt.Errorf("not a tuple: %w", err)
	}
	size, ok := u64At(b, r.Layout.PyVarObject_ob_size)
	if !ok {
		return nil, errShortObject("ob_size", len(b))
	}
	if n < 0 || size < uint64(n) {
		return nil, fmt.Errorf("tuple of %d items has no %d items to read", int64(size), n)
	}
	return r.tupleItemsFromHead(tuple, b, n)
}

// tupleItemsFromHead returns the first n item pointers of the tuple at
// addr, whose head b was read, taking them from b when they are all in it.
func (r *Reader) tupleItemsFromHead(addr uint64, b []byte, n int) ([]uint64, error) {
	if n < 0 || n*8 > proc.MaxMemoryRead {
		return nil, fmt.Errorf("%d items out of range", n)
	}
	if n == 0 {
		return nil, nil
	}
	off := r.Layout.PyTupleObject_ob_item
	raw := b[min(len(b), off):]
	if len(raw) < n*8 {
		var err error
		if raw, err = r.Mem.Bytes(addr+uint64(off), n*8); err != nil {
			return nil, err
		}
	}
	items := make([]uint64, n)
	for i := range items {
		items[i] = binary.LittleEndian.Uint64(raw[i*8:])
	}
	return items, nil
}
