package cpython

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Fast subclass bits of tp_flags (CPython v3.12.0 Include/object.h), the same
// from 3.8 to 3.13. They classify an object without comparing type names.
const (
	Py_TPFLAGS_TUPLE_SUBCLASS   = 1 << 26
	Py_TPFLAGS_UNICODE_SUBCLASS = 1 << 28
	Py_TPFLAGS_DICT_SUBCLASS    = 1 << 29
	Py_TPFLAGS_TYPE_SUBCLASS    = 1 << 31
)

// maxTypeCNameLen bounds tp_name of static types. CPython itself truncates
// type names to 200 bytes in its error messages.
const maxTypeCNameLen = 1024

// ErrNotType reports an object that is not a type object.
var ErrNotType = errors.New("object is not a type")

// typeHeadSize covers the fields TypeName reads from a type object.
func (r *Reader) typeHeadSize() int {
	l := r.Layout
	return 8 + max(l.PyObject_ob_type, l.PyTypeObject_tp_name, l.PyTypeObject_tp_flags, l.PyTypeObject_tp_dict,
		l.PyHeapTypeObject_ht_qualname)
}

// TypeName returns the fully qualified name of the type object at typ in
// recapi's format, the one `f"{t.__module__}.{t.__qualname__}"` gives in the
// target:
//
//   - static types: StaticTypeName of tp_name ("collections.OrderedDict",
//     "builtins.int", "None");
//   - heap types (Py_TPFLAGS_HEAPTYPE: classes defined in Python and many
//     extension types): tp_dict["__module__"] + "." + ht_qualname
//     ("__main__.Outer.Inner").
//
// A heap type whose tp_dict has no "__module__" is given the module
// "builtins", as type.__repr__ does. A "__module__" that is not a str is an
// error (ErrNotStr): no module name could be right for it.
func (r *Reader) TypeName(typ uint64) (string, error) {
	name, err := r.typeName(typ)
	if err != nil {
		return "", fmt.Errorf("read type name at %#x: %w", typ, err)
	}
	return name, nil
}

// StaticTypeName is the name recapi gives a static type (one without
// Py_TPFLAGS_HEAPTYPE) whose tp_name is tpName: tpName itself when it has a
// dot, as the types of extension modules do ("collections.OrderedDict"),
// "builtins." + tpName for the builtins, which have none ("builtins.int"),
// and "None" for NoneType, as type hints spell it. An empty tpName gives "".
// It is the rule of Reader.TypeName, for a tp_name read elsewhere (by BPF).
func StaticTypeName(tpName string) string {
	switch {
	case tpName == "":
		return ""
	case tpName == "NoneType":
		return "None"
	case strings.Contains(tpName, "."):
		return tpName
	}
	return "builtins." + tpName
}

func (r *Reader) typeName(typ uint64) (string, error) {
	l := r.Layout
	if err := checkObjectPointer(typ); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotType, err)
	}
	b, err := r.head(typ, r.typeHeadSize())
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotType, err)
	}
	meta, ok := u64At(b, l.PyObject_ob_type)
	if !ok {
		return "", fmt.Errorf("%w: %w", ErrNotType, errShortObject("ob_type", len(b)))
	}
	if err := r.checkTypeFlags(meta, Py_TPFLAGS_TYPE_SUBCLASS); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotType, err)
	}
	flags, ok := u64At(b, l.PyTypeObject_tp_flags)
	if !ok {
		return "", errShortObject("tp_flags", len(b))
	}
	if flags&Py_TPFLAGS_HEAPTYPE == 0 {
		namePtr, ok := u64At(b, l.PyTypeObject_tp_name)
		if !ok {
			return "", errShortObject("tp_name", len(b))
		}
		name, err := r.cName(namePtr)
		if err != nil {
			return "", fmt.Errorf("read tp_name: %w", err)
		}
		return StaticTypeName(name), nil
	}

	qualPtr, ok := u64At(b, l.PyHeapTypeObject_ht_qualname)
	if !ok {
		return "", errShortObject("ht_qualname", len(b))
	}
	qualname, err := r.str(qualPtr, MaxPyStringLen)
	if err != nil {
		return "", fmt.Errorf("read ht_qualname at %#x: %w", qualPtr, err)
	}
	dict, ok := u64At(b, l.PyTypeObject_tp_dict)
	if !ok {
		return "", errShortObject("tp_dict", len(b))
	}
	modPtr, ok, err := r.dictLookupStr(dict, "__module__")
	if err != nil {
		return "", fmt.Errorf("read tp_dict: %w", err)
	}
	if !ok {
		return "builtins." + qualname, nil
	}
	module, err := r.str(modPtr, MaxPyStringLen)
	if err != nil {
		return "", fmt.Errorf("read __module__ at %#x: %w", modPtr, err)
	}
	return module + "." + qualname, nil
}

// typeCName reads tp_name of the type at typ.
func (r *Reader) typeCName(typ uint64) (string, error) {
	p, err := r.Mem.U64(typ + uint64(r.Layout.PyTypeObject_tp_name))
	if err != nil {
		return "", fmt.Errorf("read tp_name: %w", err)
	}
	name, err := r.cName(p)
	if err != nil {
		return "", fmt.Errorf("read tp_name: %w", err)
	}
	return name, nil
}

// cName reads a C string that names a type: non-empty UTF-8 of at most
// maxTypeCNameLen bytes.
func (r *Reader) cName(p uint64) (string, error) {
	if p == 0 {
		return "", ErrNullPointer
	}
	name, err := r.Mem.CString(p, maxTypeCNameLen)
	if err != nil {
		return "", err
	}
	if name == "" || !utf8.ValidString(name) {
		return "", fmt.Errorf("invalid tp_name %q", name)
	}
	return name, nil
}
