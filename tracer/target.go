package tracer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/proc"
	"github.com/recapi/recapi/pyelf"
)

// target is one traced process. It owns what is known about the process:
// its memory, the names of its code objects and types and the descriptions
// of its arguments and values (from first-sight events, read again from
// memory where BPF could not copy them whole), its qualname index, and the
// state of its outcome windows.
//
// The event reader only hands a target its events (arrive): the target's
// own naming goroutine names them, reading the process's memory and
// rebuilding the qualname index as needed, and Drain names what is left
// before it counts. Neither holds the Tracer's lock meanwhile, nor keeps the
// reader from the next event.
type target struct {
	pid     int
	layout  cpython.Layout
	mem     *proc.Memory
	rd      *cpython.Reader // CPython objects in mem
	info    aggregate.Interpreter
	python  string   // "3.11"
	mainPy  []string // the script run as __main__, if any
	started uint64   // start time from /proc/PID/stat, to notice PID reuse
	runtime uint64   // address of _PyRuntime in the process
	// containers are the runtime addresses of list, tuple, dict, set and
	// frozenset, whose element types BPF samples.
	containers [bpf.ContainerCount]uint64
	objs       *bpf.Objects // the Tracer's, for the windows
	log        *slog.Logger
	// stats counts what could not be named, for the snapshot's stats.
	stats counters

	// Events that arrived and are not named yet: the event reader appends,
	// the naming goroutine (or Drain) takes them. wake tells the goroutine
	// there are some; stop ends it, and it closes stopped.
	inboxMu   sync.Mutex
	inbox     []bpf.Event
	wake      chan struct{}
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once

	// mu guards what is known of the process (codes.go, types.go), and the
	// call shapes seen. It is held while naming, which reads the process's
	// memory. Take it after the Tracer's mu, never before.
	mu    sync.Mutex
	codes map[codeKey]*codeMeta
	// qix maps code objects to qualnames and modules from sys.modules.
	qix       *cpython.QualnameIndex
	qixBuilt  time.Time                   // when the last rebuild of qix ended
	qixCost   time.Duration               // how long it took
	unnamed   []*codeMeta                 // code objects not found in qix yet (retried at drains)
	nested    map[uint64]cpython.CodeName // names from module bodies' constants
	types     map[uint64]typeMeta
	sigs      map[uint64][]uint64  // argument descriptions by sig hash
	values    map[uint64][]uint64  // container value descriptions by hash
	shapes    map[shapeID]struct{} // call shapes seen, to notice new ones
	newShapes bool
	// Counts waiting for the descriptions their records need (held.go).
	heldCalls    map[bpf.CallKey]heldCount
	heldOutcomes map[bpf.OutcomeKey]heldCount

	// Probes and outcome windows (windows.go), guarded by the Tracer's mu.
	ex    *link.Executable
	links []link.Link // the call probes
	// outcomeProbes see how calls end; attached only during outcome windows.
	outcomeProbes []pyelf.ProbePoint
	outcomeLinks  []link.Link
	outcomesOn    bool
	windowStart   time.Time
	nextWindow    time.Time // auto mode: no window opens before this
	exited        bool
	// swept are calls that were still waiting for their end when the last
	// outcome window closed, for the next Drain to count.
	swept []bpf.CallKey
}

// shapeID identifies a call shape of a process for noticing new ones.
type shapeID struct{ code, fp, caller, sig uint64 }

// newTarget opens the memory of the process p and starts what is known of
// it. command is the command line recapid launched, nil for a running
// process.
func newTarget(p *pyelf.Process, command []string, objs *bpf.Objects, log *slog.Logger) (*target, error) {
	b := p.Binary
	mem, err := proc.OpenMemory(p.PID)
	if err != nil {
		return nil, err
	}
	if b.Layout.Minor >= 13 && command == nil {
		// 3.13+ describes its own layout: refuse rather than misread. (Analyze
		// checked the copy in the file; this checks the running process. A
		// launched one is stopped before ld.so has mapped its data.)
		if err := cpython.CheckDebugOffsets(mem, b.Runtime+p.Bias, b.Layout); err != nil {
			mem.Close()
			return nil, fmt.Errorf("check the layout of pid %d (CPython %s): %w", p.PID, b.Version, err)
		}
	}
	tg := &target{
		pid:     p.PID,
		layout:  b.Layout,
		mem:     mem,
		rd:      cpython.NewReader(mem, b.Layout),
		python:  b.Version.Short(),
		info:    aggregate.Interpreter{PID: p.PID, Python: b.Version.String(), Path: p.ELFPath, Command: command},
		runtime: b.Runtime + p.Bias,
		objs:    objs,
		log:     log,
		codes:   map[codeKey]*codeMeta{},
		nested:  map[uint64]cpython.CodeName{},
		types:   map[uint64]typeMeta{},
		sigs:    map[uint64][]uint64{},
		values:  map[uint64][]uint64{},
		shapes:  map[shapeID]struct{}{},
	}
	if len(tg.info.Command) == 0 {
		tg.info.Command = proc.Cmdline(p.PID)
	}
	if jit := proc.Getenv(p.PID, "PYTHON_JIT"); b.JITOn(jit) {
		// Traces the JIT compiled run calls as machine code, past every
		// handler probe: measured on sid's 3.14, 4,096 of a hot loop's
		// 200,000 calls were seen, on 3.15 one.
		tg.info.Unrecorded = "calls made inside JIT-compiled code (PYTHON_JIT=" + jit + ")"
		log.Warn("the JIT is on: calls made inside JIT-compiled code are not recorded, and a hot loop's calls may be missed almost entirely; run the program with PYTHON_JIT=0 to record every call",
			"pid", p.PID, "python", b.Version.String(), "PYTHON_JIT", jit)
	}
	// The process's own argv: a launched wrapper (env, chroot) has exec'd it.
	tg.mainPy = mainScript(p.PID, proc.Cmdline(p.PID))
	tg.started = proc.StartTime(p.PID)
	tg.startNaming()
	return tg, nil
}

