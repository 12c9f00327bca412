package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/proc"
	"github.com/recapi/recapi/pyelf"
)

// recordReader is the part of *ringbuf.Reader the tracer uses.
type recordReader interface {
	ReadInto(*ringbuf.Record) error
	Flush() error
	Close() error
}

// countMaps is the part of *bpf.Objects that Drain reads counts from.
type countMaps interface {
	SwapCounts(running bool) error
	DrainCounts(fn func(k *bpf.CallKey, n uint64)) error
	DrainOutcomes(fn func(k *bpf.OutcomeKey, n uint64)) error
}

// Tracer owns the loaded BPF objects, the traced processes and what is known
// about their code objects and types. Pointers never leave it: Drain turns
// kernel counts into named aggregate.Records.
type Tracer struct {
	log  *slog.Logger
	objs *bpf.Objects
	rd   recordReader
	// caughtUp receives one value each time the event reader has consumed
	// everything that was in the ring buffer when Flush was called.
	caughtUp   chan struct{}
	readerDone chan struct{}
	// counts is where Drain reads counts: objs, or a fake in tests.
	counts countMaps

	mu      sync.Mutex
	targets map[uint32]*target
	agg     *aggregate.Aggregator // the totals of every Drain, for Snapshot
	stats   map[string]uint64     // counters of the Go side, merged into the snapshot header
	policy  OutcomePolicy
	// steps, while set, is told how long Attach's steps take.
	steps func(step string, d time.Duration)
	// detached is set once DetachAll has removed every probe: no program
	// runs any more.
	detached bool
	// removing counts the goroutines still removing probes of processes
	// that are gone (DetachAll); Close waits for them.
	removing sync.WaitGroup
	// swept are calls that were still waiting for their end when their
	// outcome window closed, for the next Drain to count.
	swept []bpf.CallKey
	// pendingFull is the pending_map_full stat at the last refresh of the
	// windows of --returns always.
	pendingFull uint64
}

// OutcomePolicy says when the outcome probes (returns, yields, raises) are
// attached. Each costs a second trap per call, so "auto" attaches them in
// windows: from the start, for Window; then again for Window when new call
// shapes appear, at most one Window in ten.
type OutcomePolicy struct {
	Mode   string // "auto", "always" or "off"
	Window time.Duration
}

// target is one traced process.
type target struct {
	pid     int
	proc    *pyelf.Process
	layout  cpython.Layout
	mem     *proc.Memory
	links   []link.Link
	info    aggregate.Interpreter
	python  string   // "3.11"
	mainPy  []string // the script run as __main__, if any
	started uint64   // start time from /proc/PID/stat, to notice PID reuse

	codes map[codeKey]*codeMeta
	// qix maps code objects to qualnames and modules from sys.modules.
	qix      *cpython.QualnameIndex
	qixBuilt time.Time                   // when the last rebuild of qix ended
	qixCost  time.Duration               // how long it took
	runtime  uint64                      // address of _PyRuntime in the process
	unnamed  []*codeMeta                 // code objects not found in qix yet (retried at drains)
	nested   map[uint64]cpython.CodeName // names from module bodies' constants
	types    map[uint64]typeMeta
	sigs     map[uint64][]uint64 // argument descriptions by sig hash
	values   map[uint64][]uint64 // container value descriptions by hash
	// containers are the runtime addresses of list, tuple, dict, set and
	// frozenset, whose element types BPF samples.
	containers [bpf.ContainerCount]uint64

	ex *link.Executable
	// outcomeProbes see how calls end; attached only during outcome windows.
	outcomeProbes []pyelf.ProbePoint
	outcomeLinks  []link.Link
	outcomesOn    bool
	windowStart   time.Time
	nextWindow    time.Time            // auto mode: no window opens before this
	shapes        map[shapeID]struct{} // call shapes seen, to notice new ones
	newShapes     bool
	exited        bool
}

// shapeID identifies a call shape of a process for noticing new ones.
type shapeID struct{ code, fp, caller, sig uint64 }

// codeKey names a code object: its address and a fingerprint that changes
// when the address is reused by another code object.
type codeKey struct{ ptr, fp uint64 }

