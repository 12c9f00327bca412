package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/pyelf"
)

// CPython's JIT (built into Debian's 3.14 and 3.15, off unless PYTHON_JIT=1)
// runs a hot loop's calls as machine code that passes every handler probe.
// With it on, recapid says so when it attaches and in the snapshot; with it
// off, every call is counted. Whether the JIT was on is the interpreter's own
// answer (sys._jit.is_enabled()). Interpreters without the JIT ignore
// PYTHON_JIT and get no warning.
func TestJITIsNamed(t *testing.T) {
	testutil.RequireBPF(t)
	withJIT := 0
	for _, py := range testutil.Interpreters(t) {
		if py.Minor < 13 {
			continue // no JIT before 3.13
		}
		// pyenv's builds keep the interpreter in libpython.
		elfPath := filepath.Join(py.Root, py.Path)
		if lib := filepath.Join(filepath.Dir(filepath.Dir(py.Path)), "lib", fmt.Sprintf("libpython3.%d.so.1.0", py.Minor)); py.Root == "" {
			if _, err := os.Stat(lib); err == nil {
				elfPath = lib
			}
		}
		b, err := pyelf.Analyze(elfPath)
		require.NoError(t, err)
		if b.JIT {
			withJIT++
		}
		t.Run(py.Name, func(t *testing.T) {
			script := stage(t, py, "jit_loop.py")
			for _, env := range []string{"PYTHON_JIT=1", "PYTHON_JIT=0"} {
				r := runRecapid(t, append([]string{"--", "env", env}, py.Command(script)...)...)
				require.Equal(t, 0, r.code, "recapid failed:\n%s", r.stderr)
				var truth struct {
					JITOn bool   `json:"jit_on"`
					Calls uint64 `json:"calls"`
				}
				require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &truth), "the workload's output: %q", r.stdout)
				require.Equal(t, b.JIT && env == "PYTHON_JIT=1", truth.JITOn, "%s with %s: the interpreter's JIT state", py.Name, env)
				require.Len(t, r.snap.Header.Interpreters, 1)
				in := r.snap.Header.Interpreters[0]
				var calls uint64
				for _, rec := range findRecords(r.snap, script, "f") {
					calls += rec.Calls
				}
				if truth.JITOn {
					assert.Contains(t, r.stderr, "the JIT is on: calls made inside JIT-compiled code are not recorded", env)
					assert.Equal(t, "calls made inside JIT-compiled code (PYTHON_JIT=1)", in.Unrecorded, env)
					assert.Less(t, calls, truth.Calls, "%s: the JIT ran calls no probe saw (if this fails, the JIT no longer hides calls: drop the warning)", env)
				} else {
					assert.NotContains(t, r.stderr, "the JIT is on", env)
					assert.Empty(t, in.Unrecorded, env)
					assert.Equal(t, truth.Calls, calls, "%s: every call of f", env)
				}
			}
		})
	}
	require.NotZero(t, withJIT, "no interpreter with the JIT built in: sid's 3.14 and 3.15 have it (scripts/make-testroots.sh)")
}