// alive reports whether the process recapid attached to still runs (and
// not another one that got its PID).
func (tg *target) alive() bool {
	return tg.started != 0 && proc.StartTime(tg.pid) == tg.started
}

// startNaming starts the goroutine that names the events that arrive.
func (tg *target) startNaming() {
	tg.wake = make(chan struct{}, 1)
	tg.stop = make(chan struct{})
	tg.stopped = make(chan struct{})
	go func() {
		defer close(tg.stopped)
		for {
			select {
			case <-tg.stop:
				return
			case <-tg.wake:
				tg.mu.Lock()
				tg.nameArrived()
				tg.mu.Unlock()
			}
		}
	}()
}

// arrive hands the target a first-sight event about its process, to be
// named by its naming goroutine. It does not wait for that.
func (tg *target) arrive(ev bpf.Event) {
	tg.inboxMu.Lock()
	tg.inbox = append(tg.inbox, ev)
	tg.inboxMu.Unlock()
	select {
	case tg.wake <- struct{}{}:
	default:
	}
}

// nameArrived names the events that have arrived. Called with tg.mu held.
func (tg *target) nameArrived() {
	for {
		tg.inboxMu.Lock()
		evs := tg.inbox
		tg.inbox = nil
		tg.inboxMu.Unlock()
		if len(evs) == 0 {
			return
		}
		for _, ev := range evs {
			tg.handle(ev)
		}
	}
}

// handle takes in a first-sight event about the process: the names of a
// code object or a type, the descriptions behind a signature or a value.
// Called with tg.mu held.
func (tg *target) handle(ev bpf.Event) {
	switch {
	case ev.Sig != nil:
		tg.sigs[ev.Sig.Hdr.Ptr] = ev.Sig.Nodes
	case ev.Val != nil:
		tg.values[ev.Val.Hdr.Ptr] = ev.Val.Nodes
	case ev.Code != nil:
		tg.codes[codeKey{ev.Code.Hdr.Ptr, ev.Code.Hdr.Fp}] = tg.codeFromEvent(ev.Code)
	case ev.Type != nil:
		m, fromMemory := tg.typeFromEvent(ev.Type)
		tg.types[ev.Type.Hdr.Ptr] = m
		if fromMemory {
			tg.stats.add("types_named_from_memory", 1)
		}
	}
}

// eventPID is the process an event is about.
func eventPID(ev bpf.Event) uint32 {
	switch {
	case ev.Sig != nil:
		return ev.Sig.Hdr.Pid
	case ev.Val != nil:
		return ev.Val.Hdr.Pid
	case ev.Code != nil:
		return ev.Code.Hdr.Pid
	case ev.Type != nil:
		return ev.Type.Hdr.Pid
	}
	return 0
}

// count adds one kernel count of the process to delta, as a named record
// (or holds it until its descriptions arrive, held.go). Calls still waiting
// for their end are not counted here: they are when they end, from the
// outcome maps. Called with tg.mu held.
func (tg *target) count(k *bpf.CallKey, n uint64, now time.Time, delta *aggregate.Aggregator) {
	id := shapeID{k.Code, k.CodeFp, k.Caller, k.Sig}
	if _, ok := tg.shapes[id]; !ok {
		tg.shapes[id] = struct{}{}
		tg.newShapes = true
	}
	if k.Kind&bpf.CallPending != 0 {
		return
	}
	if tg.log.Enabled(context.Background(), slog.LevelDebug) {
		tg.log.Debug("count", "pid", k.Pid, "kind", k.Kind, "code", fmt.Sprintf("%#x", k.Code), "caller", fmt.Sprintf("%#x", k.Caller),
			"nparams", k.Nparams, "sig", fmt.Sprintf("%#x", k.Sig), "n", n, "described", tg.describable(k))
	}
	tg.countCall(k, n, now, delta)
}

// countSwept adds the calls swept when the last outcome window closed to
// delta, as ended unseen. Called with the Tracer's mu and tg.mu held.
func (tg *target) countSwept(now time.Time, delta *aggregate.Aggregator) {
	for i := range tg.swept {
		k := &bpf.OutcomeKey{Call: tg.swept[i], Outcome: bpf.OutcomeUnseen}
		tg.countOutcome(k, 1, now, delta)
	}
	tg.swept = nil
}

// takeNewShapes reports whether call shapes were seen for the first time
// since the last call.
func (tg *target) takeNewShapes() bool {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	n := tg.newShapes
	tg.newShapes = false
	return n
}

// close stops the naming goroutine and releases the process's memory.
func (tg *target) close() {
	tg.closeOnce.Do(func() {
		if tg.stop != nil {
			close(tg.stop)
			<-tg.stopped
		}
		tg.mu.Lock()
		defer tg.mu.Unlock()
		if tg.mem != nil {
			tg.mem.Close()
		}
	})
}

// counters are named counts, safe for concurrent use.
type counters struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (c *counters) add(name string, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]uint64{}
	}
	c.m[name] += n
}

// addTo adds every count to dst.
func (c *counters) addTo(dst map[string]uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m {
		dst[k] += v
	}
}
