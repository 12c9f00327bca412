package tracer

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/proc"
	"github.com/recapi/recapi/pyelf"
)

// pyConfig translates a binary's layout into what the BPF program reads.
func pyConfig(b *pyelf.Binary, bias uint64) *bpf.PyConfig {
	l := b.Layout
	c := &bpf.PyConfig{
		FrCode:            int32(l.Frame_code),
		FrPrevious:        int32(l.Frame_previous),
		FrInstr:           int32(l.Frame_instr),
		FrLasti:           int32(l.Frame_lasti),
		FrLocalsplus:      int32(l.Frame_localsplus),
		FrOwner:           int32(l.Frame_owner),
		FrGlobals:         int32(l.Frame_globals),
		FrFuncobj:         int32(l.Frame_funcobj),
		OwnerCstack:       int32(l.FrameOwnedByCStack),
		CoArgcount:        int32(l.PyCodeObject_co_argcount),
		CoPosonlyargcount: int32(l.PyCodeObject_co_posonlyargcount),
		CoKwonlyargcount:  int32(l.PyCodeObject_co_kwonlyargcount),
		CoNlocals:         int32(l.PyCodeObject_co_nlocals),
		CoFlags:           int32(l.PyCodeObject_co_flags),
		CoFirstlineno:     int32(l.PyCodeObject_co_firstlineno),
		CoVarnames:        int32(l.PyCodeObject_co_varnames),
		CoFilename:        int32(l.PyCodeObject_co_filename),
		CoName:            int32(l.PyCodeObject_co_name),
		CoQualname:        int32(l.PyCodeObject_co_qualname),
		CoCellvars:        int32(l.PyCodeObject_co_cellvars),
		CoCell2arg:        int32(l.PyCodeObject_co_cell2arg),
		ObType:            int32(l.PyObject_ob_type),
		ObSize:            int32(l.PyVarObject_ob_size),
		TpName:            int32(l.PyTypeObject_tp_name),
		TpFlags:           int32(l.PyTypeObject_tp_flags),
		HtQualname:        int32(l.PyHeapTypeObject_ht_qualname),
		TupleItems:        int32(l.PyTupleObject_ob_item),
		CellRef:           int32(l.PyCellObject_ob_ref),
		StrState:          int32(l.PyUnicodeObject_state),
		StrLength:         int32(l.PyUnicodeObject_length),
		AsciiSize:         int32(l.PyASCIIObjectSize),
		CoInternalFlags:   l.CodeInternalFlags,
		TpDict:            int32(l.PyTypeObject_tp_dict),
		DictKeys:          int32(l.PyDictObject_ma_keys),
		DictFlavor:        bpf.DictKeys311,
		// The frame head ends where the argument slots begin.
		FrameHead:          uint32(l.Frame_localsplus),
		CoInstrVersion:     int32(l.PyCodeObject__co_instrumentation_version),
		InterpInstrVersion: int32(l.PyInterpreterState_instrumentation_version),
		InterpHead:         b.Runtime + bias + uint64(l.PyRuntimeState_interpreters_head),
	}
	if l.OldFrames {
		c.Flags |= bpf.CfgOldFrames
		c.DictFlavor = bpf.DictKeys38
	}
	for i, op := range l.ResumeOpcodes {
		if i < 4 {
			c.ResumeOps |= uint32(op) << (8 * i)
		}
	}
	// Only 3.11+ keeps cells in the argument slots themselves.
	if !l.OldFrames && b.CellType != 0 {
		c.CellType = b.CellType + bias
	}
	c.CoNlocalsplus = int32(l.PyCodeObject_co_nlocalsplus)
	c.CoConsts = int32(l.PyCodeObject_co_consts)
	c.FrStacktop = int32(l.Frame_stacktop)
	c.FrState = int32(l.Frame_state)
	c.DictValues = int32(l.PyDictObject_ma_values)
	c.FnCode = int32(l.PyFunctionObject_func_code)
	c.FnDefaults = int32(l.PyFunctionObject_func_defaults)
	c.FnKwdefaults = int32(l.PyFunctionObject_func_kwdefaults)
	c.ExtendedArg = uint32(l.ExtendedArgOpcode)
	for i, op := range l.ReturnConstOpcodes {
		if i < 4 {
			c.RetConstOps |= uint32(op) << (8 * i)
		}
	}
	for i, t := range b.ContainerTypes {
		if t != 0 {
			c.ContainerTypes[containerTypes[pyelf.ContainerTypeSymbols[i]]] = t + bias
		}
	}
	return c
}

