package cpython

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/recapi/recapi/proc"
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

// hasTypeFlags reports whether the type at typ has all bits of flags set in
// tp_flags.
func hasTypeFlags(m *proc.Memory, l Layout, typ uint64, flags uint64) (bool, error) {
	if err := checkObjectPointer(typ); err != nil {
		return false, fmt.Errorf("read type: %w", err)
	}
	got, err := m.U64(typ + uint64(l.PyTypeObject_tp_flags))
	if err != nil {
		return false, fmt.Errorf("read tp_flags of type at %#x: %w", typ, err)
	}
	return got&flags == flags, nil
}

// checkTypeFlags is hasTypeFlags that fails when a flag is missing.
func checkTypeFlags(m *proc.Memory, l Layout, typ uint64, flags uint64) error {
	ok, err := hasTypeFlags(m, l, typ, flags)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("type at %#x lacks tp_flags %#x", typ, flags)
	}
	return nil
}

// objectType reads ob_type of the object at obj.
func objectType(m *proc.Memory, l Layout, obj uint64) (uint64, error) {
	if err := checkObjectPointer(obj); err != nil {
		return 0, err
	}
	typ, err := m.U64(obj + uint64(l.PyObject_ob_type))
	if err != nil {
		return 0, fmt.Errorf("read ob_type: %w", err)
	}
	return typ, nil
}

// checkObjectTypeFlags checks that the object at obj has a type with flags.
func checkObjectTypeFlags(m *proc.Memory, l Layout, obj uint64, flags uint64) error {
	typ, err := objectType(m, l, obj)
	if err != nil {
		return err
	}
	return checkTypeFlags(m, l, typ, flags)
}

// ReadTypeName returns the fully qualified name of the type object at typ in
// recapi's format, the one `f"{t.__module__}.{t.__qualname__}"` gives in the
// target:
//
//   - static types: tp_name if it has a dot ("collections.OrderedDict"),
//     otherwise "builtins." + tp_name ("builtins.int");
//   - heap types (Py_TPFLAGS_HEAPTYPE: classes defined in Python and many
//     extension types): tp_dict["__module__"] + "." + ht_qualname
//     ("__main__.Outer.Inner");
//   - the type of None is "None", as type hints spell it.
//
// A heap type whose tp_dict has no "__module__" is given the module
// "builtins", as type.__repr__ does. A "__module__" that is not a str is an
// error (ErrNotStr): no module name could be right for it.
func ReadTypeName(m *proc.Memory, l Layout, typ uint64) (string, error) {
	name, err := readTypeName(m, l, typ)
	if err != nil {
		return "", fmt.Errorf("read type name at %#x: %w", typ, err)
	}
	return name, nil
}

func readTypeName(m *proc.Memory, l Layout, typ uint64) (string, error) {
	if err := checkObjectTypeFlags(m, l, typ, Py_TPFLAGS_TYPE_SUBCLASS); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotType, err)
	}
	flags, err := m.U64(typ + uint64(l.PyTypeObject_tp_flags))
	if err != nil {
		return "", fmt.Errorf("read tp_flags: %w", err)
	}
	if flags&Py_TPFLAGS_HEAPTYPE == 0 {
		name, err := readTypeCName(m, l, typ)
		if err != nil {
			return "", err
		}
		switch {
		case name == "NoneType":
			return "None", nil
		case strings.Contains(name, "."):
			return name, nil
		default:
			return "builtins." + name, nil
		}
	}

	qualPtr, err := m.U64(typ + uint64(l.PyHeapTypeObject_ht_qualname))
	if err != nil {
		return "", fmt.Errorf("read ht_qualname: %w", err)
	}
	qualname, err := readPyStrBounded(m, l, qualPtr, MaxPyStringLen)
	if err != nil {
		return "", fmt.Errorf("read ht_qualname at %#x: %w", qualPtr, err)
	}
	dict, err := m.U64(typ + uint64(l.PyTypeObject_tp_dict))
	if err != nil {
		return "", fmt.Errorf("read tp_dict: %w", err)
	}
	modPtr, ok, err := DictLookupStr(m, l, dict, "__module__")
	if err != nil {
		return "", fmt.Errorf("read tp_dict: %w", err)
	}
	if !ok {
		return "builtins." + qualname, nil
	}
	module, err := readPyStrBounded(m, l, modPtr, MaxPyStringLen)
	if err != nil {
		return "", fmt.Errorf("read __module__ at %#x: %w", modPtr, err)
	}
	return module + "." + qualname, nil
}

// readTypeCName reads tp_name, a C string.
func readTypeCName(m *proc.Memory, l Layout, typ uint64) (string, error) {
	p, err := m.U64(typ + uint64(l.PyTypeObject_tp_name))
	if err != nil {
		return "", fmt.Errorf("read tp_name: %w", err)
	}
	if p == 0 {
		return "", fmt.Errorf("read tp_name: %w", ErrNullPointer)
	}
	name, err := m.CString(p, maxTypeCNameLen)
	if err != nil {
		return "", fmt.Errorf("read tp_name: %w", err)
	}
	if name == "" || !utf8.ValidString(name) {
		return "", fmt.Errorf("invalid tp_name %q", name)
	}
	return name, nil
}
