package store_test

import (
	"context"
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
// into the ledger, each id once, as workers would have recorded them.
func loadLedger(b *testing.B, s *store.Store, n int) int {
	cfg := fleetsim.DefaultConfig(7)
	cfg.CarsPerCity = 500
	cfg.Days = max(1, n/32_000)
	sim, err := fleetsim.New(cfg)
	require.NoError(b, err)
	seen := map[string]bool{}
	var rows [][]any
	for m := range sim.Messages {
		ev, err := events.Decode(m.Body, 0)
		if err != nil || seen[ev.ID] {
			continue
		}
		seen[ev.ID] = true
		rows = append(rows, []any{ev.ID, string(ev.Type), ev.OccurredAt, nullSeq(ev.Seq), nullStr(ev.EntityID()),
			ev.City, int64(len(rows) + 1), ev.Body})
		if len(rows) == n {
			break
		}
	}
	_, err = s.Pool().CopyFrom(context.Background(), pgx.Identifier{"tally", "events"},
		[]string{"id", "type", "occurred_at", "seq", "entity", "city", "stream_seq", "body"}, pgx.CopyFromRows(rows))
	require.NoError(b, err)
	_, err = s.Pool().Exec(context.Background(), "ANALYZE tally.events")
	require.NoError(b, err)
	return len(rows)
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
	b.Run("rebuild", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			lock, err := s.LockRebuild(context.Background())
			require.NoError(b, err)
			_, err = s.Rebuild(context.Background(), lock, store.RebuildOptions{Zones: aggregator.UTC})
			lock.Release()
			require.NoError(b, err)
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
