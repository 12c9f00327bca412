// Package stub renders what recapi recorded as .pyi stub trees and API-usage
// JSON. It is pure and deterministic: the same records give the same bytes.
package stub

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/recapi/recapi/infer"
	"github.com/recapi/recapi/internal/atomicfile"
)

// Options is what Render writes.
type Options struct {
	// Modules limits the tree to these module prefixes ("app" matches app
	// and app.views; "app." only submodules); empty means every module.
	Modules []string
	// Overloads writes one @overload per distinct signature of a function
	// that was called with more than one.
	Overloads bool
	// MaxOverloads bounds the overloads of one function (the most called
	// ones); 0 means 8.
	MaxOverloads int
	// Infer switches the inference rules.
	Infer infer.Options
}

// File is one rendered stub: its path relative to the tree's root and its
// text.
type File struct {
	Path string
	Text []byte
}

// InModule reports whether module is prefix or one of its submodules; a
// prefix ending in "." matches any module that starts with it.
func InModule(module, prefix string) bool {
	if strings.HasSuffix(prefix, ".") {
		return strings.HasPrefix(module, prefix)
	}
	return module == prefix || strings.HasPrefix(module, prefix+".")
}

// validModule reports whether every part of a dotted module name is a
// Python identifier ("<string>" and "<frozen x>" are not).
func validModule(m string) bool {
	if m == "" {
		return false
	}
	for _, part := range strings.Split(m, ".") {
		if !isIdent(part) {
			return false
		}
	}
	return true
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r) {
			continue
		}
		return false
	}
	return !pyKeywords[s]
}

var pyKeywords = map[string]bool{
	"False": true, "None": true, "True": true, "and": true, "as": true, "assert": true, "async": true, "await": true,
	"break": true, "class": true, "continue": true, "def": true, "del": true, "elif": true, "else": true, "except": true,
	"finally": true, "for": true, "from": true, "global": true, "if": true, "import": true, "in": true, "is": true,
	"lambda": true, "nonlocal": true, "not": true, "or": true, "pass": true, "raise": true, "return": true, "try": true,
	"while": true, "with": true, "yield": true,
}

// Render returns the stub files of every selected module, sorted by path. A
// module with submodules in the tree is written as PKG/__init__.pyi, and
// every package above a module gets an __init__.pyi, so mypy finds them.
// "__main__" (a script) is written as __main__.pyi.
func Render(funcs []infer.Func, o Options) []File {
	byModule := make(map[string][]*infer.Func)
	for i := range funcs {
		f := &funcs[i]
		m := f.Function.Module
		if !validModule(m) || !selected(m, o.Modules) {
			continue
		}
		byModule[m] = append(byModule[m], f)
	}
	modules := make([]string, 0, len(byModule))
	for m := range byModule {
		modules = append(modules, m)
	}
	slices.Sort(modules)

	// Every package above a module is in the tree too.
	tree := make(map[string]bool)
	for _, m := range modules {
		tree[m] = true
		for i := strings.IndexByte(m, '.'); i >= 0; i = nextDot(m, i) {
			tree[m[:i]] = true
		}
	}
	isPackage := func(m string) bool {
		for t := range tree {
			if strings.HasPrefix(t, m+".") {
				return true
			}
		}
		return false
	}
	all := make([]string, 0, len(tree))
	for m := range tree {
		all = append(all, m)
	}
	slices.Sort(all)

	classes := collectClasses(funcs, tree)
	var out []File
	for _, m := range all {
		path := filepath.Join(strings.Split(m, ".")...)
		if isPackage(m) {
			path = filepath.Join(path, "__init__.pyi")
		} else {
			path += ".pyi"
		}
		w := newModuleWriter(m, tree, classes[m], o)
		out = append(out, File{Path: path, Text: w.render(byModule[m])})
	}
	slices.SortFunc(out, func(a, b File) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

func nextDot(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func selected(m string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if InModule(m, p) {
			return true
		}
	}
	return false
}

// collectClasses finds the classes of each module in the tree: the class
// parts of method qualnames, every class a recorded type names in a module
// of the tree, and class bodies (see isClassBody).
func collectClasses(funcs []infer.Func, tree map[string]bool) map[string]map[string]bool {
	out := make(map[string]map[string]bool)
	add := func(module, qual string) {
		if out[module] == nil {
			out[module] = make(map[string]bool)
		}
		parts := strings.Split(qual, ".")
		for i := range parts {
			if !isIdent(parts[i]) {
				return
			}
			out[module][strings.Join(parts[:i+1], ".")] = true
		}
	}
	addType := func(t infer.Type) {
		t.Walk(func(t infer.Type) {
			if m, q, ok := splitInTree(t.Name, tree); ok {
				add(m, q)
			}
		})
	}
	for i := range funcs {
		f := &funcs[i]
		if !tree[f.Function.Module] {
			continue
		}
		if c, ok := infer.ClassOf(f.Function.Qualname); ok {
			add(f.Function.Module, c)
		}
		if isClassBody(f) {
			add(f.Function.Module, f.Function.Qualname)
		}
		for _, p := range f.Params {
			if p.Known {
				addType(p.Type)
			}
		}
		if f.HasReturn {
			addType(f.Return)
		}
		if f.HasYield {
			addType(f.Yield)
		}
	}
	return out
}

// isClassBody guesses that a record is the execution of a class statement's
// body: no parameters, a capitalised name, called from a module body or
// from another class body. Records do not mark class bodies yet.
func isClassBody(f *infer.Func) bool {
	if len(f.Params) > 0 || strings.Contains(f.Function.Qualname, "<") {
		return false
	}
	last := f.Function.Qualname[strings.LastIndexByte(f.Function.Qualname, '.')+1:]
	if last == "" || !unicode.IsUpper([]rune(last)[0]) {
		return false
	}
	for pkg := range f.Callers {
		if pkg == infer.CallerFromC {
			return false
		}
	}
	return true
}

// splitInTree splits a type name into a module of the tree and a qualname:
// the longest module prefix wins.
func splitInTree(name string, tree map[string]bool) (module, qual string, ok bool) {
	for i := len(name) - 1; i > 0; i-- {
		if name[i] == '.' && tree[name[:i]] {
			return name[:i], name[i+1:], true
		}
	}
	return "", "", false
}

// Write writes files under dir, creating directories as needed. Each file is
// replaced atomically (atomicfile.WriteFile): a type checker reading the tree
// meanwhile sees each stub whole, old or new. It does not remove files
// already there.
func Write(dir string, files []File) error {
	for _, f := range files {
		path := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("write stubs: %w", err)
		}
		if err := atomicfile.WriteFile(path, f.Text, 0o644); err != nil {
			return fmt.Errorf("write stubs: %w", err)
		}
	}
	return nil
}
