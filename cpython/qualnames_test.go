package cpython_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/cpython/cpythontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// qualnameFakeWorld is a small interpreter in a cpythontest.Runtime: module
// "pkg" holds a function f (with a nested function and a local class in
// co_consts), a class Account with a method, a staticmethod and a property,
// and a wrapper renamed by functools.wraps.
type qualnameFakeWorld struct {
	*cpythontest.Runtime
	runtime uint64
	want    map[uint64]cpython.CodeName // code object → expected name
	wrapper uint64                      // code of the renamed wrapper: not named
}

func newQualnameFakeWorld(l cpython.Layout) *qualnameFakeWorld {
	r := cpythontest.NewRuntime(l, 0x7f0000000000)
	w := &qualnameFakeWorld{Runtime: r, want: map[uint64]cpython.CodeName{}}
	str := r.Str
	code := func(name string, flags uint32, consts ...uint64) uint64 {
		// The first constant of a function is its docstring, or None.
		return r.Code(cpython.CodeInfo{Name: name, Qualname: name, Filename: "pkg.py", Flags: flags}, append([]uint64{r.Tuple()}, consts...)...)
	}
	const fn = cpython.CO_OPTIMIZED | cpython.CO_NEWLOCALS

	nested := code("nested", fn)
	meth := code("meth", fn)
	body := code("Local", 0, meth)
	lam := code("<lambda>", fn)
	gen := r.Code(cpython.CodeInfo{Name: "<genexpr>", Qualname: "<genexpr>", Filename: "pkg.py", Flags: fn | cpython.CO_GENERATOR}, lam)
	fCode := code("f", fn, nested, body, gen)
	w.want[fCode] = cpython.CodeName{Qualname: "f", Module: "pkg"}
	w.want[nested] = cpython.CodeName{Qualname: "f.<locals>.nested", Module: "pkg"}
	w.want[body] = cpython.CodeName{Qualname: "f.<locals>.Local", Module: "pkg"}
	w.want[meth] = cpython.CodeName{Qualname: "f.<locals>.Local.meth", Module: "pkg"}
	w.want[gen] = cpython.CodeName{Qualname: "f.<locals>.<genexpr>", Module: "pkg"}
	w.want[lam] = cpython.CodeName{Qualname: "f.<locals>.<genexpr>.<lambda>", Module: "pkg"}

	deposit := code("deposit", fn)
	validate := code("validate", fn)
	balance := code("balance", fn)
	w.want[deposit] = cpython.CodeName{Qualname: "Account.deposit", Module: "pkg"}
	w.want[validate] = cpython.CodeName{Qualname: "Account.validate", Module: "pkg"}
	w.want[balance] = cpython.CodeName{Qualname: "Account.balance", Module: "pkg.models"}
	account := r.HeapType("Account", "Account", r.Dict(cpythontest.UnicodeDict,
		cpythontest.Item{Key: str("__module__"), Value: str("pkg")},
		cpythontest.Item{Key: str("deposit"), Value: r.Function("Account.deposit", "pkg", deposit)},
		cpythontest.Item{Key: str("validate"), Value: r.Staticmethod(r.Function("Account.validate", "pkg", validate))},
		cpythontest.Item{Key: str("balance"), Value: r.Property(r.Function("Account.balance", "pkg.models", balance), 0, 0)},
	))

	w.wrapper = code("wrapper", fn|cpython.CO_VARARGS|cpython.CO_VARKEYWORDS)
	decorated := r.Function("decorated", "pkg", w.wrapper)

	mod := r.Module(r.Dict(cpythontest.UnicodeDict,
		cpythontest.Item{Key: str("__name__"), Value: str("pkg")},
		cpythontest.Item{Key: str("f"), Value: r.Function("f", "pkg", fCode)},
		cpythontest.Item{Key: str("Account"), Value: account},
		cpythontest.Item{Key: str("decorated"), Value: decorated},
		cpythontest.Item{Key: str("answer"), Value: r.Int()},
	))
	w.runtime = r.Interpreter(r.Dict(cpythontest.UnicodeDict,
		cpythontest.Item{Key: str("pkg"), Value: mod},
		cpythontest.Item{Key: str("pkg.alias"), Value: mod},
		cpythontest.Item{Key: str("blocked"), Value: r.Int()},
	))
	return w
}

