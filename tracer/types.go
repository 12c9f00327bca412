package tracer

import (
	"strings"

	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
)

// typeMeta is what is known of a type object.
type typeMeta struct {
	name    string
	partial bool
	flags   uint64   // tp_flags
	mro     []string // names in __mro__ (heap types)
}

// typeFromEvent names a type: static types from tp_name, heap types from
// the __module__ and ht_qualname BPF read at first sight. Whatever BPF could
// not copy whole is read from process memory (fromMemory), which races the
// process's exit; if the process is gone by then, the name keeps what the
// kernel read and is marked partial.
func (tg *target) typeFromEvent(e *bpf.TypeEvent) (m typeMeta, fromMemory bool) {
	m, fromMemory = tg.eventTypeName(e)
	m.flags = e.TpFlags
	if e.TpFlags&cpython.Py_TPFLAGS_HEAPTYPE != 0 {
		m.mro = tg.readMRO(e.Hdr.Ptr)
	}
	return m, fromMemory
}

// readMRO names the classes in a type's __mro__, to tell when a method's
// first argument is an instance of the method's class.
func (tg *target) readMRO(typ uint64) []string {
	mro, err := tg.mem.U64(typ + uint64(tg.layout.PyTypeObject_tp_mro))
	if err != nil || mro == 0 {
		return nil
	}
	items, err := tg.rd.TupleItems(mro, 64)
	if err != nil {
		return nil
	}
	var out []string
	for _, t := range items {
		if name, err := tg.rd.TypeName(t); err == nil {
			out = append(out, name)
		}
	}
	return out
}

// eventTypeName names a type from what BPF read at first sight, reading
// memory only for what BPF could not copy whole (fromMemory).
func (tg *target) eventTypeName(e *bpf.TypeEvent) (m typeMeta, fromMemory bool) {
	qual, mod, tpName := bpf.CString(e.Qualname[:]), bpf.CString(e.Module[:]), bpf.CString(e.TpName[:])
	if e.TpFlags&cpython.Py_TPFLAGS_HEAPTYPE == 0 {
		if e.StrFlags&bpf.StrTpName == 0 {
			return typeMeta{name: cpython.StaticTypeName(tpName)}, false
		}
	} else if e.StrFlags&(bpf.StrQualname|bpf.StrModule) == 0 {
		return typeMeta{name: mod + "." + qual}, false
	} else if i := strings.LastIndexByte(tpName, '.'); i > 0 && e.StrFlags&(bpf.StrQualname|bpf.StrTpName) == 0 {
		// A heap type made from a spec (PyType_FromSpec: C extension
		// types, 3.12+ _decimal's Decimal) gets its __module__ from the
		// spec's dotted name, which is also its tp_name, and only after
		// every method is in its dict: beyond the entries BPF scans.
		return typeMeta{name: tpName[:i] + "." + qual}, false
	}
	if name, err := tg.rd.TypeName(e.Hdr.Ptr); err == nil {
		return typeMeta{name: name}, true
	}
	if qual == "" {
		qual = tpName
	}
	if mod != "" {
		qual = mod + "." + qual
	}
	return typeMeta{name: qual, partial: true}, true
}

// typeName returns what is known of a type, reading memory on a miss.
func (tg *target) typeName(ptr uint64) typeMeta {
	if ptr == 0 {
		return typeMeta{partial: true}
	}
	if m, ok := tg.types[ptr]; ok {
		return m
	}
	name, err := tg.rd.TypeName(ptr)
	m := typeMeta{name: name, partial: err != nil}
	if flags, ferr := tg.mem.U64(ptr + uint64(tg.layout.PyTypeObject_tp_flags)); ferr == nil {
		m.flags = flags
		if flags&cpython.Py_TPFLAGS_HEAPTYPE != 0 {
			m.mro = tg.readMRO(ptr)
		}
	}
	tg.types[ptr] = m
	return m
}
