package pyelf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/arch/x86/x86asm"
)

// codeRange is [lo, hi) of code.
type codeRange struct{ lo, hi uint64 }

func (r codeRange) contains(a uint64) bool { return a >= r.lo && a < r.hi }

// unwindRanges returns the code ranges of the .eh_frame FDEs, sorted. Every
// function, and every part of a function the compiler split off (GCC's
// hot/cold partitioning emits the cold part with an FDE of its own), has
// one, also in stripped binaries: the unwinder needs them. That makes them
// the only reliable bounds of a split-off part when no symbol names it.
func (img *elfImage) unwindRanges() ([]codeRange, error) {
	sec := img.f.Section(".eh_frame")
	if sec == nil {
		return nil, nil
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .eh_frame of %s: %w", img.path, err)
	}
	ranges, err := parseEHFrame(data, sec.Addr)
	if err != nil {
		return nil, fmt.Errorf("parse .eh_frame of %s: %w", img.path, err)
	}
	slices.SortFunc(ranges, func(a, b codeRange) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	return ranges, nil
}

// DWARF exception-header pointer encodings (LSB "Linux Standard Base Core
// Specification", 10.5 "DWARF Exception Header Encoding").
const (
	dwEhPeAbsptr  = 0x00
	dwEhPeUleb128 = 0x01
	dwEhPeUdata2  = 0x02
	dwEhPeUdata4  = 0x03
	dwEhPeUdata8  = 0x04
	dwEhPeSleb128 = 0x09
	dwEhPeSdata2  = 0x0a
	dwEhPeSdata4  = 0x0b
	dwEhPeSdata8  = 0x0c
	dwEhPePcrel   = 0x10
	dwEhPeOmit    = 0xff
)

var errEHFrameShort = errors.New("record runs past the section")

// parseEHFrame walks the CIE and FDE records of an .eh_frame section loaded
// at addr and returns each FDE's [pc_begin, pc_begin+pc_range). FDEs whose
// pointer encoding is not absolute or pc-relative are skipped: compilers
// for x86-64 emit pc-relative 4-byte pointers.
func parseEHFrame(data []byte, addr uint64) ([]codeRange, error) {
	cieEnc := map[int]byte{} // CIE offset -> FDE pointer encoding
	var out []codeRange
	for off := 0; off+4 <= len(data); {
		length := uint64(binary.LittleEndian.Uint32(data[off:]))
		hdr := 4
		if length == 0 {
			break // terminator
		}
		if length == 0xffffffff {
			if off+12 > len(data) {
				return out, errEHFrameShort
			}
			length, hdr = binary.LittleEndian.Uint64(data[off+4:]), 12
		}
		start, end := off+hdr, off+hdr+int(length)
		if length > uint64(len(data)) || end > len(data) || start+4 > end {
			return out, fmt.Errorf("at %#x: %w", off, errEHFrameShort)
		}
		id := binary.LittleEndian.Uint32(data[start:])
		body := start + 4
		if id == 0 {
			if enc, ok := parseCIE(data[body:end]); ok {
				cieEnc[off] = enc
			}
		} else {
			cie := start - int(id) // CIE pointer: back from this field
			enc, ok := cieEnc[cie]
			if ok {
				r, ok := parseFDEPointers(data, body, end, addr, enc)
				if ok && r.hi > r.lo {
					out = append(out, r)
				}
			}
		}
		off = end
	}
	return out, nil
}

// parseCIE returns the FDE pointer encoding a CIE declares ('R' in a "z"
// augmentation), or absptr when it declares none.
func parseCIE(b []byte) (byte, bool) {
	if len(b) < 2 {
		return 0, false
	}
	version := b[0]
	i := 1
	augEnd := i
	for augEnd < len(b) && b[augEnd] != 0 {
		augEnd++
	}
	if augEnd >= len(b) {
		return 0, false
	}
	aug := string(b[i:augEnd])
	i = augEnd + 1
	var ok bool
	if _, i, ok = uleb(b, i); !ok { // code alignment
		return 0, false
	}
	if _, i, ok = sleb(b, i); !ok { // data alignment
		return 0, false
	}
	if version == 1 {
		i++ // return address register, one byte
	} else if _, i, ok = uleb(b, i); !ok {
		return 0, false
	}
	if aug == "" || aug[0] != 'z' {
		return dwEhPeAbsptr, aug == ""
	}
	if _, i, ok = uleb(b, i); !ok { // augmentation data length
		return 0, false
	}
	for _, c := range aug[1:] {
		if i >= len(b) {
			return 0, false
		}
		switch c {
		case 'R':
			return b[i], true
		case 'L':
			i++
		case 'P':
			enc := b[i]
			i++
			n := encodedSize(enc)
			if n <= 0 {
				return 0, false
			}
			i += n
		case 'S', 'B', 'G':
		default:
			return 0, false
		}
	}
	return dwEhPeAbsptr, true
}

// encodedSize is the size of a fixed-size encoded pointer, or 0.
func encodedSize(enc byte) int {
	switch enc & 0x0f {
	case dwEhPeAbsptr, dwEhPeUdata8, dwEhPeSdata8:
		return 8
	case dwEhPeUdata4, dwEhPeSdata4:
		return 4
	case dwEhPeUdata2, dwEhPeSdata2:
		return 2
	}
	return 0
}

// parseFDEPointers reads pc_begin and pc_range at data[i:] (section
// offset i, section address addr).
func parseFDEPointers(data []byte, i, end int, addr uint64, enc byte) (codeRange, bool) {
	if enc == dwEhPeOmit || enc&0x70 != 0 && enc&0x70 != dwEhPePcrel || enc&0x80 != 0 {
		return codeRange{}, false
	}
	n := encodedSize(enc)
	if n == 0 || i+2*n > end {
		return codeRange{}, false
	}
	read := func(at int) uint64 {
		switch enc & 0x0f {
		case dwEhPeUdata2:
			return uint64(binary.LittleEndian.Uint16(data[at:]))
		case dwEhPeSdata2:
			return uint64(int64(int16(binary.LittleEndian.Uint16(data[at:]))))
		case dwEhPeUdata4:
			return uint64(binary.LittleEndian.Uint32(data[at:]))
		case dwEhPeSdata4:
			return uint64(int64(int32(binary.LittleEndian.Uint32(data[at:]))))
		}
		return binary.LittleEndian.Uint64(data[at:])
	}
	begin := read(i)
	if enc&0x70 == dwEhPePcrel {
		begin += addr + uint64(i)
	}
	size := read(i + n)
	return codeRange{begin, begin + size}, true
}

func uleb(b []byte, i int) (uint64, int, bool) {
	var v uint64
	for shift := 0; i < len(b) && shift < 64; shift += 7 {
		c := b[i]
		i++
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i, true
		}
	}
	return 0, i, false
}

