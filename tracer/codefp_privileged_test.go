package tracer

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/pyelf"
)

// codeFPScript calls functions of every kind, from callers of every kind,
// until its stdin closes. Every code object it runs lives as long as it
// does.
const codeFPScript = `import sys, threading, time

def plain(a, b=1, *args, c, **kw):
    return a

class Box:
    def method(self, x):
        return x
    @classmethod
    def build(cls):
        return cls()

def gen(n):
    for i in range(n):
        yield i

async def coro():
    return 1

def caller():
    b = Box.build()
    b.method(plain(1, c=2))
    list(gen(2))
    c = coro()
    try:
        c.send(None)
    except StopIteration:
        pass
    return (lambda y: y)(3)

done = False
def wait_stdin():
    global done
    sys.stdin.read()
    done = True
threading.Thread(target=wait_stdin, daemon=True).start()
print("ready", flush=True)
while not done:
    caller()
    time.sleep(0.005)
`

// The fingerprint the daemon computes from a process's memory (memCodeFP)
// is the one BPF computes (code_fp in recapi.bpf.c), for every code object
// BPF counted a call of, callee or caller, on every interpreter: a code
// object whose first-sight event was lost is named from memory only when
// the two agree.
func TestCodeFingerprintMatchesBPF(t *testing.T) {
	testutil.RequireBPF(t)
	for _, py := range testutil.Interpreters(t) {
		t.Run(py.Name, func(t *testing.T) {
			inside, outside := py.TempFile(t, "codefp.py")
			require.NoError(t, os.WriteFile(outside, []byte(codeFPScript), 0o644))
			argv := py.Command(inside)
			cmd, stdout := startReady(t, argv)
			go func() { _, _ = io.Copy(io.Discard, stdout) }()

			p, err := pyelf.FindInterpreter(cmd.Process.Pid)
			require.NoError(t, err)
			tr, err := New(slog.New(slog.DiscardHandler), Options{Outcomes: OutcomePolicy{Mode: "off"}})
			require.NoError(t, err)
			defer tr.Close()
			require.NoError(t, tr.Attach(p, nil))
			tg := tr.target(uint32(cmd.Process.Pid))
			require.NotNil(t, tg)

			// Counts of a few rounds of caller(), read while the process
			// still runs them.
			fps := map[uint64]uint64{} // code object: BPF's fingerprint
			add := func(code, fp uint64) {
				if code == 0 {
					return
				}
				if old, ok := fps[code]; ok && old != fp {
					t.Errorf("code object %#x: BPF gave fingerprints %#x and %#x", code, old, fp)
				}
				fps[code] = fp
			}
			require.Eventually(t, func() bool {
				if err := tr.objs.SwapCounts(true); err != nil {
					return false
				}
				err := tr.objs.DrainCounts(func(k *bpf.CallKey, _ uint64) {
					add(k.Code, k.CodeFp)
					add(k.Caller, k.CallerFp)
				})
				return err == nil && len(fps) >= 8
			}, 30*time.Second, 100*time.Millisecond, "BPF counted calls of %d code objects", len(fps))

			for code, fp := range fps {
				got, err := tg.memCodeFP(code)
				if assert.NoError(t, err, "code object %#x", code) {
					assert.Equal(t, fp, got, "fingerprint of code object %#x: memCodeFP, BPF's code_fp", code)
				}
			}
		})
	}
}
