package proc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// MaxMemoryRead bounds a single Bytes or CString read. Lengths read from a
// target process may be garbage (the process may be mid-mutation), so no
// read derived from them may allocate without limit.
const MaxMemoryRead = 1 << 20

// Memory reads another process's memory. It wraps any io.ReaderAt whose
// offsets are virtual addresses: /proc/PID/mem, a core-file adapter, or a
// bytes.Reader in tests. Memory keeps no state besides the reader, so it is
// safe for concurrent use whenever the reader is (an *os.File is).
type Memory struct {
	r io.ReaderAt
}

// NewMemory returns a Memory that reads from r.
func NewMemory(r io.ReaderAt) *Memory {
	return &Memory{r: r}
}

// OpenMemory opens /proc/PID/mem. The caller needs ptrace access to the
// process (same user and a parent, or CAP_SYS_PTRACE) and must Close it.
func OpenMemory(pid int) (*Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return nil, fmt.Errorf("open memory of pid %d: %w (reading another process needs CAP_SYS_PTRACE or a parent/child relation)", pid, err)
	}
	return NewMemory(f), nil
}

// Close closes the underlying reader if it is an io.Closer.
func (m *Memory) Close() error {
	if c, ok := m.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// ReadAt reads len(p) bytes at addr. Unlike a bare io.ReaderAt it never
// reports success for a short read: n < len(p) always comes with an error,
// and a full read is never reported with io.EOF.
func (m *Memory) ReadAt(p []byte, addr int64) (int, error) {
	if addr < 0 || int64(len(p)) > math.MaxInt64-addr {
		return 0, fmt.Errorf("read %d bytes at %#x: address out of range", len(p), uint64(addr))
	}
	n, err := m.r.ReadAt(p, addr)
	if n == len(p) {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, fmt.Errorf("read %d bytes at %#x: %w", len(p), addr, err)
}

// Read fills p from addr, which is a uint64 as read from the target. Like
// ReadAt, it fails unless it read all of p.
func (m *Memory) Read(p []byte, addr uint64) error {
	if addr > math.MaxInt64 {
		return fmt.Errorf("read %d bytes at %#x: address out of range", len(p), addr)
	}
	_, err := m.ReadAt(p, int64(addr))
	return err
}

// U64 reads a little-endian uint64 (a pointer, a Py_ssize_t) at addr.
func (m *Memory) U64(addr uint64) (uint64, error) {
	var b [8]byte
	if err := m.Read(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// U32 reads a little-endian uint32 at addr.
func (m *Memory) U32(addr uint64) (uint32, error) {
	var b [4]byte
	if err := m.Read(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// I32 reads a little-endian int32 (a C int) at addr.
func (m *Memory) I32(addr uint64) (int32, error) {
	v, err := m.U32(addr)
	return int32(v), err
}

// Bytes reads n bytes at addr; n must be in [0, MaxMemoryRead].
func (m *Memory) Bytes(addr uint64, n int) ([]byte, error) {
	if n < 0 || n > MaxMemoryRead {
		return nil, fmt.Errorf("read %d bytes at %#x: length out of range [0, %d]", n, addr, MaxMemoryRead)
	}
	b := make([]byte, n)
	if err := m.Read(b, addr); err != nil {
		return nil, err
	}
	return b, nil
}

// PageSize is the granularity of memory mappings (x86-64 base pages). A
// read that stays within one page either fails or succeeds as a whole, so
// readers of short or unknown lengths cut their reads at page boundaries:
// CString's chunks never cross one, so that a string that ends just before
// an unmapped page reads.
const PageSize = 4096

// memCStringChunk is the most CString reads at once; C names are short.
const memCStringChunk = 256

// CString reads a NUL-terminated string of at most maxLen bytes (excluding
// the NUL) at addr. It fails if no NUL appears within maxLen bytes.
func (m *Memory) CString(addr uint64, maxLen int) (string, error) {
	if maxLen < 0 || maxLen > MaxMemoryRead {
		return "", fmt.Errorf("read C string at %#x: length limit %d out of range [0, %d]", addr, maxLen, MaxMemoryRead)
	}
	var buf [memCStringChunk]byte
	var out []byte
	for cur := addr; len(out) <= maxLen; {
		n := PageSize - int(cur%PageSize)
		n = min(n, memCStringChunk, maxLen+1-len(out))
		if cur > math.MaxInt64-uint64(n) {
			return "", fmt.Errorf("read C string at %#x: address out of range", addr)
		}
		// A short read still counts if the NUL is in what was read: the
		// string may end right before the end of a core file segment.
		got, err := m.r.ReadAt(buf[:n], int64(cur))
		got = max(0, min(got, n))
		if i := bytes.IndexByte(buf[:got], 0); i >= 0 {
			return string(append(out, buf[:i]...)), nil
		}
		if got < n {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("read C string at %#x: read %d bytes at %#x: %w", addr, n, cur, err)
		}
		out = append(out, buf[:n]...)
		cur += uint64(n)
	}
	return "", fmt.Errorf("read C string at %#x: no NUL within %d bytes", addr, maxLen)
}
