package pyelf

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// dispatchTableMinInside is how many of the 256 entries of a dispatch-table
// candidate must point into _PyEval_EvalFrameDefault. PGO builds move rarely
// used handlers into .text.unlikely (the .cold part of the function):
// Debian's 3.11.2 has 175/256 inside the symbol's range, pyenv 3.11.7
// 255/256, and GCC 16's 3.14 none at all, every handler being in the split-off
// part, which is why "inside" counts the parts evalParts finds.
const dispatchTableMinInside = 128

// elfSHTRELR is SHT_RELR (packed relative relocations), which debug/elf does
// not name.
const elfSHTRELR elf.SectionType = 19

// codePointers are the 8-byte values stored in the file's data that point
// into executable code, sorted by the address they are stored at. In an
// ET_DYN file they are the R_X86_64_RELATIVE addends (and SHT_RELR entries);
// in an ET_EXEC file the raw aligned words of the non-executable allocated
// sections.
type codePointers struct {
	addr []uint64
	val  []uint64
}

// at returns the code pointer stored at a.
func (p *codePointers) at(a uint64) (uint64, bool) {
	i, ok := slices.BinarySearch(p.addr, a)
	if !ok {
		return 0, false
	}
	return p.val[i], true
}

// dispatchTable is CPython's computed-goto table opcode_targets.
type dispatchTable struct {
	addr     uint64
	handlers [256]uint64
	inside   int    // entries pointing into the eval function or its split-off parts
	how      string // how it was found, for messages
	ptrs     *codePointers
}

// codePointers collects the code pointers of the file (see codePointers).
func (img *elfImage) codePointers() (*codePointers, error) {
	exec := img.execRanges()
	inExec := func(v uint64) bool {
		for _, r := range exec {
			if v >= r[0] && v < r[1] {
				return true
			}
		}
		return false
	}
	type entry struct{ addr, val uint64 }
	var list []entry
	add := func(a, v uint64) {
		if inExec(v) {
			list = append(list, entry{a, v})
		}
	}
	if img.f.Type == elf.ET_DYN {
		for _, s := range img.f.Sections {
			if s.Flags&elf.SHF_ALLOC == 0 {
				continue
			}
			switch s.Type {
			case elf.SHT_RELA:
				data, err := s.Data()
				if err != nil {
					return nil, fmt.Errorf("read %s of %s: %w", s.Name, img.path, err)
				}
				for i := 0; i+24 <= len(data); i += 24 {
					info := binary.LittleEndian.Uint64(data[i+8:])
					if elf.R_X86_64(info&0xffffffff) == elf.R_X86_64_RELATIVE {
						add(binary.LittleEndian.Uint64(data[i:]), binary.LittleEndian.Uint64(data[i+16:]))
					}
				}
			case elfSHTRELR:
				data, err := s.Data()
				if err != nil {
					return nil, fmt.Errorf("read %s of %s: %w", s.Name, img.path, err)
				}
				for _, a := range elfDecodeRELR(data) {
					// RELR addends are implicit: the file holds the link-time value.
					if v, err := img.readU64(a); err == nil {
						add(a, v)
					}
				}
			}
		}
	} else {
		for _, s := range img.f.Sections {
			if s.Flags&elf.SHF_ALLOC == 0 || s.Flags&elf.SHF_EXECINSTR != 0 || s.Type == elf.SHT_NOBITS || s.Size < 8 {
				continue
			}
			data, err := s.Data()
			if err != nil {
				return nil, fmt.Errorf("read %s of %s: %w", s.Name, img.path, err)
			}
			for i := int((8 - s.Addr%8) % 8); i+8 <= len(data); i += 8 {
				add(s.Addr+uint64(i), binary.LittleEndian.Uint64(data[i:]))
			}
		}
	}
	slices.SortFunc(list, func(a, b entry) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	})
	p := &codePointers{addr: make([]uint64, 0, len(list)), val: make([]uint64, 0, len(list))}
	for _, e := range list {
		if n := len(p.addr); n > 0 && p.addr[n-1] == e.addr {
			p.val[n-1] = e.val // a later relocation of the same word wins
			continue
		}
		p.addr = append(p.addr, e.addr)
		p.val = append(p.val, e.val)
	}
	return p, nil
}