type codeMeta struct {
	ptr   uint64
	name  string // co_name
	tries int    // drains at which the name was looked for again
	// defaults says per parameter whether it has a default; nil if unknown.
	defaults []bool
	fn       aggregate.Function
	names    []string
	kinds    []cpython.ParamKind
	kind     string
	partial  bool
}

type typeMeta struct {
	name    string
	partial bool
	flags   uint64   // tp_flags
	mro     []string // names in __mro__ (heap types)
}

// New loads the BPF maps, starts verifying the call program in the
// background (Attach waits for it), and starts reading events.
func New(log *slog.Logger, policy OutcomePolicy) (*Tracer, error) {
	objs, err := bpf.LoadMaps()
	if err != nil {
		return nil, err
	}
	objs.Prepare(bpf.ProbeCall)
	rd, err := objs.NewEventReader()
	if err != nil {
		objs.Close()
		return nil, err
	}
	t := &Tracer{
		log:        log,
		objs:       objs,
		counts:     objs,
		rd:         rd,
		caughtUp:   make(chan struct{}, 1),
		readerDone: make(chan struct{}),
		targets:    map[uint32]*target{},
		agg:        aggregate.NewAggregator(),
		stats:      map[string]uint64{},
		policy:     policy,
	}
	go t.readEvents()
	return t, nil
}

// Attach installs the process's layout in BPF and attaches the call probes.
// On error nothing stays attached and the process is untouched. command is
// the command line recapid launched, nil for a running process.
func (t *Tracer) Attach(p *pyelf.Process, command []string) error {
	b := p.Binary
	returnsOK := b.OutcomeErr == nil
	// Have the kernel verify the programs this interpreter's probes need
	// while the rest is set up.
	hows := []bpf.ProbeKind{bpf.ProbeCall}
	for _, pp := range b.OutcomeProbes {
		if pp.Kind == pyelf.ProbeCreate || returnsOK && t.policy.Mode != "off" {
			hows = append(hows, probeHow[pp.Kind])
		}
	}
	t.objs.Prepare(hows...)
	mem, err := proc.OpenMemory(p.PID)
	if err != nil {
		return fmt.Errorf("open memory of pid %d: %w", p.PID, err)
	}
	if b.Layout.Minor >= 13 && command == nil {
		// 3.13+ describes its own layout: refuse rather than misread. (Analyze
		// checked the copy in the file; this checks the running process. A
		// launched one is stopped before ld.so has mapped its data.)
		if err := cpython.CheckDebugOffsets(mem, b.Runtime+p.Bias, b.Layout); err != nil {
			mem.Close()
			return fmt.Errorf("check the layout of pid %d (CPython %s): %w", p.PID, b.Version, err)
		}
	}
	tg := &target{
		pid:     p.PID,
		proc:    p,
		layout:  b.Layout,
		mem:     mem,
		python:  b.Version.Short(),
		info:    aggregate.Interpreter{PID: p.PID, Python: b.Version.String(), Path: p.ELFPath, Command: command},
		codes:   map[codeKey]*codeMeta{},
		runtime: b.Runtime + p.Bias,
		nested:  map[uint64]cpython.CodeName{},
		types:   map[uint64]typeMeta{},
		sigs:    map[uint64][]uint64{},
		values:  map[uint64][]uint64{},
		shapes:  map[shapeID]struct{}{},
	}
	if len(tg.info.Command) == 0 {
		tg.info.Command = proc.Cmdline(p.PID)
	}
	// The process's own argv: a launched wrapper (env, chroot) has exec'd it.
	tg.mainPy = mainScript(p.PID, proc.Cmdline(p.PID))
	tg.started = proc.StartTime(p.PID)

	cfg := pyConfig(b, p.Bias)
	tg.containers = cfg.ContainerTypes
	t.mu.Lock()
	t.targets[uint32(p.PID)] = tg
	t.mu.Unlock()
	// The config goes in first, so the very first hit is recorded.
	if err := t.objs.SetConfig(uint32(p.PID), cfg); err != nil {
		t.forget(tg)
		return err
	}
	ex, err := link.OpenExecutable(p.OpenPath)
	if err != nil {
		t.forget(tg)
		return fmt.Errorf("open %s for uprobes: %w", p.OpenPath, err)
	}
	t0 := time.Now()
	var calls []bpf.Probe
	for _, pp := range b.Probes {
		calls = append(calls, bpfProbe(pp))
	}
	if !returnsOK {
		t.log.Warn("return types are not recorded for this interpreter", "pid", p.PID, "err", b.OutcomeErr)
	}
	for _, pp := range b.OutcomeProbes {
		if pp.Kind == pyelf.ProbeCreate {
			// Generator creation: one trap per created object, always on.
			calls = append(calls, bpfProbe(pp))
		} else if returnsOK {
			tg.outcomeProbes = append(tg.outcomeProbes, pp)
		}
	}
	if tg.links, err = t.objs.Attach(ex, p.PID, calls); err != nil {
		t.forget(tg)
		return fmt.Errorf("attach to pid %d (%s): %w", p.PID, p.ELFPath, err)
	}
	tg.ex = ex
	t0 = t.step("attach", t0)
	if t.policy.Mode != "off" && len(tg.outcomeProbes) > 0 {
		t.mu.Lock()
		err := t.openWindow(tg)
		t.mu.Unlock()
		if err != nil {
			t.forget(tg)
			return fmt.Errorf("attach to pid %d (%s): %w", p.PID, p.ELFPath, err)
		}
		t.step("outcome_attach", t0)
	}
	t.log.Info("attached", "pid", p.PID, "python", b.Version.String(), "path", p.ELFPath, "probes", len(calls),
		"outcome_probes", len(tg.outcomeProbes), "returns", t.policy.Mode)
	return nil
}

