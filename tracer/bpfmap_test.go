package tracer

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/pyelf"
)

// bpfEnum returns the values of an enum of include/events.h by name, as the
// BTF of the committed BPF object (the one recapid embeds) has them.
func bpfEnum(t *testing.T, name string) map[string]uint64 {
	t.Helper()
	spec, err := btf.LoadSpec(filepath.Join(testutil.RepoRoot(t), "bpf", "recapi_x86_bpfel.o"))
	require.NoError(t, err)
	var e *btf.Enum
	require.NoError(t, spec.TypeByName(name, &e), "enum %s in the object's BTF", name)
	out := make(map[string]uint64, len(e.Values))
	for _, v := range e.Values {
		out[v.Name] = v.Value
	}
	return out
}

// nameOf is the name of value v in enum, "" if none has it.
func nameOf(enum map[string]uint64, v uint64) string {
	for n, x := range enum {
		if x == v {
			return n
		}
	}
	return ""
}

// Every probe kind pyelf finds has a program to run, and each kind is
// the enum probe_kind member of the same name (the eval loop's entry and the
// RESUME handlers both count calls); every member is used.
func TestProbeHowMatchesBPF(t *testing.T) {
	enum := bpfEnum(t, "probe_kind")
	used := map[string]bool{}
	for i := range 256 {
		k := pyelf.ProbeKind(i)
		if k.String() == fmt.Sprintf("ProbeKind(%d)", i) {
			assert.NotContains(t, probeHow, k, "probeHow maps a kind pyelf does not have")
			continue
		}
		how, ok := probeHow[k]
		if !assert.True(t, ok, "pyelf.%s has no BPF program in probeHow", k) {
			continue
		}
		want := "PROBE_" + strings.ToUpper(strings.ReplaceAll(k.String(), "-", "_"))
		if k == pyelf.ProbeEvalEntry || k == pyelf.ProbeResume {
			want = "PROBE_CALL"
		}
		got := nameOf(enum, uint64(how))
		assert.Equal(t, want, got, "pyelf.%s", k)
		used[got] = true
	}
	for name := range enum {
		assert.True(t, used[name], "%s is used for no probe point", name)
	}
}

// Every register pyelf names has the enum frame_reg member of its name,
// and every member stands for one.
func TestFrameRegsMatchBPF(t *testing.T) {
	enum := bpfEnum(t, "frame_reg")
	used := map[string]bool{}
	for i := range 256 {
		r := pyelf.Reg(i)
		if r.String() == fmt.Sprintf("Reg(%d)", i) {
			assert.NotContains(t, frameRegs, r, "frameRegs maps a register pyelf does not have")
			continue
		}
		reg, ok := frameRegs[r]
		if !assert.True(t, ok, "pyelf register %s is missing from frameRegs", r) {
			continue
		}
		got := nameOf(enum, uint64(reg))
		assert.Equal(t, "REG_"+strings.ToUpper(r.String()), got, "pyelf register %s", r)
		used[got] = true
	}
	for name := range enum {
		assert.True(t, used[name], "%s stands for no pyelf register", name)
	}
}

// Each container type pyelf looks up has its own slot in
// PyConfig.ContainerTypes, the enum container_type member of its name.
func TestContainerTypesMatchBPF(t *testing.T) {
	enum := bpfEnum(t, "container_type")
	require.Len(t, pyelf.ContainerTypeSymbols, int(bpf.ContainerCount))
	empty, err := pyConfig(&pyelf.Binary{}, 0)
	require.NoError(t, err)
	require.Len(t, empty.ContainerTypes, int(bpf.ContainerCount))
	used := map[string]bool{"CT_COUNT": true}
	for _, sym := range pyelf.ContainerTypeSymbols {
		ct, ok := containerTypes[sym]
		if !assert.True(t, ok, "%s is missing from containerTypes", sym) {
			continue
		}
		got := nameOf(enum, uint64(ct))
		assert.Equal(t, "CT_"+strings.ToUpper(strings.TrimSuffix(strings.TrimPrefix(sym, "Py"), "_Type")), got, sym)
		assert.False(t, used[got], "%s has the slot of another type", sym)
		used[got] = true
	}
	assert.Len(t, containerTypes, len(pyelf.ContainerTypeSymbols))
	for name := range enum {
		assert.True(t, used[name], "%s holds no type", name)
	}

	// pyConfig puts each type's address in its slot.
	b := &pyelf.Binary{}
	for i := range b.ContainerTypes {
		b.ContainerTypes[i] = 0x1000 * uint64(i+1)
	}
	c, err := pyConfig(b, 0x10)
	require.NoError(t, err)
	for i, sym := range pyelf.ContainerTypeSymbols {
		assert.Equal(t, b.ContainerTypes[i]+0x10, c.ContainerTypes[containerTypes[sym]], sym)
	}
}

// The CPython flag bits the BPF programs test are cpython's.
func TestCPythonFlagsMatchSymbolize(t *testing.T) {
	enum := bpfEnum(t, "cpython_flags")
	want := map[string]uint64{
		"CO_VARARGS":            cpython.CO_VARARGS,
		"CO_VARKEYWORDS":        cpython.CO_VARKEYWORDS,
		"CO_GENERATOR":          cpython.CO_GENERATOR,
		"CO_COROUTINE":          cpython.CO_COROUTINE,
		"CO_ITERABLE_COROUTINE": cpython.CO_ITERABLE_COROUTINE,
		"CO_ASYNC_GENERATOR":    cpython.CO_ASYNC_GENERATOR,
		"Py_TPFLAGS_HEAPTYPE":   cpython.Py_TPFLAGS_HEAPTYPE,
	}
	assert.Equal(t, want, enum)
}
