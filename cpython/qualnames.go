package cpython

import (
	"fmt"
	"strings"
)

// Bounds of the object graph walk. A process is walked while it runs, so
// pointers may lead anywhere; these keep a walk through garbage short.
const (
	// maxQualnameObjects bounds the objects one QualnameIndex walk reads.
	maxQualnameObjects = 500_000
	// maxQualnameDepth bounds the nesting the walk follows: classes in
	// classes, functions in closures, code objects in co_consts.
	maxQualnameDepth = 32
	// maxQualnameContainer bounds the items of a dict or tuple found in a
	// module or class dict that the walk looks into.
	maxQualnameContainer = 1024
	// maxQualnameTuple bounds co_consts and func_closure tuples.
	maxQualnameTuple = 1 << 16
	// maxQualnameBaseChain bounds the tp_base chain followed to classify
	// a heap type (a subclass of property, module, ...).
	maxQualnameBaseChain = 8
)

// QualnameIndex maps code object addresses to qualified names and modules,
// built by walking sys.modules of a live process.
//
// CPython 3.8-3.10 code objects have no co_qualname, so recapid only knows
// co_name ("deposit" instead of "Account.deposit"). The function objects
// that hold the code objects know it (func_qualname), and so does the
// nesting of code objects in each other's co_consts. Reader.QualnameIndex
// reads both from outside the process. It works on 3.11+ too, where it
// must agree with co_qualname; there it is a cross-check only.
//
// Qualname is what the function's __qualname__ says, which for a few
// generated functions differs from co_qualname on 3.11+: dataclasses set
// "Point.__init__" on code compiled as "__create_fn__.<locals>.__init__".
// Module is the function's __module__ (for code found only in co_consts,
// that of the enclosing function).
type QualnameIndex struct {
	names map[uint64]CodeName
	stats QualnameStats
}

// CodeName is the qualified name of a code object and the module that
// defines it: {"Account.deposit", "bank.models"}.
type CodeName struct {
	Qualname, Module string
}

// QualnameStats counts what one QualnameIndex walk did.
type QualnameStats struct {
	Modules   int // module objects walked (aliases in sys.modules count once)
	Functions int // function objects read
	Objects   int // objects read in total
	// Skipped counts objects that could not be read or made no sense:
	// freed or changed while the process ran. They are left out.
	Skipped int
	// Limited is true when the walk stopped at its object or depth bound,
	// so that some code objects may be missing.
	Limited bool
}

// Lookup returns the name of the code object at code.
func (ix *QualnameIndex) Lookup(code uint64) (CodeName, bool) {
	n, ok := ix.names[code]
	return n, ok
}

// Len is the number of code objects the index names.
func (ix *QualnameIndex) Len() int { return len(ix.names) }

// Stats reports what the walk that built the index did.
func (ix *QualnameIndex) Stats() QualnameStats { return ix.stats }

