package tracer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/proc"
)

// codeKey names a code object: its address and a fingerprint that changes
// when the address is reused by another code object.
type codeKey struct{ ptr, fp uint64 }

// codeMeta is what is known of a code object: its name, as a record
// shows it, and its parameters.
type codeMeta struct {
	ptr   uint64
	name  string // co_name
	tries int    // drains at which the name was looked for again
	// defaults says per parameter whether it has a default; nil if unknown.
	defaults []bool
	fn       aggregate.Function
	names    []string
	kinds    []cpython.ParamKind
	kind     string
	partial  bool
}

// codeFromEvent names a code object from what BPF read at first sight,
// re-reading from process memory what BPF could not copy whole.
func (tg *target) codeFromEvent(e *bpf.CodeEvent) *codeMeta {
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
		if full, err := tg.rd.Code(e.Hdr.Ptr); err == nil {
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
func (tg *target) codeFromMemory(k codeKey) *codeMeta {
	unknown := &codeMeta{fn: aggregate.Function{Module: "?", Qualname: fmt.Sprintf("<code object at %#x>", k.ptr)}, partial: true}
	if fp, err := tg.memCodeFP(k.ptr); err != nil || fp != k.fp {
		return unknown
	}
	ci, err := tg.rd.Code(k.ptr)
	if err != nil {
		return unknown
	}
	return tg.meta(k.ptr, ci, false)
}

// memCodeFP computes a code object's fingerprint the way the BPF program
// does (code_fp in recapi.bpf.c); TestCodeFingerprintMatchesBPF checks the
// two against each other.
func (tg *target) memCodeFP(code uint64) (uint64, error) {
	l := tg.layout
	var (
		words [4]uint64 // filename, name, parameter names, constants
		ints  [4]uint32 // first line, argcount, kwonlyargcount, nlocals
	)
	for i, off := range []int{l.PyCodeObject_co_filename, l.PyCodeObject_co_name, l.PyCodeObject_co_varnames, l.PyCodeObject_co_consts} {
		v, err := tg.mem.U64(code + uint64(off))
		if err != nil {
			return 0, err
		}
		words[i] = v
	}
	for i, off := range []int{l.PyCodeObject_co_firstlineno, l.PyCodeObject_co_argcount, l.PyCodeObject_co_kwonlyargcount, l.PyCodeObject_co_nlocals} {
		v, err := tg.mem.U32(code + uint64(off))
		if err != nil {
			return 0, err
		}
		ints[i] = v
	}
	var first uint64 // the first parameter's name; 0 for none
	if names := words[2]; names != 0 {
		n, err := tg.mem.U64(names + uint64(l.PyVarObject_ob_size))
		if err != nil {
			return 0, err
		}
		if n != 0 {
			if first, err = tg.mem.U64(names + uint64(l.PyTupleObject_ob_item)); err != nil {
				return 0, err
			}
		}
	}
	params := uint64(ints[1]) ^ uint64(ints[2])<<8 ^ uint64(ints[3])<<16
	return words[0] ^ words[1]<<1 ^ first>>3 ^ words[3]<<2 ^ uint64(ints[0])<<48 ^ params<<24, nil
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
		m.fn.Module = tg.moduleOf(m.fn.File)
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
		if q, ok := tg.rd.ClassBodyQualname(ptr); ok {
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
	ix, err := tg.rd.QualnameIndex(tg.runtime)
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
	for ptr, n := range tg.rd.NestedCodeNames(code, tg.moduleOf(file)) {
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

// code returns what is known of a code object, reading memory on a miss.
func (tg *target) code(k codeKey) *codeMeta {
	if m := tg.codes[k]; m != nil {
		return m
	}
	m := tg.codeFromMemory(k)
	tg.codes[k] = m
	return m
}

// moduleOf names the module of the source file path: __main__ for the
// script the process runs, else the module the path stands for.
func (tg *target) moduleOf(path string) string {
	for _, main := range tg.mainPy {
		if path == main {
			return "__main__"
		}
	}
	return cpython.ModuleFromPath(path)
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
