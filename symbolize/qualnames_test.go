package symbolize

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/proc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// qualnamesTargetScript is the child TestQualnameIndexLive reads from.
const qualnamesTargetScript = "testdata/qualnames_target.py"

// qualnamesTarget is the JSON line testdata/qualnames_target.py prints.
type qualnamesTarget struct {
	Version  []int `json:"version"`
	Expected []struct {
		Qualname string `json:"qualname"`
		Module   string `json:"module"`
		Code     uint64 `json:"code"`
	} `json:"expected"`
	// Truth maps id(code) to [__qualname__, __module__] of the function
	// objects that hold it.
	Truth map[string][2]string `json:"truth"`
}

// startQualnamesTarget runs the target script under python and returns its
// report and pid. The child lives until the test ends.
func startQualnamesTarget(t *testing.T, python string) (qualnamesTarget, int) {
	t.Helper()
	var out qualnamesTarget
	pid := testutil.StartPyTarget(t, python, qualnamesTargetScript, &out)
	require.Len(t, out.Version, 3)
	require.NotEmpty(t, out.Expected)
	return out, pid
}

// TestQualnameIndexLive builds the index of running interpreters and
// compares it with what the interpreter says about its own functions.
func TestQualnameIndexLive(t *testing.T) {
	for _, it := range namesInterpreters() {
		t.Run(it.name, func(t *testing.T) {
			requireLiveInterpreter(t, it.path)
			target, pid := startQualnamesTarget(t, it.path)
			p, err := FindInterpreter(pid)
			require.NoError(t, err)
			l, err := LayoutFor(p.Binary.Version)
			require.NoError(t, err)
			require.Equal(t, target.Version[1], l.Minor)
			m, err := proc.OpenMemory(pid)
			if errors.Is(err, fs.ErrPermission) {
				t.Skipf("cannot read the memory of child pid %d: %v", pid, err)
			}
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, m.Close()) })
			runtime := p.Binary.Runtime + p.Bias
			if l.Minor >= 13 {
				qualnameCheckDebugOffsets(t, m, l, runtime)
			}

			start := time.Now()
			ix, err := BuildQualnameIndex(m, l, runtime)
			elapsed := time.Since(start)
			require.NoError(t, err)
			st := ix.Stats()
			t.Logf("CPython %d.%d.%d: %d code objects named in %v (%d modules, %d functions, %d objects read, %d skipped, limited %v)",
				target.Version[0], target.Version[1], target.Version[2], ix.Len(), elapsed.Round(time.Millisecond),
				st.Modules, st.Functions, st.Objects, st.Skipped, st.Limited)
			assert.False(t, st.Limited)

			t.Run("expected", func(t *testing.T) {
				for _, e := range target.Expected {
					got, ok := ix.Lookup(e.Code)
					if assert.True(t, ok, "%s (%s) at %#x not in the index", e.Qualname, e.Module, e.Code) {
						assert.Equal(t, CodeName{Qualname: e.Qualname, Module: e.Module}, got)
					}
				}
			})
			t.Run("truth", func(t *testing.T) {
				qualnameCheckTruth(t, ix, target)
			})
			if l.PyCodeObject_co_qualname >= 0 {
				t.Run("co_qualname", func(t *testing.T) {
					qualnameCheckCoQualname(t, m, l, ix, target)
				})
			}
			t.Run("changing memory", func(t *testing.T) {
				// One read in 50 returns garbage, as if the object had
				// been freed and reused: the walk skips, and goes on.
				cm := proc.NewMemory(&qualnameChaosReader{r: m, rng: rand.New(rand.NewPCG(uint64(pid), 2))})
				ix, err := BuildQualnameIndex(cm, l, runtime)
				if err != nil {
					t.Logf("sys.modules hit by garbage: %v", err)
					return
				}
				t.Logf("with garbage reads: %d code objects named, %d skipped", ix.Len(), ix.Stats().Skipped)
				assert.LessOrEqual(t, ix.Stats().Objects, maxQualnameObjects+1)
			})
		})
	}
}

// qualnameChaosReader corrupts one read in 50 of r.
type qualnameChaosReader struct {
	r   *proc.Memory
	rng *rand.Rand
}

func (c *qualnameChaosReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if c.rng.IntN(50) == 0 {
		for i := range p[:n] {
			p[i] = byte(c.rng.Uint32())
		}
	}
	return n, err
}

// qualnameCheckTruth compares the index with the __qualname__ and
// __module__ of every function object the target has, and reports how many
// of them the walk reached.
func qualnameCheckTruth(t *testing.T, ix *QualnameIndex, target qualnamesTarget) {
	found, mainFound, mainTotal := 0, 0, 0
	var missingMain []string
	for key, want := range target.Truth {
		code, err := strconv.ParseUint(key, 10, 64)
		require.NoError(t, err)
		got, ok := ix.Lookup(code)
		if want[0] == "<module>" {
			// 3.12+ wraps the code of __main__ in a function object that
			// only its frame holds. Module-level code is not indexed.
			continue
		}
		if want[1] == "__main__" {
			mainTotal++
		}
		if !ok {
			if want[1] == "__main__" {
				missingMain = append(missingMain, want[0])
			}
			continue
		}
		found++
		if want[1] == "__main__" {
			mainFound++
		}
		assert.Equal(t, CodeName{Qualname: want[0], Module: want[1]}, got, "code at %#x", code)
	}
	t.Logf("the index names %d of the target's %d function code objects (%d of %d in __main__)",
		found, len(target.Truth), mainFound, mainTotal)
	assert.Empty(t, missingMain, "functions of __main__ missing from the index")
	// Most functions live in module and class dicts; the rest hang off
	// instances, lists or frames, where the walk does not look.
	assert.Greater(t, found, len(target.Truth)*3/4, "coverage of the target's functions")
}

