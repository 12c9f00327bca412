package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/store"
)

// opener opens a new, empty store, and more handles on the same one.
type opener func(t *testing.T) (url string)

func TestSQLite(t *testing.T) {
	contract(t, func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "recapi.db")
	})
}

func TestPostgres(t *testing.T) {
	server := testutil.Postgres(t)
	contract(t, func(t *testing.T) string {
		return testutil.PostgresDatabase(t, server)
	})
}

func ptr[T any](v T) *T { return &v }

func rec(module, qualname string, calls uint64, types ...string) aggregate.Record {
	r := aggregate.Record{
		Function: aggregate.Function{Module: module, Qualname: qualname, File: "/src/" + module + ".py", Line: 3},
		Caller:   &aggregate.Function{Module: "app", Qualname: "main"},
		Returns:  ptr("builtins.int"),
		Calls:    calls,
		Python:   "3.11",
	}
	for i, ty := range types {
		r.Params = append(r.Params, aggregate.Param{Name: fmt.Sprintf("p%d", i), Kind: aggregate.KindPositionalOrKeyword, Type: ty})
	}
	return r
}

func open(t *testing.T, url string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// totals maps "module.qualname(types)" to calls.
func totals(t *testing.T, s store.Store, q store.Query) map[string]uint64 {
	t.Helper()
	es, err := s.Filter(context.Background(), q)
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, e := range es {
		k := e.Record.Function.Name() + "("
		for i, p := range e.Record.Params {
			if i > 0 {
				k += ","
			}
			k += p.Type
		}
		out[k+")"] += e.Record.Calls
	}
	return out
}

// contract is the behaviour every store has.
func contract(t *testing.T, newURL opener) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	t.Run("empty", func(t *testing.T) {
		s := open(t, newURL(t))
		es, err := s.Filter(ctx, store.Query{})
		require.NoError(t, err)
		assert.Empty(t, es)
		mods, err := s.Modules(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{}, mods)
		require.NoError(t, s.Add(ctx, nil, t0))
	})

	t.Run("add merges counts by key", func(t *testing.T) {
		s := open(t, newURL(t))
		gen := rec("app.gen", "numbers", 2)
		gen.CodeKind, gen.Resumptions = aggregate.CodeGenerator, 7
		require.NoError(t, s.Add(ctx, []aggregate.Record{
			rec("app.util", "add", 3, "builtins.int", "builtins.int"),
			rec("app.util", "add", 4, "builtins.int", "builtins.int"), // same key in one Add
			rec("app.util", "add", 5, "builtins.str", "builtins.str"),
			gen,
		}, t0))
		partial := rec("app.util", "add", 1, "builtins.int", "builtins.int")
		partial.Partial = true
		require.NoError(t, s.Add(ctx, []aggregate.Record{partial, gen}, t0.Add(time.Second)))

		assert.Equal(t, map[string]uint64{
			"app.util.add(builtins.int,builtins.int)": 8,
			"app.util.add(builtins.str,builtins.str)": 5,
			"app.gen.numbers()":                       4,
		}, totals(t, s, store.Query{}))

		es, err := s.Filter(ctx, store.Query{Module: "app.gen"})
		require.NoError(t, err)
		require.Len(t, es, 1)
		want := gen
		want.Calls, want.Resumptions = 4, 14
		assert.Equal(t, want, es[0].Record, "the record comes back whole, params nil")
		assert.Equal(t, t0, es[0].FirstSeen)
		assert.Equal(t, t0.Add(time.Second), es[0].LastSeen)

		es, err = s.Filter(ctx, store.Query{Module: "app.util", QualnamePrefix: "add"})
		require.NoError(t, err)
		for _, e := range es {
			if e.Record.Params[0].Type == "builtins.int" {
				assert.True(t, e.Record.Partial, "partial is sticky")
			}
		}
	})

	t.Run("yields is part of the key, raised and created add up", func(t *testing.T) {
		s := open(t, newURL(t))
		gen := func(calls, resumptions, raised, created uint64, yields, returns *string) aggregate.Record {
			r := rec("app.gen", "numbers", calls, "builtins.int")
			r.CodeKind, r.Resumptions, r.Raised, r.Created, r.Yields, r.Returns = aggregate.CodeGenerator, resumptions, raised, created, yields, returns
			return r
		}
		yieldsInt, yieldsTuple := ptr("builtins.int"), ptr("builtins.tuple[builtins.int, ...]")
		require.NoError(t, s.Add(ctx, []aggregate.Record{
			gen(0, 0, 0, 5, nil, nil),            // created, not started: stored
			gen(5, 0, 0, 0, yieldsInt, nil),      // started, yielded
			gen(0, 20, 0, 0, yieldsTuple, nil),   // resumed, yielded
			gen(0, 3, 3, 0, nil, nil),            // resumed, raised
			gen(0, 2, 0, 0, nil, ptr("None")),    // resumed, returned
			gen(1, 0, 0, 0, yieldsInt, ptr("x")), // a record with both (not written by recapid) is one more key
		}, t0))
		require.NoError(t, s.Add(ctx, []aggregate.Record{gen(0, 0, 0, 2, nil, nil), gen(0, 4, 1, 0, nil, nil), gen(2, 0, 0, 0, yieldsInt, nil)}, t0))

		es, err := s.Filter(ctx, store.Query{Module: "app.gen"})
		require.NoError(t, err)
		got := aggregate.NewAggregator()
		for _, e := range es {
			got.Add(e.Record)
		}
		require.Equal(t, len(es), got.Len(), "one row per aggregate key")
		want := aggregate.NewAggregator()
		for _, r := range []aggregate.Record{
			gen(0, 0, 0, 7, nil, nil), gen(7, 0, 0, 0, yieldsInt, nil), gen(0, 20, 0, 0, yieldsTuple, nil),
			gen(0, 7, 4, 0, nil, nil), gen(0, 2, 0, 0, nil, ptr("None")), gen(1, 0, 0, 0, yieldsInt, ptr("x")),
		} {
			want.Add(r)
		}
		assert.Equal(t, want.Records(), got.Records())
	})

	t.Run("every count adds up over adds", func(t *testing.T) {
		// recapid adds each flush interval's counts: three Adds of +1 of
		// every count store 3 of each, and a record that only counts
		// created generators is stored.
		s := open(t, newURL(t))
		all := rec("app.gen", "numbers", 1, "builtins.int")
		all.CodeKind, all.Returns, all.Resumptions, all.Raised, all.Created = aggregate.CodeGenerator, nil, 1, 1, 1
		created := rec("app.gen", "numbers", 0, "builtins.str")
		created.CodeKind, created.Returns, created.Created = aggregate.CodeGenerator, nil, 1
		for i := range 3 {
			require.NoError(t, s.Add(ctx, []aggregate.Record{all, created}, t0.Add(time.Duration(i)*time.Second)))
		}
		es, err := s.Filter(ctx, store.Query{})
		require.NoError(t, err)
		wantAll, wantCreated := all, created
		wantAll.Calls, wantAll.Resumptions, wantAll.Raised, wantAll.Created = 3, 3, 3, 3
		wantCreated.Created = 3
		assert.ElementsMatch(t, []aggregate.Record{wantAll, wantCreated}, store.Records(es))
	})

	t.Run("nil and empty params are one key", func(t *testing.T) {
		s := open(t, newURL(t))
		a := rec("m", "f", 1)
		b := rec("m", "f", 2)
		b.Params = []aggregate.Param{}
		require.NoError(t, s.Add(ctx, []aggregate.Record{a}, t0))
		require.NoError(t, s.Add(ctx, []aggregate.Record{b}, t0))
		assert.Equal(t, map[string]uint64{"m.f()": 3}, totals(t, s, store.Query{}))
	})

	t.Run("zero counts are not stored", func(t *testing.T) {
		s := open(t, newURL(t))
		require.NoError(t, s.Add(ctx, []aggregate.Record{rec("m", "f", 0)}, t0))
		assert.Empty(t, totals(t, s, store.Query{}))
	})

	t.Run("filter and list modules", func(t *testing.T) {
		s := open(t, newURL(t))
		require.NoError(t, s.Add(ctx, []aggregate.Record{rec("pkg.a", "Outer.method", 1), rec("pkg.a", "Outer.other", 2), rec("pkg.a", "helper", 3)}, t0))
		require.NoError(t, s.Add(ctx, []aggregate.Record{rec("pkg.b", "f.<locals>.<lambda>", 4), rec("pkg", "init", 5)}, t0.Add(time.Minute)))
		require.NoError(t, s.Add(ctx, []aggregate.Record{rec("pkg.a", "Outer.other", 1)}, t0.Add(2*time.Minute)))

		mods, err := s.Modules(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"pkg", "pkg.a", "pkg.b"}, mods)

		assert.Equal(t, map[string]uint64{"pkg.a.Outer.method()": 1, "pkg.a.Outer.other()": 3},
			totals(t, s, store.Query{Module: "pkg.a", QualnamePrefix: "Outer."}))
		assert.Equal(t, map[string]uint64{"pkg.b.f.<locals>.<lambda>()": 4}, totals(t, s, store.Query{Module: "pkg.b"}))
		assert.Empty(t, totals(t, s, store.Query{Module: "pkg.a", QualnamePrefix: "outer"}), "prefix is case-sensitive")
		assert.Empty(t, totals(t, s, store.Query{Module: "pkg.a", QualnamePrefix: "Outer%"}), "no LIKE wildcards")

		// Most recently seen first, then most called.
		es, err := s.Filter(ctx, store.Query{Limit: 3})
		require.NoError(t, err)
		var names []string
		for _, e := range es {
			names = append(names, e.Record.Function.Name())
		}
		assert.Equal(t, []string{"pkg.a.Outer.other", "pkg.init", "pkg.b.f.<locals>.<lambda>"}, names)
	})

	t.Run("reopen keeps records", func(t *testing.T) {
		url := newURL(t)
		s, err := store.Open(ctx, url)
		require.NoError(t, err)
		require.NoError(t, s.Add(ctx, []aggregate.Record{rec("m", "f", 9)}, t0))
		require.NoError(t, s.Close())
		s2 := open(t, url)
		assert.Equal(t, map[string]uint64{"m.f()": 9}, totals(t, s2, store.Query{}))
	})

	t.Run("concurrent writers add up", func(t *testing.T) {
		url := newURL(t)
		const writers, adds = 4, 25
		stores := make([]store.Store, writers)
		for i := range stores {
			stores[i] = open(t, url) // separate handles, as separate daemons would have
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers*adds)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range adds {
					// Overlapping keys in different orders from every writer.
					recs := []aggregate.Record{rec("m", "shared", 1), rec("m", fmt.Sprintf("w%d", w), 2), rec("m", "other", 3)}
					if (w+i)%2 == 1 {
						recs[0], recs[2] = recs[2], recs[0]
					}
					errs <- stores[w].Add(ctx, recs, t0.Add(time.Duration(i)*time.Second))
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		want := map[string]uint64{"m.shared()": writers * adds, "m.other()": 3 * writers * adds}
		for w := range writers {
			want[fmt.Sprintf("m.w%d()", w)] = 2 * adds
		}
		assert.Equal(t, want, totals(t, stores[0], store.Query{}))
	})

	t.Run("many records in one add", func(t *testing.T) {
		s := open(t, newURL(t))
		var recs []aggregate.Record
		for i := range 12000 { // more than one PostgreSQL batch
			recs = append(recs, rec("m", fmt.Sprintf("f%05d", i), uint64(i+1)))
		}
		require.NoError(t, s.Add(ctx, recs, t0))
		require.NoError(t, s.Add(ctx, recs, t0))
		es, err := s.Filter(ctx, store.Query{Module: "m", QualnamePrefix: "f1199"})
		require.NoError(t, err)
		got := map[string]uint64{}
		for _, e := range es {
			got[e.Record.Function.Qualname] = e.Record.Calls
		}
		want := map[string]uint64{}
		for i := 11990; i < 12000; i++ {
			want[fmt.Sprintf("f%05d", i)] = 2 * uint64(i+1)
		}
		assert.Equal(t, want, got)
	})

	t.Run("canceled add stores nothing", func(t *testing.T) {
		s := open(t, newURL(t))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		assert.Error(t, s.Add(cctx, []aggregate.Record{rec("m", "f", 1)}, t0))
		assert.Empty(t, totals(t, s, store.Query{}))
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, err := store.Open(ctx, "mysql://x")
	assert.ErrorIs(t, err, store.ErrUnknownScheme)
	_, err = store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"))
	assert.ErrorContains(t, err, "create the directory first")

	// A store written by a newer recapi is refused.
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := store.OpenSQLite(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	bumpSchema(t, path)
	_, err = store.Open(ctx, "sqlite:"+path)
	var se *store.SchemaError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Contains(t, err.Error(), "upgrade recapi")
}

func TestRedact(t *testing.T) {
	assert.Equal(t, "postgres://u:xxxxx@h:5432/db", store.Redact("postgres://u:secret@h:5432/db"))
	assert.Equal(t, "postgres://u@h/db", store.Redact("postgres://u@h/db"))
	assert.Equal(t, "sqlite:./x.db", store.Redact("sqlite:./x.db"))
}

func TestKey(t *testing.T) {
	a := rec("m", "f", 1, "builtins.int")
	b := a
	b.Calls, b.Resumptions, b.Raised, b.Created, b.Partial = 99, 3, 2, 7, true
	assert.Equal(t, store.Key(&a), store.Key(&b), "counts are not part of the key")
	c := rec("m", "f", 1, "builtins.str")
	assert.NotEqual(t, store.Key(&a), store.Key(&c))
	assert.Contains(t, store.Key(&a), `"qualname":"f"`)

	// Yields is part of the key, after returns.
	y := a
	y.Returns, y.Yields = nil, ptr("builtins.int")
	assert.Equal(t, `{"function":{"module":"m","qualname":"f","file":"/src/m.py","line":3},"caller":{"module":"app","qualname":"main"},`+
		`"params":[{"name":"p0","kind":"positional_or_keyword","type":"builtins.int"}],"returns":null,"yields":"builtins.int","python":"3.11"}`, store.Key(&y))
	// A record without yields has the key schema 1 stored: rows stored
	// before the upgrade keep adding up.
	assert.Equal(t, oldKey, store.Key(ptr(oldRecord())))
}

// oldRecord is a record as recapi wrote it into a schema 1 store, and
// oldKey its key there.
func oldRecord() aggregate.Record {
	return rec("app.util", "add", 0, "builtins.int", "builtins.int")
}

const oldKey = `{"function":{"module":"app.util","qualname":"add","file":"/src/app.util.py","line":3},"caller":{"module":"app","qualname":"main"},` +
	`"params":[{"name":"p0","kind":"positional_or_keyword","type":"builtins.int"},{"name":"p1","kind":"positional_or_keyword","type":"builtins.int"}],` +
	`"returns":"builtins.int","python":"3.11"}`

// Schema 1 as recapi created it (before raised and created), with one row.
const (
	sqliteSchema1 = `CREATE TABLE recapi_schema (version INTEGER NOT NULL);
	INSERT INTO recapi_schema (version) VALUES (1);
	CREATE TABLE recapi_records (
		hash        BLOB PRIMARY KEY,
		module      TEXT NOT NULL,
		qualname    TEXT NOT NULL,
		key         TEXT NOT NULL,
		calls       INTEGER NOT NULL,
		resumptions INTEGER NOT NULL,
		partial     INTEGER NOT NULL,
		first_seen  INTEGER NOT NULL,
		last_seen   INTEGER NOT NULL
	);
	CREATE INDEX recapi_records_function ON recapi_records (module, qualname);
	CREATE INDEX recapi_records_last_seen ON recapi_records (last_seen);`
	sqliteRow1 = `INSERT INTO recapi_records VALUES (?, 'app.util', 'add', ?, 40, 2, 1, ?, ?)`

	pgSchema1 = `CREATE TABLE recapi_schema (version integer NOT NULL);
	INSERT INTO recapi_schema (version) VALUES (1);
	CREATE TABLE recapi_records (
		hash        bytea PRIMARY KEY,
		module      text NOT NULL,
		qualname    text NOT NULL,
		key         text NOT NULL,
		calls       bigint NOT NULL,
		resumptions bigint NOT NULL,
		partial     boolean NOT NULL,
		first_seen  timestamptz NOT NULL,
		last_seen   timestamptz NOT NULL
	);
	CREATE INDEX recapi_records_function ON recapi_records (module, qualname);
	CREATE INDEX recapi_records_last_seen ON recapi_records (last_seen);`
	pgRow1 = `INSERT INTO recapi_records VALUES ($1, 'app.util', 'add', $2, 40, 2, true, $3, $4)`
)

func TestSQLiteUpgradeFromSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	_, err = db.Exec(sqliteSchema1)
	require.NoError(t, err)
	h := sha256.Sum256([]byte(oldKey))
	_, err = db.Exec(sqliteRow1, h[:], oldKey, t0.UnixNano(), t0.UnixNano())
	require.NoError(t, err)
	require.NoError(t, db.Close())

	upgrade(t, "sqlite:"+path, t0, func() int {
		db, err := sql.Open("sqlite", "file:"+path)
		require.NoError(t, err)
		defer db.Close()
		var v int
		require.NoError(t, db.QueryRow(`SELECT version FROM recapi_schema`).Scan(&v))
		return v
	})
}

func TestPostgresUpgradeFromSchema1(t *testing.T) {
	url := testutil.PostgresDatabase(t, testutil.Postgres(t))
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, pgSchema1)
	require.NoError(t, err)
	h := sha256.Sum256([]byte(oldKey))
	_, err = conn.Exec(ctx, pgRow1, h[:], oldKey, t0, t0)
	require.NoError(t, err)

	upgrade(t, url, t0, func() int {
		var v int
		require.NoError(t, conn.QueryRow(ctx, `SELECT version FROM recapi_schema`).Scan(&v))
		return v
	})
}

// upgrade opens the schema 1 store at url, which holds oldRecord with 40
// calls, 2 resumptions and partial, first and last seen at t0, and checks
// that it is migrated in place and keeps adding up.
func upgrade(t *testing.T, url string, t0 time.Time, version func() int) {
	ctx := context.Background()
	s := open(t, url)
	assert.Equal(t, store.SchemaVersion, version())

	want := oldRecord()
	want.Calls, want.Resumptions, want.Partial = 40, 2, true
	es, err := s.Filter(ctx, store.Query{})
	require.NoError(t, err)
	require.Len(t, es, 1)
	assert.Equal(t, want, es[0].Record, "the old row reads back, raised and created 0")
	assert.Equal(t, t0, es[0].FirstSeen)

	// The same key adds to the old row; new keys are new rows.
	more := oldRecord()
	more.Calls, more.Raised = 5, 2
	created := oldRecord()
	created.Returns, created.Created, created.CodeKind = nil, 3, aggregate.CodeCoroutine
	require.NoError(t, s.Add(ctx, []aggregate.Record{more, created}, t0.Add(time.Minute)))
	es, err = s.Filter(ctx, store.Query{})
	require.NoError(t, err)
	require.Len(t, es, 2)
	want.Calls, want.Raised = 45, 2
	assert.Equal(t, want, es[0].Record, "seen last together, the most called first")
	assert.Equal(t, t0, es[0].FirstSeen)
	assert.Equal(t, t0.Add(time.Minute), es[0].LastSeen)
	assert.Equal(t, created, es[1].Record)
	require.NoError(t, s.Close())

	// Opening again migrates nothing more.
	s2 := open(t, url)
	assert.Equal(t, store.SchemaVersion, version())
	es2, err := s2.Filter(ctx, store.Query{})
	require.NoError(t, err)
	assert.Equal(t, es, es2)
}
