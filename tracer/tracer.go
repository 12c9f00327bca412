package tracer

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/bpf"
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

// Tracer owns the loaded BPF objects, the event reader and the set of
// traced processes (targets), each of which owns what is known about it.
// Pointers never leave it: Drain turns kernel counts into named
// aggregate.Records.
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
	policy OutcomePolicy
	// steps, while set, is told how long Attach's steps take.
	steps func(step string, d time.Duration)
	// removing counts the goroutines still removing probes of processes
	// that are gone (DetachAll); Close waits for them.
	removing sync.WaitGroup
	// undecodable counts the events the reader could not decode.
	undecodable atomic.Uint64

	// setMu guards targets, the set of traced processes by PID. It is held
	// for nothing else, so that the event reader finds the target of an
	// event at once.
	setMu   sync.Mutex
	targets map[uint32]*target

	// mu guards what follows and the outcome windows of every target
	// (windows.go).
	mu  sync.Mutex
	agg *aggregate.Aggregator // the totals of every Drain, for Snapshot
	// stats counts what belongs to no target (counts of processes not
	// traced), merged into the snapshot header.
	stats map[string]uint64
	// detached is set once DetachAll has removed every probe: no program
	// runs any more.
	detached bool
	// pendingFull is the pending_map_full stat at the last refresh of the
	// windows of --returns always.
	pendingFull uint64
}

// Options configure a Tracer.
type Options struct {
	Outcomes OutcomePolicy
	// EventBuffer is the size of the ring buffer of names in bytes
	// (bpf.MapOptions); 0 keeps bpf.DefaultEventBuffer.
	EventBuffer int
}

// New loads the BPF maps, starts verifying the call program in the
// background (Attach waits for it), and starts reading events.
func New(log *slog.Logger, opts Options) (*Tracer, error) {
	t, err := newTracer(log, opts)
	if err != nil {
		return nil, err
	}
	go t.readEvents()
	return t, nil
}

// newTracer is New without the event reader, which the caller must start
// (go t.readEvents()) before it drains or closes the Tracer.
func newTracer(log *slog.Logger, opts Options) (*Tracer, error) {
	policy := opts.Outcomes
	objs, err := bpf.LoadMaps(bpf.MapOptions{EventBuffer: opts.EventBuffer})
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
	return t, nil
}

