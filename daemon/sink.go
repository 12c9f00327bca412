package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/store"
)

// Limits of the sink, documented in README.md ("Stores").
const (
	// maxBacklog is how many distinct call shapes may wait in memory for a
	// store that fails. Past it, they are written to an
	// recapi-unflushed-*.recapi.zst file that "recapi import" loads later.
	maxBacklog = 200_000
	// maxBackoff bounds the wait between two attempts at a failing store.
	maxBackoff = time.Minute
	// storeTimeout bounds one Add.
	storeTimeout = 30 * time.Second
	// finalAttempts is how often the flush at exit is tried before the
	// unflushed counts go to a file instead.
	finalAttempts = 3
)

// recordAdder is the part of store.Store the sink writes to.
type recordAdder interface {
	Add(ctx context.Context, recs []aggregate.Record, seen time.Time) error
	Close() error
}

// snapshotter is the part of *Tracer the sink reads: everything recorded so
// far, for snapshots.
type snapshotter interface {
	Snapshot(host string) *aggregate.Snapshot
}

// recordSource is the part of *Tracer a drainer reads.
type recordSource interface {
	snapshotter
	Drain() ([]aggregate.Record, error)
}

// drainer is the only caller of Drain while recapid traces: every
// interval's counts Drain returns go to the sink, whichever timer asked for
// them, so the sink sees each count once.
type drainer struct {
	src recordSource
	out *sink
	log *slog.Logger
}

// drain hands the counts made since the last drain to the sink. A drain
// that fails part way returns what it read before the error: that goes to
// the sink too.
func (d *drainer) drain() {
	recs, err := d.src.Drain()
	if err != nil {
		d.log.Warn("drain", "err", err)
	}
	d.out.add(recs)
}

// tick drains and then flushes or writes a snapshot, when one is due, so
// that both hold the counts up to now rather than up to the last drain.
func (d *drainer) tick() {
	if !d.out.due() {
		return
	}
	d.drain()
	d.out.tick(d.src)
}

// sink sends what recapid records to a store every flush interval and
// writes rotating snapshots. It is given each drain's counts (deltas, never
// totals) and keeps them until a flush adds them to the store, merged by
// key: a failed flush keeps them, later drains add to them, and the next
// attempt adds them all at once, so each count reaches the store (or a
// spill file) exactly once. Snapshots hold the tracer's totals.
type sink struct {
	log   *slog.Logger
	host  string
	now   func() time.Time
	sleep func(time.Duration)

	store    recordAdder // nil: no store
	url      string      // redacted, for logs
	interval time.Duration
	pending  *aggregate.Aggregator // counts drained and not yet stored (nor spilled)
	fails    int
	lastTry  time.Time
	retryAt  time.Time
	backlog  int    // maxBacklog, smaller in tests
	spillDir string // where unflushed counts go when the store stays down

	snapDir   string
	snapEvery time.Duration
	snapKeep  int
	lastSnap  time.Time
}

// newSink opens the store cfg names (if any) and prepares the snapshot
// directory.
func newSink(cfg *Config, log *slog.Logger) (*sink, error) {
	host, _ := os.Hostname()
	s := &sink{
		log:       log.With("component", "sink"),
		host:      host,
		now:       time.Now,
		sleep:     time.Sleep,
		interval:  cfg.FlushInterval,
		pending:   aggregate.NewAggregator(),
		backlog:   maxBacklog,
		spillDir:  cfg.SnapshotDir,
		snapDir:   cfg.SnapshotDir,
		snapEvery: cfg.SnapshotEvery,
		snapKeep:  cfg.SnapshotKeep,
	}
	if s.spillDir == "" {
		s.spillDir = "."
	}
	if s.snapDir != "" {
		if err := os.MkdirAll(s.snapDir, 0o755); err != nil {
			return nil, fmt.Errorf("create snapshot directory: %w (check --snapshot-dir)", err)
		}
	}
	if u := cfg.storeURL(); u != "" {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		st, err := store.Open(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("%w (check --store, or give --store none to record without one)", err)
		}
		s.store, s.url = st, store.Redact(u)
		s.log.Info("store open", "store", s.url, "flush_interval", s.interval)
	}
	now := s.now()
	s.lastTry, s.lastSnap = now, now
	return s, nil
}

// period is how often tick should be called; 0 when the sink has nothing
// to do while tracing.
func (s *sink) period() time.Duration {
	var p time.Duration
	if s.store != nil {
		p = s.interval
	}
	if s.snapDir != "" && s.snapEvery > 0 && (p == 0 || s.snapEvery < p) {
		p = s.snapEvery
	}
	if p > time.Second {
		// Check often enough to retry a failing store on its own schedule.
		p = time.Second
	}
	return p
}

// add takes the counts of one drain, to be stored at the next flush.
func (s *sink) add(recs []aggregate.Record) {
	if s.store == nil {
		return
	}
	for i := range recs {
		s.pending.Add(recs[i])
	}
}

// dueNow says whether a flush and whether a snapshot are due.
func (s *sink) dueNow() (flush, snap bool) {
	now := s.now()
	flush = s.store != nil && !now.Before(s.lastTry.Add(s.interval)) && !now.Before(s.retryAt)
	snap = s.snapDir != "" && s.snapEvery > 0 && !now.Before(s.lastSnap.Add(s.snapEvery))
	return flush, snap
}