// TimeSteps has Attach tell fn how long each of its steps takes: attach
// (the call probes), outcome_attach (the outcome probes, when a window
// opens at once). nil stops it.
func (t *Tracer) TimeSteps(fn func(step string, d time.Duration)) { t.steps = fn }

// step tells the steps function that the step name began at t0 and ended
// now, and returns now, where the next step begins.
func (t *Tracer) step(name string, t0 time.Time) time.Time {
	now := time.Now()
	if t.steps != nil {
		t.steps(name, now.Sub(t0))
	}
	return now
}

// LoadTimes says how long creating the maps (bpf_maps) and loading, which
// is verifying, each program loaded so far (verify_<program>) took.
func (t *Tracer) LoadTimes() map[string]time.Duration {
	out := map[string]time.Duration{"bpf_maps": t.objs.MapsLoadTime()}
	for n, v := range t.objs.Verified() {
		out["verify_"+n] = v.LoadTime
	}
	return out
}

// openWindow attaches the outcome probes of a target and then lets BPF
// count its calls at their end. Called with t.mu held.
func (t *Tracer) openWindow(tg *target) error {
	var probes []bpf.Probe
	for _, pp := range tg.outcomeProbes {
		probes = append(probes, bpfProbe(pp))
	}
	links, err := t.objs.Attach(tg.ex, tg.pid, probes)
	if err != nil {
		return err
	}
	tg.outcomeLinks = links
	if err := t.objs.SetOutcomes(uint32(tg.pid), true); err != nil {
		t.closeOutcomeLinks(tg)
		return err
	}
	tg.outcomesOn = true
	tg.windowStart = time.Now()
	t.log.Debug("outcome window opened", "pid", tg.pid)
	return nil
}

// closeWindow stops counting a target's calls at their end, detaches the
// outcome probes and takes the calls still waiting, for the next Drain to
// count as ended unseen. Called with t.mu held.
func (t *Tracer) closeWindow(tg *target) {
	if !tg.outcomesOn {
		return
	}
	if t.stopOutcomes(tg) {
		t.returnsInFlight()
	}
	t.closeOutcomeLinks(tg)
	// A return that started before its probe went may still be counting
	// its call: the sweep must not count that call again.
	t.waitForPrograms()
	t.endWindow(tg)
}

// stopOutcomes is closeWindow's first step: BPF stops counting the
// target's calls at their end. It reports whether the process runs, and so
// may have returns in flight. Called with t.mu held.
func (t *Tracer) stopOutcomes(tg *target) (running bool) {
	tg.outcomesOn = false
	if tg.exited {
		return false
	}
	if err := t.objs.SetOutcomes(uint32(tg.pid), false); err != nil {
		t.log.Warn("stop outcome counting", "pid", tg.pid, "err", err)
	}
	return true
}

// returnsInFlight waits for the programs in flight once outcome counting is
// off: a call that saw counting on may still be adding its entry; once it
// is done, no call waits unless its probes are attached.
func (t *Tracer) returnsInFlight() { t.waitForPrograms() }

