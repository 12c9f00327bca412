package pyelf

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/recapi/recapi/cpython"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// elfTestProbe is a probe point measured on the interpreters of this machine
// (docs/cpython.md, "Placing probes in stripped binaries").
type elfTestProbe struct {
	opcode   int
	handler  uint64
	moved    uint64 // Addr - Handler
	reg      Reg
	emulated bool
}

// elfTestBinary is an interpreter on this machine, with the facts the spike
// measured on that exact build (identified by its build ID).
type elfTestBinary struct {
	name   string
	path   string // the ELF file with the eval loop
	python string // the interpreter to run
	// root is the test root (scripts/make-testroots.sh) a Debian build
	// lives in: path and python are inside it, and it runs under chroot.
	root    string
	jit     bool // has CPython's JIT built in
	buildID string
	version cpython.Version
	shared  bool
	strip   bool
	eval    uint64
	table   uint64
	runtime uint64
	tstate  TState
	probes  []elfTestProbe
}

// elfTestPyenvRoot is PYENV_ROOT, else ~/.pyenv.
func elfTestPyenvRoot() string {
	if root := os.Getenv("PYENV_ROOT"); root != "" {
		return root
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".pyenv")
}

// elfTestBinaries lists the supported interpreters recapi is tested against.
func elfTestBinaries() []elfTestBinary {
	root := elfTestPyenvRoot()
	pyenv := func(full, short string) (lib, python string) {
		return filepath.Join(root, "versions", full, "lib", "libpython"+short+".so.1.0"),
			filepath.Join(root, "versions", full, "bin", "python"+short)
	}
	lib38, py38 := pyenv("3.8.18", "3.8")
	lib39, py39 := pyenv("3.9.18", "3.9")
	lib310, py310 := pyenv("3.10.13", "3.10")
	lib311, py311 := pyenv("3.11.7", "3.11")
	lib312, py312 := pyenv("3.12.1", "3.12")
	lib313, py313 := pyenv("3.13.0", "3.13")
	sid := "/var/cache/recapi/testroots/sid"
	return []elfTestBinary{
		{
			name: "debian-3.11.2", path: "/usr/bin/python3.11", python: "/usr/bin/python3.11",
			buildID: "571d98e01096d5c1c32420d229a6731a0a50d2a0", version: cpython.Version{Major: 3, Minor: 11, Patch: 2}, strip: true,
			eval: 0x52b0f0, table: 0x73af00, runtime: 0xa5b740,
			tstate: TState{Kind: TStateRuntimeGlobal, Addr: 0xa5b740 + 576},
			probes: []elfTestProbe{{151, 0x52f5d1, 19, RegRBX, true}, {150, 0x52b29d, 20, RegRBX, true}},
		},
		{
			name: "pyenv-3.8.18", path: lib38, python: py38,
			buildID: "ff2a4988bea9e9bbbb8004eb6e74cc0792734c3b", version: cpython.Version{Major: 3, Minor: 8, Patch: 18}, shared: true,
			eval: 0x6bf60, runtime: 0x372e00,
			tstate: TState{Kind: TStateRuntimeGlobal, Addr: 0x372e00 + 1368},
			probes: []elfTestProbe{{-1, 0x6bf60, 0, RegRDI, true}},
		},
		{
			name: "pyenv-3.9.18", path: lib39, python: py39,
			buildID: "8a6cadea533dd782615a0f14a75b5aef248a10d4", version: cpython.Version{Major: 3, Minor: 9, Patch: 18}, shared: true,
			eval: 0x66920, runtime: 0x3acf60,
			tstate: TState{Kind: TStateRuntimeGlobal, Addr: 0x3acf60 + 568},
			probes: []elfTestProbe{{-1, 0x66920, 0, RegRSI, true}},
		},
		{
			name: "pyenv-3.10.13", path: lib310, python: py310,
			buildID: "ece57af647dd10ee274f46d757d62a5eab42c418", version: cpython.Version{Major: 3, Minor: 10, Patch: 13}, shared: true,
			eval: 0x65540, runtime: 0x3a8660,
			tstate: TState{Kind: TStateRuntimeGlobal, Addr: 0x3a8660 + 568},
			probes: []elfTestProbe{{-1, 0x65540, 0, RegRSI, true}},
		},
		{
			name: "pyenv-3.11.7", path: lib311, python: py311,
			buildID: "49daf84ed369fe589b73ea876f2591cd4c3588bb", version: cpython.Version{Major: 3, Minor: 11, Patch: 7}, shared: true,
			eval: 0xfab70, table: 0x4174e0, runtime: 0x54e540,
			tstate: TState{Kind: TStateRuntimeGlobal, Addr: 0x54e540 + 576},
			probes: []elfTestProbe{{151, 0x100f3e, 24, RegRBP, true}, {150, 0x10197a, 13, RegRBP, true}},
		},
		{
			name: "pyenv-3.12.1", path: lib312, python: py312,
			buildID: "f9d5c82f5f2c22df68c1d49c944ef3dee5103dcc", version: cpython.Version{Major: 3, Minor: 12, Patch: 1}, shared: true,
			eval: 0x10bdc0, table: 0x4cef20, runtime: 0x643340,
			tstate: TState{Kind: TStateTLSGeneralDynamic, Addr: 0x543ef0, Offset: 8},
			probes: []elfTestProbe{{151, 0x1143d7, 41, RegRBX, true}, {240, 0x1146f4, 36, RegRBX, true}},
		},
		{
			name: "pyenv-3.13.0", path: lib313, python: py313,
			buildID: "d11d13fb0f82d32f3da1221ffd551ab179afb423", version: cpython.Version{Major: 3, Minor: 13, Patch: 0}, shared: true,
			eval: 0x8b8e0, table: 0x4a0d20, runtime: 0x5294c0,
			tstate: TState{Kind: TStateTLSGeneralDynamic, Addr: 0x4eaec0, Offset: 0x18},
			// RESUME stays: +8 is the target of RESUME_CHECK's deopt jump.
			probes: []elfTestProbe{{149, 0x90a49, 0, RegRBP, false}, {207, 0x90a87, 27, RegRBP, true}, {236, 0x8f2bf, 29, RegRBP, true}},
		},
		{
			// GCC 16: the symbol is a 1,184-byte entry; every handler is in
			// a split-off part (evalParts).
			name: "sid-3.14.10", path: filepath.Join(sid, "usr/bin/python3.14"), python: filepath.Join(sid, "usr/bin/python3.14"), root: sid,
			buildID: "cccda113240f3ba4c016991793a62dc0cfe01613", version: cpython.Version{Major: 3, Minor: 14, Patch: 10}, strip: true, jit: true,
			eval: 0x598b80, table: 0x9825c0, runtime: 0xba07c0,
			tstate: TState{Kind: TStateTLSLocalExec, Offset: -24},
			// RESUME stays: +19 is the target of RESUME_CHECK's deopt jump.
			probes: []elfTestProbe{{128, 0x443d9c, 0, RegRBX, false}, {196, 0x443c81, 38, RegRBX, true}, {245, 0x44e352, 25, RegRBX, true}},
		},
		{
			// As 3.14, and the JIT's tracing table sits right before
			// opcode_targets (referencedTables).
			name: "sid-3.15.2", path: filepath.Join(sid, "usr/bin/python3.15"), python: filepath.Join(sid, "usr/bin/python3.15"), root: sid,
			buildID: "d41ac9e28ff414f10df5da23fb051683a7b4adcf", version: cpython.Version{Major: 3, Minor: 15, Patch: 2}, strip: true, jit: true,
			eval: 0x5c6d90, table: 0xc12140, runtime: 0xc408a0,
			tstate: TState{Kind: TStateTLSLocalExec, Offset: -32},
			probes: []elfTestProbe{{128, 0x4451f1, 0, RegRBX, false}, {200, 0x4457ca, 31, RegRBX, true}, {244, 0x44d111, 18, RegRBX, true}},
		},
	}
}