// elfDecodeRELR expands an SHT_RELR section into the addresses it relocates
// (ELF gABI: an even entry is an address, an odd entry a bitmap of the 63
// words that follow the last address).
func elfDecodeRELR(data []byte) []uint64 {
	var out []uint64
	var where uint64
	for i := 0; i+8 <= len(data); i += 8 {
		e := binary.LittleEndian.Uint64(data[i:])
		if e&1 == 0 {
			out = append(out, e)
			where = e + 8
			continue
		}
		for bit := range 63 {
			if e&(uint64(2)<<bit) != 0 {
				out = append(out, where+uint64(bit)*8)
			}
		}
		where += 63 * 8
	}
	return out
}

// findDispatchTable locates opcode_targets: by its local symbol when .symtab
// has one, and always by scanning the code pointers for a window of 256
// consecutive entries of which at least dispatchTableMinInside point into
// the eval function, split-off parts included (evalParts). Exactly one scan
// candidate must exist, and it must agree with the symbol.
func (img *elfImage) findDispatchTable(evalAddr, evalSize uint64) (*dispatchTable, error) {
	ptrs, err := img.codePointers()
	if err != nil {
		return nil, fmt.Errorf("find dispatch table: %w", err)
	}
	parts, err := img.evalParts(evalAddr, evalSize)
	if err != nil {
		return nil, fmt.Errorf("find dispatch table: %w", err)
	}
	inside := func(v uint64) bool {
		for _, p := range parts {
			if p.contains(v) {
				return true
			}
		}
		return false
	}

	var symAddrs []uint64
	var symNames []string
	for _, s := range img.symtab {
		if (s.Name == "opcode_targets" || strings.HasPrefix(s.Name, "opcode_targets.")) &&
			elf.ST_TYPE(s.Info) == elf.STT_OBJECT && s.Size == 256*8 && s.Section != elf.SHN_UNDEF {
			symAddrs = append(symAddrs, s.Value)
			symNames = append(symNames, s.Name)
		}
	}

	cands, best := scanDispatchTables(ptrs, inside)
	if len(cands) > 1 {
		cands, err = img.referencedTables(parts, ptrs, cands)
		if err != nil {
			return nil, fmt.Errorf("find dispatch table in %s: %w", img.path, err)
		}
	}
	var scanErr error
	switch len(cands) {
	case 1:
	case 0:
		scanErr = fmt.Errorf("no window of 256 code pointers with at least %d into _PyEval_EvalFrameDefault (best: %d): the interpreter may be built without computed gotos, or (3.14+) with the tail-calling interpreter (configure --with-tail-call-interp, as uv's python-build-standalone builds are), which recapid does not trace yet; run the program on a build without it, such as a distribution's python3", dispatchTableMinInside, best)
	default:
		scanErr = fmt.Errorf("%d candidate tables at %#x, each used by the eval loop's code and with as many distinct handlers: cannot tell which one is opcode_targets", len(cands), cands)
	}

	t := &dispatchTable{ptrs: ptrs}
	switch {
	case len(symAddrs) == 0 && scanErr != nil:
		return nil, fmt.Errorf("find dispatch table in %s: %w", img.path, scanErr)
	case len(symAddrs) == 0:
		t.addr, t.how = cands[0], "scan"
	case scanErr != nil:
		if len(symAddrs) > 1 {
			return nil, fmt.Errorf("find dispatch table in %s: %d opcode_targets symbols %q and the scan failed: %w", img.path, len(symAddrs), symNames, scanErr)
		}
		t.addr, t.how = symAddrs[0], "symbol "+symNames[0]+" (scan failed: "+scanErr.Error()+")"
	default:
		i := slices.Index(symAddrs, cands[0])
		if i < 0 {
			return nil, fmt.Errorf("find dispatch table in %s: scan found %#x but symbol %s is at %#x", img.path, cands[0], symNames[0], symAddrs[0])
		}
		t.addr, t.how = cands[0], "symbol "+symNames[i]+" and scan"
	}
	for op := range 256 {
		v, ok := ptrs.at(t.addr + uint64(op)*8)
		if !ok {
			return nil, fmt.Errorf("find dispatch table in %s: entry %d of the table at %#x (%s) is not a code pointer", img.path, op, t.addr, t.how)
		}
		t.handlers[op] = v
		if inside(v) {
			t.inside++
		}
	}
	if t.inside < dispatchTableMinInside {
		return nil, fmt.Errorf("find dispatch table in %s: only %d of 256 entries of the table at %#x (%s) point into _PyEval_EvalFrameDefault", img.path, t.inside, t.addr, t.how)
	}
	return t, nil
}

