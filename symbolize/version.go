package symbolize

import (
	"bytes"
	"debug/elf"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"golang.org/x/arch/x86/x86asm"
)

// versionPattern matches PY_VERSION ("3.11.2", "3.13.0rc2", "3.12.0a7+").
var versionPattern = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)((?:a|b|rc)\d+)?(\+)?$`)

// ParseVersion parses a CPython PY_VERSION string such as "3.11.2",
// "3.13.0rc2" or "3.14.0a1+".
func ParseVersion(s string) (Version, error) {
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("parse CPython version %q: want MAJOR.MINOR.PATCH[a|b|rcN][+]", s)
	}
	var v Version
	var err error
	for i, dst := range []*int{&v.Major, &v.Minor, &v.Patch} {
		if *dst, err = strconv.Atoi(m[i+1]); err != nil {
			return Version{}, fmt.Errorf("parse CPython version %q: %w", s, err)
		}
	}
	v.Release = m[4] + m[5]
	return v, nil
}

// VersionFromHex decodes PY_VERSION_HEX (Py_Version, _Py_DebugOffsets.version):
// 0xMMmmppLS with release level L (0xA alpha, 0xB beta, 0xC candidate,
// 0xF final) and serial S.
func VersionFromHex(h uint64) (Version, error) {
	if h>>32 != 0 || h>>24 == 0 {
		return Version{}, fmt.Errorf("decode PY_VERSION_HEX %#x: not a CPython version", h)
	}
	v := Version{Major: int(h >> 24), Minor: int(h >> 16 & 0xff), Patch: int(h >> 8 & 0xff)}
	serial := h & 0xf
	switch level := h >> 4 & 0xf; level {
	case 0xa:
		v.Release = fmt.Sprintf("a%d", serial)
	case 0xb:
		v.Release = fmt.Sprintf("b%d", serial)
	case 0xc:
		v.Release = fmt.Sprintf("rc%d", serial)
	case 0xf:
	default:
		return Version{}, fmt.Errorf("decode PY_VERSION_HEX %#x: release level %#x is not a, b, c or f", h, level)
	}
	return v, nil
}

// pythonVersion finds the CPython version of the file, and says where it
// came from. Sources, best first:
//
//   - Py_Version (3.11+, exported): the PY_VERSION_HEX constant.
//   - Py_GetVersion: the PY_VERSION string it passes to PyOS_snprintf,
//     found by decoding the function (the string itself is often merged
//     into the tail of a longer one, such as the install prefix, so a plain
//     string search does not find it).
//   - a preformatted "3.X.Y (" version string in the read-only data.
func (img *elfImage) pythonVersion() (Version, string, error) {
	if s, ok := img.symbol("Py_Version"); ok && s.Size == 8 {
		h, err := img.readU64(s.Value)
		if err != nil {
			return Version{}, "", fmt.Errorf("read Py_Version: %w", err)
		}
		v, err := VersionFromHex(h)
		if err != nil {
			return Version{}, "", fmt.Errorf("read Py_Version: %w", err)
		}
		return v, "Py_Version", nil
	}
	if v, err := img.versionFromGetVersion(); err == nil {
		return v, "Py_GetVersion", nil
	} else if v, err2 := img.versionFromRodata(); err2 == nil {
		return v, "version string", nil
	} else {
		return Version{}, "", fmt.Errorf("find CPython version: %w; %w", err, err2)
	}
}

// versionFromGetVersion decodes Py_GetVersion and collects every string it
// loads the address of (lea sym(%rip) in PIC code, mov $sym in non-PIE
// code). Exactly one distinct version string must be among them.
func (img *elfImage) versionFromGetVersion() (Version, error) {
	fn, ok := img.funcSymbol("Py_GetVersion")
	if !ok {
		return Version{}, fmt.Errorf("no Py_GetVersion symbol")
	}
	size := fn.Size
	if size == 0 || size > 512 {
		size = 512
	}
	code, err := img.readVA(fn.Value, int(size))
	if err != nil {
		return Version{}, fmt.Errorf("read Py_GetVersion: %w", err)
	}
	var found []Version
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
		if v, err := ParseVersion(s); err == nil && !slices.Contains(found, v) {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Version{}, fmt.Errorf("no version string referenced by Py_GetVersion at %#x", fn.Value)
	}
	return Version{}, fmt.Errorf("several version strings referenced by Py_GetVersion at %#x: %v", fn.Value, found)
}

// preformattedVersion matches the start of a Py_GetVersion result that the
// compiler folded into one literal, "3.10.13 (main, Nov 10 2023, ...".
var preformattedVersion = regexp.MustCompile(`^(\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?\+?) \(`)

// rodataVersion finds "\x003.X.Y[suffix] (" in the allocated read-only data.
var rodataVersion = regexp.MustCompile(`\x00([23]\.\d{1,2}\.\d{1,3}(?:(?:a|b|rc)\d{1,2})?\+?) \((?:main|default|tags/|heads/|v?\d|[A-Za-z]{3} )`)

// versionFromRodata is the last resort: a preformatted version string in
// .rodata. Exactly one distinct version must appear.
func (img *elfImage) versionFromRodata() (Version, error) {
	var found []Version
	for _, s := range img.f.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_ALLOC == 0 || s.Flags&(elf.SHF_WRITE|elf.SHF_EXECINSTR) != 0 {
			continue
		}
		data, err := s.Data()
		if err != nil || !bytes.Contains(data, []byte(" (")) {
			continue
		}
		for _, m := range rodataVersion.FindAllSubmatch(data, -1) {
			if v, err := ParseVersion(string(m[1])); err == nil && !slices.Contains(found, v) {
				found = append(found, v)
			}
		}
	}
	if len(found) != 1 {
		return Version{}, fmt.Errorf("found %d distinct preformatted version strings %v in read-only data, want 1", len(found), found)
	}
	return found[0], nil
}