// qualnameCheckCoQualname compares every name in the index with the code
// object's own co_qualname (3.11+). They may differ only where a function's
// __qualname__ was set after compilation (dataclasses, namedtuple) and the
// index follows __qualname__, or below such a function.
func qualnameCheckCoQualname(t *testing.T, m *proc.Memory, l Layout, ix *QualnameIndex, target qualnamesTarget) {
	renamed := 0
	var bad []string
	for code, got := range ix.names {
		c, err := ReadCode(m, l, code)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%#x %s: %v", code, got.Qualname, err))
			continue
		}
		if c.Qualname == got.Qualname {
			continue
		}
		if want, ok := target.Truth[strconv.FormatUint(code, 10)]; ok && want[0] == got.Qualname {
			renamed++
			continue
		}
		bad = append(bad, fmt.Sprintf("%#x: index %q, co_qualname %q", code, got.Qualname, c.Qualname))
	}
	sort.Strings(bad)
	t.Logf("%d of %d names agree with co_qualname; %d follow a __qualname__ set after compilation",
		ix.Len()-renamed-len(bad), ix.Len(), renamed)
	assert.Empty(t, bad)
}

// qualnameCheckDebugOffsets checks the object graph offsets of the layout
// against the live _Py_DebugOffsets (3.13+).
func qualnameCheckDebugOffsets(t *testing.T, m *proc.Memory, l Layout, runtime uint64) {
	pos, size := debugOffsetsPositions(debugOffsetsLayouts[l.Minor])
	buf, err := m.Bytes(runtime, size)
	require.NoError(t, err)
	require.Equal(t, debugOffsetsCookie, string(buf[:8]))
	u64 := func(field string) int {
		off, ok := pos[field]
		require.True(t, ok, field)
		return int(binary.LittleEndian.Uint64(buf[off:]))
	}
	assert.Equal(t, l.PyRuntimeState_interpreters_head, u64("runtime_state.interpreters_head"))
	assert.Equal(t, l.PyInterpreterState_modules, u64("interpreter_state.imports_modules"))
}

// TestQualnameLayoutMatchesDWARF checks the object graph offsets that
// BuildQualnameIndex uses against the debug info of the pyenv builds.
func TestQualnameLayoutMatchesDWARF(t *testing.T) {
	forEachDWARFBuild(t, func(t *testing.T, tt elfTestBinary, l Layout) {
		off := func(typ, field string) string { return fmt.Sprintf("&((%s*)0)->%s", typ, field) }
		modules := "modules"
		if l.Minor >= 12 {
			modules = "imports.modules"
		}
		fields := []layoutDWARFField{
			{"PyRuntimeState_interpreters_head", off("_PyRuntimeState", "interpreters.head"), l.PyRuntimeState_interpreters_head},
			{"PyInterpreterState_modules", off("PyInterpreterState", modules), l.PyInterpreterState_modules},
			{"PyModuleObject_md_dict", off("PyModuleObject", "md_dict"), l.PyModuleObject_md_dict},
			{"PyTypeObject_tp_base", off("PyTypeObject", "tp_base"), l.PyTypeObject_tp_base},
			{"PyFunctionObject_func_code", off("PyFunctionObject", "func_code"), l.PyFunctionObject_func_code},
			{"PyFunctionObject_func_qualname", off("PyFunctionObject", "func_qualname"), l.PyFunctionObject_func_qualname},
			{"PyFunctionObject_func_module", off("PyFunctionObject", "func_module"), l.PyFunctionObject_func_module},
			{"PyFunctionObject_func_closure", off("PyFunctionObject", "func_closure"), l.PyFunctionObject_func_closure},
			{"PyFunctionObject_func_dict", off("PyFunctionObject", "func_dict"), l.PyFunctionObject_func_dict},
			{"Staticmethod_sm_callable", off("staticmethod", "sm_callable"), l.Staticmethod_sm_callable},
			{"Classmethod_cm_callable", off("classmethod", "cm_callable"), l.Classmethod_cm_callable},
			{"Propertyobject_prop_get", off("propertyobject", "prop_get"), l.Propertyobject_prop_get},
			{"Propertyobject_prop_set", off("propertyobject", "prop_set"), l.Propertyobject_prop_set},
			{"Propertyobject_prop_del", off("propertyobject", "prop_del"), l.Propertyobject_prop_del},
			{"PyCellObject_ob_ref", off("PyCellObject", "ob_ref"), l.PyCellObject_ob_ref},
			{"PyDictObject_ma_used", off("PyDictObject", "ma_used"), l.PyVarObject_ob_size},
		}
		got, out := gdbOffsets(t, tt.path, fields)
		for _, f := range fields {
			v, ok := got[f.name]
			if assert.True(t, ok, "%s: %s not in DWARF:\n%s", f.name, f.expr, out) {
				assert.Equal(t, f.want, v, "%s (%s)", f.name, f.expr)
			}
		}
	})
}

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
			ix, err := BuildQualnameIndex(w.memory(), l, w.runtime)
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
		_, err = BuildQualnameIndex(w.memory(), l, w.runtime)
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
			ix, err := BuildQualnameIndex(w.memory(), l, w.runtime)
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
				got, err := DictItems(r.memory(), l, d)
				require.NoError(t, err)
				assert.Equal(t, []DictItem{{a, v1}, {c, v2}}, got)

				_, err = DictItems(r.memory(), l, v1)
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
		ix, err := BuildQualnameIndex(w.memory(), l, w.runtime)
		if err == nil {
			assert.LessOrEqual(t, ix.Stats().Objects, maxQualnameObjects+1)
		}
	})
}
