package main_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/internal/testutil"
)

// demoRoundsEnv sets the rounds app.py runs in TestDemoExact; the default is
// app.py's own, as make demo runs it. scripts/vmtest.sh runs fewer, because
// the ground truth alone takes over two minutes under software emulation.
const demoRoundsEnv = "RECAPI_DEMO_ROUNDS"

// The demo app traced as make demo traces it, with Debian's stripped 3.11:
// every call shape of app.py equals the in-process ground truth, and the
// counts the README shows are exact. The kernel matrix (scripts/vmtest.sh)
// runs this in every VM.
func TestDemoExact(t *testing.T) {
	testutil.RequireBPF(t)
	_, err := os.Stat(testutil.DebianPython)
	require.NoError(t, err, "the demo runs Debian's python3.11: run scripts/install-deps.sh")
	rounds := 15000
	if s := os.Getenv(demoRoundsEnv); s != "" {
		rounds, err = strconv.Atoi(s)
		require.NoError(t, err, demoRoundsEnv)
	}
	py := testutil.Interpreter{Name: "debian-3.11", Path: testutil.DebianPython, Minor: 11}
	script := py.Stage(t, filepath.Join("demo", "app.py"))
	arg := strconv.Itoa(rounds)
	want := gtCounts(groundTruth(t, py, script, arg), script)
	r := runRecapid(t, append([]string{"--returns=always", "--"}, py.Command(script, arg)...)...)
	require.Equal(t, 0, r.code, "recapid failed:\n%s", r.stderr)
	require.NotNil(t, r.snap)
	assertMatchesGroundTruth(t, py, want, r.snap, script)

	// Five orders and one restock scan per round; at the default rounds, the
	// counts the README shows.
	counts := map[string]uint64{"build_order": 5 * uint64(rounds), "Inventory.low_stock": uint64(rounds)}
	if rounds == 15000 {
		counts["LineItem.subtotal"] = 250000
		counts["PriceBook.quote"] = 125000
		counts["make_discount.<locals>.discount"] = 107500
	}
	for qual, n := range counts {
		var calls uint64
		for _, rr := range findRecords(r.snap, script, qual) {
			calls += rr.Calls
		}
		assert.Equal(t, n, calls, qual)
	}
	for _, k := range []string{"resume_oparg_unknown", "frames_unreadable", "code_unreadable", "events_lost", "counts_map_full", "signatures_unknown"} {
		assert.Zero(t, r.snap.Header.Stats[k], "stat %s", k)
	}
}
