package pyelf

import (
	"bytes"
	"debug/elf"
	"fmt"
	"regexp"
	"slices"

	"github.com/recapi/recapi/cpython"
	"golang.org/x/arch/x86/x86asm"
)

// pythonVersion finds the CPython version of the file, and says where it
// came from. Sources, best first:
//
//   - Py_Version (3.11+, exported): the PY_VERSION_HEX constant.
//   - Py_GetVersion: the PY_VERSION string it passes to PyOS_snprintf,
//     found by decoding the function (the string itself is often merged
//     into the tail of a longer one, such as the install prefix, so a plain
//     string search does not find it).
//   - a preformatted "3.X.Y (" version string in the read-only data.
func (img *elfImage) pythonVersion() (cpython.Version, string, error) {
	if s, ok := img.symbol("Py_Version"); ok && s.Size == 8 {
		h, err := img.readU64(s.Value)
		if err != nil {
			return cpython.Version{}, "", fmt.Errorf("read Py_Version: %w", err)
		}
		v, err := cpython.VersionFromHex(h)
		if err != nil {
			return cpython.Version{}, "", fmt.Errorf("read Py_Version: %w", err)
		}
		return v, "Py_Version", nil
	}
	if v, err := img.versionFromGetVersion(); err == nil {
		return v, "Py_GetVersion", nil
	} else if v, err2 := img.versionFromRodata(); err2 == nil {
		return v, "version string", nil
	} else {
		return cpython.Version{}, "", fmt.Errorf("find CPython version: %w; %w", err, err2)
	}
}

// versionFromGetVersion decodes Py_GetVersion and collects every string it
// loads the address of (lea sym(%rip) in PIC code, mov $sym in non-PIE
// code). Exactly one distinct version string must be among them.
func (img *elfImage) versionFromGetVersion() (cpython.Version, error) {
	fn, ok := img.funcSymbol("Py_GetVersion")
	if !ok {
		return cpython.Version{}, fmt.Errorf("no Py_GetVersion symbol")
	}
	size := fn.Size
	if size == 0 || size > 512 {
		size = 512
	}
	code, err := img.readVA(fn.Value, int(size))
	if err != nil {
		return cpython.Version{}, fmt.Errorf("read Py_GetVersion: %w", err)
	}
	var found []cpython.Version
	insns, _ := decodeRun(code, fn.Value, len(code), func(p probeInsn) bool { return p.in.Op == x86asm.RET })
	for _, p := range insns {
		in := p.in
		var addr uint64
		switch in.Op {
		case x86asm.LEA:
			if m, ok := in.Args[1].(x86asm.Mem); ok && m.Base == x86asm.RIP && m.Index == 0 {
				addr = uint64(int64(p.next()) + memDisp(m))
			}
		case x86asm.MOV:
			if imm, ok := in.Args[1].(x86asm.Imm); ok && imm > 0 {
				addr = uint64(imm)
			}
		}
		if addr == 0 {
			continue
		}
		s, ok := img.cString(addr, 128)
		if !ok {
			continue
		}
		if m := preformattedVersion.FindStringSubmatch(s); m != nil {
			s = m[1]
		}
		if v, err := cpython.ParseVersion(s); err == nil && !slices.Contains(found, v) {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return cpython.Version{}, fmt.Errorf("no version string referenced by Py_GetVersion at %#x", fn.Value)
	}
	return cpython.Version{}, fmt.Errorf("several version strings referenced by Py_GetVersion at %#x: %v", fn.Value, found)
}

// preformattedVersion matches the start of a Py_GetVersion result that the
// compiler folded into one literal, "3.10.13 (main, Nov 10 2023, ...".
var preformattedVersion = regexp.MustCompile(`^(\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?\+?) \(`)

// rodataVersion finds "\x003.X.Y[suffix] (" in the allocated read-only data.
var rodataVersion = regexp.MustCompile(`\x00([23]\.\d{1,2}\.\d{1,3}(?:(?:a|b|rc)\d{1,2})?\+?) \((?:main|default|tags/|heads/|v?\d|[A-Za-z]{3} )`)

// versionFromRodata is the last resort: a preformatted version string in
// .rodata. Exactly one distinct version must appear.
func (img *elfImage) versionFromRodata() (cpython.Version, error) {
	var found []cpython.Version
	for _, s := range img.f.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_ALLOC == 0 || s.Flags&(elf.SHF_WRITE|elf.SHF_EXECINSTR) != 0 {
			continue
		}
		data, err := s.Data()
		if err != nil || !bytes.Contains(data, []byte(" (")) {
			continue
		}
		for _, m := range rodataVersion.FindAllSubmatch(data, -1) {
			if v, err := cpython.ParseVersion(string(m[1])); err == nil && !slices.Contains(found, v) {
				found = append(found, v)
			}
		}
	}
	if len(found) != 1 {
		return cpython.Version{}, fmt.Errorf("found %d distinct preformatted version strings %v in read-only data, want 1", len(found), found)
	}
	return found[0], nil
}
