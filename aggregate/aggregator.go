package aggregate

import (
	"cmp"
	"encoding/binary"
	"slices"
)

// Aggregator merges records with the same key (Function, Caller, Params,
// Returns, Yields, CodeKind, Python), adding the counts (Calls, Resumptions,
// Raised, Created) and OR-ing Partial. A nil and an empty Params are the
// same key.
//
// The zero value is not ready to use; call NewAggregator. An Aggregator is not
// safe for concurrent use.
type Aggregator struct {
	// index maps the compact key of a record (see appendKey) to its position
	// in records. Lookups with a key built in buf allocate nothing, so adding
	// a record that is already known costs one key encoding and one map probe.
	index   map[string]int
	records []Record
	buf     []byte
}

// NewAggregator returns an empty Aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{index: make(map[string]int), buf: make([]byte, 0, 256)}
}

// Add merges r into the aggregate. The first record of a key is copied (its
// Params, Caller, Returns and Yields included), so the caller may reuse r's
// memory afterwards; adding a known key allocates nothing.
func (a *Aggregator) Add(r Record) {
	a.add(&r)
}

// add merges r and returns the position of its key in a.records.
func (a *Aggregator) add(r *Record) int {
	a.buf = appendKey(a.buf[:0], r)
	if i, ok := a.index[string(a.buf)]; ok {
		a.addCounts(i, countsOf(r))
		if e := &a.records[i]; e.Binding == "" {
			e.Binding = r.Binding
		}
		return i
	}
	i := len(a.records)
	a.index[string(a.buf)] = i
	a.records = append(a.records, cloneRecord(*r))
	return i
}

// counts are the fields of a record that are not part of its key and add
// up (or, for partial, OR) when records merge.
type counts struct {
	calls, resumptions, raised, created uint64
	partial                             bool
}

func countsOf(r *Record) counts {
	return counts{calls: r.Calls, resumptions: r.Resumptions, raised: r.Raised, created: r.Created, partial: r.Partial}
}

// addCounts adds c to the record at position i.
func (a *Aggregator) addCounts(i int, c counts) {
	a.records[i].addCounts(c)
}

func (r *Record) addCounts(c counts) {
	r.Calls += c.calls
	r.Resumptions += c.resumptions
	r.Raised += c.raised
	r.Created += c.created
	r.Partial = r.Partial || c.partial
}

// Len returns the number of distinct keys.
func (a *Aggregator) Len() int { return len(a.records) }

// Records returns the merged records in a deterministic order (see
// SortRecords). The result is a copy: changing it does not change a.
func (a *Aggregator) Records() []Record {
	out := make([]Record, len(a.records))
	for i, r := range a.records {
		out[i] = cloneRecord(r)
	}
	SortRecords(out)
	return out
}

// SortRecords sorts records by calls plus resumptions, most first, then by
// module, qualname, file and line, then by caller, params, returns, yields,
// code kind and Python version, then by the counts, so that any set of
// records has one order.
func SortRecords(rs []Record) {
	slices.SortStableFunc(rs, compareRecords)
}

func compareRecords(a, b Record) int {
	if c := cmp.Compare(b.Calls+b.Resumptions, a.Calls+a.Resumptions); c != 0 {
		return c
	}
	if c := compareFunction(a.Function, b.Function); c != 0 {
		return c
	}
	return compareShape(a, b)
}

// compareShape orders records of the same function by everything else in
// their key, and then by the fields that are not part of it.
func compareShape(a, b Record) int {
	if c := comparePtr(a.Caller, b.Caller, compareFunction); c != 0 {
		return c
	}
	if c := compareParams(a.Params, b.Params); c != 0 {
		return c
	}
	if c := comparePtr(a.Returns, b.Returns, cmp.Compare[string]); c != 0 {
		return c
	}
	if c := comparePtr(a.Yields, b.Yields, cmp.Compare[string]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.CodeKind, b.CodeKind); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Python, b.Python); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Calls, a.Calls); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Resumptions, a.Resumptions); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Created, a.Created); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Raised, a.Raised); c != 0 {
		return c
	}
	return compareBool(a.Partial, b.Partial)
}

func compareFunction(a, b Function) int {
	if c := cmp.Compare(a.Module, b.Module); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Qualname, b.Qualname); c != 0 {
		return c
	}
	if c := cmp.Compare(a.File, b.File); c != 0 {
		return c
	}
	return cmp.Compare(a.Line, b.Line)
}

func compareParams(a, b []Param) int {
	return slices.CompareFunc(a, b, func(x, y Param) int {
		if c := cmp.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Kind, y.Kind); c != 0 {
			return c
		}
		return cmp.Compare(x.Type, y.Type)
	})
}

// comparePtr orders nil before any value.
func comparePtr[T any](a, b *T, f func(T, T) int) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return f(*a, *b)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// cloneRecord copies r so that it shares no memory with the original.
func cloneRecord(r Record) Record {
	if len(r.Params) == 0 {
		r.Params = nil
	} else {
		r.Params = slices.Clone(r.Params)
	}
	if r.Caller != nil {
		c := *r.Caller
		r.Caller = &c
	}
	if r.Returns != nil {
		s := *r.Returns
		r.Returns = &s
	}
	if r.Yields != nil {
		s := *r.Yields
		r.Yields = &s
	}
	return r
}

// appendKey appends the grouping key of r to b: every field of the key, each
// string length-prefixed so that no two different keys encode the same.
func appendKey(b []byte, r *Record) []byte {
	b = appendFunction(b, &r.Function)
	if r.Caller == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendFunction(b, r.Caller)
	}
	b = appendSignature(b, r)
	b = appendString(b, r.CodeKind)
	return appendString(b, r.Python)
}

// appendSignature appends the params, returns and yields of r, the part of
// the key that Summarize groups signatures by.
func appendSignature(b []byte, r *Record) []byte {
	b = binary.AppendUvarint(b, uint64(len(r.Params)))
	for i := range r.Params {
		p := &r.Params[i]
		b = appendString(b, p.Name)
		// One byte instead of the kind's name keeps keys short.
		switch p.Kind {
		case KindPositionalOnly:
			b = append(b, 1)
		case KindPositionalOrKeyword:
			b = append(b, 2)
		case KindVarPositional:
			b = append(b, 3)
		case KindKeywordOnly:
			b = append(b, 4)
		case KindVarKeyword:
			b = append(b, 5)
		default:
			b = append(b, 0)
			b = appendString(b, p.Kind)
		}
		b = appendString(b, p.Type)
	}
	b = appendOptional(b, r.Returns)
	return appendOptional(b, r.Yields)
}

// appendOptional appends 0 for nil, else 1 and the string.
func appendOptional(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	return appendString(b, *s)
}

func appendFunction(b []byte, f *Function) []byte {
	b = appendString(b, f.Module)
	b = appendString(b, f.Qualname)
	b = appendString(b, f.File)
	return binary.AppendVarint(b, int64(f.Line))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
