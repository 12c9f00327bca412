package stub

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/infer"
	"github.com/recapi/recapi/internal/table"
)

// moduleWriter renders one module's stub and collects the imports it needs.
type moduleWriter struct {
	module  string
	tree    map[string]bool
	classes map[string]bool
	o       Options
	imports map[string]bool            // "import x"
	from    map[string]map[string]bool // from x import a, b
}

func newModuleWriter(module string, tree map[string]bool, classes map[string]bool, o Options) *moduleWriter {
	if o.MaxOverloads <= 0 {
		o.MaxOverloads = 8
	}
	return &moduleWriter{module: module, tree: tree, classes: classes, o: o,
		imports: make(map[string]bool), from: make(map[string]map[string]bool)}
}

func (w *moduleWriter) need(module, name string) string {
	if w.from[module] == nil {
		w.from[module] = make(map[string]bool)
	}
	w.from[module][name] = true
	return name
}

// class is a class of the module with its methods and nested classes.
type class struct {
	name    string // last part
	methods []*infer.Func
	nested  []*class
}

func (w *moduleWriter) render(funcs []*infer.Func) []byte {
	// Classes, nested by qualname.
	byQual := make(map[string]*class)
	quals := make([]string, 0, len(w.classes))
	for q := range w.classes {
		quals = append(quals, q)
	}
	slices.Sort(quals) // parents sort before their nested classes
	var top []*class
	for _, q := range quals {
		c := &class{name: q[strings.LastIndexByte(q, '.')+1:]}
		byQual[q] = c
		if i := strings.LastIndexByte(q, '.'); i >= 0 {
			if p := byQual[q[:i]]; p != nil {
				p.nested = append(p.nested, c)
			}
			continue
		}
		top = append(top, c)
	}
	var plain []*infer.Func
	for _, f := range funcs {
		q := f.Function.Qualname
		if strings.Contains(q, "<") || w.classes[q] || !isIdent(defName(q)) {
			continue // module bodies, lambdas, nested functions, class bodies
		}
		if cq, ok := infer.ClassOf(q); ok {
			if c := byQual[cq]; c != nil {
				c.methods = append(c.methods, f)
			}
			continue
		}
		if strings.Contains(q, ".") {
			continue
		}
		plain = append(plain, f)
	}

	var body strings.Builder
	for _, c := range top {
		w.writeClass(&body, c, "")
	}
	for _, f := range plain {
		w.writeFunc(&body, f, "")
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Stub for module %s, written by recapi from observed calls.\n", w.module)
	if len(w.imports)+len(w.from) > 0 {
		b.WriteByte('\n')
	}
	for _, m := range sortedKeys(w.imports) {
		fmt.Fprintf(&b, "import %s\n", m)
	}
	for _, m := range sortedKeys(w.from) {
		fmt.Fprintf(&b, "from %s import %s\n", m, strings.Join(sortedKeys(w.from[m]), ", "))
	}
	if body.Len() > 0 {
		b.WriteByte('\n')
		b.WriteString(body.String())
	}
	return []byte(b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func defName(qualname string) string {
	return qualname[strings.LastIndexByte(qualname, '.')+1:]
}

func (w *moduleWriter) writeClass(b *strings.Builder, c *class, indent string) {
	fmt.Fprintf(b, "%sclass %s:\n", indent, c.name)
	if len(c.methods) == 0 && len(c.nested) == 0 {
		fmt.Fprintf(b, "%s    ...\n", indent)
	}
	for _, n := range c.nested {
		w.writeClass(b, n, indent+"    ")
	}
	for _, f := range c.methods {
		w.writeFunc(b, f, indent+"    ")
	}
	if indent == "" {
		b.WriteByte('\n')
	}
}

// usage is the comment above a function: calls and the top callers.
func usage(f *infer.Func) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# calls: %d%s", f.Calls, table.CountsNote(f.Resumptions, f.Created, f.Raised))
	if n := len(f.Signatures); n > 1 {
		fmt.Fprintf(&b, ", %d signatures", n)
	}
	if f.Untyped > 0 {
		fmt.Fprintf(&b, ", %d with types not recorded", f.Untyped)
	}
	type pc struct {
		pkg string
		c   *infer.Callers
	}
	var cs []pc
	for k, v := range f.Callers {
		cs = append(cs, pc{k, v})
	}
	slices.SortFunc(cs, func(a, b pc) int {
		if c := cmp.Compare(b.c.Calls, a.c.Calls); c != 0 {
			return c
		}
		return cmp.Compare(a.pkg, b.pkg)
	})
	for i, c := range cs {
		if i == 3 {
			fmt.Fprintf(&b, ", +%d more", len(cs)-3)
			break
		}
		sep := ", "
		if i == 0 {
			sep = "; callers: "
		}
		noun := "functions"
		if c.c.Functions == 1 {
			noun = "function"
		}
		fmt.Fprintf(&b, "%s%s %d (%d %s)", sep, c.pkg, c.c.Calls, c.c.Functions, noun)
	}
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, b.String())
}

// writeFunc writes the def (or the overloads) of f.
func (w *moduleWriter) writeFunc(b *strings.Builder, f *infer.Func, indent string) {
	for _, p := range f.Params {
		if !isIdent(p.Name) {
			return // a parameter a def cannot declare (".0" of a comprehension)
		}
	}
	fmt.Fprintf(b, "%s%s\n", indent, usage(f))
	if w.o.Overloads && len(f.Signatures) > 1 {
		if sigs := w.overloads(f); len(sigs) > 1 {
			for _, s := range sigs {
				fmt.Fprintf(b, "%s@%s\n", indent, w.need("typing", "overload"))
				w.writeDef(b, f, s.params, s.ret, indent)
			}
			return
		}
	}
	params := make([]paramType, len(f.Params))
	for i, p := range f.Params {
		params[i] = paramType{p: p, t: p.Type, known: p.Known}
	}
	ret, hasRet := f.Return, f.HasReturn
	if f.SelfReturn {
		ret, hasRet = infer.Type{Name: "typing_extensions.Self"}, true
	}
	w.writeDef(b, f, params, retType{ret, hasRet}, indent)
}

type paramType struct {
	p     infer.Param
	t     infer.Type
	known bool
}

type retType struct {
	t     infer.Type
	known bool
}

type overload struct {
	params []paramType
	ret    retType
	calls  uint64
	rank   []int
}

// overloads returns the distinct signatures of f as overloads, the most
// specific first so that no overload hides a later one (bool before int
// before float before complex), at most MaxOverloads.
func (w *moduleWriter) overloads(f *infer.Func) []overload {
	sigs := f.Signatures
	if len(sigs) > w.o.MaxOverloads {
		sigs = sigs[:w.o.MaxOverloads]
	}
	var out []overload
	seen := make(map[string]bool)
	for _, s := range sigs {
		byName := make(map[string]string)
		for _, p := range s.Record.Params {
			byName[p.Name] = p.Type
		}
		ov := overload{calls: s.Calls}
		for _, p := range f.Params {
			pt := paramType{p: p}
			if ts := byName[p.Name]; ts != "" {
				pt.t, pt.known = infer.Infer([]infer.Observed{{Type: ts, Calls: 1}}, w.o.Infer)
			}
			ov.params = append(ov.params, pt)
			ov.rank = append(ov.rank, specificity(pt))
		}
		switch {
		case f.CodeKind != "":
			// A signature's record is a start: what the generator or
			// coroutine finally returns is seen on a resumption, which
			// has no argument types. Every overload gets the function's.
			ov.ret = retType{f.Return, f.HasReturn}
		case s.Record.Returns != nil && *s.Record.Returns != "":
			ov.ret.t, ov.ret.known = infer.Infer([]infer.Observed{{Type: *s.Record.Returns, Calls: 1}}, w.o.Infer)
		}
		// Two overloads with the same parameters would overlap: keep the
		// most called.
		var key strings.Builder
		for _, p := range ov.params {
			key.WriteString(p.t.String())
			key.WriteByte(',')
		}
		if seen[key.String()] {
			continue
		}
		seen[key.String()] = true
		out = append(out, ov)
	}
	slices.SortStableFunc(out, func(a, b overload) int {
		if c := slices.Compare(a.rank, b.rank); c != 0 {
			return c
		}
		return cmp.Compare(b.calls, a.calls)
	})
	return out
}

// specificity orders parameter types for overloads: narrower numeric types
// first, unknown (Any) last.
func specificity(p paramType) int {
	if !p.known {
		return 9
	}
	switch p.t.Name {
	case "builtins.bool":
		return 0
	case "builtins.int":
		return 1
	case "builtins.float":
		return 2
	case "builtins.complex":
		return 3
	case "builtins.object", "typing.Any":
		return 8
	}
	if p.t.Union != nil {
		return 7
	}
	return 4
}

func (w *moduleWriter) writeDef(b *strings.Builder, f *infer.Func, params []paramType, ret retType, indent string) {
	name := defName(f.Function.Qualname)
	switch f.Kind {
	case infer.KindClassMethod:
		fmt.Fprintf(b, "%s@classmethod\n", indent)
	case infer.KindStaticMethod:
		fmt.Fprintf(b, "%s@staticmethod\n", indent)
	}
	def := "def"
	if f.CodeKind == aggregate.CodeCoroutine {
		def = "async def"
	}
	fmt.Fprintf(b, "%s%s %s(", indent, def, name)
	star := false
	for i, pt := range params {
		p := pt.p
		if i > 0 {
			b.WriteString(", ")
		}
		switch p.Kind {
		case aggregate.KindVarPositional:
			b.WriteByte('*')
			star = true
		case aggregate.KindVarKeyword:
			b.WriteString("**")
		case aggregate.KindKeywordOnly:
			if !star {
				b.WriteString("*, ")
				star = true
			}
		}
		b.WriteString(p.Name)
		implicit := i == 0 && (f.Kind == infer.KindMethod || f.Kind == infer.KindClassMethod || f.Kind == infer.KindImplicitClassMethod)
		if pt.known && !implicit {
			t, ok := pt.t, true
			switch p.Kind {
			case aggregate.KindVarPositional:
				t, ok = elementOf(t, "builtins.tuple", 0)
			case aggregate.KindVarKeyword:
				t, ok = elementOf(t, "builtins.dict", 1)
			}
			if ok {
				b.WriteString(": ")
				b.WriteString(w.typeExpr(t))
			}
		}
		if p.HasDefault && p.Kind != aggregate.KindVarPositional && p.Kind != aggregate.KindVarKeyword {
			b.WriteString(" = ...")
		}
		if p.Kind == aggregate.KindPositionalOnly && (i+1 == len(params) || params[i+1].p.Kind != aggregate.KindPositionalOnly) {
			b.WriteString(", /")
		}
	}
	b.WriteByte(')')
	switch {
	case name == "__init__" || name == "__init_subclass__":
		b.WriteString(" -> None")
	case f.CodeKind == aggregate.CodeGenerator:
		// Generator[Y, S, R]: what it yielded, what is sent into it (never
		// observed: Any) and what it returned; Any for what was not seen.
		fmt.Fprintf(b, " -> %s[%s, %s, %s]", w.need("collections.abc", "Generator"),
			w.typeOrAny(f.Yield, f.HasYield), w.need("typing", "Any"), w.typeOrAny(ret.t, ret.known))
	case f.CodeKind == aggregate.CodeAsyncGenerator:
		// AsyncGenerator[Y, S]: an async generator returns nothing.
		fmt.Fprintf(b, " -> %s[%s, %s]", w.need("collections.abc", "AsyncGenerator"),
			w.typeOrAny(f.Yield, f.HasYield), w.need("typing", "Any"))
	case ret.known && (f.CodeKind == "" || f.CodeKind == aggregate.CodeCoroutine):
		// An async def is annotated with what its coroutine returns.
		b.WriteString(" -> ")
		b.WriteString(w.typeExpr(ret.t))
	}
	b.WriteString(": ...\n")
}

// typeOrAny renders t when known, else Any.
func (w *moduleWriter) typeOrAny(t infer.Type, known bool) string {
	if !known {
		return w.need("typing", "Any")
	}
	return w.typeExpr(t)
}

// elementOf returns the element type of *args (a tuple's items) or
// **kwargs (a dict's values); ok is false when they are not known.
func elementOf(t infer.Type, container string, arg int) (infer.Type, bool) {
	var items []infer.Type
	for _, m := range t.Members() {
		if m.Name != container || m.Empty || len(m.Args) <= arg {
			return infer.Type{}, false
		}
		if container == "builtins.tuple" {
			for _, a := range m.Args {
				if a.Name != infer.Ellipsis {
					items = append(items, a)
				}
			}
			continue
		}
		items = append(items, m.Args[arg])
	}
	if len(items) == 0 {
		return infer.Type{}, false
	}
	return infer.Simplify(items, infer.Options{Optional: true}), true
}

// builtinClasses are the builtins a stub can name as they are.
var builtinClasses = map[string]int{ // name -> number of type parameters
	"int": 0, "float": 0, "complex": 0, "bool": 0, "str": 0, "bytes": 0, "bytearray": 0, "memoryview": 0,
	"object": 0, "range": 0, "slice": 0, "property": 0, "super": 0,
	"list": 1, "set": 1, "frozenset": 1, "tuple": -1, "dict": 2, "type": 1,
	"enumerate": 1, "reversed": 1, "zip": 1, "map": 1, "filter": 1,
}

// typeExpr renders t for a stub of w's module, adding the imports it needs.
// Classes a stub cannot name (defined in a function, private built-in
// types) become Any.
func (w *moduleWriter) typeExpr(t infer.Type) string {
	if t.Union != nil {
		parts := make([]string, 0, len(t.Union))
		for _, m := range t.Union {
			s := w.typeExpr(m)
			if !slices.Contains(parts, s) {
				parts = append(parts, s)
			}
		}
		if slices.Contains(parts, "Any") {
			return "Any"
		}
		return strings.Join(parts, " | ")
	}
	anyT := func() string { return w.need("typing", "Any") }
	switch t.Name {
	case infer.None:
		return "None"
	case infer.Ellipsis:
		return "..."
	case "typing.Any":
		return anyT()
	case "typing_extensions.Self":
		return w.need("typing_extensions", "Self")
	}
	if strings.ContainsAny(t.Name, "<> ") {
		return anyT()
	}
	if name, ok := strings.CutPrefix(t.Name, "builtins."); ok {
		return w.builtinExpr(name, t)
	}
	args := ""
	if len(t.Args) > 0 {
		var as []string
		for _, a := range t.Args {
			as = append(as, w.typeExpr(a))
		}
		args = "[" + strings.Join(as, ", ") + "]"
	}
	if m, q, ok := splitInTree(t.Name, w.tree); ok {
		if m == w.module {
			return q
		}
		w.imports[m] = true
		return t.Name
	}
	// A module outside the tree: the class is its last part unless an
	// earlier part is capitalised (a nested class). Private modules and
	// classes are often not in typeshed under that name.
	parts := strings.Split(t.Name, ".")
	if len(parts) < 2 {
		return anyT()
	}
	cut := len(parts) - 1
	for i := 1; i < len(parts)-1; i++ {
		if r := []rune(parts[i]); len(r) > 0 && unicode.IsUpper(r[0]) {
			cut = i
			break
		}
	}
	for _, p := range parts {
		if strings.HasPrefix(p, "_") && !strings.HasPrefix(p, "__") || !isIdent(p) {
			return anyT()
		}
	}
	w.imports[strings.Join(parts[:cut], ".")] = true
	return t.Name + args
}

func (w *moduleWriter) builtinExpr(name string, t infer.Type) string {
	anyT := func() string { return w.need("typing", "Any") }
	n, ok := builtinClasses[name]
	if !ok && (strings.HasSuffix(name, "Error") || strings.HasSuffix(name, "Exception") || strings.HasSuffix(name, "Warning") ||
		name == "StopIteration" || name == "StopAsyncIteration" || name == "KeyboardInterrupt" || name == "SystemExit" || name == "GeneratorExit") {
		ok = true
	}
	if ok {
		switch {
		case t.Empty && name == "tuple":
			return "tuple[()]"
		case t.Empty && n > 0:
			as := make([]string, n)
			for i := range as {
				as[i] = anyT()
			}
			return name + "[" + strings.Join(as, ", ") + "]"
		case len(t.Args) > 0 && (n < 0 || n == len(t.Args)):
			var as []string
			for _, a := range t.Args {
				as = append(as, w.typeExpr(a))
			}
			return name + "[" + strings.Join(as, ", ") + "]"
		}
		return name
	}
	switch name {
	case "function", "builtin_function_or_method", "method", "method-wrapper", "wrapper_descriptor", "method_descriptor", "functools.partial":
		return w.need("collections.abc", "Callable") + "[..., " + anyT() + "]"
	case "generator":
		return w.need("collections.abc", "Generator") + "[" + anyT() + ", " + anyT() + ", " + anyT() + "]"
	case "coroutine":
		return w.need("collections.abc", "Coroutine") + "[" + anyT() + ", " + anyT() + ", " + anyT() + "]"
	case "async_generator":
		return w.need("collections.abc", "AsyncGenerator") + "[" + anyT() + ", " + anyT() + "]"
	case "dict_keys":
		return w.need("collections.abc", "KeysView") + "[" + anyT() + "]"
	case "dict_values":
		return w.need("collections.abc", "ValuesView") + "[" + anyT() + "]"
	case "dict_items":
		return w.need("collections.abc", "ItemsView") + "[" + anyT() + ", " + anyT() + "]"
	case "module":
		w.imports["types"] = true
		return "types.ModuleType"
	case "code":
		w.imports["types"] = true
		return "types.CodeType"
	case "frame":
		w.imports["types"] = true
		return "types.FrameType"
	case "cell":
		w.imports["types"] = true
		return "types.CellType"
	case "ellipsis":
		w.imports["types"] = true
		return "types.EllipsisType"
	}
	return anyT()
}
