package infer

import (
	"cmp"
	"slices"
	"strings"

	"github.com/recapi/recapi/aggregate"
)

// Func is what was seen of one function over all its records, with the
// inferred annotations.
type Func struct {
	// Function is the function of the most called record.
	Function    aggregate.Function
	Kind        string // KindFunction, KindMethod, ...
	CodeKind    string // "", "generator", "coroutine", "async_generator"
	Calls       uint64
	Resumptions uint64
	// Raised counts the calls and resumptions that ended by an exception.
	Raised uint64
	// Created counts the generator, coroutine and async generator objects
	// calling the function made (Calls counts their starts).
	Created uint64
	// Untyped counts the calls whose records are partial (recapid could
	// not name everything in them before the process exited): their types
	// are left out, rather than trusted half-read.
	Untyped uint64
	Params  []Param // in declaration order
	// Returns counts the observed return types by the calls and
	// resumptions that returned them (a generator's or coroutine's return
	// value is seen when its last resumption returns); nil when none was
	// seen.
	Returns map[string]uint64
	// Return is the inferred return type; valid when HasReturn.
	Return    Type
	HasReturn bool
	// Yields counts the types a generator or coroutine yielded by the
	// calls and resumptions that yielded them; nil when none was seen.
	Yields map[string]uint64
	// Yield is the inferred yield type; valid when HasYield.
	Yield    Type
	HasYield bool
	// SelfReturn is set when the method always returned its receiver's
	// class (see SelfReturn) and Options.SelfReturns is on.
	SelfReturn bool
	// Callers counts calls by the top-level package of the caller
	// ("app" for app.views; "<C>" for calls from C code).
	Callers map[string]*Callers
	// Signatures are the distinct signatures, most called first.
	Signatures []Signature
}

// Param is one parameter with the types seen in it.
type Param struct {
	Name string
	Kind string
	// Types counts calls by observed type; "" (unknown) is not counted.
	Types map[string]uint64
	// Type is the inferred type; valid when Known.
	Type  Type
	Known bool
	// HasDefault is true when any record says the parameter has a default.
	HasDefault bool
}

// Callers is the calls from one top-level package.
type Callers struct {
	Calls     uint64
	Functions int // distinct calling functions
	fns       map[string]bool
}

// Signature is one distinct signature: a record of the function with its
// calls summed over callers.
type Signature struct {
	Record aggregate.Record
	Calls  uint64
}

// CallerFromC is the Callers key of calls that had no Python caller.
const CallerFromC = "<C>"

// Analyze groups records by function (module and qualname) and infers each
// function's annotations. The result is sorted by module, then qualname.
func Analyze(records []aggregate.Record, o Options) []Func {
	type key struct{ module, qualname string }
	groups := make(map[key][]aggregate.Record)
	var keys []key
	for _, r := range records {
		k := key{r.Function.Module, r.Function.Qualname}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(a.module, b.module); c != 0 {
			return c
		}
		return cmp.Compare(a.qualname, b.qualname)
	})
	out := make([]Func, 0, len(keys))
	for _, k := range keys {
		out = append(out, analyze(groups[k], o))
	}
	return out
}

func analyze(recs []aggregate.Record, o Options) Func {
	aggregate.SortRecords(recs)
	f := Func{Function: recs[0].Function, Callers: make(map[string]*Callers)}
	f.Kind = MethodKind(recs, o)
	for _, r := range recs {
		f.Calls += r.Calls
		f.Resumptions += r.Resumptions
		f.Raised += r.Raised
		f.Created += r.Created
		if f.CodeKind == "" {
			f.CodeKind = r.CodeKind
		}
	}
	// Argument types and callers are counted by calls. A generator or
	// coroutine function whose objects were created and never started has
	// none: its creations, which carry the same argument types, count
	// instead.
	uses := func(r *aggregate.Record) uint64 { return r.Calls }
	if f.Calls == 0 {
		uses = func(r *aggregate.Record) uint64 { return r.Created }
	}
	for i := range recs {
		r := &recs[i]
		if n := uses(r); n > 0 {
			pkg, fn := CallerFromC, ""
			if r.Caller != nil {
				pkg, _, _ = strings.Cut(r.Caller.Module, ".")
				fn = r.Caller.Name()
			}
			c := f.Callers[pkg]
			if c == nil {
				c = &Callers{fns: make(map[string]bool)}
				f.Callers[pkg] = c
			}
			c.Calls += n
			if !c.fns[fn] {
				c.fns[fn] = true
				c.Functions++
			}
		}
	}

	// Parameters by name, in the declaration order of the most called
	// record that has the most parameters (resumption records may lack
	// some).
	shape := recs[0]
	for _, r := range recs {
		if len(r.Params) > len(shape.Params) {
			shape = r
		}
	}
	index := make(map[string]int)
	for _, p := range aggregate.DeclarationOrder(shape.Params) {
		index[p.Name] = len(f.Params)
		f.Params = append(f.Params, Param{Name: p.Name, Kind: p.Kind, Types: make(map[string]uint64)})
	}
	for _, r := range recs {
		if r.Partial {
			f.Untyped += uses(&r)
			continue
		}
		for _, p := range r.Params {
			i, ok := index[p.Name]
			if !ok {
				continue
			}
			fp := &f.Params[i]
			if p.HasDefault != nil && *p.HasDefault {
				fp.HasDefault = true
			}
			if n := uses(&r); p.Type != "" && n > 0 {
				fp.Types[p.Type] += n
			}
		}
		// A record's calls and resumptions all ended the way its key
		// says: by returning Returns or by yielding Yields.
		f.Returns = count(f.Returns, r.Returns, r.Calls+r.Resumptions)
		f.Yields = count(f.Yields, r.Yields, r.Calls+r.Resumptions)
	}
	for i := range f.Params {
		p := &f.Params[i]
		p.Type, p.Known = Infer(observed(p.Types), o)
	}
	if f.Returns != nil {
		f.Return, f.HasReturn = Infer(observed(f.Returns), o)
	}
	if f.Yields != nil {
		f.Yield, f.HasYield = Infer(observed(f.Yields), o)
	}
	// A generator's return value is not what calling it returns: Self is
	// for plain functions and coroutines.
	selfKind := f.CodeKind == "" || f.CodeKind == aggregate.CodeCoroutine
	f.SelfReturn = o.SelfReturns && selfKind && SelfReturn(recs, f.Kind)

	typed := slices.DeleteFunc(slices.Clone(recs), func(r aggregate.Record) bool { return r.Partial })
	for _, s := range aggregate.Summarize(typed) {
		for _, r := range s.Top {
			f.Signatures = append(f.Signatures, Signature{Record: r, Calls: r.Calls})
		}
	}
	return f
}

// count adds n to m[*t] when a type t was observed, making m when needed.
func count(m map[string]uint64, t *string, n uint64) map[string]uint64 {
	if t == nil || *t == "" {
		return m
	}
	if m == nil {
		m = make(map[string]uint64)
	}
	m[*t] += n
	return m
}

// observed turns counts by type into a sorted list.
func observed(m map[string]uint64) []Observed {
	out := make([]Observed, 0, len(m))
	for t, n := range m {
		out = append(out, Observed{Type: t, Calls: n})
	}
	slices.SortFunc(out, func(a, b Observed) int { return cmp.Compare(a.Type, b.Type) })
	return out
}
