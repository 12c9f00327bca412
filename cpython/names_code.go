package cpython

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/recapi/recapi/proc"
)

// maxCodeParams bounds the parameter count ReadCode accepts. CPython has no
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

// ReadCode reads the code object at code.
func ReadCode(m *proc.Memory, l Layout, code uint64) (CodeInfo, error) {
	c, err := readCode(m, l, code)
	if err != nil {
		return CodeInfo{}, fmt.Errorf("read code object at %#x: %w", code, err)
	}
	return c, nil
}

func readCode(m *proc.Memory, l Layout, code uint64) (CodeInfo, error) {
	if l.PyCodeObject_co_name <= 0 || l.PyCodeObject_co_varnames <= 0 {
		return CodeInfo{}, fmt.Errorf("layout for 3.%d has no code object offsets", l.Minor)
	}
	typ, err := objectType(m, l, code)
	if err != nil {
		return CodeInfo{}, err
	}
	// PyCode_Type is a static type named "code" in every version.
	if name, err := readTypeCName(m, l, typ); err != nil || name != "code" {
		if err == nil {
			err = fmt.Errorf("type is %q", name)
		}
		return CodeInfo{}, fmt.Errorf("%w: %w", ErrNotCode, err)
	}

	offsets := []int{
		l.PyCodeObject_co_argcount, l.PyCodeObject_co_posonlyargcount, l.PyCodeObject_co_kwonlyargcount,
		l.PyCodeObject_co_flags, l.PyCodeObject_co_firstlineno,
		l.PyCodeObject_co_varnames, l.PyCodeObject_co_filename, l.PyCodeObject_co_name, l.PyCodeObject_co_qualname,
	}
	size := 0
	for _, off := range offsets {
		size = max(size, off+8)
	}
	hdr, err := m.Bytes(code, size)
	if err != nil {
		return CodeInfo{}, err
	}
	i32 := func(off int) int { return int(int32(binary.LittleEndian.Uint32(hdr[off:]))) }
	ptr := func(off int) uint64 { return binary.LittleEndian.Uint64(hdr[off:]) }

	c := CodeInfo{
		FirstLine:       i32(l.PyCodeObject_co_firstlineno),
		ArgCount:        i32(l.PyCodeObject_co_argcount),
		PosOnlyArgCount: i32(l.PyCodeObject_co_posonlyargcount),
		KwOnlyArgCount:  i32(l.PyCodeObject_co_kwonlyargcount),
		Flags:           binary.LittleEndian.Uint32(hdr[l.PyCodeObject_co_flags:]),
	}
	if c.ArgCount < 0 || c.KwOnlyArgCount < 0 || c.PosOnlyArgCount < 0 || c.PosOnlyArgCount > c.ArgCount ||
		c.NParams() > maxCodeParams {
		return CodeInfo{}, fmt.Errorf("invalid parameter counts: argcount %d, posonlyargcount %d, kwonlyargcount %d, flags %#x",
			c.ArgCount, c.PosOnlyArgCount, c.KwOnlyArgCount, c.Flags)
	}

	strField := func(field string, off int) (string, error) {
		p := ptr(off)
		s, err := readPyStrBounded(m, l, p, MaxPyStringLen)
		if err != nil {
			return "", fmt.Errorf("read %s at %#x: %w", field, p, err)
		}
		return s, nil
	}
	if c.Name, err = strField("co_name", l.PyCodeObject_co_name); err != nil {
		return CodeInfo{}, err
	}
	c.Qualname = c.Name
	if l.PyCodeObject_co_qualname != Absent {
		if c.Qualname, err = strField("co_qualname", l.PyCodeObject_co_qualname); err != nil {
			return CodeInfo{}, err
		}
	}
	if c.Filename, err = strField("co_filename", l.PyCodeObject_co_filename); err != nil {
		return CodeInfo{}, err
	}

	names := ptr(l.PyCodeObject_co_varnames)
	items, err := readTupleItems(m, l, names, c.NParams())
	if err != nil {
		return CodeInfo{}, fmt.Errorf("read parameter names at %#x: %w", names, err)
	}
	c.ParamNames = make([]string, len(items))
	for i, p := range items {
		if c.ParamNames[i], err = readPyStrBounded(m, l, p, MaxPyStringLen); err != nil {
			return CodeInfo{}, fmt.Errorf("read parameter name %d at %#x: %w", i, p, err)
		}
	}
	return c, nil
}

// readTupleItems reads the first n item pointers of the tuple at tuple,
// which must have at least n items.
func readTupleItems(m *proc.Memory, l Layout, tuple uint64, n int) ([]uint64, error) {
	if err := checkObjectTypeFlags(m, l, tuple, Py_TPFLAGS_TUPLE_SUBCLASS); err != nil {
		return nil, fmt.Errorf("not a tuple: %w", err)
	}
	size, err := m.U64(tuple + uint64(l.PyVarObject_ob_size))
	if err != nil {
		return nil, fmt.Errorf("read ob_size: %w", err)
	}
	if n < 0 || n*8 > proc.MaxMemoryRead || size < uint64(n) {
		return nil, fmt.Errorf("tuple of %d items has no %d items to read", int64(size), n)
	}
	if n == 0 {
		return nil, nil
	}
	raw, err := m.Bytes(tuple+uint64(l.PyTupleObject_ob_item), n*8)
	if err != nil {
		return nil, err
	}
	items := make([]uint64, n)
	for i := range items {
		items[i] = binary.LittleEndian.Uint64(raw[i*8:])
	}
	return items, nil
}
