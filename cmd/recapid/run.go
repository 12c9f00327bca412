package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/internal/table"
	"github.com/recapi/recapi/launch"
	"github.com/recapi/recapi/proc"
	"github.com/recapi/recapi/pyelf"
	"github.com/recapi/recapi/sink"
	"github.com/recapi/recapi/store"
	"github.com/recapi/recapi/tracer"
)

// run runs recapid and returns its exit code: the launched command's code
// with -- COMMAND, 0 after a clean detach, 1 on errors, 2 on usage errors.
func run(args []string, stderr io.Writer) int {
	ph := newPhases(time.Now())
	cfg, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "recapid: %v\n", err)
		}
		return 2
	}
	var con *console
	if cfg.showStatus(isTerminal(stderr)) {
		con = &console{w: stderr}
		stderr = con
	}
	log := newLogger(cfg, stderr)
	code, err := runConfig(cfg, log, stderr, ph, con)
	if err != nil {
		fmt.Fprintf(stderr, "recapid: %v\n", err)
		return 1
	}
	return code
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runConfig does the work: find and check the targets, load BPF, attach,
// drain until done, detach, write the results. ph records the duration of
// each step of start-up and exit.
// con draws the live status line; nil for none.
func runConfig(cfg *Config, log *slog.Logger, stderr io.Writer, ph *phases, con *console) (int, error) {
	t0 := time.Now()
	if err := checkPrivileges(); err != nil {
		return 1, err
	}
	if cfg.BPFStats {
		c, err := bpf.EnableRunStats()
		if err != nil {
			return 1, err
		}
		defer c.Close()
	}
	// The kernel takes longest, creating the maps and verifying the
	// programs, and needs nothing from the rest of start-up: begin there.
	bpfLoad := loadTracer(log, tracer.Options{Outcomes: tracer.OutcomePolicy{Mode: cfg.Returns, Window: cfg.ReturnsWindow}, EventBuffer: int(cfg.EventBuffer)}, ph)
	defer bpfLoad.discard()
	// Open the store before anything is attached or launched: a store that
	// cannot be opened is a startup error.
	out, err := newSink(cfg, log)
	if err != nil {
		return 1, err
	}
	t0 = ph.since("open_store", t0)
	cacheAnalyses(cfg.CacheDir, log)
	ph.since("open_cache", t0)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	var (
		tr      *tracer.Tracer
		child   *launch.Child
		exited  chan int
		targets []*pyelf.Process
	)
	if len(cfg.Command) > 0 {
		tr, child, err = startCommand(cfg, bpfLoad, ph)
		if err != nil {
			return 1, err
		}
		exited = make(chan int, 1)
		go func() { exited <- exitCode(child.Cmd.Wait()) }()
	} else {
		// Check every target before touching any of them.
		t0 := time.Now()
		for _, pid := range cfg.PIDs {
			p, err := findTarget(pid)
			if err != nil {
				return 1, err
			}
			targets = append(targets, p)
		}
		t0 = ph.since("analyze", t0)
		if tr, err = bpfLoad.take(); err != nil {
			return 1, err
		}
		t0 = ph.since("wait_bpf", t0)
		tr.TimeSteps(ph.add)
		for _, p := range targets {
			if err := tr.Attach(p, nil); err != nil {
				tr.Close()
				return 1, err
			}
		}
		tr.TimeSteps(nil)
		ph.since("attach_all", t0)
	}
	logLoadTimes(tr, ph)
	ph.flush(log, "startup")
	closed := false
	closeTracer := func() {
		if !closed {
			closed = true
			tr.Close()
		}
	}
	defer closeTracer()
	running := time.Now()

	var timeout <-chan time.Time
	if cfg.Duration > 0 {
		timeout = time.After(cfg.Duration)
	}
	// Every count goes from the tracer to the sink through d: it drains
	// every --interval, before each flush or snapshot, and once at exit.
	d := sink.NewDrainer(tr, out, log)
	if con != nil {
		sl := &statusLine{start: running}
		d.OnDrain(func(recs []aggregate.Record) { con.show(sl.line(recs, tr.Status(), time.Now())) })
		defer con.finish()
	}
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	var flushC <-chan time.Time // store flushes and rotating snapshots
	if p := out.Period(); p > 0 {
		flushTick := time.NewTicker(p)
		defer flushTick.Stop()
		flushC = flushTick.C
	}
	code := 0
loop:
	for {
		select {
		case <-tick.C:
			d.Drain()
			if child == nil && len(tr.Alive()) == 0 {
				log.Info("every traced process has exited")
				break loop
			}
		case <-flushC:
			d.Tick()
		case code = <-exited:
			exited = nil
			break loop
		case <-timeout:
			log.Info("duration reached, detaching", "duration", cfg.Duration)
			break loop
		case s := <-sigs:
			if child != nil {
				// The terminal already sent SIGINT to the whole process
				// group; forward the others, then wait for the command.
				if s != syscall.SIGINT {
					_ = child.Cmd.Process.Signal(s)
				}
				continue
			}
			log.Info("detaching", "signal", s.String())
			break loop
		}
	}
	t0 = ph.since("run", running)
	tr.DetachAll()
	t0 = ph.since("detach", t0)
	d.Drain()
	if con != nil {
		con.finish()
	}
	t0 = ph.since("drain", t0)
	host, _ := os.Hostname()
	snap := tr.Snapshot(host)
	t0 = ph.since("snapshot", t0)
	warnStats(log, snap.Header.Stats)
	// The store first: a failing -o must not keep the counts from it.
	sinkErr := out.Close(snap)
	if cfg.Output != "" {
		if err := aggregate.WriteFile(cfg.Output, snap); err != nil {
			return 1, fmt.Errorf("write snapshot: %w", err)
		}
		log.Info("wrote snapshot", "path", cfg.Output, "records", len(snap.Records))
	}
	if sinkErr != nil {
		return 1, sinkErr
	}
	t0 = ph.since("write", t0)
	if cfg.Summary {
		fmt.Fprintln(stderr)
		if err := table.Write(stderr, aggregate.Summarize(snap.Records), cfg.Top); err != nil {
			return 1, err
		}
		t0 = ph.since("summary", t0)
	}
	// Last: the probes of a command that has exited are still being removed.
	closeTracer()
	ph.since("close", t0)
	ph.flush(log, "shutdown")
	if exited != nil {
		// --duration or a signal ended tracing: the command keeps running
		// untraced and recapid still reports its exit code.
		code = <-exited
	}
	return code, nil
}

