package pyelf

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/recapi/recapi/cpython"
)

// ErrNotPython reports an ELF file, or a process, without a CPython eval
// loop (_PyEval_EvalFrameDefault). Match it with errors.Is.
var ErrNotPython = errors.New("not a CPython interpreter: no _PyEval_EvalFrameDefault")

// Binary is everything recapid needs from one interpreter ELF file: a python
// executable with libpython linked in, or libpython3.X.so. All addresses are
// virtual addresses as written in the file; add Process.Bias for run time.
// A *Binary is shared between processes that map the same file: treat it as
// read-only.
type Binary struct {
	Path     string
	BuildID  string // hex of NT_GNU_BUILD_ID, "" if none
	Version  cpython.Version
	Layout   cpython.Layout
	Shared   bool // ET_DYN (PIE executable or .so): addresses need the load bias
	Stripped bool // no .symtab

	// EvalFrame is _PyEval_EvalFrameDefault from .dynsym or .symtab. Its
	// .cold part (PGO builds) lies outside [Addr, Addr+Size).
	EvalFrame struct{ Addr, Size uint64 }
	// Table is the vaddr of opcode_targets, the computed-goto dispatch table
	// (3.11+), found by symbol or by scanning; 0 before 3.11.
	Table uint64
	// Probes are the uprobe points that see every Python call: the eval-loop
	// entry on 3.8-3.10, the RESUME-family handlers from 3.11.
	Probes []ProbePoint
	// OutcomeProbes see how frames end and generators are made: the
	// RETURN_VALUE/RETURN_CONST/RETURN_GENERATOR handlers from 3.11, a
	// uretprobe on the eval loop on 3.8-3.10. OutcomeErr says which could not
	// be placed; calls are still recorded without them.
	OutcomeProbes []ProbePoint
	OutcomeErr    error
	// ContainerTypes are the vaddrs of the builtin container types whose
	// elements are sampled: list, tuple, dict, set, frozenset (0 if a symbol
	// is missing).
	ContainerTypes [5]uint64
	// Runtime is the vaddr of _PyRuntime (the symbol, or the .PyRuntime
	// section on 3.11+).
	Runtime  uint64
	CellType uint64 // vaddr of PyCell_Type (exported in .dynsym)
	// LongType is the vaddr of PyLong_Type: the type of the small ints that
	// 3.14+ frames store tagged in a _PyStackRef, with no object to read.
	LongType uint64
	NoneType uint64 // vaddr of _PyNone_Type, 0 if not found
	TState   TState // where the current thread's PyThreadState lives
	// JIT is true when the interpreter has CPython's experimental JIT built
	// in (3.13+): see JITOn.
	JIT bool
	// FirstLoad is p_vaddr of the first PT_LOAD, for load-bias computation.
	FirstLoad uint64

	loads []elfLoad // PT_LOAD segments, for FindInterpreter's bias
}

// ContainerTypeSymbols are the exported type objects of Binary.ContainerTypes, in order.
var ContainerTypeSymbols = [5]string{"PyList_Type", "PyTuple_Type", "PyDict_Type", "PySet_Type", "PyFrozenSet_Type"}

// elfLoad is one PT_LOAD segment.
type elfLoad struct {
	vaddr, off, filesz uint64
	exec               bool
}