// QualnameIndex builds the index of a live interpreter by walking its
// object graph, starting at _PyRuntime (runtimeAddr = pyelf.Binary.Runtime +
// pyelf.Process.Bias): interpreters.head → sys.modules → each module's
// dict. It names
//
//   - every function found in a module dict, a class dict (also through
//     staticmethod, classmethod and property), a closure cell, a function's
//     __dict__ (functools.wraps' __wrapped__), or a dict or tuple held by a
//     module or class, by its func_qualname and func_module;
//   - every code object nested in their co_consts, by the rule CPython's
//     compiler uses (compiler_set_qualname in CPython v3.10.0
//     Python/compile.c): the child of a function or lambda is
//     "parent.<locals>.name", the child of a class body or a comprehension
//     "parent.name".
//
// A function whose __qualname__ does not end in its code's co_name was
// renamed after the fact, typically by functools.wraps copying the wrapped
// function's name onto a wrapper; its code is named through its parent's
// co_consts instead. So is a code object shared by functions that disagree
// on their name (namedtuple's methods, renamed per class). Module-level
// code objects are gone once a module is imported and are not named.
//
// The index is read-only once built: Lookup is safe for concurrent use.
//
// The process keeps running during the walk. Objects that cannot be read
// or make no sense are skipped and counted in Stats; only failing to read
// sys.modules itself is an error.
func (r *Reader) QualnameIndex(runtimeAddr uint64) (*QualnameIndex, error) {
	m, l := r.Mem, r.Layout
	if l.PyRuntimeState_interpreters_head <= 0 || l.PyInterpreterState_modules <= 0 || l.PyFunctionObject_func_code <= 0 {
		return nil, fmt.Errorf("build qualname index: layout for 3.%d has no object graph offsets", l.Minor)
	}
	interp, err := m.U64(runtimeAddr + uint64(l.PyRuntimeState_interpreters_head))
	if err != nil {
		return nil, fmt.Errorf("build qualname index: read interpreters.head of _PyRuntime at %#x: %w", runtimeAddr, err)
	}
	if err := checkObjectPointer(interp); err != nil {
		return nil, fmt.Errorf("build qualname index: interpreters.head of _PyRuntime at %#x: %w (interpreter not initialized?)", runtimeAddr, err)
	}
	modules, err := m.U64(interp + uint64(l.PyInterpreterState_modules))
	if err != nil {
		return nil, fmt.Errorf("build qualname index: read sys.modules pointer of interpreter at %#x: %w", interp, err)
	}
	entries, err := r.DictItems(modules)
	if err != nil {
		return nil, fmt.Errorf("build qualname index: read sys.modules of interpreter at %#x: %w", interp, err)
	}

	w := newQualWalker(r)
	for _, e := range entries {
		name, ok := w.str(e.Key)
		if !ok {
			w.stats.Skipped++
			continue
		}
		w.walkModule(e.Value, name)
	}
	for code := range w.ambiguous {
		delete(w.names, code) // named from co_consts below, if reachable
	}
	for _, code := range w.roots {
		if n, ok := w.names[code]; ok {
			w.descend(code, n, 0)
		}
	}
	return &QualnameIndex{names: w.names, stats: w.stats}, nil
}

// qualKind classifies an object by its type.
type qualKind uint8

const (
	kindOther qualKind = iota
	kindUnreadable
	kindFunction
	kindCode
	kindClass // the object is itself a type: its type is type or a metaclass
	kindStaticmethod
	kindClassmethod
	kindProperty
	kindModule
	kindCell
	kindTuple
	kindDict
	kindStr
)

// staticTypeKinds names the static types the walk looks into, by tp_name.
var staticTypeKinds = map[string]qualKind{
	"function":     kindFunction,
	"code":         kindCode,
	"staticmethod": kindStaticmethod,
	"classmethod":  kindClassmethod,
	"property":     kindProperty,
	"module":       kindModule,
	"cell":         kindCell,
}

// codeHead is what the walk needs from a code object.
type codeHead struct {
	name   string
	flags  uint32
	consts uint64
}

// qualWalker is the state of one QualnameIndex walk. It reads objects
// through r, adding caches (strings, code heads and type kinds recur
// throughout the graph) and the bound maxQualnameObjects.
type qualWalker struct {
	r *Reader
	l Layout

	names map[uint64]CodeName
	roots []uint64 // code objects named by their function, in walk order

	types   map[uint64]qualKind // type address → kind of its instances
	kinds   map[uint64]qualKind // object address → kind, for co_consts items
	strs    map[uint64]string   // str address → value
	codes   map[uint64]codeHead // code address → head; ok == readable
	seen    map[uint64]struct{} // objects walked by walk
	modules map[uint64]struct{} // modules walked by walkModule
	// ambiguous holds code objects whose functions disagree on their name.
	ambiguous map[uint64]struct{}
	walked    map[uint64]struct{} // code objects whose co_consts were walked

	// Sizes of the speculative reads: one read gets every field used.
	funcSize, typeSize, codeSize, strSize, tupleSize int

	stats QualnameStats
}

