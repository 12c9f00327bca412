// Package store keeps aggregated call records in a database: SQLite, embedded
// and the default, or PostgreSQL, which many recapid processes write into at
// the same time. It is modelled on MonkeyType's CallTraceStore (open by URL,
// add, filter by module and qualname prefix, list modules), except that a
// record is stored once per distinct call shape with its counts, never once
// per call: adding a record that is already stored adds its counts.
//
// It never imports bpf, so it tests anywhere without root.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/recapi/recapi/aggregate"
)

// DefaultURL is the embedded store recapid writes and recapi reads when no
// other is named.
const DefaultURL = "sqlite:./recapi.db"

// SchemaVersion is the newest schema this package creates and migrates to.
// A store with a newer schema is refused with "upgrade recapi".
// Version 2 added the raised and created counts.
const SchemaVersion = 2

// Store is a trace store. Implementations are safe for concurrent use.
type Store interface {
	// Add adds the counts of recs, seen at time seen, in one transaction:
	// either every record is added or, on error, none is, so a failed Add
	// can be retried without counting anything twice. Records with the
	// same key are merged first.
	Add(ctx context.Context, recs []aggregate.Record, seen time.Time) error
	// Filter returns the stored records that match q, most recently seen
	// first.
	Filter(ctx context.Context, q Query) ([]Entry, error)
	// Modules lists the modules of the stored functions, sorted.
	Modules(ctx context.Context) ([]string, error)
	// Close releases the connection.
	Close() error
}

// Query selects records in Filter.
type Query struct {
	Module         string // exact module name; "" for every module
	QualnamePrefix string // "" for every function
	Limit          int    // at most this many records; 0 for all
}

// Entry is one stored record with the totals of every Add of its key and
// when it was first and last added.
type Entry struct {
	Record    aggregate.Record
	FirstSeen time.Time
	LastSeen  time.Time
}

// ErrUnknownScheme is returned by Open for a URL it cannot open.
var ErrUnknownScheme = errors.New("unknown store URL")

// SchemaError is a store whose schema is newer than this recapi knows.
type SchemaError struct {
	URL            string
	Found, Support int
}

// Error says which schema was found and that recapi needs an upgrade.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("store %s has schema version %d, newer than this recapi understands (%d): upgrade recapi", e.URL, e.Found, e.Support)
}

// Open opens (and creates or migrates, when needed) the store at url:
// "sqlite:PATH" (PATH relative to the working directory or absolute) or
// "postgres://USER@HOST:PORT/DB?..." ("postgresql://" too).
func Open(ctx context.Context, url string) (Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		return OpenSQLite(ctx, strings.TrimPrefix(url, "sqlite:"))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return OpenPostgres(ctx, url)
	}
	return nil, fmt.Errorf("open store %q: %w: use sqlite:PATH or postgres://USER@HOST/DB", url, ErrUnknownScheme)
}

// IsURL reports whether s names a store rather than a snapshot file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "sqlite:") || strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact returns url without its password, for logs and errors.
func Redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return url
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return url
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

// row is one record ready to store: its canonical key JSON (the record
// without counts), the hash of that, and its counts.
type row struct {
	hash        []byte
	module      string
	qualname    string
	key         string
	calls       int64
	resumptions int64
	raised      int64
	created     int64
	partial     bool
}

// keyRecord is the part of a record that is its key, in a fixed field
// order, so its JSON is canonical. Fields added later are omitempty, so the
// key (and its hash) of a record that does not use them stays what an older
// recapi stored.
type keyRecord struct {
	Function aggregate.Function  `json:"function"`
	Caller   *aggregate.Function `json:"caller"`
	Params   []aggregate.Param   `json:"params"`
	Returns  *string             `json:"returns"`
	Yields   *string             `json:"yields,omitempty"`
	CodeKind string              `json:"code_kind,omitempty"`
	Python   string              `json:"python"`
}

// Key returns the canonical key of r: the JSON of its key fields (function,
// caller, params, returns, yields, code kind, Python version), without
// counts. Two records that an aggregate.Aggregator merges have the same Key.
func Key(r *aggregate.Record) string {
	k := keyRecord{Function: r.Function, Caller: r.Caller, Params: r.Params, Returns: r.Returns, Yields: r.Yields, CodeKind: r.CodeKind, Python: r.Python}
	if k.Params == nil {
		k.Params = []aggregate.Param{}
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(&k) // plain strings and ints cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

// rows merges recs by key and returns them sorted by hash, so concurrent
// writers lock rows in the same order and cannot deadlock each other.
func rows(recs []aggregate.Record) []row {
	idx := make(map[string]int, len(recs))
	out := make([]row, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		if r.Calls == 0 && r.Resumptions == 0 && r.Raised == 0 && r.Created == 0 && !r.Partial {
			continue
		}
		k := Key(r)
		if j, ok := idx[k]; ok {
			out[j].calls += int64(r.Calls)
			out[j].resumptions += int64(r.Resumptions)
			out[j].raised += int64(r.Raised)
			out[j].created += int64(r.Created)
			out[j].partial = out[j].partial || r.Partial
			continue
		}
		h := sha256.Sum256([]byte(k))
		idx[k] = len(out)
		out = append(out, row{hash: h[:], module: r.Function.Module, qualname: r.Function.Qualname, key: k,
			calls: int64(r.Calls), resumptions: int64(r.Resumptions), raised: int64(r.Raised), created: int64(r.Created),
			partial: r.Partial})
	}
	sortRows(out)
	return out
}

// storedCounts are the count columns of a stored row.
type storedCounts struct {
	calls, resumptions, raised, created int64
	partial                             bool
}

// entry decodes a stored row.
func entry(key string, c storedCounts, first, last time.Time) (Entry, error) {
	var k keyRecord
	if err := json.Unmarshal([]byte(key), &k); err != nil {
		return Entry{}, fmt.Errorf("decode stored record %.80q: %w", key, err)
	}
	r := aggregate.Record{Function: k.Function, Caller: k.Caller, Params: k.Params, Returns: k.Returns, Yields: k.Yields,
		CodeKind: k.CodeKind, Python: k.Python, Calls: uint64(c.calls), Resumptions: uint64(c.resumptions),
		Raised: uint64(c.raised), Created: uint64(c.created), Partial: c.partial}
	if len(r.Params) == 0 {
		r.Params = nil
	}
	return Entry{Record: r, FirstSeen: first.UTC(), LastSeen: last.UTC()}, nil
}

// Records returns the records of entries, for aggregate's functions.
func Records(es []Entry) []aggregate.Record {
	out := make([]aggregate.Record, len(es))
	for i, e := range es {
		out[i] = e.Record
	}
	return out
}
