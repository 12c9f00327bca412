package pyelf

import (
	"bytes"
	"debug/elf"
)

// jitEnvName is the environment variable a CPython built with its
// experimental JIT reads at start-up (3.13+, configure
// --enable-experimental-jit): PYTHON_JIT=1 turns the JIT on, 0 off. Only
// such builds carry the name in their read-only data.
var jitEnvName = []byte("\x00PYTHON_JIT\x00")

// hasJIT reports whether the interpreter has the experimental JIT built in:
// Debian's 3.14 and 3.15 do (--enable-experimental-jit=yes-off, off unless
// PYTHON_JIT=1); pyenv's and trixie's 3.13 do not.
func (img *elfImage) hasJIT() bool {
	for _, s := range img.f.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_ALLOC == 0 || s.Flags&(elf.SHF_WRITE|elf.SHF_EXECINSTR) != 0 {
			continue
		}
		data, err := s.Data()
		if err == nil && bytes.Contains(data, jitEnvName) {
			return true
		}
	}
	return false
}

// JITOn reports whether a process of an interpreter with the JIT built in
// runs with it on, from the PYTHON_JIT value in its environment ("" when
// unset): any value but empty or starting with '0' turns it on (CPython
// v3.14.0 Python/pylifecycle.c). Calls made inside JIT-compiled traces run
// no bytecode handler, so recapid's probes do not see them.
func (b *Binary) JITOn(pythonJIT string) bool {
	return b.JIT && pythonJIT != "" && pythonJIT[0] != '0'
}