// codeFromEvent names a code object from what BPF read at first sight,
// re-reading from process memory what BPF could not copy whole.
func codeFromEvent(tg *target, e *bpf.CodeEvent) *codeMeta {
	ci := cpython.CodeInfo{
		Name:            bpf.CString(e.Name[:]),
		Qualname:        bpf.CString(e.Qualname[:]),
		Filename:        bpf.CString(e.Filename[:]),
		FirstLine:       int(e.Firstlineno),
		ArgCount:        int(e.Argcount),
		PosOnlyArgCount: int(e.Posonlyargcount),
		KwOnlyArgCount:  int(e.Kwonlyargcount),
		Flags:           e.Flags,
	}
	n := min(ci.NParams(), len(e.Params))
	for i := 0; i < n; i++ {
		ci.ParamNames = append(ci.ParamNames, bpf.CString(e.Params[i][:]))
	}
	partial := false
	if e.StrFlags != 0 || ci.NParams() > len(e.Params) {
		if full, err := cpython.ReadCode(tg.mem, tg.layout, e.Hdr.Ptr); err == nil {
			ci = full
		} else {
			partial = true
		}
	}
	m := tg.meta(e.Hdr.Ptr, ci, partial)
	m.defaults = defaultsOf(e, ci)
	return m
}

// defaultsOf says which parameters have a default, from what BPF read of
// the function object the code was first seen running in, while it ran: the
// last len(__defaults__) positional parameters, and the keyword-only ones
// named in __kwdefaults__. nil means unknown (3.8-3.10 frames do not
// reference their function; an unusual __kwdefaults__).
func defaultsOf(e *bpf.CodeEvent, ci cpython.CodeInfo) []bool {
	if e.Ndefaults == bpf.DefaultsUnknown || int(e.Ndefaults) > ci.ArgCount || ci.KwOnlyArgCount > bpf.MaxKwOnly {
		return nil
	}
	npos := int(e.Ndefaults)
	out := make([]bool, ci.NParams())
	for i := range out {
		switch {
		case i < ci.ArgCount:
			out[i] = i >= ci.ArgCount-npos
		case i < ci.ArgCount+ci.KwOnlyArgCount:
			out[i] = e.Kwdefaults&(1<<(i-ci.ArgCount)) != 0
		}
	}
	return out
}

// codeFromMemory names a code object whose first-sight event was lost, if
// the object at that address is still the one that was counted.
func codeFromMemory(tg *target, k codeKey) *codeMeta {
	unknown := &codeMeta{fn: aggregate.Function{Module: "?", Qualname: fmt.Sprintf("<code object at %#x>", k.ptr)}, partial: true}
	if fp, err := memCodeFP(tg, k.ptr); err != nil || fp != k.fp {
		return unknown
	}
	ci, err := cpython.ReadCode(tg.mem, tg.layout, k.ptr)
	if err != nil {
		return unknown
	}
	return tg.meta(k.ptr, ci, false)
}

// memCodeFP computes a code object's fingerprint the way the BPF program
// does (code_fp in recapi.bpf.c); TestCodeFingerprintMatchesBPF checks the
// two against each other.
func memCodeFP(tg *target, code uint64) (uint64, error) {
	l := tg.layout
	filename, err := tg.mem.U64(code + uint64(l.PyCodeObject_co_filename))
	if err != nil {
		return 0, err
	}
	name, err := tg.mem.U64(code + uint64(l.PyCodeObject_co_name))
	if err != nil {
		return 0, err
	}
	line, err := tg.mem.U32(code + uint64(l.PyCodeObject_co_firstlineno))
	if err != nil {
		return 0, err
	}
	return filename ^ name<<1 ^ uint64(line)<<48, nil
}

func (tg *target) meta(ptr uint64, ci cpython.CodeInfo, partial bool) *codeMeta {
	m := &codeMeta{
		fn:      aggregate.Function{Qualname: ci.Qualname, File: ci.Filename, Line: ci.FirstLine},
		name:    ci.Name,
		names:   ci.ParamNames,
		kinds:   ci.ParamKinds(),
		kind:    ci.CodeKind(),
		partial: partial,
	}
	tg.name(ptr, m)
	return m
}

