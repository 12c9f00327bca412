package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/recapi/recapi/aggregate"
)

// Postgres is a store in a PostgreSQL database, shared by many recapid
// processes: each Add is one transaction of upserts that add counts
// atomically (calls = calls + excluded.calls), rows are written in key
// order so that concurrent writers do not deadlock, and the schema is
// created and migrated under an advisory lock.
type Postgres struct {
	pool *pgxpool.Pool
	url  string // redacted
}

// pgMigrations[i] migrates schema version i to i+1.
var pgMigrations = []string{
	`CREATE TABLE recapi_records (
		hash        bytea PRIMARY KEY,   -- sha256 of key
		module      text NOT NULL,
		qualname    text NOT NULL,
		key         text NOT NULL,       -- canonical JSON of the record without counts (store.Key)
		calls       bigint NOT NULL,
		resumptions bigint NOT NULL,
		partial     boolean NOT NULL,
		first_seen  timestamptz NOT NULL,
		last_seen   timestamptz NOT NULL
	);
	CREATE INDEX recapi_records_function ON recapi_records (module, qualname);
	CREATE INDEX recapi_records_last_seen ON recapi_records (last_seen);`,
	// 2: calls and resumptions that raised, generator and coroutine
	// objects created. Rows stored before count 0 of each; a constant
	// default does not rewrite the table.
	`ALTER TABLE recapi_records
		ADD COLUMN raised bigint NOT NULL DEFAULT 0,
		ADD COLUMN created bigint NOT NULL DEFAULT 0;`,
}

// pgLockID is the advisory lock that serializes schema migrations.
const pgLockID = 0x7265636170690001 // "recapi" 1

// pgBatch is how many rows one INSERT carries.
const pgBatch = 5000

// OpenPostgres connects to the database at url and creates or migrates
// recapi's tables in it.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", Redact(url), err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", Redact(url), err)
	}
	p := &Postgres{pool: pool, url: Redact(url)}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

func (p *Postgres) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pgLockID)); err != nil {
			return fmt.Errorf("open store %s: %w (is the server running and the database there?)", p.url, err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS recapi_schema (version integer NOT NULL)`); err != nil {
			return fmt.Errorf("open store %s: %w (may this user create tables in the database?)", p.url, err)
		}
		var v int
		switch err := tx.QueryRow(ctx, `SELECT version FROM recapi_schema`).Scan(&v); {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, `INSERT INTO recapi_schema (version) VALUES (0)`); err != nil {
				return fmt.Errorf("create schema in %s: %w", p.url, err)
			}
		case err != nil:
			return fmt.Errorf("read schema version of %s: %w", p.url, err)
		}
		if v > len(pgMigrations) {
			return &SchemaError{URL: p.url, Found: v, Support: len(pgMigrations)}
		}
		for ; v < len(pgMigrations); v++ {
			if _, err := tx.Exec(ctx, pgMigrations[v]); err != nil {
				return fmt.Errorf("migrate %s to schema %d: %w", p.url, v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE recapi_schema SET version = $1`, v); err != nil {
			return fmt.Errorf("migrate %s: %w", p.url, err)
		}
		return nil
	})
}

// Add implements Store.
func (p *Postgres) Add(ctx context.Context, recs []aggregate.Record, seen time.Time) error {
	rs := rows(recs)
	if len(rs) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for start := 0; start < len(rs); start += pgBatch {
			if err := p.upsert(ctx, tx, rs[start:min(start+pgBatch, len(rs))], seen); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add %d records to %s: %w", len(rs), p.url, err)
	}
	return nil
}

func (p *Postgres) upsert(ctx context.Context, tx pgx.Tx, rs []row, seen time.Time) error {
	var (
		hashes      = make([][]byte, len(rs))
		modules     = make([]string, len(rs))
		qualnames   = make([]string, len(rs))
		keys        = make([]string, len(rs))
		calls       = make([]int64, len(rs))
		resumptions = make([]int64, len(rs))
		raised      = make([]int64, len(rs))
		created     = make([]int64, len(rs))
		partials    = make([]bool, len(rs))
	)
	for i := range rs {
		r := &rs[i]
		hashes[i], modules[i], qualnames[i], keys[i] = r.hash, r.module, r.qualname, r.key
		calls[i], resumptions[i], raised[i], created[i], partials[i] = r.calls, r.resumptions, r.raised, r.created, r.partial
	}
	_, err := tx.Exec(ctx, `INSERT INTO recapi_records AS r
		(hash, module, qualname, key, calls, resumptions, raised, created, partial, first_seen, last_seen)
		SELECT h, m, q, k, c, res, ra, cr, pa, $10, $10
		FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::boolean[])
			AS t(h, m, q, k, c, res, ra, cr, pa)
		ORDER BY h
		ON CONFLICT (hash) DO UPDATE SET
			calls = r.calls + excluded.calls,
			resumptions = r.resumptions + excluded.resumptions,
			raised = r.raised + excluded.raised,
			created = r.created + excluded.created,
			partial = r.partial OR excluded.partial,
			first_seen = least(r.first_seen, excluded.first_seen),
			last_seen = greatest(r.last_seen, excluded.last_seen)`,
		hashes, modules, qualnames, keys, calls, resumptions, raised, created, partials, seen)
	return err
}

// Filter implements Store.
func (p *Postgres) Filter(ctx context.Context, q Query) ([]Entry, error) {
	query := `SELECT key, calls, resumptions, raised, created, partial, first_seen, last_seen FROM recapi_records WHERE true`
	var args []any
	if q.Module != "" {
		args = append(args, q.Module)
		query += fmt.Sprintf(` AND module = $%d`, len(args))
	}
	if q.QualnamePrefix != "" {
		args = append(args, q.QualnamePrefix)
		query += fmt.Sprintf(` AND starts_with(qualname, $%d)`, len(args))
	}
	query += ` ORDER BY last_seen DESC, calls + resumptions DESC, hash`
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += fmt.Sprintf(` LIMIT $%d`, len(args))
	}
	rows, err := p.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p.url, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			key  string
			c    storedCounts
			f, l time.Time
		)
		if err := rows.Scan(&key, &c.calls, &c.resumptions, &c.raised, &c.created, &c.partial, &f, &l); err != nil {
			return nil, fmt.Errorf("read %s: %w", p.url, err)
		}
		e, err := entry(key, c, f, l)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p.url, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", p.url, err)
	}
	return out, nil
}

// Modules implements Store.
func (p *Postgres) Modules(ctx context.Context) ([]string, error) {
	rows, err := p.pool.Query(ctx, `SELECT DISTINCT module FROM recapi_records ORDER BY module`)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p.url, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p.url, err)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// Close implements Store.
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}
