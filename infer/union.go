package infer

import (
	"cmp"
	"slices"
	"strings"
)

// DefaultLargeUnion is the largest union kept as it is: a union of more
// members (None not counted) is rewritten to a common base class.
const DefaultLargeUnion = 5

// Options switches the rules of docs/inference.md on and off. The zero value
// switches every rule off; DefaultOptions switches every rule on.
type Options struct {
	// Optional keeps None in a union with other types ("int | None").
	// Off, None is dropped when other types were seen.
	Optional bool
	// DropEmpty drops an empty container ("list[()]") when the same
	// container was also seen with elements.
	DropEmpty bool
	// NumericTower drops int when float was seen and int and float when
	// complex was seen (PEP 484: int is acceptable where float is).
	NumericTower bool
	// KeepBool keeps bool apart from int: "bool | int" stays. Off, bool is
	// dropped when int (or, with NumericTower, float or complex) was seen.
	KeepBool bool
	// MergeElements merges the element types of one container class:
	// list[int] and list[str] become list[int | str], tuples of one length
	// merge item by item and tuples of different lengths become
	// tuple[X, ...].
	MergeElements bool
	// LargeUnion is the largest union kept (None not counted); a larger one
	// becomes the most specific common base class of its members when
	// Bases knows them, else Fallback. 0 switches the rule off.
	LargeUnion int
	// Fallback is the type a large union without a known common base
	// becomes: "builtins.object" (the default) or "typing.Any".
	Fallback string
	// SelfReturns writes "Self" for the return type of a method that
	// always returned its own self (or an instance of its cls).
	SelfReturns bool
	// Bases maps a class to its base classes in method resolution order
	// (most specific first, without the class itself). Classes not in it
	// fall back to a small built-in table (bool, the numeric types, the
	// exception hierarchy's common part, dict and list subclasses of the
	// standard library).
	Bases map[string][]string
}

// DefaultOptions returns every rule switched on with a large-union limit of
// DefaultLargeUnion and the fallback builtins.object.
func DefaultOptions() Options {
	return Options{
		Optional: true, DropEmpty: true, NumericTower: true, KeepBool: true,
		MergeElements: true, LargeUnion: DefaultLargeUnion, Fallback: "builtins.object", SelfReturns: true,
	}
}

// Observed is one type seen for a parameter or a return, and how often.
type Observed struct {
	Type  string
	Calls uint64
}

// Infer parses the observed types and merges them into one type. Unknown
// ("") and unparsable types are left out; ok is false when nothing is left.
func Infer(obs []Observed, o Options) (t Type, ok bool) {
	var ts []Type
	for _, ob := range obs {
		if ob.Type == "" {
			continue
		}
		p, err := Parse(ob.Type)
		if err != nil {
			continue
		}
		ts = append(ts, p)
	}
	if len(ts) == 0 {
		return Type{}, false
	}
	return Simplify(ts, o), true
}

// Simplify merges types into one by the rules o switches on. Members of the
// result are sorted by name with None last.
func Simplify(ts []Type, o Options) Type {
	var members []Type
	for _, t := range ts {
		members = append(members, t.Members()...)
	}
	members = dedupe(members)

	hasNone := slices.ContainsFunc(members, func(t Type) bool { return t.Name == None })
	if hasNone && len(members) > 1 && !o.Optional {
		members = slices.DeleteFunc(members, func(t Type) bool { return t.Name == None })
		hasNone = false
	}
	if o.DropEmpty {
		members = dropEmpty(members)
	}
	if o.MergeElements {
		members = mergeElements(members, o)
	}
	if o.NumericTower || !o.KeepBool {
		members = numeric(members, o)
	}
	if o.LargeUnion > 0 {
		var rest []Type
		for _, m := range members {
			if m.Name != None {
				rest = append(rest, m)
			}
		}
		if len(rest) > o.LargeUnion {
			base := commonBase(rest, o)
			members = []Type{base}
			if hasNone {
				members = append(members, Type{Name: None})
			}
		}
	}
	sortMembers(members)
	if len(members) == 1 {
		return members[0]
	}
	return Type{Union: members}
}