// qualnameRebuildEvery bounds how often the sys.modules walk runs for one
// process when code objects are missing from its index.
const qualnameRebuildEvery = 250 * time.Millisecond

// qualnameRebuildShare bounds the time spent rebuilding the index: a rebuild
// starts no sooner after the last one ended than this many times what the
// last one took. The walk reads a large process's modules through
// /proc/PID/mem, 0.2-1.2 s with both cores busy; with only the fixed pause,
// every miss rebuilt again (the pause had passed during the rebuild itself),
// and the event reader fell seconds behind the process it names.
const qualnameRebuildShare = 4

// name sets the module and qualname of a code object: from the process's
// own sys.modules and function objects when the code can be found there,
// else from the file path, with co_name standing in for the qualname on
// 3.8-3.10 (which have no co_qualname). Unresolved ones are retried at drain.
func (tg *target) name(ptr uint64, m *codeMeta) {
	if tg.layout.Minor <= 10 && m.name == "<module>" {
		// While a module body runs, everything defined in it can be named
		// from its constants, even code no function object holds yet.
		tg.nameNested(ptr, m.fn.File)
	}
	if n, ok := tg.lookupName(ptr, m.name); ok {
		// 3.11+ keeps co_qualname, which is what the frame itself says.
		if n.Qualname != "" && (m.fn.Qualname == "" || tg.layout.Minor <= 10) {
			m.fn.Qualname = n.Qualname
		}
		m.fn.Module = n.Module
	} else {
		tg.unnamed = append(tg.unnamed, m)
	}
	if m.fn.Qualname == "" {
		m.fn.Qualname = m.name
	}
	if m.fn.Module == "" {
		m.fn.Module = cpython.ModuleFromPath(m.fn.File)
		for _, main := range tg.mainPy {
			if m.fn.File == main {
				m.fn.Module = "__main__"
			}
		}
	}
	m.ptr = ptr
}

// lookupName finds a code object in the qualname index, rebuilding it on a
// miss when rebuildIndex allows.
func (tg *target) lookupName(ptr uint64, coName string) (cpython.CodeName, bool) {
	if n, ok := tg.lookupKnown(ptr, coName); ok || !tg.rebuildIndex() {
		return n, ok
	}
	return tg.lookupKnown(ptr, coName)
}

// lookupKnown finds a code object in what is known without a rebuild: the
// names from module bodies' constants, class bodies (3.8-3.10) and the
// current index. An entry whose last name component is not the code's
// co_name belongs to an object that used to live at this address, and is
// ignored.
func (tg *target) lookupKnown(ptr uint64, coName string) (cpython.CodeName, bool) {
	valid := func(n cpython.CodeName) bool {
		return n.Qualname == coName || strings.HasSuffix(n.Qualname, "."+coName)
	}
	if n, ok := tg.nested[ptr]; ok && valid(n) {
		return n, true
	}
	if tg.layout.Minor <= 10 {
		if q, ok := cpython.ClassBodyQualname(tg.mem, tg.layout, ptr); ok {
			return cpython.CodeName{Qualname: q}, true
		}
	}
	if tg.qix != nil {
		if n, ok := tg.qix.Lookup(ptr); ok && valid(n) {
			return n, true
		}
	}
	return cpython.CodeName{}, false
}

// rebuildIndex rebuilds the qualname index from sys.modules, unless the last
// rebuild is too recent (qualnameRebuildEvery, qualnameRebuildShare). It
// reports whether it rebuilt.
func (tg *target) rebuildIndex() bool {
	if tg.runtime == 0 || time.Since(tg.qixBuilt) < max(qualnameRebuildEvery, qualnameRebuildShare*tg.qixCost) {
		return false
	}
	start := time.Now()
	ix, err := cpython.BuildQualnameIndex(tg.mem, tg.layout, tg.runtime)
	tg.qixBuilt = time.Now()
	tg.qixCost = tg.qixBuilt.Sub(start)
	if err != nil {
		return false
	}
	tg.qix = ix
	return true
}

