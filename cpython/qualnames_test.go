package cpython

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// qualnameFakeWorld is a small interpreter in a namesFakeRuntime: module
// "pkg" holds a function f (with a nested function and a local class in
// co_consts), a class Account with a method, a staticmethod and a property,
// and a wrapper renamed by functools.wraps.
type qualnameFakeWorld struct {
	*namesFakeRuntime
	runtime uint64
	want    map[uint64]CodeName // code object → expected name
	wrapper uint64              // code of the renamed wrapper: not named
}

func newQualnameFakeWorld(l Layout) *qualnameFakeWorld {
	r := newNamesFakeRuntime(l, 0x7f0000000000)
	w := &qualnameFakeWorld{namesFakeRuntime: r, want: map[uint64]CodeName{}}
	funcType := r.staticType("function", 0)
	moduleType := r.staticType("module", 0)
	smType := r.staticType("staticmethod", 0)
	propType := r.staticType("property", 0)
	str := func(s string) uint64 { return r.str(s, namesStrCompact) }

	code := func(name string, flags uint32, consts ...uint64) uint64 {
		c := r.code(CodeInfo{Name: name, Qualname: name, Filename: "pkg.py", Flags: flags})
		r.put64(c+uint64(l.PyCodeObject_co_consts), r.tuple(append([]uint64{r.tuple()}, consts...)...))
		return c
	}
	function := func(qualname, module string, code uint64) uint64 {
		f := r.object(funcType, 160)
		r.put64(f+uint64(l.PyFunctionObject_func_code), code)
		r.put64(f+uint64(l.PyFunctionObject_func_qualname), str(qualname))
		r.put64(f+uint64(l.PyFunctionObject_func_module), str(module))
		return f
	}
	const fn = CO_OPTIMIZED | CO_NEWLOCALS

	nested := code("nested", fn)
	meth := code("meth", fn)
	body := code("Local", 0, meth)
	gen := code("<genexpr>", fn|CO_GENERATOR)
	lam := code("<lambda>", fn)
	r.put64(gen+uint64(l.PyCodeObject_co_consts), r.tuple(lam))
	fCode := code("f", fn, nested, body, gen)
	w.want[fCode] = CodeName{"f", "pkg"}
	w.want[nested] = CodeName{"f.<locals>.nested", "pkg"}
	w.want[body] = CodeName{"f.<locals>.Local", "pkg"}
	w.want[meth] = CodeName{"f.<locals>.Local.meth", "pkg"}
	w.want[gen] = CodeName{"f.<locals>.<genexpr>", "pkg"}
	w.want[lam] = CodeName{"f.<locals>.<genexpr>.<lambda>", "pkg"}

	deposit := code("deposit", fn)
	validate := code("validate", fn)
	balance := code("balance", fn)
	w.want[deposit] = CodeName{"Account.deposit", "pkg"}
	w.want[validate] = CodeName{"Account.validate", "pkg"}
	w.want[balance] = CodeName{"Account.balance", "pkg.models"}
	sm := r.object(smType, 32)
	r.put64(sm+uint64(l.Staticmethod_sm_callable), function("Account.validate", "pkg", validate))
	prop := r.object(propType, 64)
	r.put64(prop+uint64(l.Propertyobject_prop_get), function("Account.balance", "pkg.models", balance))
	account := r.heapType("Account", "Account", r.dict([]namesFakeItem{
		{str("__module__"), str("pkg")},
		{str("deposit"), function("Account.deposit", "pkg", deposit)},
		{str("validate"), sm},
		{str("balance"), prop},
	}, false, true))

	w.wrapper = code("wrapper", fn|CO_VARARGS|CO_VARKEYWORDS)
	decorated := function("decorated", "pkg", w.wrapper)

	modDict := r.dict([]namesFakeItem{
		{str("__name__"), str("pkg")},
		{str("f"), function("f", "pkg", fCode)},
		{str("Account"), account},
		{str("decorated"), decorated},
		{str("answer"), r.object(r.intType, 32)},
	}, false, true)
	mod := r.object(moduleType, 64)
	r.put64(mod+uint64(l.PyModuleObject_md_dict), modDict)
	modules := r.dict([]namesFakeItem{{str("pkg"), mod}, {str("pkg.alias"), mod}, {str("blocked"), r.object(r.intType, 32)}}, false, true)

	interp := r.alloc(l.PyInterpreterState_modules + 8)
	r.put64(interp+uint64(l.PyInterpreterState_modules), modules)
	w.runtime = r.alloc(l.PyRuntimeState_interpreters_head + 8)
	r.put64(w.runtime+uint64(l.PyRuntimeState_interpreters_head), interp)
	return w
}

