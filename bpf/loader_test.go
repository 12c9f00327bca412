package bpf

import (
	"regexp"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every counter of enum stat_index has a name of its own, in lower snake
// case like the other keys of a snapshot's stats.
func TestStatNames(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	seen := map[string]StatIndex{}
	for i, name := range StatNames {
		assert.Regexp(t, snake, name, "stat %d", i)
		if j, dup := seen[name]; dup {
			t.Errorf("stats %d and %d are both named %q", j, i, name)
		}
		seen[name] = StatIndex(i)
	}
}

// The maps bpf2go lists are every map of the object but its data sections,
// which no program uses: each program load gets them all as replacements,
// and creates no map of its own.
func TestMapsByName(t *testing.T) {
	spec, err := loadRecapi()
	require.NoError(t, err)
	var want []string
	for name := range spec.Maps {
		if !strings.HasPrefix(name, ".") {
			want = append(want, name)
		}
	}
	var got []string
	for name, m := range mapsByName(&recapiMaps{}) {
		got = append(got, name)
		assert.Nil(t, m)
	}
	assert.ElementsMatch(t, want, got)
	for name, p := range spec.Programs {
		for _, ins := range p.Instructions {
			if ref := ins.Reference(); ins.IsLoadFromMap() && strings.HasPrefix(ref, ".") {
				t.Errorf("program %s uses %s, a data section no program load shares", name, ref)
			}
		}
	}
}

// A cookie holds the probe kind and the register as COOKIE_PROBE and
// COOKIE_REG (include/events.h) take them apart, for every kind and every
// register a program reads the frame from.
func TestCookie(t *testing.T) {
	spec, err := loadRecapi()
	require.NoError(t, err)
	values := func(name string) []btf.EnumValue {
		var e *btf.Enum
		require.NoError(t, spec.Types.TypeByName(name, &e))
		return e.Values
	}
	const (
		shift = uint64(recapiCookieLayoutCOOKIE_REG_SHIFT)
		mask  = uint64(recapiCookieLayoutCOOKIE_FIELD_MASK)
	)
	for _, how := range values("probe_kind") {
		for _, reg := range values("frame_reg") {
			c, err := cookie(ProbeKind(how.Value), FrameReg(reg.Value))
			if reg.Name == "REG_NONE" || reg.Name == "REG_RSP" {
				assert.Error(t, err, reg.Name)
				continue
			}
			require.NoError(t, err, reg.Name)
			assert.Equal(t, how.Value, c&mask, "%s, %s: COOKIE_PROBE", how.Name, reg.Name)
			assert.Equal(t, reg.Value, c>>shift&mask, "%s, %s: COOKIE_REG", how.Name, reg.Name)
		}
	}
	_, err = cookie(ProbeCall, RegR15+1)
	assert.Error(t, err)
}
