package tracer

import (
	"bufio"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/pyelf"
)

// roundsScript calls shape(x) once for each of N objects of N classes of
// its own, for every line read from stdin, and prints "done" after each
// round: N call shapes, each with a signature and a type to name.
const roundsScript = `
import sys
N = int(sys.argv[1])
objs = [type("C%d" % i, (), {})() for i in range(N)]
def shape(x):
    return x
print("ready", flush=True)
for line in sys.stdin:
    for o in objs:
        shape(o)
    print("done", flush=True)
`

// A name the full ring buffer refused is sent again at its key's next
// sight, within the same drain interval: nothing is recorded without its
// types. Round 1 runs with no one reading the ring buffer, so it fills
// after about two thirds of the shapes; the reader then empties it, and
// round 2 calls every shape again. Only the shapes round 1 could not name
// send anything then, and they fit. (Before keys were marked, round 2 sent
// nothing: a key is new only once per drain interval.)
func TestRefusedNamesAreSentAgain(t *testing.T) {
	testutil.RequireBPF(t)
	const buffer = 64 << 10
	tr, err := newTracer(slog.New(slog.DiscardHandler), Options{Outcomes: OutcomePolicy{Mode: "off"}, EventBuffer: buffer})
	require.NoError(t, err)
	reading := false
	defer func() {
		if !reading {
			go tr.readEvents()
		}
		tr.Close()
	}()

	// What one shape sends: its signature (one parameter) and its class,
	// each with the ring buffer's 8-byte record header, 8-byte aligned.
	sig := int(unsafe.Offsetof(bpf.SigEvent{}.Nodes)) + bpf.NodesPerValue*8
	each := (sig + 8 + 7) &^ 7
	each += (int(unsafe.Sizeof(bpf.TypeEvent{})) + 8 + 7) &^ 7
	n := 3 * buffer / (2 * each) // one and a half buffers' worth

	cmd := exec.Command(testutil.DebianPython, "-c", roundsScript, fmt.Sprint(n))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	out := bufio.NewReader(stdout)
	expect := func(want string) {
		t.Helper()
		line, err := out.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, want+"\n", line)
	}
	expect("ready")
	p, err := pyelf.FindInterpreter(cmd.Process.Pid)
	require.NoError(t, err)
	require.NoError(t, tr.Attach(p, nil))

	round := func() {
		t.Helper()
		_, err := fmt.Fprintln(stdin, "go")
		require.NoError(t, err)
		expect("done")
	}
	round()
	st, err := tr.objs.Stats()
	require.NoError(t, err)
	require.NotZero(t, st["events_lost"], "round 1 must overflow the %d-byte buffer (%d shapes of %d bytes)", buffer, n, each)
	t.Logf("round 1: %d shapes, %d names lost", n, st["events_lost"])

	reading = true
	go tr.readEvents()
	tr.catchUp()
	round()

	recs, err := tr.Drain()
	require.NoError(t, err)
	st, err = tr.objs.Stats()
	require.NoError(t, err)
	assert.NotZero(t, st["names_resent"])
	types := map[string]uint64{}
	for _, r := range recs {
		if r.Function.Qualname != "shape" {
			continue
		}
		assert.False(t, r.Partial, "%+v", r)
		require.Len(t, r.Params, 1)
		types[r.Params[0].Type] += r.Calls
	}
	assert.Len(t, types, n, "every class named once")
	for typ, calls := range types {
		assert.True(t, strings.HasPrefix(typ, "__main__.C"), "type %q", typ)
		assert.Equal(t, uint64(2), calls, "calls of shape(%s)", typ)
	}
	snap := tr.Snapshot("h")
	assert.Zero(t, snap.Header.Stats["signatures_unknown"])
}