func newQualWalker(r *Reader) *qualWalker {
	l := r.Layout
	w := &qualWalker{
		r: r, l: l,
		names:     map[uint64]CodeName{},
		types:     map[uint64]qualKind{},
		kinds:     map[uint64]qualKind{},
		strs:      map[uint64]string{},
		codes:     map[uint64]codeHead{},
		seen:      map[uint64]struct{}{},
		modules:   map[uint64]struct{}{},
		ambiguous: map[uint64]struct{}{},
		walked:    map[uint64]struct{}{},
	}
	w.funcSize = 8 + max(l.PyObject_ob_type, l.PyFunctionObject_func_code, l.PyFunctionObject_func_qualname,
		l.PyFunctionObject_func_module, l.PyFunctionObject_func_closure, l.PyFunctionObject_func_dict,
		l.Staticmethod_sm_callable, l.Classmethod_cm_callable, l.Propertyobject_prop_get, l.Propertyobject_prop_set,
		l.Propertyobject_prop_del, l.PyModuleObject_md_dict, l.PyCellObject_ob_ref)
	w.typeSize = 8 + max(l.PyTypeObject_tp_name, l.PyTypeObject_tp_flags, l.PyTypeObject_tp_dict, l.PyTypeObject_tp_base)
	w.codeSize = r.codeHeadSize()
	w.strSize = r.strHeadSize()
	w.tupleSize = r.tupleHeadSize()
	return w
}

// head reads the head of the object at addr with Reader.head: up to n
// bytes, fewer near the end of a mapping, which the caller checks field by
// field. Every object read counts toward maxQualnameObjects.
func (w *qualWalker) head(addr uint64, n int) ([]byte, bool) {
	if checkObjectPointer(addr) != nil {
		return nil, false
	}
	if w.stats.Objects >= maxQualnameObjects {
		w.stats.Limited = true
		return nil, false
	}
	w.stats.Objects++
	b, err := w.r.head(addr, n)
	return b, err == nil
}

// kindOf classifies an object whose head b was read.
func (w *qualWalker) kindOf(b []byte) qualKind {
	typ, ok := ptrAt(b, w.l.PyObject_ob_type)
	if !ok {
		return kindUnreadable
	}
	return w.typeKind(typ, 0)
}

// typeKind classifies the instances of the type at typ, with a cache: the
// types that matter are static or live as long as their classes.
func (w *qualWalker) typeKind(typ uint64, depth int) qualKind {
	if k, ok := w.types[typ]; ok {
		return k
	}
	k := w.classifyType(typ, depth)
	w.types[typ] = k
	return k
}

func (w *qualWalker) classifyType(typ uint64, depth int) qualKind {
	b, ok := w.head(typ, w.typeSize)
	if !ok {
		return kindUnreadable
	}
	flags, ok := u64At(b, w.l.PyTypeObject_tp_flags)
	if !ok {
		return kindUnreadable
	}
	switch {
	case flags&Py_TPFLAGS_TYPE_SUBCLASS != 0:
		return kindClass
	case flags&Py_TPFLAGS_UNICODE_SUBCLASS != 0:
		return kindStr
	case flags&Py_TPFLAGS_TUPLE_SUBCLASS != 0:
		return kindTuple
	case flags&Py_TPFLAGS_DICT_SUBCLASS != 0:
		return kindDict
	}
	if flags&Py_TPFLAGS_HEAPTYPE != 0 {
		// A subclass shares the layout of its static base: a property
		// subclass keeps prop_get, a module subclass md_dict.
		base, ok := ptrAt(b, w.l.PyTypeObject_tp_base)
		if !ok || depth >= maxQualnameBaseChain {
			return kindOther
		}
		switch k := w.typeKind(base, depth+1); k {
		case kindStaticmethod, kindClassmethod, kindProperty, kindModule:
			return k
		}
		return kindOther
	}
	namePtr, ok := u64At(b, w.l.PyTypeObject_tp_name)
	if !ok || namePtr == 0 {
		return kindUnreadable
	}
	name, err := w.r.Mem.CString(namePtr, 32)
	if err != nil {
		return kindOther // a static type with a long name is none of ours
	}
	return staticTypeKinds[name]
}

