package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	// modernc.org/sqlite is SQLite translated to Go: no cgo, so recapid and
	// recapi stay static binaries that cross-compile with GOOS/GOARCH alone.
	_ "modernc.org/sqlite"

	"github.com/recapi/recapi/aggregate"
)

// SQLite is a store in one SQLite file. Several processes may open the same
// file: SQLite serializes their writes (WAL mode, immediate transactions,
// a 10 s busy timeout).
type SQLite struct {
	db   *sql.DB
	path string
}

// sqliteMigrations[i] migrates schema version i to i+1.
var sqliteMigrations = []string{
	`CREATE TABLE recapi_records (
		hash        BLOB PRIMARY KEY,    -- sha256 of key
		module      TEXT NOT NULL,
		qualname    TEXT NOT NULL,
		key         TEXT NOT NULL,       -- canonical JSON of the record without counts (store.Key)
		calls       INTEGER NOT NULL,
		resumptions INTEGER NOT NULL,
		partial     INTEGER NOT NULL,
		first_seen  INTEGER NOT NULL,    -- Unix nanoseconds
		last_seen   INTEGER NOT NULL
	);
	CREATE INDEX recapi_records_function ON recapi_records (module, qualname);
	CREATE INDEX recapi_records_last_seen ON recapi_records (last_seen);`,
	// 2: calls and resumptions that raised, generator and coroutine
	// objects created. Rows stored before count 0 of each.
	`ALTER TABLE recapi_records ADD COLUMN raised INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE recapi_records ADD COLUMN created INTEGER NOT NULL DEFAULT 0;`,
}

// OpenSQLite opens the SQLite store at path, creating the file and its
// schema when they do not exist.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("open store: sqlite: needs a file name, as in sqlite:./recapi.db")
	}
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("open store sqlite:%s: %w (create the directory first)", path, err)
		}
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store sqlite:%s: %w", path, err)
	}
	// One connection: writes are serialized by SQLite anyway, and pragmas
	// and the WAL stay on one handle.
	db.SetMaxOpenConns(1)
	s := &SQLite{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *SQLite) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open store sqlite:%s: %w", s.path, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS recapi_schema (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("open store sqlite:%s: %w (is it an SQLite database?)", s.path, err)
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM recapi_schema`).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO recapi_schema (version) VALUES (0)`); err != nil {
			return fmt.Errorf("create schema in sqlite:%s: %w", s.path, err)
		}
	case err != nil:
		return fmt.Errorf("read schema version of sqlite:%s: %w", s.path, err)
	}
	if v > len(sqliteMigrations) {
		return &SchemaError{URL: "sqlite:" + s.path, Found: v, Support: len(sqliteMigrations)}
	}
	for ; v < len(sqliteMigrations); v++ {
		if _, err := tx.ExecContext(ctx, sqliteMigrations[v]); err != nil {
			return fmt.Errorf("migrate sqlite:%s to schema %d: %w", s.path, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE recapi_schema SET version = ?`, v); err != nil {
		return fmt.Errorf("migrate sqlite:%s: %w", s.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate sqlite:%s: %w", s.path, err)
	}
	return nil
}

// Add implements Store.
func (s *SQLite) Add(ctx context.Context, recs []aggregate.Record, seen time.Time) error {
	rs := rows(recs)
	if len(rs) == 0 {
		return nil
	}
	if err := s.add(ctx, rs, seen.UnixNano()); err != nil {
		return fmt.Errorf("add %d records to sqlite:%s: %w", len(rs), s.path, err)
	}
	return nil
}

func (s *SQLite) add(ctx context.Context, rs []row, seen int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO recapi_records
		(hash, module, qualname, key, calls, resumptions, raised, created, partial, first_seen, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (hash) DO UPDATE SET
			calls = calls + excluded.calls,
			resumptions = resumptions + excluded.resumptions,
			raised = raised + excluded.raised,
			created = created + excluded.created,
			partial = max(partial, excluded.partial),
			first_seen = min(first_seen, excluded.first_seen),
			last_seen = max(last_seen, excluded.last_seen)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range rs {
		r := &rs[i]
		if _, err := st.ExecContext(ctx, r.hash, r.module, r.qualname, r.key, r.calls, r.resumptions, r.raised, r.created, r.partial, seen, seen); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Filter implements Store.
func (s *SQLite) Filter(ctx context.Context, q Query) ([]Entry, error) {
	query := `SELECT key, calls, resumptions, raised, created, partial, first_seen, last_seen FROM recapi_records WHERE 1=1`
	var args []any
	if q.Module != "" {
		query += ` AND module = ?`
		args = append(args, q.Module)
	}
	if q.QualnamePrefix != "" {
		query += ` AND substr(qualname, 1, ?) = ?`
		args = append(args, len([]rune(q.QualnamePrefix)), q.QualnamePrefix)
	}
	query += ` ORDER BY last_seen DESC, calls + resumptions DESC, hash`
	if q.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read sqlite:%s: %w", s.path, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			key  string
			c    storedCounts
			f, l int64
		)
		if err := rows.Scan(&key, &c.calls, &c.resumptions, &c.raised, &c.created, &c.partial, &f, &l); err != nil {
			return nil, fmt.Errorf("read sqlite:%s: %w", s.path, err)
		}
		e, err := entry(key, c, time.Unix(0, f), time.Unix(0, l))
		if err != nil {
			return nil, fmt.Errorf("read sqlite:%s: %w", s.path, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sqlite:%s: %w", s.path, err)
	}
	return out, nil
}

// Modules implements Store.
func (s *SQLite) Modules(ctx context.Context) ([]string, error) {
	return queryStrings(ctx, s.db, `SELECT DISTINCT module FROM recapi_records ORDER BY module`, "sqlite:"+s.path)
}

// Close implements Store.
func (s *SQLite) Close() error { return s.db.Close() }

func queryStrings(ctx context.Context, db *sql.DB, query, url string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("read %s: %w", url, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	return out, nil
}
