package store_test

import (
	"context"
	"iter"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/store"
)

// benchEvents is the ledger size of the rebuild and verify benchmarks:
// TALLY_BENCH_EVENTS, default 100,000.
func benchEvents(b *testing.B) int {
	if s := os.Getenv("TALLY_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(b, err)
		return n
	}
	return 100_000
}

// loadLedger copies about n valid events of a simulated fleet straight
// into the ledger, as workers would have recorded them. The simulation has
// no trouble, so every message is a valid event with an id of its own.
func loadLedger(b *testing.B, s *store.Store, n int) int {
	cfg := fleetsim.DefaultConfig(7)
	cfg.CarsPerCity = 500
	cfg.Days = max(1, n/32_000)
	sim, err := fleetsim.New(cfg)
	require.NoError(b, err)
	next, stop := iter.Pull(sim.Messages)
	defer stop()
	rows := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		m, ok := next()
		if !ok || rows == n {
			return nil, nil
		}
		ev, err := events.Decode(m.Body, 0)
		if err != nil {
			return nil, err
		}
		rows++
		return []any{ev.ID, string(ev.Type), ev.OccurredAt, nullSeq(ev.Seq), nullStr(ev.EntityID()),
			ev.City, int64(rows), ev.Body}, nil
	})
	_, err = s.Pool().CopyFrom(context.Background(), pgx.Identifier{"tally", "events"},
		[]string{"id", "type", "occurred_at", "seq", "entity", "city", "stream_seq", "body"}, src)
	require.NoError(b, err)
	_, err = s.Pool().Exec(context.Background(), "ANALYZE tally.events")
	require.NoError(b, err)
	return rows
}

func nullSeq(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// BenchmarkRebuildAndVerify measures both over one ledger; events/s is
// the figure that matters (TALLY_BENCH_EVENTS sets the size).
func BenchmarkRebuildAndVerify(b *testing.B) {
	url := testdb.New(b)
	s, err := store.Open(context.Background(), url, nil)
	require.NoError(b, err)
	b.Cleanup(s.Close)
	n := loadLedger(b, s, benchEvents(b))
	rebuildOnce := func() {
		lock, err := s.LockRebuild(context.Background())
		require.NoError(b, err)
		defer lock.Release()
		_, err = s.Rebuild(context.Background(), lock, store.RebuildOptions{Zones: aggregator.UTC})
		require.NoError(b, err)
	}
	rebuildOnce() // the ledger was loaded without counting: count it first
	b.Run("rebuild", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rebuildOnce()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rep, err := s.Verify(context.Background(), store.VerifyOptions{})
			require.NoError(b, err)
			require.Empty(b, rep.Differences)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