// str reads the str object at addr, with a cache: names are interned and
// shared by many objects. Compact ASCII strings, almost all names, come
// from their one head read (Reader.strFromHead).
func (w *qualWalker) str(addr uint64) (string, bool) {
	if s, ok := w.strs[addr]; ok {
		return s, true
	}
	b, ok := w.head(addr, w.strSize)
	if !ok || w.kindOf(b) != kindStr {
		return "", false
	}
	s, err := w.r.strFromHead(addr, b, MaxPyStringLen)
	if err != nil {
		return "", false
	}
	w.strs[addr] = s
	return s, true
}

// code reads the head of the code object at addr, with a cache.
func (w *qualWalker) code(addr uint64) (codeHead, bool) {
	if c, ok := w.codes[addr]; ok {
		return c, c.name != ""
	}
	c, ok := w.readCodeHead(addr)
	if !ok {
		c = codeHead{}
	}
	w.codes[addr] = c
	return c, ok
}

func (w *qualWalker) readCodeHead(addr uint64) (codeHead, bool) {
	b, ok := w.head(addr, w.codeSize)
	if !ok || w.kindOf(b) != kindCode {
		return codeHead{}, false
	}
	return w.parseCodeHead(b)
}

// parseCodeHead decodes the head b of an object known to be a code object.
func (w *qualWalker) parseCodeHead(b []byte) (codeHead, bool) {
	f, ok := w.r.codeFieldsFromHead(b)
	if !ok {
		return codeHead{}, false
	}
	name, ok := w.str(f.name)
	if !ok || name == "" {
		return codeHead{}, false
	}
	return codeHead{name: name, flags: f.flags, consts: f.consts}, true
}

// tupleItems reads the items of the tuple at addr, at most limit of them.
func (w *qualWalker) tupleItems(addr uint64, limit int) ([]uint64, bool) {
	b, ok := w.head(addr, w.tupleSize)
	if !ok || w.kindOf(b) != kindTuple {
		return nil, false
	}
	size, ok := u64At(b, w.l.PyVarObject_ob_size)
	if !ok || size > uint64(limit) {
		return nil, false
	}
	items, err := w.r.tupleItemsFromHead(addr, b, int(size))
	return items, err == nil
}

// dictValues returns the values of the dict at addr, known to be a dict.
func (w *qualWalker) dictValues(addr uint64) ([]uint64, bool) {
	if w.stats.Objects >= maxQualnameObjects {
		w.stats.Limited = true
		return nil, false
	}
	w.stats.Objects++
	items, err := w.r.dictItems(addr)
	if err != nil {
		return nil, false
	}
	values := make([]uint64, len(items))
	for i, it := range items {
		values[i] = it.Value
	}
	return values, true
}

// walkModule walks the dict of a module found in sys.modules as name.
func (w *qualWalker) walkModule(mod uint64, name string) {
	if _, ok := w.modules[mod]; ok {
		return // an alias: sys.modules["os.path"] is posixpath
	}
	w.modules[mod] = struct{}{}
	b, ok := w.head(mod, w.funcSize)
	if !ok {
		w.stats.Skipped++
		return
	}
	if w.kindOf(b) != kindModule {
		return // None (a blocked import) or a stand-in object
	}
	w.stats.Modules++
	dict, ok := ptrAt(b, w.l.PyModuleObject_md_dict)
	if !ok {
		w.stats.Skipped++
		return
	}
	w.walkDict(dict, name, 1, true)
}

