package cpython

// NestedCodeNames names the code objects nested, through co_consts, in the
// code object of a module body, the way the compiler names them: what
// QualnameIndex cannot reach through function objects (class bodies,
// code defined but not yet bound to a function) is still named while the
// module body runs. module is the name to give them all.
func (r *Reader) NestedCodeNames(moduleCode uint64, module string) map[uint64]CodeName {
	w := newQualWalker(r)
	c, ok := w.code(moduleCode)
	if !ok {
		return nil
	}
	items, ok := w.tupleItems(c.consts, maxQualnameTuple)
	if !ok {
		return nil
	}
	for _, it := range items {
		if w.constKind(it) != kindCode {
			continue
		}
		child, ok := w.code(it)
		if !ok {
			continue
		}
		// Children of a module body are named by their own name alone.
		n := CodeName{Qualname: child.name, Module: module}
		w.names[it] = n
		w.descend(it, n, 1)
	}
	return w.names
}

// ClassBodyQualname returns the qualified name of a class body's code
// object: the compiler stores it as the body's first constant, for the
// `__qualname__ = ...` that starts every class body (CPython v3.10.0
// Python/compile.c compiler_class). ok is false for code that is not a class
// body or whose first constant does not end in its co_name.
func (r *Reader) ClassBodyQualname(code uint64) (string, bool) {
	w := newQualWalker(r)
	c, ok := w.code(code)
	if !ok || c.flags&(CO_OPTIMIZED|CO_NEWLOCALS) != 0 || c.name == "<module>" {
		return "", false
	}
	items, ok := w.tupleItems(c.consts, maxQualnameTuple)
	if !ok || len(items) == 0 {
		return "", false
	}
	q, ok := w.str(items[0])
	if !ok || lastQualnamePart(q) != c.name {
		return "", false
	}
	return q, true
}