// TestQualnameIndexFake builds the index of a synthetic interpreter laid out
// with each version's offsets.
func TestQualnameIndexFake(t *testing.T) {
	for _, l := range cpythontest.Layouts() {
		t.Run(fmt.Sprintf("3.%d", l.Minor), func(t *testing.T) {
			w := newQualnameFakeWorld(l)
			ix, err := w.Reader().QualnameIndex(w.runtime)
			require.NoError(t, err)
			for code, want := range w.want {
				got, ok := ix.Lookup(code)
				assert.True(t, ok, "%s", want.Qualname)
				assert.Equal(t, want, got)
			}
			_, ok := ix.Lookup(w.wrapper)
			assert.False(t, ok, "a wrapper renamed by functools.wraps is not named after the wrapped function")
			assert.Equal(t, len(w.want), ix.Len())
			st := ix.Stats()
			assert.Equal(t, 1, st.Modules)
			assert.Zero(t, st.Skipped)
			assert.False(t, st.Limited)
		})
	}
	t.Run("no sys.modules", func(t *testing.T) {
		l := cpythontest.Layouts()[0]
		w := newQualnameFakeWorld(l)
		interp, err := w.Proc().U64(w.runtime + uint64(l.PyRuntimeState_interpreters_head))
		require.NoError(t, err)
		w.PutU64(interp+uint64(l.PyInterpreterState_modules), 0)
		_, err = w.Reader().QualnameIndex(w.runtime)
		assert.ErrorContains(t, err, "read sys.modules")
	})
}

// TestQualnameIndexCorrupted corrupts random bytes of the synthetic
// interpreter, as a process that changes under the walk would: the walk
// must end and never panic.
func TestQualnameIndexCorrupted(t *testing.T) {
	for _, l := range cpythontest.Layouts() {
		w := newQualnameFakeWorld(l)
		clean := append([]byte(nil), w.Buf...)
		r := rand.New(rand.NewPCG(uint64(l.Minor), 1))
		for range 300 {
			copy(w.Buf, clean)
			for range 1 + r.IntN(16) {
				if r.IntN(2) == 0 {
					w.Buf[r.IntN(len(w.Buf))] = byte(r.Uint32())
					continue
				}
				// A word now points at some other object, or into one.
				i := r.IntN(len(w.Buf)/8) * 8
				binary.LittleEndian.PutUint64(w.Buf[i:], w.Base+uint64(r.IntN(len(w.Buf)))&^uint64(r.IntN(2)*7))
			}
			ix, err := w.Reader().QualnameIndex(w.runtime)
			if err == nil {
				require.LessOrEqual(t, ix.Stats().Objects, cpython.MaxQualnameObjects+1)
			}
		}
	}
}

// TestQualnameDictItems checks DictItems on the dicts of every version:
// combined and split, with deleted entries and missing split values.
func TestQualnameDictItems(t *testing.T) {
	for _, l := range cpythontest.Layouts() {
		for _, kind := range []cpythontest.DictKind{cpythontest.UnicodeDict, cpythontest.SplitDict} {
			t.Run(fmt.Sprintf("3.%d/kind=%d", l.Minor, kind), func(t *testing.T) {
				r := cpythontest.NewRuntime(l, 0x10000)
				a, b, c := r.Str("a"), r.Str("b"), r.Str("c")
				v1, v2 := r.Int(), r.Int()
				d := r.Dict(kind, cpythontest.Item{Key: a, Value: v1}, cpythontest.Item{}, cpythontest.Item{Key: b}, cpythontest.Item{Key: c, Value: v2})
				got, err := r.Reader().DictItems(d)
				require.NoError(t, err)
				assert.Equal(t, []cpython.DictItem{{Key: a, Value: v1}, {Key: c, Value: v2}}, got)

				_, err = r.Reader().DictItems(v1)
				assert.ErrorContains(t, err, "not a dict")
			})
		}
	}
}

// FuzzQualnameIndex walks the synthetic interpreter with its memory
// replaced by the fuzzer's bytes.
func FuzzQualnameIndex(f *testing.F) {
	for _, l := range cpythontest.Layouts() {
		f.Add(newQualnameFakeWorld(l).Buf, uint8(l.Minor))
	}
	f.Fuzz(func(t *testing.T, data []byte, minor uint8) {
		l, err := cpython.LayoutFor(cpython.Version{Major: 3, Minor: cpython.MinMinor + int(minor)%(cpython.MaxMinor-cpython.MinMinor+1)})
		require.NoError(t, err)
		w := newQualnameFakeWorld(l)
		w.Buf = data
		ix, err := w.Reader().QualnameIndex(w.runtime)
		if err == nil {
			assert.LessOrEqual(t, ix.Stats().Objects, cpython.MaxQualnameObjects+1)
		}
	})
}