// nameNested records the names of the code objects nested in a module body.
func (tg *target) nameNested(code uint64, file string) {
	module := cpython.ModuleFromPath(file)
	for _, main := range tg.mainPy {
		if file == main {
			module = "__main__"
		}
	}
	for ptr, n := range cpython.NestedCodeNames(tg.mem, tg.layout, code, module) {
		tg.nested[ptr] = n
	}
}

// renamePending retries the names of code objects that were not in the
// index when first seen (3.8-3.10 qualnames), while the process lives: at
// most one rebuild per drain, and a try counts only with a fresh index.
func (tg *target) renamePending() {
	if len(tg.unnamed) == 0 {
		return
	}
	rebuilt := tg.rebuildIndex()
	var still []*codeMeta
	for _, m := range tg.unnamed {
		if n, ok := tg.lookupKnown(m.ptr, m.name); ok {
			if n.Qualname != "" && tg.layout.Minor <= 10 {
				m.fn.Qualname = n.Qualname
			}
			m.fn.Module = n.Module
		} else if !rebuilt {
			still = append(still, m)
		} else if m.tries++; m.tries < maxNameTries {
			still = append(still, m)
		}
	}
	tg.unnamed = still
}

// maxNameTries bounds the drains at which a code object missing from the
// index is looked for again: code that no function object holds (a lambda
// in a list, exec'd code) would otherwise cost an index rebuild every drain.
const maxNameTries = 3

// typeFromEvent names a type: static types from tp_name, heap types from
// the __module__ and ht_qualname BPF read at first sight. Whatever BPF could
// not copy whole is read from process memory (fromMemory), which races the
// process's exit; if the process is gone by then, the name keeps what the
// kernel read and is marked partial.
func typeFromEvent(tg *target, e *bpf.TypeEvent) (m typeMeta, fromMemory bool) {
	m, fromMemory = typeName(tg, e)
	m.flags = e.TpFlags
	if e.TpFlags&cpython.Py_TPFLAGS_HEAPTYPE != 0 {
		m.mro = readMRO(tg, e.Hdr.Ptr)
	}
	return m, fromMemory
}

// readMRO names the classes in a type's __mro__, to tell when a method's
// first argument is an instance of the method's class.
func readMRO(tg *target, typ uint64) []string {
	l := tg.layout
	mro, err := tg.mem.U64(typ + uint64(l.PyTypeObject_tp_mro))
	if err != nil || mro == 0 {
		return nil
	}
	n, err := tg.mem.U64(mro + uint64(l.PyVarObject_ob_size))
	if err != nil || n > 64 {
		return nil
	}
	var out []string
	for i := uint64(0); i < n; i++ {
		t, err := tg.mem.U64(mro + uint64(l.PyTupleObject_ob_item) + 8*i)
		if err != nil {
			return nil
		}
		if name, err := cpython.ReadTypeName(tg.mem, l, t); err == nil {
			out = append(out, name)
		}
	}
	return out
}