// walkDict walks the values of the dict at addr, or skips it if it is not
// a dict.
func (w *qualWalker) walkDict(addr uint64, module string, depth int, containers bool) {
	b, ok := w.head(addr, 16)
	if !ok || w.kindOf(b) != kindDict {
		w.stats.Skipped++
		return
	}
	values, ok := w.dictValues(addr)
	if !ok {
		w.stats.Skipped++
		return
	}
	for _, v := range values {
		w.walk(v, module, depth, containers)
	}
}

// walk looks at one object found in a module, class or function: module is
// the name of the module it was found in, the fallback for functions
// without a __module__. containers allows looking into a dict or tuple.
func (w *qualWalker) walk(obj uint64, module string, depth int, containers bool) {
	if depth > maxQualnameDepth {
		w.stats.Limited = true
		return
	}
	if _, ok := w.seen[obj]; ok {
		return
	}
	w.seen[obj] = struct{}{}
	b, ok := w.head(obj, max(w.funcSize, w.typeSize))
	if !ok {
		w.stats.Skipped++
		return
	}
	l := w.l
	switch w.kindOf(b) {
	case kindFunction:
		w.walkFunction(b, module, depth)
	case kindClass:
		flags, _ := u64At(b, l.PyTypeObject_tp_flags)
		if flags&Py_TPFLAGS_HEAPTYPE == 0 {
			return // a static type: C methods only
		}
		if dict, ok := ptrAt(b, l.PyTypeObject_tp_dict); ok {
			w.walkDict(dict, module, depth+1, true)
		}
	case kindStaticmethod:
		w.walkField(b, l.Staticmethod_sm_callable, module, depth)
	case kindClassmethod:
		w.walkField(b, l.Classmethod_cm_callable, module, depth)
	case kindProperty:
		w.walkField(b, l.Propertyobject_prop_get, module, depth)
		w.walkField(b, l.Propertyobject_prop_set, module, depth)
		w.walkField(b, l.Propertyobject_prop_del, module, depth)
	case kindCell:
		w.walkField(b, l.PyCellObject_ob_ref, module, depth)
	case kindDict:
		if containers {
			// ma_used sits where ob_size does (offset 16) in every version.
			if n, ok := u64At(b, l.PyVarObject_ob_size); ok && n <= maxQualnameContainer {
				w.walkDict(obj, module, depth+1, false)
			}
		}
	case kindTuple:
		if containers {
			items, _ := w.tupleItems(obj, maxQualnameContainer)
			for _, it := range items {
				w.walk(it, module, depth+1, false)
			}
		}
	case kindUnreadable:
		w.stats.Skipped++
	}
}

// walkField walks the object pointed to by the field at off of b.
func (w *qualWalker) walkField(b []byte, off int, module string, depth int) {
	if p, ok := ptrAt(b, off); ok {
		w.walk(p, module, depth+1, false)
	}
}

// walkFunction names the code of the function whose head is b, then
// follows its closure cells and __dict__ to the functions they hold.
func (w *qualWalker) walkFunction(b []byte, module string, depth int) {
	w.stats.Functions++
	l := w.l
	if len(b) < w.funcSize {
		w.stats.Skipped++
		return
	}
	if mod, ok := ptrAt(b, l.PyFunctionObject_func_module); ok {
		if s, ok := w.str(mod); ok && s != "" {
			module = s
		}
	}
	codeAddr, ok1 := ptrAt(b, l.PyFunctionObject_func_code)
	qualPtr, ok2 := ptrAt(b, l.PyFunctionObject_func_qualname)
	code, ok3 := w.code(codeAddr)
	qual, ok4 := w.str(qualPtr)
	switch {
	case !ok1 || !ok2 || !ok3 || !ok4:
		w.stats.Skipped++
	case lastQualnamePart(qual) != code.name:
		// Renamed: functools.wraps gives a wrapper the wrapped function's
		// name. The wrapper's code is named from its parent's co_consts.
	default:
		n := CodeName{Qualname: qual, Module: module}
		if prev, dup := w.names[codeAddr]; !dup {
			w.names[codeAddr] = n
			w.roots = append(w.roots, codeAddr)
		} else if prev != n {
			// One code object, several functions with different names:
			// namedtuple renames its shared methods per class
			// ("Point._replace"). No one of them is right for the code.
			w.ambiguous[codeAddr] = struct{}{}
		}
	}
	if closure, ok := ptrAt(b, l.PyFunctionObject_func_closure); ok {
		cells, _ := w.tupleItems(closure, maxQualnameTuple)
		for _, c := range cells {
			w.walk(c, module, depth+1, false)
		}
	}
	if dict, ok := ptrAt(b, l.PyFunctionObject_func_dict); ok {
		w.walkDict(dict, module, depth+1, false)
	}
}

