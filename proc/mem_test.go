package proc

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryReads(t *testing.T) {
	data := []byte{
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88, // 0
		0xfe, 0xff, 0xff, 0xff, 'a', 'b', 'c', 0, // 8
	}
	m := NewMemory(bytes.NewReader(data))

	u64, err := m.U64(0)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x8807060504030201), u64)

	u32, err := m.U32(4)
	require.NoError(t, err)
	assert.Equal(t, uint32(0x88070605), u32)

	i32, err := m.I32(8)
	require.NoError(t, err)
	assert.Equal(t, int32(-2), i32)

	b, err := m.Bytes(12, 3)
	require.NoError(t, err)
	assert.Equal(t, []byte("abc"), b)

	s, err := m.CString(12, 16)
	require.NoError(t, err)
	assert.Equal(t, "abc", s)

	s, err = m.CString(12, 3)
	require.NoError(t, err, "a string of exactly max bytes fits")
	assert.Equal(t, "abc", s)
}

func TestMemoryErrors(t *testing.T) {
	m := NewMemory(bytes.NewReader(make([]byte, 16)))
	tests := []struct {
		name string
		read func() error
	}{
		{name: "U64 past the end", read: func() error { _, err := m.U64(12); return err }},
		{name: "U32 out of range", read: func() error { _, err := m.U32(1 << 63); return err }},
		{name: "U64 at the top of the address space", read: func() error { _, err := m.U64(^uint64(0) - 3); return err }},
		{name: "Bytes negative", read: func() error { _, err := m.Bytes(0, -1); return err }},
		{name: "Bytes too large", read: func() error { _, err := m.Bytes(0, MaxMemoryRead+1); return err }},
		{name: "CString without NUL", read: func() error {
			_, err := NewMemory(bytes.NewReader([]byte("abcdef"))).CString(0, 3)
			return err
		}},
		{name: "CString unreadable", read: func() error { _, err := m.CString(100, 10); return err }},
		{name: "ReadAt negative", read: func() error { _, err := m.ReadAt(make([]byte, 1), -1); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read()
			require.Error(t, err)
			assert.Equal(t, strings.ToLower(err.Error()[:1]), err.Error()[:1], "errors start in lower case")
		})
	}

	_, err := m.ReadAt(make([]byte, 8), 12)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "a short read is an error, not io.EOF")
}

// TestMemoryCStringCrossesChunks reads a C string longer than one chunk
// that ends right before an unreadable page.
func TestMemoryCStringCrossesChunks(t *testing.T) {
	data := bytes.Repeat([]byte{'n'}, 2*PageSize)
	data[len(data)-1] = 0
	m := NewMemory(bytes.NewReader(data))
	start := uint64(PageSize - 10)
	s, err := m.CString(start, PageSize+100)
	require.NoError(t, err)
	assert.Len(t, s, len(data)-1-int(start))
}

func TestOpenMemory(t *testing.T) {
	t.Run("self", func(t *testing.T) {
		m, err := OpenMemory(os.Getpid())
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, m.Close()) })
		want := []byte("recapi reads this")
		got, err := m.Bytes(uint64(bytesAddr(want)), len(want))
		require.NoError(t, err)
		assert.Equal(t, want, got)
		_, err = m.U64(8) // the NULL page is never mapped
		assert.Error(t, err)
	})
	t.Run("no such process", func(t *testing.T) {
		cmd := exec.Command("true")
		require.NoError(t, cmd.Run())
		_, err := OpenMemory(cmd.Process.Pid) // reaped: the pid is free
		require.Error(t, err)
		assert.True(t, errors.Is(err, os.ErrNotExist), "got %v", err)
	})
}

// bytesAddr is the address of b's first byte in this process.
func bytesAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