// endWindow is closeWindow's last step, once the outcome probes are
// detached and the programs in flight done: the calls still waiting are
// taken for the next Drain to count as ended unseen. Called with t.mu held.
func (t *Tracer) endWindow(tg *target) {
	t.sweep(uint32(tg.pid))
	t.log.Debug("outcome window closed", "pid", tg.pid)
}

func (t *Tracer) waitForPrograms() {
	if err := t.objs.WaitForPrograms(); err != nil {
		t.log.Warn("wait for running BPF programs", "err", err)
	}
}

func (t *Tracer) closeOutcomeLinks(tg *target) {
	for _, err := range closeLinks(tg.outcomeLinks) {
		if err != nil {
			t.log.Warn("detach outcome probe", "pid", tg.pid, "err", err)
		}
	}
	tg.outcomeLinks = nil
}

// closeLinks detaches links concurrently and returns each one's error.
// Removing uprobes waits for RCU grace periods (for programs that may still
// run them): uprobe_multi links removed in parallel share them, perf-event
// links are removed one at a time under the kernel's trace event lock.
func closeLinks(links []link.Link) []error {
	errs := make([]error, len(links))
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Close()
		}()
	}
	wg.Wait()
	return errs
}

// sweep takes the calls of pid still waiting for their end. They are named
// and counted as ended unseen by the next Drain, after it has read the
// events that name them: a call that started since the last drain was
// counted in the kernel, but the event with its argument types may still
// be in the ring buffer. Called with t.mu held.
func (t *Tracer) sweep(pid uint32) {
	err := t.objs.SweepPending(pid, func(k *bpf.CallKey) {
		t.swept = append(t.swept, *k)
	})
	if err != nil {
		t.log.Warn("sweep pending calls", "pid", pid, "err", err)
	}
}

// steerWindows applies the outcome policy after a drain. Called with t.mu held.
func (t *Tracer) steerWindows(now time.Time) {
	// --returns always: BPF keeps ended calls' entries in the pending-call
	// map for reuse, and entries of frames no call reuses (freed
	// generators) stay. A short close and reopen of the window clears them,
	// but every call running across it (main, the module body) and every
	// call starting during it ends unseen: so only once the map has filled.
	refresh := false
	if t.policy.Mode == "always" {
		if st, err := t.objs.Stats(); err == nil && st["pending_map_full"] > t.pendingFull {
			t.pendingFull = st["pending_map_full"]
			refresh = true
		}
	}
	for _, tg := range t.targets {
		if len(tg.outcomeProbes) == 0 || tg.exited || len(tg.links) == 0 {
			continue
		}
		if proc.StartTime(tg.pid) != tg.started {
			// The process is gone: what still waits ended with it.
			tg.exited = true
			t.closeWindow(tg)
			continue
		}
		if refresh && tg.outcomesOn {
			t.closeWindow(tg)
			if err := t.openWindow(tg); err != nil {
				t.log.Warn("reopen outcome window", "pid", tg.pid, "err", err)
			}
			continue
		}
		if t.policy.Mode != "auto" {
			continue
		}
		switch {
		case tg.outcomesOn && now.Sub(tg.windowStart) >= t.policy.Window:
			t.closeWindow(tg)
			tg.nextWindow = now.Add(9 * t.policy.Window)
			tg.newShapes = false
		case !tg.outcomesOn && tg.newShapes && !now.Before(tg.nextWindow):
			tg.newShapes = false
			if err := t.openWindow(tg); err != nil {
				t.log.Warn("open outcome window", "pid", tg.pid, "err", err)
			}
		}
	}
}

// forget detaches a target's probes and removes its config.
func (t *Tracer) forget(tg *target) {
	closeLinks(tg.links)
	tg.links = nil
	_ = t.objs.DeleteConfig(uint32(tg.pid))
}

