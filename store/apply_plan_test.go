package store_test

import (
	"context"
	"fmt"
	"iter"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/store"
)

// TestApplyNeverScansWholeTables applies a simulated fleet in batches and
// checks that no apply statement scanned a ledger or entity table
// sequentially: each looks up a batch's keys, and a sequential scan costs
// time in proportion to the table, every batch. Left to the planner's
// defaults, the entity lookups and updates of a new database scanned from
// the first batch on. (A merge join over a whole index would not show
// here; the same settings rule it out.)
func TestApplyNeverScansWholeTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)

	cfg := fleetsim.DefaultConfig(5)
	cfg.CarsPerCity, cfg.Days = 40, 30
	sim, err := fleetsim.New(cfg)
	require.NoError(t, err)
	next, stop := iter.Pull(sim.Messages)
	defer stop()
	var seq uint64
	for range 8 {
		var b store.Batch
		for len(b.Events) < 1000 {
			m, ok := next()
			require.True(t, ok, "the simulation ran out of events")
			seq++
			ev, err := events.Decode(m.Body, 0)
			if err != nil {
				continue // the simulation's bad messages are the worker's business
			}
			b.Events = append(b.Events, store.Incoming{Event: ev, StreamSeq: seq})
		}
		_, err := tb.store.Apply(ctx, b)
		require.NoError(t, err)
	}
	// A backend reports its table statistics when it ends.
	tb.store.Close()

	conn, err := pgx.Connect(ctx, tb.url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var gen int
	require.NoError(t, conn.QueryRow(ctx, "SELECT gen FROM tally.generations WHERE state = 'current'").Scan(&gen))
	tables := []string{"tally.events", fmt.Sprintf("tally_g%d.cars", gen), fmt.Sprintf("tally_g%d.bookings", gen)}
	require.Eventually(t, func() bool {
		var looked int64
		err := conn.QueryRow(ctx, `SELECT COALESCE(sum(idx_scan), 0) FROM pg_stat_user_tables
			WHERE schemaname || '.' || relname = ANY($1)`, tables).Scan(&looked)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()")
		require.NoError(t, err)
		return looked > 0
	}, 10e9, 100e6, "the applies' table statistics never arrived")
	for _, table := range tables {
		var seqScans, rows int64
		require.NoError(t, conn.QueryRow(ctx, `SELECT seq_scan, n_live_tup FROM pg_stat_user_tables
			WHERE schemaname || '.' || relname = $1`, table).Scan(&seqScans, &rows))
		require.Positive(t, rows, table)
		require.Zero(t, seqScans, "%s was read whole %d times", table, seqScans)
	}
}