func sleb(b []byte, i int) (int64, int, bool) {
	var v int64
	shift := 0
	for i < len(b) && shift < 64 {
		c := b[i]
		i++
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i, true
		}
	}
	return 0, i, false
}

// evalParts returns the code of the eval loop: the range of
// _PyEval_EvalFrameDefault's symbol, plus every part the compiler split off
// it, found as the unwind range of each place the function jumps to outside
// itself. GCC 16's build of Debian's 3.14 keeps only the entry in the
// symbol (1,184 bytes) and every bytecode handler in a split-off part that
// the entry jumps to; earlier GCC builds moved only rarely used handlers
// there. A jump that leaves the function to tail-call another function adds
// that function too, which is harmless: the parts only anchor the search
// for the dispatch table and bound nothing else.
func (img *elfImage) evalParts(evalAddr, evalSize uint64) ([]codeRange, error) {
	parts := []codeRange{{evalAddr, evalAddr + evalSize}}
	code, err := img.readVA(evalAddr, int(evalSize))
	if err != nil {
		return nil, fmt.Errorf("read _PyEval_EvalFrameDefault: %w", err)
	}
	var outside []uint64
	for pc := uint64(0); pc < evalSize; {
		in, err := decodeInsn(code[pc:], evalAddr+pc)
		if err != nil {
			pc++ // resynchronize past bytes that do not decode
			continue
		}
		if t, ok := directTarget(in.pc, in.in); ok && !parts[0].contains(t) && in.in.Op != x86asm.CALL {
			outside = append(outside, t)
		}
		pc += uint64(in.in.Len)
	}
	if len(outside) == 0 {
		return parts, nil
	}
	unwind, err := img.unwindRanges()
	if err != nil {
		return nil, err
	}
	for _, t := range outside {
		i, _ := slices.BinarySearchFunc(unwind, t, func(r codeRange, t uint64) int {
			switch {
			case r.lo > t:
				return 1
			case r.lo < t:
				return -1
			}
			return 0
		})
		// unwind[i-1] is the last range starting at or before t (or t starts unwind[i]).
		for _, j := range []int{i, i - 1} {
			if j >= 0 && j < len(unwind) && unwind[j].contains(t) && !slices.Contains(parts, unwind[j]) {
				parts = append(parts, unwind[j])
			}
		}
	}
	return parts, nil
}