// DetachAll removes every probe. Counts already made stay in the maps for
// the final Drain, which also counts the calls still waiting for their end
// as ended unseen. Every probe of every target is detached at once
// (closeLinks). The probes of processes that are gone cannot fire: they are
// removed in the background, while the caller drains and writes, and Close
// waits for that.
func (t *Tracer) DetachAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	var (
		windows     []*target
		links, gone []link.Link
		pids, goneP []int // of links, gone
		running     bool
	)
	for _, tg := range t.targets {
		if !tg.exited && proc.StartTime(tg.pid) != tg.started {
			tg.exited = true // no return is in flight in a process that is gone
		}
		if tg.outcomesOn {
			running = t.stopOutcomes(tg) || running
			windows = append(windows, tg)
		}
	}
	if running {
		t.returnsInFlight()
	}
	for _, tg := range t.targets {
		for _, l := range append(tg.outcomeLinks, tg.links...) {
			if tg.exited {
				gone, goneP = append(gone, l), append(goneP, tg.pid)
			} else {
				links, pids = append(links, l), append(pids, tg.pid)
			}
		}
		tg.outcomeLinks, tg.links = nil, nil
	}
	if len(gone) > 0 {
		t.removing.Add(1)
		go func() {
			defer t.removing.Done()
			for i, err := range closeLinks(gone) {
				if err != nil {
					t.log.Warn("detach", "pid", goneP[i], "err", err)
				}
			}
		}()
	}
	for i, err := range closeLinks(links) {
		if err != nil {
			t.log.Warn("detach", "pid", pids[i], "err", err)
		}
	}
	if running {
		// A return that started before its probe went may still be
		// counting its call: the sweep must not count that call again.
		t.waitForPrograms()
	}
	// No program runs any more: what still waits for its end, waits for ever.
	for _, tg := range windows {
		t.endWindow(tg)
	}
	t.detached = true
}

// Alive reports the PIDs that still run the process we attached to.
func (t *Tracer) Alive() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int
	for _, tg := range t.targets {
		if proc.StartTime(tg.pid) == tg.started && tg.started != 0 {
			out = append(out, tg.pid)
		}
	}
	return out
}

// Drain moves the counts made since the last Drain out of the kernel maps
// and returns them as named records, one per key: the counts of this
// interval only, never totals. It also adds them to the totals Snapshot
// returns. When it fails part way, it returns what it had read with the
// error.
func (t *Tracer) Drain() ([]aggregate.Record, error) {
	t.mu.Lock()
	running := !t.detached
	t.mu.Unlock()
	if err := t.counts.SwapCounts(running); err != nil {
		return nil, err
	}
	// Every event for a key in the drained map was submitted before the swap.
	t.catchUp()
	t.mu.Lock()
	defer t.mu.Unlock()
	delta := aggregate.NewAggregator()
	err := t.drainInto(delta)
	recs := delta.Records()
	for i := range recs {
		t.agg.Add(recs[i])
	}
	return recs, err
}

// drainInto adds the drained counts to delta. Called with t.mu held.
func (t *Tracer) drainInto(delta *aggregate.Aggregator) error {
	for _, tg := range t.targets {
		tg.renamePending()
	}
	err := t.counts.DrainCounts(func(k *bpf.CallKey, n uint64) {
		tg := t.targets[k.Pid]
		if tg == nil {
			t.stats["counts_of_unknown_pid"] += n
			return
		}
		id := shapeID{k.Code, k.CodeFp, k.Caller, k.Sig}
		if _, ok := tg.shapes[id]; !ok {
			tg.shapes[id] = struct{}{}
			tg.newShapes = true
		}
		if k.Kind&bpf.CallPending != 0 {
			return // counted when it ends, from the outcome maps
		}
		rec := t.record(tg, k, n)
		if t.log.Enabled(context.Background(), slog.LevelDebug) {
			t.log.Debug("count", "pid", k.Pid, "kind", k.Kind, "code", fmt.Sprintf("%#x", k.Code), "caller", fmt.Sprintf("%#x", k.Caller),
				"nparams", k.Nparams, "sig", fmt.Sprintf("%#x", k.Sig), "n", n, "function", rec.Function.Qualname)
		}
		delta.Add(rec)
	})
	if err != nil {
		return err
	}
	if err := t.counts.DrainOutcomes(func(k *bpf.OutcomeKey, n uint64) {
		tg := t.targets[k.Call.Pid]
		if tg == nil {
			t.stats["counts_of_unknown_pid"] += n
			return
		}
		delta.Add(t.outcomeRecord(tg, k, n))
	}); err != nil {
		return err
	}
	for i := range t.swept {
		k := &bpf.OutcomeKey{Call: t.swept[i], Outcome: bpf.OutcomeUnseen}
		if tg := t.targets[k.Call.Pid]; tg != nil {
			delta.Add(t.outcomeRecord(tg, k, 1))
		}
	}
	t.swept = nil
	t.steerWindows(time.Now())
	return nil
}

