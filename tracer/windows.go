package tracer

import (
	"sync"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/recapi/recapi/bpf"
)

// OutcomePolicy says when the outcome probes (returns, yields, raises) are
// attached. Each costs a second trap per call, so "auto" attaches them in
// windows: from the start, for Window; then again for Window when new call
// shapes appear, at most one Window in ten.
type OutcomePolicy struct {
	Mode   string // "auto", "always" or "off"
	Window time.Duration
}

// The methods of this file change a target's windows: they are called with
// the Tracer's mu held.

// openWindow attaches the outcome probes of the target and then lets BPF
// count its calls at their end.
func (tg *target) openWindow() error {
	var probes []bpf.Probe
	for _, pp := range tg.outcomeProbes {
		probes = append(probes, bpfProbe(pp))
	}
	links, err := tg.objs.Attach(tg.ex, tg.pid, probes)
	if err != nil {
		return err
	}
	tg.outcomeLinks = links
	if err := tg.objs.SetOutcomes(uint32(tg.pid), true); err != nil {
		tg.closeOutcomeLinks()
		return err
	}
	tg.outcomesOn = true
	tg.windowStart = time.Now()
	tg.log.Debug("outcome window opened", "pid", tg.pid)
	return nil
}

// closeWindow stops counting the target's calls at their end, detaches the
// outcome probes and takes the calls still waiting, for the next Drain to
// count as ended unseen.
func (tg *target) closeWindow() {
	if !tg.outcomesOn {
		return
	}
	if tg.stopOutcomes() {
		// A call that saw counting on may still be adding its entry; once
		// it is done, no call waits unless its probes are attached.
		tg.waitForPrograms()
	}
	tg.closeOutcomeLinks()
	// A return that started before its probe went may still be counting
	// its call: the sweep must not count that call again.
	tg.waitForPrograms()
	tg.endWindow()
}

// stopOutcomes is closeWindow's first step: BPF stops counting the
// target's calls at their end. It reports whether the process runs, and so
// may have returns in flight, for the caller to wait for them
// (bpf.Objects.WaitForPrograms).
func (tg *target) stopOutcomes() (running bool) {
	tg.outcomesOn = false
	if tg.exited {
		return false
	}
	if err := tg.objs.SetOutcomes(uint32(tg.pid), false); err != nil {
		tg.log.Warn("stop outcome counting", "pid", tg.pid, "err", err)
	}
	return true
}

// endWindow is closeWindow's last step, once the outcome probes are
// detached and the programs in flight done: the calls still waiting are
// taken for the next Drain to count as ended unseen. They are named and
// counted then, after the events that name them are read: a call that
// started since the last drain was counted in the kernel, but the event
// with its argument types may still be in the ring buffer.
func (tg *target) endWindow() {
	err := tg.objs.SweepPending(uint32(tg.pid), func(k *bpf.CallKey) {
		tg.swept = append(tg.swept, *k)
	})
	if err != nil {
		tg.log.Warn("sweep pending calls", "pid", tg.pid, "err", err)
	}
	tg.log.Debug("outcome window closed", "pid", tg.pid)
}

func (tg *target) waitForPrograms() {
	if err := tg.objs.WaitForPrograms(); err != nil {
		tg.log.Warn("wait for running BPF programs", "err", err)
	}
}

func (tg *target) closeOutcomeLinks() {
	for _, err := range closeLinks(tg.outcomeLinks) {
		if err != nil {
			tg.log.Warn("detach outcome probe", "pid", tg.pid, "err", err)
		}
	}
	tg.outcomeLinks = nil
}

// steer applies the outcome policy to the target after a drain. refresh
// asks to close and reopen an open window (--returns always, see
// steerWindows).
func (tg *target) steer(now time.Time, policy OutcomePolicy, refresh bool) {
	if len(tg.outcomeProbes) == 0 || tg.exited || len(tg.links) == 0 {
		return
	}
	if !tg.alive() {
		// The process is gone: what still waits ended with it.
		tg.exited = true
		tg.closeWindow()
		return
	}
	if refresh && tg.outcomesOn {
		tg.closeWindow()
		if err := tg.openWindow(); err != nil {
			tg.log.Warn("reopen outcome window", "pid", tg.pid, "err", err)
		}
		return
	}
	if policy.Mode != "auto" {
		return
	}
	switch {
	case tg.outcomesOn && now.Sub(tg.windowStart) >= policy.Window:
		tg.closeWindow()
		tg.nextWindow = now.Add(9 * policy.Window)
		tg.takeNewShapes()
	case !tg.outcomesOn && !now.Before(tg.nextWindow) && tg.takeNewShapes():
		if err := tg.openWindow(); err != nil {
			tg.log.Warn("open outcome window", "pid", tg.pid, "err", err)
		}
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
	for _, tg := range t.all() {
		tg.steer(now, t.policy, refresh)
	}
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