// Attach installs the process's layout in BPF and attaches the call probes.
// On error nothing stays attached and the process is untouched. command is
// the command line recapid launched, nil for a running process.
func (t *Tracer) Attach(p *pyelf.Process, command []string) error {
	// The same process twice would get a second set of probes. (A target
	// whose pid was reused by a new process is another process.)
	if old := t.target(uint32(p.PID)); old != nil && old.started == proc.StartTime(p.PID) {
		return fmt.Errorf("pid %d is already traced", p.PID)
	}
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
	var calls []bpf.Probe
	for _, pp := range b.Probes {
		calls = append(calls, bpfProbe(pp))
	}
	if !returnsOK {
		t.log.Warn("return types are not recorded for this interpreter", "pid", p.PID, "err", b.OutcomeErr)
	}
	var outcomes []pyelf.ProbePoint
	for _, pp := range b.OutcomeProbes {
		if pp.Kind == pyelf.ProbeCreate {
			// Generator creation: one trap per created object, always on.
			calls = append(calls, bpfProbe(pp))
		} else if returnsOK {
			outcomes = append(outcomes, pp)
		}
	}
	cfg, err := pyConfig(b, p.Bias)
	if err != nil {
		return fmt.Errorf("configure BPF for pid %d (%s): %w", p.PID, p.ELFPath, err)
	}
	tg, err := newTarget(p, command, t.objs, t.log)
	if err != nil {
		return err
	}
	tg.outcomeProbes = outcomes
	tg.containers = cfg.ContainerTypes
	t.setMu.Lock()
	t.targets[uint32(p.PID)] = tg
	t.setMu.Unlock()
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
	links, err := t.objs.Attach(ex, p.PID, calls)
	if err != nil {
		t.forget(tg)
		return fmt.Errorf("attach to pid %d (%s): %w", p.PID, p.ELFPath, err)
	}
	t.mu.Lock()
	tg.ex, tg.links = ex, links
	t.mu.Unlock()
	t0 = t.step("attach", t0)
	if t.policy.Mode != "off" && len(tg.outcomeProbes) > 0 {
		t.mu.Lock()
		err := tg.openWindow()
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

// forget undoes an Attach that failed part way: it detaches the target's
// probes, removes its config, drops it from the set and releases its
// memory.
func (t *Tracer) forget(tg *target) {
	t.setMu.Lock()
	if t.targets[uint32(tg.pid)] == tg {
		delete(t.targets, uint32(tg.pid))
	}
	t.setMu.Unlock()
	t.mu.Lock()
	links := append(tg.outcomeLinks, tg.links...)
	tg.outcomeLinks, tg.links = nil, nil
	t.mu.Unlock()
	closeLinks(links)
	_ = t.objs.DeleteConfig(uint32(tg.pid))
	tg.close()
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

// target returns the traced process pid, nil if none.
func (t *Tracer) target(pid uint32) *target {
	t.setMu.Lock()
	defer t.setMu.Unlock()
	return t.targets[pid]
}

// all returns every traced process.
func (t *Tracer) all() []*target {
	t.setMu.Lock()
	defer t.setMu.Unlock()
	out := make([]*target, 0, len(t.targets))
	for _, tg := range t.targets {
		out = append(out, tg)
	}
	return out
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
	targets := t.all()
	for _, tg := range targets {
		if !tg.exited && !tg.alive() {
			tg.exited = true // no return is in flight in a process that is gone
		}
		if tg.outcomesOn {
			running = tg.stopOutcomes() || running
			windows = append(windows, tg)
		}
	}
	if running {
		t.waitForPrograms()
	}
	for _, tg := range targets {
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
		tg.endWindow()
	}
	t.detached = true
}

func (t *Tracer) waitForPrograms() {
	if err := t.objs.WaitForPrograms(); err != nil {
		t.log.Warn("wait for running BPF programs", "err", err)
	}
}

// Alive reports the PIDs that still run the process we attached to.
func (t *Tracer) Alive() []int {
	var out []int
	for _, tg := range t.all() {
		if tg.alive() {
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
	// The reader has handed them to their targets: name what their naming
	// goroutines have not, and try again the names not found before.
	for _, tg := range t.all() {
		tg.mu.Lock()
		tg.nameArrived()
		tg.renamePending()
		tg.mu.Unlock()
	}
	delta := aggregate.NewAggregator()
	now := time.Now()
	err := t.drainCounts(delta, now)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		for _, tg := range t.all() {
			tg.mu.Lock()
			tg.countSwept(now, delta)
			// Once no program runs for the process, no description of
			// its held counts can come.
			tg.releaseHeld(now, t.detached || !tg.alive(), delta)
			tg.mu.Unlock()
		}
		t.steerWindows(now)
	}
	recs := delta.Records()
	for i := range recs {
		t.agg.Add(recs[i])
	}
	return recs, err
}

// drainCounts adds the drained counts to delta, each target's named under
// its own lock.
func (t *Tracer) drainCounts(delta *aggregate.Aggregator, now time.Time) error {
	var unknown uint64 // counts of processes not traced
	defer func() {
		if unknown > 0 {
			t.mu.Lock()
			t.stats["counts_of_unknown_pid"] += unknown
			t.mu.Unlock()
		}
	}()
	err := t.counts.DrainCounts(func(k *bpf.CallKey, n uint64) {
		tg := t.target(k.Pid)
		if tg == nil {
			unknown += n
			return
		}
		tg.mu.Lock()
		tg.count(k, n, now, delta)
		tg.mu.Unlock()
	})
	if err != nil {
		return err
	}
	return t.counts.DrainOutcomes(func(k *bpf.OutcomeKey, n uint64) {
		tg := t.target(k.Call.Pid)
		if tg == nil {
			unknown += n
			return
		}
		tg.mu.Lock()
		tg.countOutcome(k, n, now, delta)
		tg.mu.Unlock()
	})
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
	if t.objs != nil {
		if ks, err := t.objs.Stats(); err == nil {
			for k, v := range ks {
				h.Stats[k] = v
			}
		}
		if runs, rt, err := t.objs.RunStats(); err == nil && runs > 0 {
			h.Stats["bpf_runs"] = runs
			h.Stats["bpf_run_ns"] = uint64(rt.Nanoseconds())
		}
	}
	for k, v := range t.stats {
		h.Stats[k] += v
	}
	if n := t.undecodable.Load(); n > 0 {
		h.Stats["events_undecodable"] += n
	}
	for _, tg := range t.all() {
		h.Interpreters = append(h.Interpreters, tg.info)
		tg.stats.addTo(h.Stats)
	}
	sortInterpreters(h.Interpreters)
	return &aggregate.Snapshot{Header: h, Records: t.agg.Records()}
}

func sortInterpreters(in []aggregate.Interpreter) {
	sort.Slice(in, func(i, j int) bool { return in[i].PID < in[j].PID })
}

// Close stops the event reader and releases everything.
func (t *Tracer) Close() {
	t.DetachAll()
	t.removing.Wait()
	_ = t.rd.Close()
	<-t.readerDone
	for _, tg := range t.all() {
		tg.close()
	}
	t.objs.Close()
}

// Status is what a live status line shows of a Tracer.
type Status struct {
	Processes int    // traced processes still running
	Shapes    int    // call shapes recorded so far
	Waiting   int    // counts waiting for the descriptions of their types
	Resent    uint64 // names a full ring buffer refused, sent again
	// Lost counts calls the kernel could not count (its map was full) and
	// call shapes recorded without their types.
	Lost uint64
}

// Status returns the Tracer's status for a live status line.
func (t *Tracer) Status() Status {
	st := Status{Processes: len(t.Alive())}
	t.mu.Lock()
	st.Shapes = t.agg.Len()
	t.mu.Unlock()
	unknown := map[string]uint64{}
	for _, tg := range t.all() {
		tg.mu.Lock()
		st.Waiting += tg.held()
		tg.mu.Unlock()
		tg.stats.addTo(unknown)
	}
	st.Lost = unknown["signatures_unknown"] + unknown["values_unknown"]
	if ks, err := t.objs.Stats(); err == nil {
		st.Resent = ks["names_resent"]
		st.Lost += ks["counts_map_full"] + ks["calls_skipped_preempted"]
	}
	return st
}