// catchUp waits until the event reader has handled every event submitted
// so far, however long that takes: a drain that went on without them would
// record calls whose names are still in the ring buffer. (Giving up after a
// while also left the reader's answer in caughtUp, where the next catchUp
// took it for its own.)
func (t *Tracer) catchUp() {
	if err := t.rd.Flush(); err != nil {
		t.log.Warn("flush event reader", "err", err)
		return
	}
	start := time.Now()
	slow := time.NewTicker(5 * time.Second)
	defer slow.Stop()
	for {
		select {
		case <-t.caughtUp:
			return
		case <-t.readerDone:
			return
		case <-slow.C:
			t.log.Warn("still waiting for the event reader to catch up", "waited", time.Since(start).Round(time.Second))
		}
	}
}

func (t *Tracer) readEvents() {
	defer close(t.readerDone)
	var rec ringbuf.Record
	for {
		err := t.rd.ReadInto(&rec)
		switch {
		case err == nil:
			ev, derr := bpf.DecodeEvent(rec.RawSample)
			if derr != nil {
				t.mu.Lock()
				t.stats["events_undecodable"]++
				t.mu.Unlock()
				continue
			}
			t.handle(ev)
		case errors.Is(err, ringbuf.ErrFlushed):
			select {
			case t.caughtUp <- struct{}{}:
			default:
			}
		case errors.Is(err, ringbuf.ErrClosed):
			return
		default:
			t.log.Warn("read events", "err", err)
			return
		}
	}
}

func (t *Tracer) handle(ev bpf.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case ev.Sig != nil:
		tg := t.targets[ev.Sig.Hdr.Pid]
		if tg == nil {
			return
		}
		tg.sigs[ev.Sig.Hdr.Ptr] = ev.Sig.Nodes
	case ev.Val != nil:
		if tg := t.targets[ev.Val.Hdr.Pid]; tg != nil {
			tg.values[ev.Val.Hdr.Ptr] = ev.Val.Nodes
		}
	case ev.Code != nil:
		if tg := t.targets[ev.Code.Hdr.Pid]; tg != nil {
			tg.codes[codeKey{ev.Code.Hdr.Ptr, ev.Code.Hdr.Fp}] = codeFromEvent(tg, ev.Code)
		}
	case ev.Type != nil:
		if tg := t.targets[ev.Type.Hdr.Pid]; tg != nil {
			m, fromMemory := typeFromEvent(tg, ev.Type)
			tg.types[ev.Type.Hdr.Ptr] = m
			if fromMemory {
				t.stats["types_named_from_memory"]++
			}
		}
	}
}

// Snapshot returns everything recorded so far: the totals of every Drain.
func (t *Tracer) Snapshot(host string) *aggregate.Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := aggregate.Header{
		Snapshot: aggregate.SnapshotVersion,
		Created:  time.Now().UTC().Truncate(time.Second),
		Host:     host,
		Mode:     "exact",
		Stats:    map[string]uint64{},
	}
	for _, tg := range t.targets {
		h.Interpreters = append(h.Interpreters, tg.info)
	}
	sortInterpreters(h.Interpreters)
	if ks, err := t.objs.Stats(); err == nil {
		for k, v := range ks {
			h.Stats[k] = v
		}
	}
	for k, v := range t.stats {
		h.Stats[k] = v
	}
	if runs, rt, err := t.objs.RunStats(); err == nil && runs > 0 {
		h.Stats["bpf_runs"] = runs
		h.Stats["bpf_run_ns"] = uint64(rt.Nanoseconds())
	}
	return &aggregate.Snapshot{Header: h, Records: t.agg.Records()}
}

// Close stops the event reader and releases everything.
func (t *Tracer) Close() {
	t.DetachAll()
	t.removing.Wait()
	_ = t.rd.Close()
	<-t.readerDone
	t.mu.Lock()
	for _, tg := range t.targets {
		if tg.mem != nil {
			tg.mem.Close()
		}
	}
	t.mu.Unlock()
	t.objs.Close()
}