// due says whether tick has anything to do.
func (s *sink) due() bool {
	flush, snap := s.dueNow()
	return flush || snap
}

// tick flushes the counts given so far, or writes a snapshot of src, when
// one is due.
func (s *sink) tick(src snapshotter) {
	flush, snap := s.dueNow()
	if flush {
		s.flush(false)
	}
	if snap {
		s.lastSnap = s.now()
		if err := s.writeSnapshot(src.Snapshot(s.host)); err != nil {
			s.log.Warn("write snapshot; will try again at the next one", "err", err)
		}
	}
}

// flush adds the pending counts to the store. On failure it backs off
// (1 s, doubling up to maxBackoff) and keeps the counts for the next
// attempt; when more than the backlog limit wait, or when final, they go to
// a snapshot file instead. It returns an error only when counts could be
// saved nowhere.
func (s *sink) flush(final bool) error {
	now := s.now()
	s.lastTry = now
	if s.pending.Len() == 0 {
		s.fails = 0
		return nil
	}
	d := s.pending.Records()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	err := s.store.Add(ctx, d, now)
	cancel()
	if err == nil {
		if s.fails > 0 {
			s.log.Info("store is back", "store", s.url, "failed_attempts", s.fails, "records", len(d))
		}
		s.fails, s.retryAt = 0, time.Time{}
		s.pending = aggregate.NewAggregator()
		return nil
	}
	s.fails++
	backoff := min(time.Second<<min(s.fails-1, 16), maxBackoff)
	s.retryAt = now.Add(backoff)
	s.log.Warn("write to store failed; recording continues in memory", "store", s.url, "err", err,
		"attempt", s.fails, "retry_in", backoff, "waiting_records", len(d))
	if !final && len(d) <= s.backlog {
		return nil
	}
	path, serr := s.spill(d)
	if serr != nil {
		s.log.Error("counts the store did not take could not be written to a file either; keeping them in memory", "err", serr, "waiting_records", len(d))
		return fmt.Errorf("save %d records: store: %w; file: %w", len(d), err, serr)
	}
	s.pending = aggregate.NewAggregator()
	s.log.Error("the store did not take these counts: wrote them to a file instead; load them with recapi import", "path", path, "records", len(d), "store", s.url)
	return nil
}

// spill writes recs to a new snapshot file in the spill directory.
func (s *sink) spill(recs []aggregate.Record) (string, error) {
	name := fmt.Sprintf("recapi-unflushed-%s-%d.recapi.zst", s.now().UTC().Format("20060102T150405.000Z"), os.Getpid())
	path := filepath.Join(s.spillDir, name)
	sn := &aggregate.Snapshot{
		Header:  aggregate.Header{Created: s.now().UTC().Truncate(time.Second), Host: s.host, Mode: aggregate.ModeExact},
		Records: recs,
	}
	aggregate.SortRecords(sn.Records)
	return path, aggregate.WriteFile(path, sn)
}

// snapshotPrefix and snapshotSuffix frame the names of rotating snapshots:
// recapi-20260501T120000Z.recapi.zst sorts by time.
const (
	snapshotPrefix = "recapi-2"
	snapshotSuffix = ".recapi.zst"
)

// writeSnapshot writes sn (everything recorded so far) into the snapshot
// directory and removes the oldest rotating snapshots beyond snapKeep.
func (s *sink) writeSnapshot(sn *aggregate.Snapshot) error {
	name := "recapi-" + s.now().UTC().Format("20060102T150405Z") + snapshotSuffix
	path := filepath.Join(s.snapDir, name)
	if err := aggregate.WriteFile(path, sn); err != nil {
		return err
	}
	s.log.Debug("wrote snapshot", "path", path, "records", len(sn.Records))
	ents, err := os.ReadDir(s.snapDir)
	if err != nil {
		return fmt.Errorf("rotate snapshots in %s: %w", s.snapDir, err)
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, snapshotPrefix) && strings.HasSuffix(n, snapshotSuffix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var errs []error
	for len(names) > s.snapKeep {
		if err := os.Remove(filepath.Join(s.snapDir, names[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		names = names[1:]
	}
	return errors.Join(errs...)
}

// close flushes the counts not stored yet, retrying a failing store a few
// times before writing them to a file, writes the last snapshot and closes
// the store. Call it after the final drain; sn is everything recorded.
func (s *sink) close(sn *aggregate.Snapshot) error {
	var errs []error
	if s.snapDir != "" {
		if err := s.writeSnapshot(sn); err != nil {
			errs = append(errs, fmt.Errorf("write final snapshot: %w", err))
		}
	}
	if s.store != nil {
		var err error
		n := s.pending.Len()
		for attempt := 1; attempt <= finalAttempts; attempt++ {
			if err = s.flush(attempt == finalAttempts); err == nil && s.fails == 0 {
				break
			}
			if attempt < finalAttempts {
				s.sleep(time.Duration(attempt) * time.Second)
			}
		}
		if err != nil {
			errs = append(errs, err)
		} else if s.fails == 0 {
			s.log.Info("flushed to store", "store", s.url, "records", n)
		}
		if cerr := s.store.Close(); cerr != nil {
			errs = append(errs, fmt.Errorf("close store %s: %w", s.url, cerr))
		}
	}
	return errors.Join(errs...)
}