// TestQualnameIndexFake builds the index of a synthetic interpreter laid out
// with each version's offsets.
func TestQualnameIndexFake(t *testing.T) {
	for _, l := range namesAllLayouts() {
		t.Run(fmt.Sprintf("3.%d", l.Minor), func(t *testing.T) {
			w := newQualnameFakeWorld(l)
			ix, err := NewReader(w.memory(), l).QualnameIndex(w.runtime)
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
		l := namesAllLayouts()[0]
		w := newQualnameFakeWorld(l)
		interp, err := w.memory().U64(w.runtime + uint64(l.PyRuntimeState_interpreters_head))
		require.NoError(t, err)
		w.put64(interp+uint64(l.PyInterpreterState_modules), 0)
		_, err = NewReader(w.memory(), l).QualnameIndex(w.runtime)
		assert.ErrorContains(t, err, "read sys.modules")
	})
}

// TestQualnameIndexCorrupted corrupts random bytes of the synthetic
// interpreter, as a process that changes under the walk would: the walk
// must end and never panic.
func TestQualnameIndexCorrupted(t *testing.T) {
	for _, l := range namesAllLayouts() {
		w := newQualnameFakeWorld(l)
		clean := append([]byte(nil), w.buf...)
		r := rand.New(rand.NewPCG(uint64(l.Minor), 1))
		for range 300 {
			copy(w.buf, clean)
			for range 1 + r.IntN(16) {
				if r.IntN(2) == 0 {
					w.buf[r.IntN(len(w.buf))] = byte(r.Uint32())
					continue
				}
				// A word now points at some other object, or into one.
				i := r.IntN(len(w.buf)/8) * 8
				binary.LittleEndian.PutUint64(w.buf[i:], w.base+uint64(r.IntN(len(w.buf)))&^uint64(r.IntN(2)*7))
			}
			ix, err := NewReader(w.memory(), l).QualnameIndex(w.runtime)
			if err == nil {
				require.LessOrEqual(t, ix.Stats().Objects, maxQualnameObjects+1)
			}
		}
	}
}

// TestQualnameDictItems checks DictItems on the dicts of every version:
// combined and split, with deleted entries and missing split values.
func TestQualnameDictItems(t *testing.T) {
	for _, l := range namesAllLayouts() {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("3.%d/split=%v", l.Minor, split), func(t *testing.T) {
				r := newNamesFakeRuntime(l, 0x10000)
				a, b, c := r.str("a", namesStrCompact), r.str("b", namesStrCompact), r.str("c", namesStrCompact)
				v1, v2 := r.object(r.intType, 32), r.object(r.intType, 32)
				d := r.dict([]namesFakeItem{{a, v1}, {0, 0}, {b, 0}, {c, v2}}, split, true)
				got, err := NewReader(r.memory(), l).DictItems(d)
				require.NoError(t, err)
				assert.Equal(t, []DictItem{{a, v1}, {c, v2}}, got)

				_, err = NewReader(r.memory(), l).DictItems(v1)
				assert.ErrorContains(t, err, "not a dict")
			})
		}
	}
}

// FuzzQualnameIndex walks the synthetic interpreter with its memory
// replaced by the fuzzer's bytes.
func FuzzQualnameIndex(f *testing.F) {
	for _, l := range namesAllLayouts() {
		f.Add(newQualnameFakeWorld(l).buf, uint8(l.Minor))
	}
	f.Fuzz(func(t *testing.T, data []byte, minor uint8) {
		l, err := LayoutFor(Version{Major: 3, Minor: MinMinor + int(minor)%(MaxMinor-MinMinor+1)})
		require.NoError(t, err)
		w := newQualnameFakeWorld(l)
		w.buf = data
		ix, err := NewReader(w.memory(), l).QualnameIndex(w.runtime)
		if err == nil {
			assert.LessOrEqual(t, ix.Stats().Objects, maxQualnameObjects+1)
		}
	})
}