// Analyze reads the interpreter ELF file at path: its CPython version and
// struct layout, the dispatch table and the uprobe points of the call
// handlers, the runtime globals and the thread-state location.
//
// It returns an error wrapping ErrNotPython when the file has no eval loop,
// a *VersionError for CPython versions recapid cannot trace, and errors
// wrapping *ProbeError when a probe point cannot be proven safe.
func Analyze(path string) (*Binary, error) {
	img, err := openELFImage(path)
	if err != nil {
		return nil, err
	}
	defer img.close()

	eval, haveEval := img.funcSymbol("_PyEval_EvalFrameDefault")
	if !haveEval && !img.looksLikePython() {
		return nil, fmt.Errorf("analyze %s: %w", path, ErrNotPython)
	}
	v, vsrc, err := img.pythonVersion()
	if err != nil {
		if !haveEval {
			return nil, fmt.Errorf("analyze %s: %w", path, ErrNotPython)
		}
		return nil, fmt.Errorf("analyze %s: %w", path, err)
	}
	layout, err := cpython.LayoutFor(v)
	if err != nil {
		var ve *cpython.VersionError
		if errors.As(err, &ve) {
			ve.Path = path
		}
		return nil, err
	}
	if !haveEval {
		return nil, fmt.Errorf("analyze %s (CPython %s from %s): %w", path, v, vsrc, ErrNotPython)
	}
	if img.f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("analyze %s: machine %s is not supported: recapid reads x86-64 interpreters only", path, img.f.Machine)
	}

	b := &Binary{
		Path:      path,
		BuildID:   img.buildID(),
		Version:   v,
		Layout:    layout,
		Shared:    img.f.Type == elf.ET_DYN,
		Stripped:  !img.hasSymtab,
		FirstLoad: img.firstLoad(),
	}
	for _, p := range img.f.Progs {
		if p.Type == elf.PT_LOAD {
			b.loads = append(b.loads, elfLoad{vaddr: p.Vaddr, off: p.Off, filesz: p.Filesz, exec: p.Flags&elf.PF_X != 0})
		}
	}
	b.EvalFrame.Addr, b.EvalFrame.Size = eval.Value, eval.Size
	if b.EvalFrame.Size == 0 {
		return nil, fmt.Errorf("analyze %s: _PyEval_EvalFrameDefault at %#x has no size in the symbol table", path, eval.Value)
	}

	if s, ok := img.symbol("_PyRuntime"); ok {
		b.Runtime = s.Value
	} else if sec := img.f.Section(".PyRuntime"); sec != nil && layout.Minor >= 11 {
		b.Runtime = sec.Addr
	} else {
		return nil, fmt.Errorf("analyze %s (CPython %s): find _PyRuntime: no symbol and no .PyRuntime section", path, v)
	}
	if layout.Minor >= 13 {
		// The initialized _Py_DebugOffsets is in the file's .PyRuntime data.
		if err := cpython.CheckDebugOffsets(elfVAReader{img}, b.Runtime, layout); err != nil {
			return nil, fmt.Errorf("analyze %s: %w", path, err)
		}
	}
	if s, ok := img.symbol("PyCell_Type"); ok {
		b.CellType = s.Value
	} else {
		return nil, fmt.Errorf("analyze %s (CPython %s): find PyCell_Type: symbol not exported", path, v)
	}
	if s, ok := img.symbol("PyLong_Type"); ok {
		b.LongType = s.Value
	} else {
		return nil, fmt.Errorf("analyze %s (CPython %s): find PyLong_Type: symbol not exported", path, v)
	}
	if s, ok := img.symbol("_PyNone_Type"); ok {
		b.NoneType = s.Value
	}
	for i, name := range ContainerTypeSymbols {
		if s, ok := img.symbol(name); ok {
			b.ContainerTypes[i] = s.Value
		}
	}

	a := probeAnalysis{img: img, bin: b}
	if !layout.OldFrames {
		tab, err := img.findDispatchTable(b.EvalFrame.Addr, b.EvalFrame.Size)
		if err != nil {
			return nil, fmt.Errorf("analyze %s (CPython %s): %w", path, v, err)
		}
		b.Table = tab.addr
		a.table = tab
	}
	if b.Probes, b.OutcomeProbes, b.OutcomeErr, err = a.place(); err != nil {
		return nil, fmt.Errorf("analyze CPython %s (build ID %s): %w", v, orNone(b.BuildID), err)
	}
	b.TState = img.threadState(b.Runtime, layout)
	b.JIT = img.hasJIT()
	return b, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// elfImage is an open ELF file with the lookups Analyze needs.
type elfImage struct {
	path      string
	f         *elf.File
	syms      map[string]elf.Symbol // defined symbols; .dynsym wins over .symtab
	symtab    []elf.Symbol          // .symtab only (local symbols live here)
	funcStart []uint64              // sorted starts of defined FUNC symbols
	hasSymtab bool
}

func openELFImage(path string) (*elfImage, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open ELF %s: %w", path, err)
	}
	img := &elfImage{path: path, f: f, syms: map[string]elf.Symbol{}}
	img.symtab, err = f.Symbols()
	switch {
	case err == nil:
		img.hasSymtab = true
	case errors.Is(err, elf.ErrNoSymbols):
	default:
		f.Close()
		return nil, fmt.Errorf("read .symtab of %s: %w", path, err)
	}
	dyn, err := f.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		f.Close()
		return nil, fmt.Errorf("read .dynsym of %s: %w", path, err)
	}
	for _, list := range [][]elf.Symbol{img.symtab, dyn} { // dyn last: it wins
		for _, s := range list {
			if s.Section == elf.SHN_UNDEF || s.Value == 0 {
				continue
			}
			img.syms[s.Name] = s
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
				img.funcStart = append(img.funcStart, s.Value)
			}
		}
	}
	slices.Sort(img.funcStart)
	img.funcStart = slices.Compact(img.funcStart)
	return img, nil
}

func (img *elfImage) close() { img.f.Close() }

// symbol returns the defined symbol name from .dynsym or .symtab.
func (img *elfImage) symbol(name string) (elf.Symbol, bool) {
	s, ok := img.syms[name]
	return s, ok
}

// funcSymbol is symbol restricted to functions.
func (img *elfImage) funcSymbol(name string) (elf.Symbol, bool) {
	s, ok := img.syms[name]
	if !ok || elf.ST_TYPE(s.Info) != elf.STT_FUNC {
		return elf.Symbol{}, false
	}
	return s, true
}

