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

// recordSource is the part of *Tracer the sink reads.
type recordSource interface {
	Drain() error
	Snapshot(host string) *aggregate.Snapshot
}

// sink sends what recapid records to a store every flush interval and
// writes rotating snapshots. The tracer keeps running totals; the sink
// remembers the totals it has stored and sends only the difference, so a
// count is added to the store once, and a failed flush is simply retried
// with a larger difference.
type sink struct {
	log   *slog.Logger
	host  string
	now   func() time.Time
	sleep func(time.Duration)

	store    recordAdder // nil: no store
	url      string      // redacted, for logs
	interval time.Duration
	flushed  map[string]counted // store.Key -> totals already stored (or spilled)
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

type counted struct {
	calls, resumptions uint64
	partial            bool
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
		flushed:   map[string]counted{},
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

// tick drains src and flushes or writes a snapshot when one is due.
func (s *sink) tick(src recordSource) {
	now := s.now()
	flush := s.store != nil && !now.Before(s.lastTry.Add(s.interval)) && !now.Before(s.retryAt)
	snap := s.snapDir != "" && s.snapEvery > 0 && !now.Before(s.lastSnap.Add(s.snapEvery))
	if !flush && !snap {
		return
	}
	if err := src.Drain(); err != nil {
		s.log.Warn("drain", "err", err)
	}
	sn := src.Snapshot(s.host)
	if flush {
		s.flush(sn.Records, false)
	}
	if snap {
		s.lastSnap = now
		if err := s.writeSnapshot(sn); err != nil {
			s.log.Warn("write snapshot; will try again at the next one", "err", err)
		}
	}
}

// delta returns what recs hold beyond what was stored, and their keys.
func (s *sink) delta(recs []aggregate.Record) ([]aggregate.Record, []string) {
	var out []aggregate.Record
	var keys []string
	for _, r := range recs {
		k := store.Key(&r)
		done := s.flushed[k]
		if r.Calls == done.calls && r.Resumptions == done.resumptions && r.Partial == done.partial {
			continue
		}
		d := r
		d.Calls -= done.calls
		d.Resumptions -= done.resumptions
		out = append(out, d)
		keys = append(keys, k)
	}
	return out, keys
}

func (s *sink) markFlushed(recs []aggregate.Record, keys []string) {
	for i, r := range recs {
		c := s.flushed[keys[i]]
		c.calls += r.Calls
		c.resumptions += r.Resumptions
		c.partial = c.partial || r.Partial
		s.flushed[keys[i]] = c
	}
}

// flush sends the counts in recs (running totals) that are not stored yet.
// On failure it backs off (1 s, doubling up to maxBackoff) and keeps the
// counts for the next attempt; when more than the backlog limit wait, or
// when final, they go to a snapshot file instead. It returns an error only
// when counts could be saved nowhere.
func (s *sink) flush(recs []aggregate.Record, final bool) error {
	now := s.now()
	s.lastTry = now
	d, keys := s.delta(recs)
	if len(d) == 0 {
		s.fails = 0
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	err := s.store.Add(ctx, d, now)
	cancel()
	if err == nil {
		if s.fails > 0 {
			s.log.Info("store is back", "store", s.url, "failed_attempts", s.fails, "records", len(d))
		}
		s.fails, s.retryAt = 0, time.Time{}
		s.markFlushed(d, keys)
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
	s.markFlushed(d, keys)
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

// close flushes the final counts, retrying a failing store a few times
// before writing them to a file, writes the last snapshot and closes the
// store. sn is everything recorded, after the final drain.
func (s *sink) close(sn *aggregate.Snapshot) error {
	var errs []error
	if s.snapDir != "" {
		if err := s.writeSnapshot(sn); err != nil {
			errs = append(errs, fmt.Errorf("write final snapshot: %w", err))
		}
	}
	if s.store != nil {
		var err error
		for attempt := 1; attempt <= finalAttempts; attempt++ {
			if err = s.flush(sn.Records, attempt == finalAttempts); err == nil && s.fails == 0 {
				break
			}
			if attempt < finalAttempts {
				s.sleep(time.Duration(attempt) * time.Second)
			}
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			s.log.Info("flushed to store", "store", s.url, "records", len(sn.Records))
		}
		if cerr := s.store.Close(); cerr != nil {
			errs = append(errs, fmt.Errorf("close store %s: %w", s.url, cerr))
		}
	}
	return errors.Join(errs...)
}
