package sink

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
)

// Limits of the sink, documented in README.md ("Stores").
const (
	// maxBacklog is how many distinct call shapes may wait in memory for a
	// store that fails. Past it, they are written to an
	// recapi-unflushed-*.recapi.zst file that "recapi import" loads later.
	maxBacklog = 200_000
	// maxBackoff bounds the wait between two attempts at a failing store.
	maxBackoff = time.Minute
	// StoreTimeout bounds opening a store and one Add.
	StoreTimeout = 30 * time.Second
	// finalAttempts is how often the flush at exit is tried before the
	// unflushed counts go to a file instead.
	finalAttempts = 3
)

// Adder is the part of store.Store the sink writes to.
type Adder interface {
	Add(ctx context.Context, recs []aggregate.Record, seen time.Time) error
	Close() error
}

// Snapshotter is the part of the tracer a Sink reads: everything recorded
// so far, for snapshots.
type Snapshotter interface {
	Snapshot(host string) *aggregate.Snapshot
}

// Source is the part of the tracer a Drainer reads.
type Source interface {
	Snapshotter
	// Drain returns the counts made since the last Drain; when it fails
	// part way, what it read before the error, with the error.
	Drain() ([]aggregate.Record, error)
}

// Sink sends what recapid records to a store every flush interval and
// writes rotating snapshots. It is given each drain's counts (deltas, never
// totals) and keeps them until a flush adds them to the store, merged by
// key: a failed flush keeps them, later drains add to them, and the next
// attempt adds them all at once, so each count reaches the store (or a
// spill file) exactly once. Snapshots hold the tracer's totals.
type Sink struct {
	log   *slog.Logger
	host  string
	now   func() time.Time
	sleep func(time.Duration)

	store    Adder  // nil: no store
	url      string // redacted, for logs
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

// Options say where a Sink sends what it is given, and how often.
type Options struct {
	// Store receives each drain's counts every FlushInterval; nil for no
	// store. The Sink closes it.
	Store Adder
	// StoreName names Store in logs: its URL, without a password.
	StoreName     string
	FlushInterval time.Duration
	// SnapshotDir receives a snapshot of everything recorded so far every
	// SnapshotEvery, keeping the newest SnapshotKeep, and the counts a
	// failing store did not take; "" for no snapshots (such counts then go
	// to the working directory).
	SnapshotDir   string
	SnapshotEvery time.Duration
	SnapshotKeep  int
}

// New returns a Sink for opts, creating the snapshot directory.
func New(opts Options, log *slog.Logger) (*Sink, error) {
	host, _ := os.Hostname()
	s := &Sink{
		log:       log.With("component", "sink"),
		host:      host,
		now:       time.Now,
		sleep:     time.Sleep,
		store:     opts.Store,
		url:       opts.StoreName,
		interval:  opts.FlushInterval,
		pending:   aggregate.NewAggregator(),
		backlog:   maxBacklog,
		spillDir:  opts.SnapshotDir,
		snapDir:   opts.SnapshotDir,
		snapEvery: opts.SnapshotEvery,
		snapKeep:  opts.SnapshotKeep,
	}
	if s.spillDir == "" {
		s.spillDir = "."
	}
	if s.snapDir != "" {
		if err := os.MkdirAll(s.snapDir, 0o755); err != nil {
			return nil, fmt.Errorf("create snapshot directory %s: %w", s.snapDir, err)
		}
	}
	if s.store != nil {
		s.log.Info("store open", "store", s.url, "flush_interval", s.interval)
	}
	now := s.now()
	s.lastTry, s.lastSnap = now, now
	return s, nil
}

// Period is how often Tick should be called; 0 when the sink has nothing
// to do while tracing.
func (s *Sink) Period() time.Duration {
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

// Add takes the counts of one drain, to be stored at the next flush.
func (s *Sink) Add(recs []aggregate.Record) {
	if s.store == nil {
		return
	}
	for i := range recs {
		s.pending.Add(recs[i])
	}
}

// dueNow says whether a flush and whether a snapshot are due.
func (s *Sink) dueNow() (flush, snap bool) {
	now := s.now()
	flush = s.store != nil && !now.Before(s.lastTry.Add(s.interval)) && !now.Before(s.retryAt)
	snap = s.snapDir != "" && s.snapEvery > 0 && !now.Before(s.lastSnap.Add(s.snapEvery))
	return flush, snap
}

// Due says whether Tick has anything to do.
func (s *Sink) Due() bool {
	flush, snap := s.dueNow()
	return flush || snap
}

// Tick flushes the counts given so far, or writes a snapshot of src, when
// one is due.
func (s *Sink) Tick(src Snapshotter) {
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
func (s *Sink) flush(final bool) error {
	now := s.now()
	s.lastTry = now
	if s.pending.Len() == 0 {
		s.fails = 0
		return nil
	}
	d := s.pending.Records()
	ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
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
func (s *Sink) spill(recs []aggregate.Record) (string, error) {
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
func (s *Sink) writeSnapshot(sn *aggregate.Snapshot) error {
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

// Close flushes the counts not stored yet, retrying a failing store a few
// times before writing them to a file, writes the last snapshot and closes
// the store. Call it after the final drain; sn is everything recorded.
func (s *Sink) Close(sn *aggregate.Snapshot) error {
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