// looksLikePython reports whether the file defines the CPython API (so that
// a version can be reported even when the eval loop is the pre-3.6 one).
func (img *elfImage) looksLikePython() bool {
	for _, name := range []string{"Py_GetVersion", "Py_Version", "PyEval_EvalFrameEx"} {
		if _, ok := img.symbol(name); ok {
			return true
		}
	}
	return false
}

func (img *elfImage) firstLoad() uint64 {
	for _, p := range img.f.Progs {
		if p.Type == elf.PT_LOAD {
			return p.Vaddr
		}
	}
	return 0
}

// fileOffset maps a vaddr to its file offset through the PT_LOAD segments.
func (img *elfImage) fileOffset(va uint64) (uint64, bool) {
	for _, p := range img.f.Progs {
		if p.Type == elf.PT_LOAD && va >= p.Vaddr && va < p.Vaddr+p.Filesz {
			return va - p.Vaddr + p.Off, true
		}
	}
	return 0, false
}

// readVA reads n bytes at vaddr va from the file-backed part of a PT_LOAD
// segment. It reads fewer bytes only when the segment ends first, and fails
// when va is not file-backed at all.
func (img *elfImage) readVA(va uint64, n int) ([]byte, error) {
	for _, p := range img.f.Progs {
		if p.Type != elf.PT_LOAD || va < p.Vaddr || va >= p.Vaddr+p.Filesz {
			continue
		}
		n = int(min(uint64(n), p.Vaddr+p.Filesz-va))
		buf := make([]byte, n)
		if _, err := p.ReadAt(buf, int64(va-p.Vaddr)); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %d bytes at %#x in %s: %w", n, va, img.path, err)
		}
		return buf, nil
	}
	return nil, fmt.Errorf("read %d bytes at %#x in %s: address is not in a file-backed PT_LOAD segment", n, va, img.path)
}

// elfVAReader is an io.ReaderAt over the file-backed vaddr space.
type elfVAReader struct{ img *elfImage }

func (r elfVAReader) ReadAt(p []byte, off int64) (int, error) {
	b, err := r.img.readVA(uint64(off), len(p))
	n := copy(p, b)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (img *elfImage) readU64(va uint64) (uint64, error) {
	b, err := img.readVA(va, 8)
	if err != nil {
		return 0, err
	}
	if len(b) < 8 {
		return 0, fmt.Errorf("read 8 bytes at %#x in %s: segment ends after %d bytes", va, img.path, len(b))
	}
	return binary.LittleEndian.Uint64(b), nil
}

// cString reads a NUL-terminated string of at most max bytes at va.
func (img *elfImage) cString(va uint64, max int) (string, bool) {
	b, err := img.readVA(va, max)
	if err != nil {
		return "", false
	}
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", false
	}
	return string(b[:i]), true
}

// execRanges returns the [lo, hi) vaddr ranges of executable code: the
// SHF_EXECINSTR sections, or the PF_X segments when there are no section
// headers.
func (img *elfImage) execRanges() [][2]uint64 {
	var r [][2]uint64
	for _, s := range img.f.Sections {
		if s.Flags&elf.SHF_EXECINSTR != 0 && s.Type == elf.SHT_PROGBITS && s.Size > 0 {
			r = append(r, [2]uint64{s.Addr, s.Addr + s.Size})
		}
	}
	if len(r) == 0 {
		for _, p := range img.f.Progs {
			if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
				r = append(r, [2]uint64{p.Vaddr, p.Vaddr + p.Filesz})
			}
		}
	}
	return r
}

// buildID returns the hex NT_GNU_BUILD_ID, or "".
func (img *elfImage) buildID() string {
	var notes []io.ReaderAt
	for _, s := range img.f.Sections {
		if s.Type == elf.SHT_NOTE {
			notes = append(notes, s)
		}
	}
	if len(notes) == 0 {
		for _, p := range img.f.Progs {
			if p.Type == elf.PT_NOTE {
				notes = append(notes, p)
			}
		}
	}
	for _, r := range notes {
		data, err := io.ReadAll(io.NewSectionReader(r, 0, 1<<20))
		if err != nil {
			continue
		}
		if id := elfGNUBuildID(data); id != "" {
			return id
		}
	}
	return ""
}

// elfGNUBuildID parses a note section and returns the GNU build ID as hex.
func elfGNUBuildID(data []byte) string {
	const ntGNUBuildID = 3
	align := func(n uint32) int { return int((n + 3) &^ 3) }
	for len(data) >= 12 {
		namesz := binary.LittleEndian.Uint32(data[0:])
		descsz := binary.LittleEndian.Uint32(data[4:])
		typ := binary.LittleEndian.Uint32(data[8:])
		data = data[12:]
		if align(namesz) > len(data) {
			return ""
		}
		name := strings.TrimRight(string(data[:namesz]), "\x00")
		data = data[align(namesz):]
		if align(descsz) > len(data) && int(descsz) > len(data) {
			return ""
		}
		desc := data[:descsz]
		if typ == ntGNUBuildID && name == "GNU" {
			return hex.EncodeToString(desc)
		}
		data = data[min(align(descsz), len(data)):]
	}
	return ""
}