// elfTestRequire skips the test when the file is not installed here.
func elfTestRequire(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is not installed on this machine", path)
	}
}

// elfTestAnalyzed caches Analyze results across the tests of one run.
var elfTestAnalyzed = map[string]*Binary{}

func elfTestAnalyze(t *testing.T, path string) *Binary {
	t.Helper()
	elfTestRequire(t, path)
	if b, ok := elfTestAnalyzed[path]; ok {
		return b
	}
	b, err := Analyze(path)
	require.NoError(t, err)
	elfTestAnalyzed[path] = b
	return b
}

func TestAnalyze(t *testing.T) {
	for _, tt := range elfTestBinaries() {
		t.Run(tt.name, func(t *testing.T) {
			b := elfTestAnalyze(t, tt.path)
			assert.Equal(t, tt.path, b.Path)
			assert.Equal(t, tt.version.Short(), b.Version.Short())
			assert.Equal(t, tt.version.Minor, b.Layout.Minor)
			assert.Equal(t, tt.shared, b.Shared)
			assert.Equal(t, tt.strip, b.Stripped)
			assert.NotZero(t, b.CellType)
			assert.NotZero(t, b.NoneType)
			assert.NotZero(t, b.LongType)
			assert.Equal(t, tt.jit, b.JIT, "JIT built in")
			assert.Len(t, b.BuildID, 40)
			if b.Layout.OldFrames {
				assert.Zero(t, b.Table)
				require.Len(t, b.Probes, 1)
				assert.Equal(t, ProbeEvalEntry, b.Probes[0].Kind)
				assert.Equal(t, -1, b.Probes[0].Opcode)
			} else {
				require.Len(t, b.Probes, len(b.Layout.ResumeOpcodes))
				for i, p := range b.Probes {
					assert.Equal(t, ProbeResume, p.Kind)
					assert.Equal(t, int(b.Layout.ResumeOpcodes[i]), p.Opcode)
				}
			}
			f, err := os.Open(tt.path)
			require.NoError(t, err)
			defer f.Close()
			img, err := openELFImage(tt.path)
			require.NoError(t, err)
			defer img.close()
			for _, p := range b.Probes {
				// FileOffset addresses the same bytes as Addr.
				fromFile := make([]byte, 16)
				_, err := f.ReadAt(fromFile, int64(p.FileOffset))
				require.NoError(t, err)
				fromVA, err := img.readVA(p.Addr, 16)
				require.NoError(t, err)
				assert.Equal(t, fromVA, fromFile, "opcode %d", p.Opcode)
				in, err := decodeInsn(fromVA, p.Addr)
				require.NoError(t, err)
				assert.Equal(t, kernelEmulates(in.raw), p.Emulated, "opcode %d", p.Opcode)
				assert.NotEqual(t, RegNone, p.FrameReg, p.Desc)
				assert.NotEqual(t, RegRSP, p.FrameReg, p.Desc)
				assert.GreaterOrEqual(t, p.Addr, p.Handler)
				assert.NotEmpty(t, p.Desc)
			}

			if b.BuildID != tt.buildID {
				t.Skipf("%s is build %s, not the measured build %s: only structural checks ran", tt.path, b.BuildID, tt.buildID)
			}
			assert.Equal(t, tt.version, b.Version)
			assert.Equal(t, tt.eval, b.EvalFrame.Addr)
			assert.Equal(t, tt.table, b.Table)
			assert.Equal(t, tt.runtime, b.Runtime)
			assert.Equal(t, tt.tstate.Kind, b.TState.Kind, b.TState.Desc)
			assert.Equal(t, tt.tstate.Addr, b.TState.Addr, b.TState.Desc)
			assert.Equal(t, tt.tstate.Offset, b.TState.Offset, b.TState.Desc)
			require.Len(t, b.Probes, len(tt.probes))
			for i, want := range tt.probes {
				got := b.Probes[i]
				assert.Equal(t, want.opcode, got.Opcode)
				assert.Equal(t, want.handler, got.Handler, "opcode %d", want.opcode)
				assert.Equal(t, want.moved, got.Addr-got.Handler, "opcode %d: %s", want.opcode, got.Desc)
				assert.Equal(t, want.reg, got.FrameReg, "opcode %d: %s", want.opcode, got.Desc)
				assert.Equal(t, want.emulated, got.Emulated, "opcode %d: %s", want.opcode, got.Desc)
			}
		})
	}
}

