package aggregate

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// Signature renders r as a Python signature with the observed types:
// "parse(a: builtins.int, b: builtins.str) -> builtins.bool". The name is the
// last part of the qualname. *args and **kwargs get their stars, keyword-only
// parameters follow a bare "*" when there is no *args, and positional-only
// parameters are followed by "/". A parameter of unknown type is shown by
// name alone, one of unknown name as "?". The return type is shown when it was
// observed ("-> builtins.int"), the type a generator or coroutine yielded as
// "-> yields builtins.int". With short, the "builtins." prefix is dropped
// from every type name (also inside brackets: "dict[str, list[int]]").
func Signature(r Record, short bool) string {
	var b strings.Builder
	b.WriteString(defName(r.Function.Qualname))
	b.WriteByte('(')
	star := false // a "*" or "*args" was written: keyword-only needs no bare "*"
	params := DeclarationOrder(r.Params)
	for i, p := range params {
		if i > 0 {
			b.WriteString(", ")
		}
		switch p.Kind {
		case KindVarPositional:
			b.WriteByte('*')
			star = true
		case KindVarKeyword:
			b.WriteString("**")
		case KindKeywordOnly:
			if !star {
				b.WriteString("*, ")
				star = true
			}
		}
		name := p.Name
		if name == "" {
			name = "?"
		}
		b.WriteString(name)
		if p.Type != "" {
			b.WriteString(": ")
			b.WriteString(typeName(p.Type, short))
		}
		if p.Kind == KindPositionalOnly && (i+1 == len(params) || params[i+1].Kind != KindPositionalOnly) {
			b.WriteString(", /")
		}
	}
	b.WriteByte(')')
	switch {
	case r.Returns != nil:
		b.WriteString(" -> ")
		b.WriteString(typeName(*r.Returns, short))
	case r.Yields != nil:
		b.WriteString(" -> yields ")
		b.WriteString(typeName(*r.Yields, short))
	}
	return b.String()
}

// kindRank orders parameter kinds as a def statement declares them.
var kindRank = map[string]int{
	KindPositionalOnly: 0, KindPositionalOrKeyword: 1, KindVarPositional: 2, KindKeywordOnly: 3, KindVarKeyword: 4,
}

// DeclarationOrder returns params in the order a def statement declares
// them. Records keep CPython's frame-slot order, where keyword-only
// parameters come before *args; a signature is read in source order.
func DeclarationOrder(params []Param) []Param {
	out := append([]Param(nil), params...)
	sort.SliceStable(out, func(i, j int) bool { return kindRank[out[i].Kind] < kindRank[out[j].Kind] })
	return out
}

// defName is the name a def statement gave the function: the last part of
// its qualname ("render" for "Template.render", "g" for "f.<locals>.g").
func defName(qualname string) string {
	if i := strings.LastIndexByte(qualname, '.'); i >= 0 && i+1 < len(qualname) {
		return qualname[i+1:]
	}
	return qualname
}

func typeName(t string, short bool) string {
	if short {
		return ShortType(t)
	}
	return t
}

// ShortType drops the "builtins." prefix from every type name in t:
// "builtins.dict[builtins.str, mod.builtins.X]" becomes
// "dict[str, mod.builtins.X]". Only whole names starting with "builtins." are
// changed.
func ShortType(t string) string {
	const prefix = "builtins."
	if !strings.Contains(t, prefix) {
		return t
	}
	var b strings.Builder
	b.Grow(len(t))
	for i := 0; i < len(t); {
		if strings.HasPrefix(t[i:], prefix) && (i == 0 || !isNameByte(t[i-1])) {
			i += len(prefix)
			continue
		}
		b.WriteByte(t[i])
		i++
	}
	return b.String()
}

