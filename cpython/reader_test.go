package cpython_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/cpython/cpythontest"
	"github.com/recapi/recapi/proc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStaticTypeName(t *testing.T) {
	tests := []struct{ tpName, want string }{
		{"int", "builtins.int"},
		{"NoneType", "None"},
		{"collections.OrderedDict", "collections.OrderedDict"},
		{"_decimal.Decimal", "_decimal.Decimal"},
		{"a.b.c", "a.b.c"},
		{"None", "builtins.None"},
		{"Nonetype", "builtins.Nonetype"},
		{"ünïcode", "builtins.ünïcode"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.tpName, func(t *testing.T) {
			assert.Equal(t, tt.want, cpython.StaticTypeName(tt.tpName))
		})
	}
}

// TestTypeNameStaticRule checks that Reader.TypeName names every static
// type by cpython.StaticTypeName, the rule callers apply to a tp_name read elsewhere.
func TestTypeNameStaticRule(t *testing.T) {
	for _, l := range cpythontest.Layouts() {
		r := cpythontest.NewRuntime(l, 0x7f0000000000)
		for _, tpName := range []string{"int", "NoneType", "collections.OrderedDict", "a.b.c", "builtins.x", "None", "_", "ünïcode"} {
			t.Run(fmt.Sprintf("3.%d/%s", l.Minor, tpName), func(t *testing.T) {
				got, err := r.Reader().TypeName(r.StaticType(tpName, 0))
				require.NoError(t, err)
				assert.Equal(t, cpython.StaticTypeName(tpName), got)
			})
		}
	}
}

func TestTupleItems(t *testing.T) {
	for _, l := range cpythontest.Layouts() {
		t.Run(fmt.Sprintf("3.%d", l.Minor), func(t *testing.T) {
			r := cpythontest.NewRuntime(l, 0x7f0000000000)
			var items []uint64
			for range 100 { // beyond the 32 items read with the head
				items = append(items, r.Int())
			}
			rd := r.Reader()
			for _, n := range []int{0, 1, 32, 33, 100} {
				got, err := rd.TupleItems(r.Tuple(items[:n]...), 100)
				require.NoError(t, err, n)
				if n == 0 {
					assert.Empty(t, got)
					continue
				}
				assert.Equal(t, items[:n], got, n)
			}
			_, err := rd.TupleItems(r.Tuple(items...), 99)
			assert.ErrorContains(t, err, "100 items, more than 99")
			_, err = rd.TupleItems(items[0], 10)
			assert.ErrorContains(t, err, "lacks tp_flags")
			_, err = rd.TupleItems(0, 10)
			assert.ErrorIs(t, err, cpython.ErrNullPointer)
		})
	}
}

// pageMem maps the bytes of buf at base, a page boundary, and fails any
// read that goes beyond them without returning part of it, as a reader
// that does not report short reads would.
type pageMem struct {
	base uint64
	buf  []byte
}

func (p pageMem) ReadAt(b []byte, off int64) (int, error) {
	if uint64(off) < p.base || uint64(off)+uint64(len(b)) > p.base+uint64(len(p.buf)) {
		return 0, errors.New("unmapped")
	}
	return copy(b, p.buf[uint64(off)-p.base:]), nil
}

// TestReaderEndOfMapping reads objects that end just before unmapped
// memory: the speculative head read fails, the rest of the page does not.
func TestReaderEndOfMapping(t *testing.T) {
	for _, l := range cpythontest.Layouts() {
		t.Run(fmt.Sprintf("3.%d", l.Minor), func(t *testing.T) {
			r := cpythontest.NewRuntime(l, 0x7f0000000000)
			s := r.Str("abc")
			tup := r.Tuple(s, s)
			// Copy both to the end of a mapped page.
			const page uint64 = 0x7f1000000000
			mem := pageMem{base: page, buf: make([]byte, 2*proc.PageSize)}
			strAt := page + 2*proc.PageSize - 64
			copy(mem.buf[strAt-page:], r.At(s)[:l.PyASCIIObjectSize+4])
			tupAt := strAt - 64
			copy(mem.buf[tupAt-page:], r.At(tup)[:l.PyTupleObject_ob_item])
			for i := range uint64(2) {
				binary.LittleEndian.PutUint64(mem.buf[tupAt-page+uint64(l.PyTupleObject_ob_item)+8*i:], strAt)
			}
			rd := cpython.NewReader(proc.NewMemory(multiMem{mem, r.Memory}), l)

			got, err := rd.Str(strAt)
			require.NoError(t, err)
			assert.Equal(t, "abc", got)
			items, err := rd.TupleItems(tupAt, 10)
			require.NoError(t, err)
			assert.Equal(t, []uint64{strAt, strAt}, items)
		})
	}
}

// multiMem reads from the first of its readers that has the address.
type multiMem []interface {
	ReadAt([]byte, int64) (int, error)
}

func (m multiMem) ReadAt(b []byte, off int64) (int, error) {
	var err error
	for _, r := range m {
		var n int
		if n, err = r.ReadAt(b, off); err == nil || n > 0 {
			return n, err
		}
	}
	return 0, err
}