func TestAnalyzeUnsupportedVersions(t *testing.T) {
	root := elfTestPyenvRoot()
	tests := []struct {
		name, path string
		want       cpython.Version
	}{
		{name: "2.7", path: filepath.Join(root, "versions/2.7.18/lib/libpython2.7.so.1.0"), want: cpython.Version{Major: 2, Minor: 7, Patch: 18}},
		{name: "3.6", path: filepath.Join(root, "versions/3.6.15/lib/libpython3.6m.so.1.0"), want: cpython.Version{Major: 3, Minor: 6, Patch: 15}},
		{name: "3.7", path: filepath.Join(root, "versions/3.7.16/lib/libpython3.7m.so.1.0"), want: cpython.Version{Major: 3, Minor: 7, Patch: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elfTestRequire(t, tt.path)
			_, err := Analyze(tt.path)
			var ve *cpython.VersionError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.want, ve.Found)
			assert.Equal(t, tt.path, ve.Path)
			assert.Contains(t, err.Error(), tt.want.String())
		})
	}
}

func TestAnalyzeNotPython(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	tests := []struct {
		name, path string
	}{
		// pyenv's python3.13 links libpython; the executable has no eval loop.
		{name: "pyenv launcher", path: filepath.Join(elfTestPyenvRoot(), "versions/3.13.0/bin/python3.13")},
		{name: "go test binary", path: self},
		{name: "sleep", path: "/bin/sleep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elfTestRequire(t, tt.path)
			_, err := Analyze(tt.path)
			require.ErrorIs(t, err, ErrNotPython)
			assert.Contains(t, err.Error(), tt.path)
		})
	}
	t.Run("not an ELF file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "script.py")
		require.NoError(t, os.WriteFile(path, []byte("print('hi')\n"), 0o644))
		_, err := Analyze(path)
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrNotPython)
		assert.Contains(t, err.Error(), path)
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Analyze(filepath.Join(t.TempDir(), "nope"))
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
}