// isNameByte reports whether c can be part of a dotted Python name. Bytes of
// multi-byte runes count as name bytes, which is right for identifiers.
func isNameByte(c byte) bool {
	return c == '_' || c == '.' || c >= 0x80 ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// FunctionSummary is what was seen of one function, over all its records.
type FunctionSummary struct {
	// Function is the function of its most called record: records are
	// grouped by module and qualname, so copies of one module at different
	// paths (a venv and the system site-packages) are one function here.
	Function    Function
	Calls       uint64
	Resumptions uint64
	// Raised counts the calls and resumptions that ended by an exception.
	Raised uint64
	// Created counts the generator, coroutine and async generator objects
	// the function made (see Record.Created).
	Created uint64
	// Signatures is the number of distinct signatures (params, returns and
	// yields).
	Signatures int
	// Top holds one record per distinct signature, most common first, with
	// the counts (Calls, Resumptions, Raised, Created) summed over callers
	// and Python versions and Partial OR-ed. Its Caller is nil and its
	// Python empty unless all the merged records agree on them. Records
	// without calls (resumptions only, which carry no types, or objects
	// created and never started) are left out, unless the function has
	// nothing else.
	Top      []Record
	CodeKind string
}

// Summarize groups records by function, sorted by calls (most first), then
// resumptions, then objects created, then name.
func Summarize(records []Record) []FunctionSummary {
	type fnKey struct{ module, qualname string }
	type group struct {
		sum   FunctionSummary
		recs  []Record
		calls uint64 // calls of sum.Function's record, to pick the most called
	}
	groups := make(map[fnKey]*group)
	var order []*group
	for _, r := range records {
		k := fnKey{r.Function.Module, r.Function.Qualname}
		g := groups[k]
		if g == nil {
			g = &group{sum: FunctionSummary{Function: r.Function}, calls: r.Calls + r.Resumptions}
			groups[k] = g
			order = append(order, g)
		} else if n := r.Calls + r.Resumptions; n > g.calls || n == g.calls && compareFunction(r.Function, g.sum.Function) < 0 {
			g.sum.Function, g.calls = r.Function, n
		}
		g.sum.Calls += r.Calls
		g.sum.Resumptions += r.Resumptions
		g.sum.Raised += r.Raised
		g.sum.Created += r.Created
		if g.sum.CodeKind == "" {
			g.sum.CodeKind = r.CodeKind
		}
		g.recs = append(g.recs, r)
	}

	out := make([]FunctionSummary, 0, len(order))
	for _, g := range order {
		g.sum.Top = signatures(g.recs)
		g.sum.Signatures = len(g.sum.Top)
		out = append(out, g.sum)
	}
	slices.SortFunc(out, func(a, b FunctionSummary) int {
		if c := cmp.Compare(b.Calls, a.Calls); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Resumptions, a.Resumptions); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Created, a.Created); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Function.Module, b.Function.Module); c != 0 {
			return c
		}
		return cmp.Compare(a.Function.Qualname, b.Function.Qualname)
	})
	return out
}

// signatures merges the records of one function by params, returns and
// yields.
func signatures(recs []Record) []Record {
	// The records that show how the function is called: those with calls;
	// without any, those that created objects never started (they carry
	// the argument types too); without those, every record.
	keep := func(r *Record) bool { return true }
	switch {
	case slices.ContainsFunc(recs, func(r Record) bool { return r.Calls > 0 }):
		keep = func(r *Record) bool { return r.Calls > 0 }
	case slices.ContainsFunc(recs, func(r Record) bool { return r.Created > 0 }):
		keep = func(r *Record) bool { return r.Created > 0 }
	}
	index := make(map[string]int)
	var out []Record
	var key []byte
	for _, r := range recs {
		if !keep(&r) {
			continue
		}
		key = appendSignature(key[:0], &r)
		i, ok := index[string(key)]
		if !ok {
			index[string(key)] = len(out)
			out = append(out, cloneRecord(r))
			continue
		}
		e := &out[i]
		e.addCounts(countsOf(&r))
		if e.Caller != nil && (r.Caller == nil || *e.Caller != *r.Caller) {
			e.Caller = nil
		}
		if e.Python != r.Python {
			e.Python = ""
		}
		if e.CodeKind == "" {
			e.CodeKind = r.CodeKind
		}
	}
	slices.SortStableFunc(out, compareRecords)
	return out
}