// lastQualnamePart is the name a qualified name ends in.
func lastQualnamePart(qual string) string {
	return qual[strings.LastIndexByte(qual, '.')+1:]
}

// genericParamsPrefix starts the name of the code object that holds the
// type parameters of a generic function or class (PEP 695, 3.12+).
const genericParamsPrefix = "<generic parameters of "

// descend names the code objects in co_consts of code, which is named n,
// and theirs, recursively. A code object that already has a name (from its
// function object) keeps it, and its children are named from it.
func (w *qualWalker) descend(code uint64, n CodeName, depth int) {
	if _, ok := w.walked[code]; ok {
		return
	}
	w.walked[code] = struct{}{}
	if depth > maxQualnameDepth {
		w.stats.Limited = true
		return
	}
	c, ok := w.code(code)
	if !ok {
		return
	}
	items, ok := w.tupleItems(c.consts, maxQualnameTuple)
	if !ok {
		w.stats.Skipped++
		return
	}
	base := childQualnameBase(n.Qualname, c)
	for _, it := range items {
		if w.constKind(it) != kindCode {
			continue
		}
		child, ok := w.code(it)
		if !ok {
			w.stats.Skipped++
			continue
		}
		cn, named := w.names[it]
		if !named {
			cn = CodeName{Qualname: base + child.name, Module: n.Module}
			w.names[it] = cn
		}
		w.descend(it, cn, depth+1)
	}
}

// childQualnameBase is what the qualified names of the code objects nested
// in c, named qual, start with (CPython v3.12.0 Python/compile.c
// compiler_set_qualname): functions and lambdas add ".<locals>", class
// bodies and comprehensions do not, and the type parameter scope of a
// generic function or class is transparent.
func childQualnameBase(qual string, c codeHead) string {
	if strings.HasPrefix(c.name, genericParamsPrefix) {
		if i := strings.LastIndexByte(qual, '.'); i >= 0 {
			return qual[:i+1]
		}
		return ""
	}
	switch c.name {
	case "<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>":
		return qual + "."
	}
	if c.flags&(CO_OPTIMIZED|CO_NEWLOCALS) == CO_OPTIMIZED|CO_NEWLOCALS {
		return qual + ".<locals>."
	}
	return qual + "." // a class body
}

// constKind classifies an item of co_consts, with a cache by address: the
// same constants (None, small ints, interned names) recur in most code
// objects, and a code object's consts do not change.
func (w *qualWalker) constKind(addr uint64) qualKind {
	if k, ok := w.kinds[addr]; ok {
		return k
	}
	if _, ok := w.codes[addr]; ok {
		return kindCode
	}
	k := kindUnreadable
	if b, ok := w.head(addr, w.codeSize); ok {
		k = w.kindOf(b)
		if k == kindCode {
			c, ok := w.parseCodeHead(b)
			if !ok {
				c = codeHead{}
			}
			w.codes[addr] = c
		}
	}
	w.kinds[addr] = k
	return k
}