func typeName(tg *target, e *bpf.TypeEvent) (typeMeta, bool) {
	qual, mod, tpName := bpf.CString(e.Qualname[:]), bpf.CString(e.Module[:]), bpf.CString(e.TpName[:])
	if e.TpFlags&cpython.Py_TPFLAGS_HEAPTYPE == 0 {
		if e.StrFlags&bpf.StrTpName == 0 {
			return typeMeta{name: staticTypeName(tpName)}, false
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
	if name, err := cpython.ReadTypeName(tg.mem, tg.layout, e.Hdr.Ptr); err == nil {
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

// staticTypeName turns a static type's tp_name into recapi's fully qualified
// form: builtins have no dot in tp_name ("int"), others carry their module
// ("collections.OrderedDict"). It is cpython.ReadTypeName's rule, applied
// to the tp_name BPF copied; TestStaticTypeNameIsSymbolizes keeps the two
// alike.
func staticTypeName(tpName string) string {
	switch {
	case tpName == "NoneType":
		return "None"
	case tpName == "":
		return ""
	case strings.Contains(tpName, "."):
		return tpName
	}
	return "builtins." + tpName
}

// code returns what is known of a code object, reading memory on a miss.
func (tg *target) code(k codeKey) *codeMeta {
	if m := tg.codes[k]; m != nil {
		return m
	}
	m := codeFromMemory(tg, k)
	tg.codes[k] = m
	return m
}

func (tg *target) typeName(ptr uint64) typeMeta {
	if ptr == 0 {
		return typeMeta{partial: true}
	}
	if m, ok := tg.types[ptr]; ok {
		return m
	}
	name, err := cpython.ReadTypeName(tg.mem, tg.layout, ptr)
	m := typeMeta{name: name, partial: err != nil}
	if flags, ferr := tg.mem.U64(ptr + uint64(tg.layout.PyTypeObject_tp_flags)); ferr == nil {
		m.flags = flags
		if flags&cpython.Py_TPFLAGS_HEAPTYPE != 0 {
			m.mro = readMRO(tg, ptr)
		}
	}
	tg.types[ptr] = m
	return m
}

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
func (t *Tracer) record(tg *target, k *bpf.CallKey, n uint64) aggregate.Record {
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
		t.stats["signatures_unknown"]++
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
func (t *Tracer) outcomeRecord(tg *target, k *bpf.OutcomeKey, n uint64) aggregate.Record {
	r := t.record(tg, &k.Call, n)
	var value string
	if k.Value != 0 && (k.Outcome == bpf.OutcomeReturned || k.Outcome == bpf.OutcomeYielded) {
		var partial bool
		if k.Value&1 != 0 {
			nodes, ok := tg.values[k.Value]
			if !ok {
				t.stats["values_unknown"]++
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

// describe renders the type description nodes of one value (see
// include/events.h): "builtins.dict[builtins.str, builtins.list[builtins.int]]".
func (tg *target) describe(nodes []uint64) (string, bool) {
	i, partial := 0, false
	var walk func(depth int, inTuple bool) string
	walk = func(depth int, inTuple bool) string {
		if i >= len(nodes) {
			partial = true
			return ""
		}
		tp := nodes[i]
		i++
		tm := tg.typeName(tp)
		partial = partial || tm.partial
		kind := tg.containerKind(tp)
		if kind < 0 || depth == 2 || (depth == 1 && inTuple) || i >= len(nodes) {
			return tm.name
		}
		hdr := nodes[i]
		i++
		switch {
		case hdr == bpf.NodeUnexpanded:
			return tm.name
		case hdr == bpf.NodeHdr:
			return tm.name + "[()]"
		case hdr == bpf.NodeLongTuple:
			return tm.name + "[" + walk(depth+1, true) + ", ...]"
		case hdr&^0xff == bpf.NodeHdr && hdr&0xff <= bpf.MaxElems:
			parts := make([]string, hdr&0xff)
			for j := range parts {
				parts[j] = walk(depth+1, kind == int(bpf.ContainerTuple))
			}
			return tm.name + "[" + strings.Join(parts, ", ") + "]"
		}
		partial = true
		return tm.name
	}
	if len(nodes) == 0 {
		return "", true
	}
	return walk(0, false), partial
}

// containerKind is the index of tp in the process's container types (a
// bpf.ContainerType), or -1.
func (tg *target) containerKind(tp uint64) int {
	if tp == 0 {
		return -1
	}
	for i, c := range tg.containers {
		if c == tp {
			return i
		}
	}
	return -1
}

// mainScript guesses the file CPython runs as __main__: the first argument
// after the interpreter's options that names an existing file. It returns the
// path as given and as an absolute path: co_filename is the former on 3.8 and
// the latter from 3.9.
func mainScript(pid int, cmd []string) []string {
	cwd := proc.Cwd(pid)
	for i := 1; i < len(cmd); i++ {
		a := cmd[i]
		switch {
		case a == "-m" || a == "-c":
			return nil // module or command: not a file
		case a == "-W" || a == "-X" || a == "--check-hash-based-pycs":
			i++
			continue
		case strings.HasPrefix(a, "-"):
			continue
		}
		if !filepath.IsAbs(a) {
			a = filepath.Join(cwd, a)
		}
		if _, err := os.Stat(proc.Root(pid) + a); err == nil {
			return []string{cmd[i], a}
		}
		return nil
	}
	return nil
}

func sortInterpreters(in []aggregate.Interpreter) {
	sort.Slice(in, func(i, j int) bool { return in[i].PID < in[j].PID })
}