func TestElfGNUBuildID(t *testing.T) {
	note := func(name string, typ uint32, desc []byte) []byte {
		n := append([]byte(name), 0)
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(n)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
		b = binary.LittleEndian.AppendUint32(b, typ)
		b = append(b, n...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		b = append(b, desc...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	abiTag := note("GNU", 1, []byte{0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0})
	id := []byte{0xde, 0xad, 0xbe, 0xef, 0x01}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{name: "build id alone", in: note("GNU", 3, id), want: "deadbeef01"},
		{name: "after another note", in: append(abiTag, note("GNU", 3, id)...), want: "deadbeef01"},
		{name: "other owner", in: note("Go", 3, id), want: ""},
		{name: "truncated", in: note("GNU", 3, id)[:18], want: ""},
		{name: "empty", in: nil, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, elfGNUBuildID(tt.in))
		})
	}
}

// TestAnalyzeTime keeps Analyze of the stripped, PGO-built Debian
// interpreter (the slowest case: pointer scan plus a linear disassembly of
// all code) well under the 2 s budget. The budget is for the work, so it is
// the CPU time of the thread that runs Analyze (single-threaded), which
// other processes on a busy machine do not stretch the way they stretch
// the wall time.
func TestAnalyzeTime(t *testing.T) {
	const path = "/usr/bin/python3.11"
	elfTestRequire(t, path)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, cpuStart := time.Now(), threadCPUTime(t)
	_, err := Analyze(path)
	require.NoError(t, err)
	cpu, wall := threadCPUTime(t)-cpuStart, time.Since(start)
	t.Logf("Analyze(%s) took %v of CPU time, %v of wall time", path, cpu, wall)
	assert.Less(t, cpu, 2*time.Second)
}

// threadCPUTime is the user and system time the calling OS thread has used.
func threadCPUTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	require.NoError(t, unix.Getrusage(unix.RUSAGE_THREAD, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkAnalyze(b *testing.B) {
	const path = "/usr/bin/python3.11"
	if _, err := os.Stat(path); err != nil {
		b.Skipf("%s is not installed on this machine", path)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(path); err != nil {
			b.Fatal(err)
		}
	}
}