// newSink opens the store cfg names (if any) and prepares the snapshot
// directory.
func newSink(cfg *Config, log *slog.Logger) (*sink.Sink, error) {
	opts := sink.Options{
		FlushInterval: cfg.FlushInterval,
		SnapshotDir:   cfg.SnapshotDir,
		SnapshotEvery: cfg.SnapshotEvery,
		SnapshotKeep:  cfg.SnapshotKeep,
	}
	if u := cfg.storeURL(); u != "" {
		ctx, cancel := context.WithTimeout(context.Background(), sink.StoreTimeout)
		st, err := store.Open(ctx, u)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w (check --store, or give --store none to record without one)", err)
		}
		opts.Store, opts.StoreName = st, store.Redact(u)
	}
	s, err := sink.New(opts, log)
	if err != nil {
		if opts.Store != nil {
			_ = opts.Store.Close()
		}
		return nil, fmt.Errorf("%w (check --snapshot-dir)", err)
	}
	return s, nil
}

// logLoadTimes records how long creating the maps and loading (verifying)
// each program took, as bpf_maps and verify_<program>, in name order.
func logLoadTimes(tr *tracer.Tracer, ph *phases) {
	times := tr.LoadTimes()
	for _, name := range slices.Sorted(maps.Keys(times)) {
		ph.add(name, times[name])
	}
}

// pendingTracer is a Tracer being created (tracer.New) while start-up goes
// on: the kernel creates the maps and verifies the call program while the
// store opens, the command starts and its interpreter is analysed, none of
// which needs the others.
type pendingTracer struct {
	done  chan struct{}
	tr    *tracer.Tracer
	err   error
	taken bool
}

func loadTracer(log *slog.Logger, opts tracer.Options, ph *phases) *pendingTracer {
	p := &pendingTracer{done: make(chan struct{})}
	go func() {
		t0 := time.Now()
		p.tr, p.err = tracer.New(log, opts)
		ph.since("bpf_load", t0)
		close(p.done)
	}()
	return p
}

// take waits for the Tracer; its caller owns it from then on.
func (p *pendingTracer) take() (*tracer.Tracer, error) {
	<-p.done
	p.taken = true
	return p.tr, p.err
}

// discard closes the Tracer unless it was taken.
func (p *pendingTracer) discard() {
	<-p.done
	if !p.taken && p.tr != nil {
		p.tr.Close()
	}
}

// startCommand launches the command stopped, attaches, and lets it run.
func startCommand(cfg *Config, bpfLoad *pendingTracer, ph *phases) (*tracer.Tracer, *launch.Child, error) {
	unlock := launch.LockThread()
	defer unlock()
	child, err := launch.Start(cfg.Command)
	if err != nil {
		return nil, nil, err
	}
	ph.add("launch", child.Launch)
	ph.add("analyze", child.Analyze)
	t0 := time.Now()
	tr, err := bpfLoad.take()
	ph.since("wait_bpf", t0)
	if err == nil {
		tr.TimeSteps(ph.add)
		err = tr.Attach(child.Process, cfg.Command)
		tr.TimeSteps(nil)
		if err != nil {
			tr.Close()
		}
	}
	if err != nil {
		// Nothing of the command has run yet: do not let it run untraced.
		_ = child.Cmd.Process.Kill()
		_ = child.Resume()
		_ = child.Cmd.Wait()
		return nil, nil, err
	}
	t0 = time.Now()
	if err := child.Resume(); err != nil {
		tr.Close()
		_ = child.Cmd.Process.Kill()
		return nil, nil, err
	}
	ph.since("resume", t0)
	return tr, child, nil
}

// findTarget checks that pid is a CPython recapid can trace.
func findTarget(pid int) (*pyelf.Process, error) {
	p, err := pyelf.FindInterpreter(pid)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("no process with pid %d: check the pid (ps -p %d)", pid, pid)
	case errors.Is(err, pyelf.ErrNotPython):
		return nil, fmt.Errorf("pid %d (%s) is not a CPython interpreter: %w", pid, cmp.Or(proc.Comm(pid), "?"), err)
	}
	return nil, fmt.Errorf("pid %d (%s): %w", pid, cmp.Or(proc.Comm(pid), "?"), err)
}

// exitCode maps a wait result to a shell-style exit code.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}

// warnStats reports losses once, at the end, rather than per event.
func warnStats(log *slog.Logger, st map[string]uint64) {
	for _, k := range []string{"counts_map_full", "events_lost", "frames_unreadable", "code_unreadable", "resume_oparg_unknown", "signatures_unknown", "values_unknown", "calls_skipped_preempted"} {
		if st[k] > 0 {
			log.Warn("some calls were not fully recorded", "what", k, "count", st[k])
		}
	}
}
