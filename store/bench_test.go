package store_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/store"
)

// make bench runs these with -bench-records=1000000.
var benchRecords = flag.Int("bench-records", 20000, "distinct records BenchmarkUpsert adds")

// benchBatch is how many records one Add carries, as one flush would.
const benchBatch = 10000

func benchRecs(n int) []aggregate.Record {
	types := []string{"builtins.int", "builtins.str", "builtins.float", "None", "builtins.list[builtins.int]"}
	recs := make([]aggregate.Record, n)
	for i := range recs {
		r := rec(fmt.Sprintf("app.mod%03d", i%500), fmt.Sprintf("Class%d.method%d", i%37, i), uint64(i%1000+1),
			types[i%5], types[(i/5)%5], types[(i/25)%5])
		r.Function.Line = i % 2000
		recs[i] = r
	}
	return recs
}

// BenchmarkUpsert adds -bench-records distinct records to an empty store,
// benchBatch per transaction, then adds them all again (every row a
// conflict that adds counts). It reports both times and the size on disk.
func BenchmarkUpsert(b *testing.B) {
	recs := benchRecs(*benchRecords)
	b.Run("sqlite", func(b *testing.B) {
		for b.Loop() {
			path := filepath.Join(b.TempDir(), "bench.db")
			benchUpsert(b, "sqlite:"+path, recs, func() int64 {
				var n int64
				for _, p := range []string{path, path + "-wal"} {
					if fi, err := os.Stat(p); err == nil {
						n += fi.Size()
					}
				}
				return n
			})
		}
	})
	b.Run("postgres", func(b *testing.B) {
		server := testutil.Postgres(b)
		for b.Loop() {
			url := testutil.PostgresDatabase(b, server)
			benchUpsert(b, url, recs, func() int64 {
				conn, err := pgx.Connect(context.Background(), url)
				require.NoError(b, err)
				defer conn.Close(context.Background())
				var n int64
				require.NoError(b, conn.QueryRow(context.Background(), `SELECT pg_total_relation_size('recapi_records')`).Scan(&n))
				return n
			})
		}
	})
}

func benchUpsert(b *testing.B, url string, recs []aggregate.Record, size func() int64) {
	ctx := context.Background()
	s, err := store.Open(ctx, url)
	require.NoError(b, err)
	defer s.Close()
	now := time.Now()
	pass := func() time.Duration {
		start := time.Now()
		for i := 0; i < len(recs); i += benchBatch {
			require.NoError(b, s.Add(ctx, recs[i:min(i+benchBatch, len(recs))], now))
		}
		return time.Since(start)
	}
	insert := pass()
	update := pass()
	b.ReportMetric(insert.Seconds(), "insert-s")
	b.ReportMetric(update.Seconds(), "upsert-s")
	b.ReportMetric(float64(len(recs))/insert.Seconds(), "insert-rec/s")
	b.ReportMetric(float64(size())/(1<<20), "disk-MiB")
	b.ReportMetric(float64(len(recs)), "records")
}
