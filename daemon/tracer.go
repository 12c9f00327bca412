package daemon

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
	"github.com/recapi/recapi/symbolize"
)

// recordReader is the part of *ringbuf.Reader the tracer uses.
type recordReader interface {
	ReadInto(*ringbuf.Record) error
	Flush() error
	Close() error
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

	mu      sync.Mutex
	targets map[uint32]*target
	agg     *aggregate.Aggregator
	stats   map[string]uint64 // daemon-side counters, merged into the snapshot header
}

// target is one traced process.
type target struct {
	pid     int
	proc    *symbolize.Process
	layout  symbolize.Layout
	mem     *symbolize.Memory
	links   []link.Link
	info    aggregate.Interpreter
	python  string   // "3.11"
	mainPy  []string // the script run as __main__, if any
	started uint64   // start time from /proc/PID/stat, to notice PID reuse

	codes map[codeKey]*codeMeta
	// qix maps code objects to qualnames and modules from sys.modules.
	qix      *symbolize.QualnameIndex
	qixBuilt time.Time
	runtime  uint64                        // address of _PyRuntime in the process
	unnamed  []*codeMeta                   // code objects not found in qix yet (retried at drains)
	nested   map[uint64]symbolize.CodeName // names from module bodies' constants
	types    map[uint64]typeMeta
	sigs     map[uint64][]uint64
}

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
	kinds    []symbolize.ParamKind
	kind     string
	partial  bool
}

type typeMeta struct {
	name    string
	partial bool
	flags   uint64   // tp_flags
	mro     []string // names in __mro__ (heap types)
}

// NewTracer loads the BPF objects and starts reading their events.
func NewTracer(log *slog.Logger) (*Tracer, error) {
	objs, err := bpf.Load()
	if err != nil {
		return nil, err
	}
	rd, err := objs.NewEventReader()
	if err != nil {
		objs.Close()
		return nil, err
	}
	t := &Tracer{
		log:        log,
		objs:       objs,
		rd:         rd,
		caughtUp:   make(chan struct{}, 1),
		readerDone: make(chan struct{}),
		targets:    map[uint32]*target{},
		agg:        aggregate.NewAggregator(),
		stats:      map[string]uint64{},
	}
	go t.readEvents()
	return t, nil
}

// Attach installs the process's layout in BPF and attaches the call probes.
// On error nothing stays attached and the process is untouched. command is
// the command line recapid launched, nil for a running process.
func (t *Tracer) Attach(p *symbolize.Process, command []string) error {
	b := p.Binary
	mem, err := symbolize.OpenMemory(p.PID)
	if err != nil {
		return fmt.Errorf("open memory of pid %d: %w", p.PID, err)
	}
	if b.Layout.Minor >= 13 && command == nil {
		// 3.13+ describes its own layout: refuse rather than misread. (Analyze
		// checked the copy in the file; this checks the running process. A
		// launched one is stopped before ld.so has mapped its data.)
		if err := symbolize.CheckDebugOffsets(mem, b.Runtime+p.Bias, b.Layout); err != nil {
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
		nested:  map[uint64]symbolize.CodeName{},
		types:   map[uint64]typeMeta{},
		sigs:    map[uint64][]uint64{},
	}
	if len(tg.info.Command) == 0 {
		tg.info.Command = readCmdline(p.PID)
	}
	// The process's own argv: a launched wrapper (env, chroot) has exec'd it.
	tg.mainPy = mainScript(p.PID, readCmdline(p.PID))
	tg.started = startTime(p.PID)

	cfg := pyConfig(b, p.Bias)
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
	for _, pp := range b.Probes {
		l, err := t.objs.AttachCall(ex, pp.FileOffset, p.PID, uint8(pp.FrameReg))
		if err != nil {
			t.forget(tg)
			return fmt.Errorf("attach to pid %d (%s): %w", p.PID, p.ELFPath, err)
		}
		tg.links = append(tg.links, l)
	}
	t.log.Info("attached", "pid", p.PID, "python", b.Version.String(), "path", p.ELFPath, "probes", len(tg.links))
	return nil
}

// forget detaches a target's probes and removes its config.
func (t *Tracer) forget(tg *target) {
	for _, l := range tg.links {
		_ = l.Close()
	}
	tg.links = nil
	_ = t.objs.DeleteConfig(uint32(tg.pid))
}

// DetachAll removes every probe. Counts already made stay in the maps for
// the final Drain.
func (t *Tracer) DetachAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tg := range t.targets {
		for _, l := range tg.links {
			if err := l.Close(); err != nil {
				t.log.Warn("detach", "pid", tg.pid, "err", err)
			}
		}
		tg.links = nil
	}
}

// Alive reports the PIDs that still run the process we attached to.
func (t *Tracer) Alive() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int
	for _, tg := range t.targets {
		if startTime(tg.pid) == tg.started && tg.started != 0 {
			out = append(out, tg.pid)
		}
	}
	return out
}

// Drain moves the counts made since the last Drain into the aggregate.
func (t *Tracer) Drain() error {
	if err := t.objs.SwapCounts(); err != nil {
		return err
	}
	// Every event for a key in the drained map was submitted before the swap.
	t.catchUp()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tg := range t.targets {
		tg.renamePending()
	}
	return t.objs.DrainCounts(func(k *bpf.CallKey, n uint64) {
		tg := t.targets[k.Pid]
		if tg == nil {
			t.stats["counts_of_unknown_pid"] += n
			return
		}
		rec := t.record(tg, k, n)
		if t.log.Enabled(context.Background(), slog.LevelDebug) {
			t.log.Debug("count", "pid", k.Pid, "kind", k.Kind, "code", fmt.Sprintf("%#x", k.Code), "caller", fmt.Sprintf("%#x", k.Caller),
				"nparams", k.Nparams, "sig", fmt.Sprintf("%#x", k.Sig), "n", n, "function", rec.Function.Qualname)
		}
		t.agg.Add(rec)
	})
}

// catchUp waits until the event reader has handled every event submitted so far.
func (t *Tracer) catchUp() {
	if err := t.rd.Flush(); err != nil {
		t.log.Warn("flush event reader", "err", err)
		return
	}
	select {
	case <-t.caughtUp:
	case <-t.readerDone:
	case <-time.After(5 * time.Second):
		t.log.Warn("event reader did not catch up within 5s; some names may be missing")
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
		n := min(int(ev.Sig.Nparams), len(ev.Sig.Types))
		tg.sigs[ev.Sig.Hdr.Ptr] = append([]uint64(nil), ev.Sig.Types[:n]...)
	case ev.Code != nil:
		if tg := t.targets[ev.Code.Hdr.Pid]; tg != nil {
			tg.codes[codeKey{ev.Code.Hdr.Ptr, ev.Code.Hdr.Fp}] = codeFromEvent(tg, ev.Code)
		}
	case ev.Type != nil:
		if tg := t.targets[ev.Type.Hdr.Pid]; tg != nil {
			tg.types[ev.Type.Hdr.Ptr] = typeFromEvent(tg, ev.Type)
		}
	}
}

// Snapshot returns everything recorded so far.
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
