package cpython

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// debugOffsetsTestBuffer builds a 3.13 _Py_DebugOffsets that agrees with l,
// and returns it with the positions of its fields.
func debugOffsetsTestBuffer(t *testing.T, l Layout, version uint64) ([]byte, map[string]int) {
	t.Helper()
	pos, size := debugOffsetsPositions(debugOffsetsLayouts[13])
	buf := make([]byte, size)
	copy(buf, debugOffsetsCookie)
	binary.LittleEndian.PutUint64(buf[8:], version)
	for _, off := range pos { // fields recapid does not check get a marker value
		binary.LittleEndian.PutUint64(buf[off:], 0xdead)
	}
	for _, c := range debugOffsetsChecks(l) {
		binary.LittleEndian.PutUint64(buf[pos[c.field]:], uint64(c.want))
	}
	return buf, pos
}

// debugOffsetsTestMem is process memory holding buf at addr.
type debugOffsetsTestMem struct {
	addr int64
	buf  []byte
}

func (m debugOffsetsTestMem) ReadAt(p []byte, off int64) (int, error) {
	if off < m.addr || off >= m.addr+int64(len(m.buf)) {
		return 0, errors.New("unmapped address")
	}
	return bytes.NewReader(m.buf).ReadAt(p, off-m.addr)
}

func TestCheckDebugOffsets(t *testing.T) {
	l, err := LayoutFor(Version{3, 13, 0, ""})
	require.NoError(t, err)
	const addr = 0x7f2baa5294c0
	tests := []struct {
		name    string
		edit    func(buf []byte, pos map[string]int)
		wantErr []string
	}{
		{name: "agrees", edit: func([]byte, map[string]int) {}},
		{
			name: "two fields disagree",
			edit: func(buf []byte, pos map[string]int) {
				binary.LittleEndian.PutUint64(buf[pos["interpreter_frame.instr_ptr"]:], 64)
				binary.LittleEndian.PutUint64(buf[pos["unicode_object.asciiobject_size"]:], 48)
			},
			wantErr: []string{"interpreter_frame.instr_ptr is 64, layout has 56", "unicode_object.asciiobject_size is 48, layout has 40", "3.13.0"},
		},
		{
			name: "every checked field named",
			edit: func(buf []byte, pos map[string]int) {
				binary.LittleEndian.PutUint64(buf[pos["code_object.qualname"]:], 1)
			},
			wantErr: []string{"code_object.qualname is 1, layout has 128", "fix cpython/layout.go"},
		},
		{
			name:    "no cookie",
			edit:    func(buf []byte, _ map[string]int) { copy(buf, "\x01\x00\x00\x00\x00\x00\x00\x00") },
			wantErr: []string{"cookie", "0x7f2baa5294c0"},
		},
		{
			name:    "other minor version",
			edit:    func(buf []byte, _ map[string]int) { binary.LittleEndian.PutUint64(buf[8:], 0x030e00a1) },
			wantErr: []string{"version is 3.14.0a1, the layout is for 3.13"},
		},
		{
			name:    "free-threaded build",
			edit:    func(buf []byte, _ map[string]int) { binary.LittleEndian.PutUint64(buf[16:], 1) },
			wantErr: []string{"free-threaded build", "python3.13t", "run the program on the default build with the GIL (python3.13)"},
		},
		{
			name:    "bad version word",
			edit:    func(buf []byte, _ map[string]int) { binary.LittleEndian.PutUint64(buf[8:], 0x030d0050) },
			wantErr: []string{"release level"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf, pos := debugOffsetsTestBuffer(t, l, 0x030d00f0)
			tt.edit(buf, pos)
			err := CheckDebugOffsets(debugOffsetsTestMem{addr: addr, buf: buf}, addr, l)
			if len(tt.wantErr) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}

	t.Run("short read", func(t *testing.T) {
		buf, _ := debugOffsetsTestBuffer(t, l, 0x030d00f0)
		err := CheckDebugOffsets(debugOffsetsTestMem{addr: addr, buf: buf[:100]}, addr, l)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "got 100 of 584 bytes")
	})
	t.Run("unmapped", func(t *testing.T) {
		err := CheckDebugOffsets(debugOffsetsTestMem{addr: addr}, addr+0x1000, l)
		assert.Error(t, err)
	})
	t.Run("before 3.13 nothing is read", func(t *testing.T) {
		l12, err := LayoutFor(Version{3, 12, 1, ""})
		require.NoError(t, err)
		assert.NoError(t, CheckDebugOffsets(debugOffsetsTestMem{}, addr, l12))
	})
}

func TestDebugOffsetsSize(t *testing.T) {
	// sizeof(_Py_DebugOffsets) in CPython 3.13.0 (gdb `ptype /o`).
	_, size := debugOffsetsPositions(debugOffsetsLayouts[13])
	assert.Equal(t, 584, size)
}

// FuzzCheckDebugOffsets feeds arbitrary process memory to the checker.
func FuzzCheckDebugOffsets(f *testing.F) {
	l, err := LayoutFor(Version{3, 13, 0, ""})
	if err != nil {
		f.Fatal(err)
	}
	pos, size := debugOffsetsPositions(debugOffsetsLayouts[13])
	good := make([]byte, size)
	copy(good, debugOffsetsCookie)
	binary.LittleEndian.PutUint64(good[8:], 0x030d00f0)
	for _, c := range debugOffsetsChecks(l) {
		binary.LittleEndian.PutUint64(good[pos[c.field]:], uint64(c.want))
	}
	f.Add(good)
	f.Add(good[:30])
	f.Add([]byte("xdebugpy"))
	f.Fuzz(func(t *testing.T, mem []byte) {
		_ = CheckDebugOffsets(bytes.NewReader(mem), 0, l)
	})
}
