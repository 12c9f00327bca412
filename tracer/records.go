package tracer

import (
	"strings"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
)

// binding says how a method's first parameter is bound: to an instance of
// the method's class (self) or to a class (cls). The method's class is the
// qualname before the last part; "" for functions that are not methods.
func binding(fn aggregate.Function, first typeMeta) string {
	i := strings.LastIndexByte(fn.Qualname, '.')
	if i <= 0 {
		return ""
	}
	class := fn.Qualname[:i]
	if strings.HasSuffix(class, "<locals>") {
		return ""
	}
	// Py_TPFLAGS_TYPE_SUBCLASS: instances of type and metaclasses are classes.
	if first.flags&cpython.Py_TPFLAGS_TYPE_SUBCLASS != 0 {
		return aggregate.BindingClass
	}
	want := fn.Module + "." + class
	for _, c := range first.mro {
		if c == want {
			return aggregate.BindingInstance
		}
	}
	return ""
}

// record turns one kernel count into a named record: calls (or
// resumptions, or creations) with the shape of k.
func (tg *target) record(k *bpf.CallKey, n uint64) aggregate.Record {
	callee := tg.code(codeKey{k.Code, k.CodeFp})
	r := aggregate.Record{
		Function: callee.fn,
		Params:   []aggregate.Param{},
		CodeKind: callee.kind,
		Partial:  callee.partial || k.Truncated != 0,
		Python:   tg.python,
	}
	if k.Caller != 0 {
		c := tg.code(codeKey{k.Caller, k.CallerFp})
		fn := c.fn
		r.Caller = &fn
		r.Partial = r.Partial || c.partial
	}
	switch k.Kind &^ bpf.CallPending {
	case bpf.CallResume:
		r.Resumptions = n
		return r
	case bpf.CallCreate:
		r.Created = n
	default:
		r.Calls = n
	}
	nodes, ok := tg.sigs[k.Sig]
	if !ok && k.Nparams > 0 {
		tg.stats.add("signatures_unknown", 1)
		r.Partial = true
	}
	for i := 0; i < int(k.Nparams); i++ {
		p := aggregate.Param{}
		if i < len(callee.names) {
			p.Name = callee.names[i]
		}
		if i < len(callee.kinds) {
			p.Kind = string(callee.kinds[i])
		}
		if (i+1)*bpf.NodesPerValue <= len(nodes) {
			one := nodes[i*bpf.NodesPerValue : (i+1)*bpf.NodesPerValue]
			name, partial := tg.describe(one)
			p.Type = name
			r.Partial = r.Partial || partial
			if i == 0 {
				r.Binding = binding(callee.fn, tg.typeName(one[0]))
			}
		}
		if i < len(callee.defaults) {
			d := callee.defaults[i]
			p.HasDefault = &d
		}
		r.Params = append(r.Params, p)
	}
	return r
}

// outcomeRecord turns one count of calls that ended into a named record.
func (tg *target) outcomeRecord(k *bpf.OutcomeKey, n uint64) aggregate.Record {
	r := tg.record(&k.Call, n)
	var value string
	if k.Value != 0 && (k.Outcome == bpf.OutcomeReturned || k.Outcome == bpf.OutcomeYielded) {
		var partial bool
		if k.Value&1 != 0 {
			nodes, ok := tg.values[k.Value]
			if !ok {
				tg.stats.add("values_unknown", 1)
				nodes = nil
			}
			value, partial = tg.describe(nodes)
		} else {
			tm := tg.typeName(k.Value)
			value, partial = tm.name, tm.partial
		}
		r.Partial = r.Partial || partial
	}
	switch k.Outcome {
	case bpf.OutcomeReturned:
		r.Returns = &value
	case bpf.OutcomeYielded:
		r.Yields = &value
	case bpf.OutcomeRaised:
		r.Raised = n
	}
	return r
}
