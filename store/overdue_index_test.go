package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/store"
)

// TestOverdueBookingsReadFromTheIndexAlone checks that the partial index
// behind tally.overdue_bookings carries the city, in a new database and in
// one upgraded from schema version 4, so that vacuumed tables answer the
// view with index-only scans: of confirmed_starts for the days before the
// cutoff's, of the bookings for that day and for the oldest start.
func TestOverdueBookingsReadFromTheIndexAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	c := overdueCutoff(t, tb)
	applyDrafts(t, tb.store, confirmed("b1", "c1", "paris", c.Add(-time.Hour)),
		confirmed("b2", "c2", "berlin", c.Add(-50*time.Hour)))

	requireIndexOnly := func(when string) {
		t.Helper()
		require.Contains(t, overdueIndex(t, tb.store), "INCLUDE (city)", when)
		_, err := tb.store.Pool().Exec(ctx, "VACUUM ANALYZE tally_g1.bookings, tally_g1.confirmed_starts")
		require.NoError(t, err)
		conn, err := tb.store.Pool().Acquire(ctx)
		require.NoError(t, err)
		defer conn.Release()
		// The table is tiny: make the planner show what it can do at scale.
		_, err = conn.Exec(ctx, "SET enable_seqscan = off")
		require.NoError(t, err)
		defer func() { _, _ = conn.Exec(ctx, "RESET enable_seqscan") }()
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM tally.overdue_bookings")
		require.NoError(t, err)
		lines := ""
		for rows.Next() {
			var l string
			require.NoError(t, rows.Scan(&l))
			lines += l + "\n"
		}
		require.NoError(t, rows.Err())
		require.Contains(t, lines, "Index Only Scan using bookings_confirmed_start", when)
		require.Contains(t, lines, "Index Only Scan using confirmed_starts_open", when)
		require.Contains(t, lines, "Heap Fetches: 0", when)
		require.NotRegexp(t, `Heap Fetches: [1-9]`, lines, when)
		v, err := tb.store.ReadViews(ctx)
		require.NoError(t, err)
		require.Len(t, v.OverdueBookings, 2, when)
	}
	requireIndexOnly("new database")

	require.NoError(t, store.MigrateDownTo(ctx, tb.url, 4))
	require.NotContains(t, overdueIndex(t, tb.store), "INCLUDE", "version 4's index")
	_, err := store.Migrate(ctx, tb.url, store.Settings{Zones: aggregator.UTC, OverdueGrace: time.Since(c).Truncate(time.Second)}, nil)
	require.NoError(t, err)
	requireIndexOnly("upgraded from version 4")
}

// overdueIndex returns the definition of generation 1's overdue index.
func overdueIndex(t *testing.T, s *store.Store) string {
	t.Helper()
	var def string
	require.NoError(t, s.Pool().QueryRow(context.Background(),
		"SELECT indexdef FROM pg_indexes WHERE schemaname = 'tally_g1' AND indexname = 'bookings_confirmed_start'").Scan(&def))
	return def
}