// referencedTables narrows several dispatch-table candidates to those the
// eval loop's code names (a RIP-relative or absolute memory operand, or an
// immediate, equal to the candidate's address), and among them to those
// with the most distinct entries. Debian's 3.15 (built with the JIT) keeps
// two tables back to back: opcode_targets_table and, right before it,
// opcode_tracing_targets_table, whose entries all lead to the JIT's trace
// recorder (2 distinct targets against 235). Every window of the 512
// consecutive code pointers then points into the eval loop; only the two
// table starts are named by its code, and only the real table has a
// handler per opcode.
func (img *elfImage) referencedTables(parts []codeRange, ptrs *codePointers, cands []uint64) ([]uint64, error) {
	want := map[uint64]bool{}
	for _, c := range cands {
		want[c] = true
	}
	named := map[uint64]bool{}
	for _, part := range parts {
		code, err := img.readVA(part.lo, int(part.hi-part.lo))
		if err != nil {
			return nil, fmt.Errorf("read the eval loop at %#x: %w", part.lo, err)
		}
		for pc := uint64(0); pc < uint64(len(code)); {
			in, err := decodeInsn(code[pc:], part.lo+pc)
			if err != nil {
				pc++
				continue
			}
			for _, a := range in.in.Args {
				var v uint64
				switch a := a.(type) {
				case x86asm.Mem:
					switch a.Base {
					case x86asm.RIP:
						v = in.next() + uint64(a.Disp)
					case 0:
						v = uint64(a.Disp)
					}
				case x86asm.Imm:
					v = uint64(a)
				}
				if want[v] {
					named[v] = true
				}
			}
			pc += uint64(in.in.Len)
		}
	}
	var out []uint64
	most := 0
	for _, c := range cands {
		if !named[c] {
			continue
		}
		distinct := map[uint64]bool{}
		for op := range 256 {
			v, _ := ptrs.at(c + uint64(op)*8)
			distinct[v] = true
		}
		switch {
		case len(distinct) > most:
			most, out = len(distinct), []uint64{c}
		case len(distinct) == most:
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%d candidate tables at %#x and the eval loop's code names none of them", len(cands), cands)
	}
	return out, nil
}

// scanDispatchTables returns the start of the best window in every run of
// at least 256 consecutive code pointers whose best window has at least
// dispatchTableMinInside entries inside the eval function, and the best
// count seen overall. A run whose best count is reached by several windows
// is reported once per such window, so ambiguity surfaces as extra
// candidates.
func scanDispatchTables(p *codePointers, inside func(uint64) bool) (cands []uint64, best int) {
	n := len(p.addr)
	// prefix[i] = number of entries among the first i that point inside.
	prefix := make([]int, n+1)
	for i, v := range p.val {
		prefix[i+1] = prefix[i]
		if inside(v) {
			prefix[i+1]++
		}
	}
	for i := 0; i < n; {
		j := i + 1
		for j < n && p.addr[j] == p.addr[j-1]+8 {
			j++
		}
		// run [i, j)
		if j-i >= 256 {
			runBest, at := -1, []uint64(nil)
			for w := i; w+256 <= j; w++ {
				c := prefix[w+256] - prefix[w]
				switch {
				case c > runBest:
					runBest, at = c, []uint64{p.addr[w]}
				case c == runBest:
					at = append(at, p.addr[w])
				}
			}
			best = max(best, runBest)
			if runBest >= dispatchTableMinInside {
				cands = append(cands, at...)
			}
		}
		i = j
	}
	return cands, best
}