func dedupe(ts []Type) []Type {
	seen := make(map[string]bool, len(ts))
	out := ts[:0:0]
	for _, t := range ts {
		k := t.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out
}

func sortMembers(ts []Type) {
	slices.SortFunc(ts, func(a, b Type) int {
		if (a.Name == None) != (b.Name == None) {
			if a.Name == None {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.String(), b.String())
	})
}

// dropEmpty drops empty containers of a class also seen with elements.
func dropEmpty(ts []Type) []Type {
	full := make(map[string]bool)
	for _, t := range ts {
		if !t.Empty && len(t.Args) > 0 {
			full[t.Name] = true
		}
	}
	return slices.DeleteFunc(ts, func(t Type) bool { return t.Empty && full[t.Name] })
}

const tupleName = "builtins.tuple"

// mergeElements merges members of one container class that carry element
// types.
func mergeElements(ts []Type, o Options) []Type {
	type group struct {
		first int
		ts    []Type
	}
	groups := make(map[string]*group)
	var out []Type
	for _, t := range ts {
		if len(t.Args) == 0 {
			out = append(out, t)
			continue
		}
		g := groups[t.Name]
		if g == nil {
			g = &group{first: len(out)}
			groups[t.Name] = g
			out = append(out, Type{}) // placeholder
		}
		g.ts = append(g.ts, t)
	}
	for name, g := range groups {
		out[g.first] = mergeContainer(name, g.ts, o)
	}
	return out
}

func mergeContainer(name string, ts []Type, o Options) Type {
	if len(ts) == 1 {
		return ts[0]
	}
	n := len(ts[0].Args)
	same := true
	for _, t := range ts {
		if len(t.Args) != n || isVarTuple(t) != isVarTuple(ts[0]) {
			same = false
		}
	}
	if same {
		args := make([]Type, n)
		for i := range args {
			col := make([]Type, len(ts))
			for j, t := range ts {
				col[j] = t.Args[i]
			}
			if col[0].Name == Ellipsis {
				args[i] = col[0]
				continue
			}
			args[i] = Simplify(col, o)
		}
		return Type{Name: name, Args: args}
	}
	if name == tupleName {
		var items []Type
		for _, t := range ts {
			for _, a := range t.Args {
				if a.Name != Ellipsis {
					items = append(items, a)
				}
			}
		}
		return Type{Name: name, Args: []Type{Simplify(items, o), {Name: Ellipsis}}}
	}
	// Another container with different numbers of arguments: nothing
	// sensible to merge; keep the class alone.
	return Type{Name: name}
}

func isVarTuple(t Type) bool {
	return len(t.Args) == 2 && t.Args[1].Name == Ellipsis
}

// numeric applies the numeric tower and the bool rule.
func numeric(ts []Type, o Options) []Type {
	has := func(name string) bool {
		return slices.ContainsFunc(ts, func(t Type) bool { return t.Name == name })
	}
	hasInt, hasFloat, hasComplex := has("builtins.int"), has("builtins.float"), has("builtins.complex")
	return slices.DeleteFunc(ts, func(t Type) bool {
		switch t.Name {
		case "builtins.int":
			return o.NumericTower && (hasFloat || hasComplex)
		case "builtins.float":
			return o.NumericTower && hasComplex
		case "builtins.bool":
			return !o.KeepBool && (hasInt || o.NumericTower && (hasFloat || hasComplex))
		}
		return false
	})
}

// builtinBases is the MRO (without the class and object) of classes whose
// bases recapi knows without being told.
var builtinBases = map[string][]string{
	"builtins.bool":                   {"builtins.int"},
	"collections.OrderedDict":         {"builtins.dict"},
	"collections.defaultdict":         {"builtins.dict"},
	"collections.Counter":             {"builtins.dict"},
	"builtins.Exception":              {"builtins.BaseException"},
	"builtins.ValueError":             {"builtins.Exception", "builtins.BaseException"},
	"builtins.TypeError":              {"builtins.Exception", "builtins.BaseException"},
	"builtins.KeyError":               {"builtins.LookupError", "builtins.Exception", "builtins.BaseException"},
	"builtins.IndexError":             {"builtins.LookupError", "builtins.Exception", "builtins.BaseException"},
	"builtins.LookupError":            {"builtins.Exception", "builtins.BaseException"},
	"builtins.RuntimeError":           {"builtins.Exception", "builtins.BaseException"},
	"builtins.OSError":                {"builtins.Exception", "builtins.BaseException"},
	"builtins.FileNotFoundError":      {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.AttributeError":         {"builtins.Exception", "builtins.BaseException"},
	"builtins.ArithmeticError":        {"builtins.Exception", "builtins.BaseException"},
	"builtins.ZeroDivisionError":      {"builtins.ArithmeticError", "builtins.Exception", "builtins.BaseException"},
	"builtins.UnicodeDecodeError":     {"builtins.UnicodeError", "builtins.ValueError", "builtins.Exception", "builtins.BaseException"},
	"builtins.NotImplementedError":    {"builtins.RuntimeError", "builtins.Exception", "builtins.BaseException"},
	"builtins.StopIteration":          {"builtins.Exception", "builtins.BaseException"},
	"builtins.KeyboardInterrupt":      {"builtins.BaseException"},
	"builtins.SystemExit":             {"builtins.BaseException"},
	"builtins.UnicodeError":           {"builtins.ValueError", "builtins.Exception", "builtins.BaseException"},
	"builtins.ModuleNotFoundError":    {"builtins.ImportError", "builtins.Exception", "builtins.BaseException"},
	"builtins.ImportError":            {"builtins.Exception", "builtins.BaseException"},
	"builtins.PermissionError":        {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.RecursionError":         {"builtins.RuntimeError", "builtins.Exception", "builtins.BaseException"},
	"builtins.StopAsyncIteration":     {"builtins.Exception", "builtins.BaseException"},
	"builtins.FileExistsError":        {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.UnicodeEncodeError":     {"builtins.UnicodeError", "builtins.ValueError", "builtins.Exception", "builtins.BaseException"},
	"builtins.OverflowError":          {"builtins.ArithmeticError", "builtins.Exception", "builtins.BaseException"},
	"builtins.AssertionError":         {"builtins.Exception", "builtins.BaseException"},
	"builtins.NameError":              {"builtins.Exception", "builtins.BaseException"},
	"builtins.TimeoutError":           {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.ConnectionError":        {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.BrokenPipeError":        {"builtins.ConnectionError", "builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.ConnectionResetError":   {"builtins.ConnectionError", "builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.IsADirectoryError":      {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.NotADirectoryError":     {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.ChildProcessError":      {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.ProcessLookupError":     {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.InterruptedError":       {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.BlockingIOError":        {"builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.ConnectionAbortedError": {"builtins.ConnectionError", "builtins.OSError", "builtins.Exception", "builtins.BaseException"},
	"builtins.ConnectionRefusedError": {"builtins.ConnectionError", "builtins.OSError", "builtins.Exception", "builtins.BaseException"},
}

// mro returns name followed by its known bases; ok is false when recapi
// knows nothing of its bases.
func mro(name string, o Options) ([]string, bool) {
	if b, ok := o.Bases[name]; ok {
		return append([]string{name}, b...), true
	}
	if b, ok := builtinBases[name]; ok {
		return append([]string{name}, b...), true
	}
	return nil, false
}

// commonBase returns the most specific class every member derives from,
// when the bases of all members are known and they share one other than
// object; o.Fallback otherwise.
func commonBase(ts []Type, o Options) Type {
	fallback := Type{Name: o.Fallback}
	if fallback.Name == "" {
		fallback.Name = "builtins.object"
	}
	var first []string
	sets := make([]map[string]bool, 0, len(ts))
	for i, t := range ts {
		m, ok := mro(t.Name, o)
		if !ok {
			// A class is its own base: list[int] and list[str] share
			// list when element merging is off.
			m = []string{t.Name}
		}
		if i == 0 {
			first = m
		}
		set := make(map[string]bool, len(m))
		for _, c := range m {
			set[c] = true
		}
		sets = append(sets, set)
	}
	for _, c := range first {
		if c == "builtins.object" || strings.HasSuffix(c, ".object") {
			break
		}
		all := true
		for _, s := range sets {
			if !s[c] {
				all = false
				break
			}
		}
		if all {
			return Type{Name: c}
		}
	}
	return fallback
}
