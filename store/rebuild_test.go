package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/store"
)

// applySim applies a simulation's valid messages through store.Apply in
// batches, as workers would: duplicates, conflicts and unknown types
// included.
func applySim(t *testing.T, s *store.Store, cfg fleetsim.Config) {
	t.Helper()
	sim, err := fleetsim.New(cfg)
	require.NoError(t, err)
	var batch []store.Incoming
	flush := func() {
		_, err := s.Apply(context.Background(), store.Batch{Events: batch})
		require.NoError(t, err)
		batch = batch[:0]
	}
	seq := uint64(0)
	for m := range sim.Messages {
		seq++
		ev, err := events.Decode(m.Body, 0)
		if err != nil {
			continue
		}
		batch = append(batch, store.Incoming{Event: ev, StreamSeq: seq})
		if len(batch) == 500 {
			flush()
		}
	}
	flush()
}

func smallTroubled(seed int64) fleetsim.Config {
	cfg := fleetsim.Troubled(seed)
	cfg.Days, cfg.CarsPerCity = 2, 8
	return cfg
}

// viewsWithoutTimes reads the views with updated_at cleared: a rebuild
// rewrites every row, so only the values must match.
func viewsWithoutTimes(t *testing.T, s *store.Store) store.Views {
	t.Helper()
	v, err := s.ReadViews(context.Background())
	require.NoError(t, err)
	for i := range v.ActiveCars {
		v.ActiveCars[i].UpdatedAt = time.Time{}
	}
	for i := range v.BookingsByStatus {
		v.BookingsByStatus[i].UpdatedAt = time.Time{}
	}
	for i := range v.DailyRevenue {
		v.DailyRevenue[i].UpdatedAt = time.Time{}
	}
	for i := range v.DailyBookings {
		v.DailyBookings[i].UpdatedAt = time.Time{}
	}
	v.Freshness = store.Freshness{}
	return v
}

func rebuild(t *testing.T, s *store.Store, opts store.RebuildOptions) store.RebuildResult {
	t.Helper()
	ctx := context.Background()
	lock, err := s.LockRebuild(ctx)
	require.NoError(t, err)
	defer lock.Release()
	res, err := s.Rebuild(ctx, lock, opts)
	require.NoError(t, err)
	return res
}

func TestRebuildGivesTheSameCountersAndVerifyAgrees(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	applySim(t, tb.store, smallTroubled(3))
	before := viewsWithoutTimes(t, tb.store)

	rep, err := tb.store.Verify(ctx, store.VerifyOptions{})
	require.NoError(t, err)
	require.Empty(t, rep.Differences)
	require.Positive(t, rep.Events)

	res := rebuild(t, tb.store, store.RebuildOptions{Zones: aggregator.UTC})
	require.Equal(t, 2, res.Gen)
	require.Equal(t, 1, res.OldGen)
	require.True(t, res.OldDropped)
	require.Equal(t, rep.Events, res.Events)
	require.Equal(t, before, viewsWithoutTimes(t, tb.store))

	g, err := tb.store.CurrentGeneration(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, g.Gen)
	var schemas []string
	rows, err := tb.store.Pool().Query(ctx, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tally_g%' ORDER BY 1")
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		schemas = append(schemas, n)
	}
	require.Equal(t, []string{"tally_g2"}, schemas)

	rep, err = tb.store.Verify(ctx, store.VerifyOptions{})
	require.NoError(t, err)
	require.Empty(t, rep.Differences)
	require.Equal(t, 2, rep.Gen)
}

func TestVerifyReportsCorruptedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	applySim(t, tb.store, smallTroubled(4))
	var day time.Time
	var city string
	require.NoError(t, tb.store.Pool().QueryRow(ctx, `UPDATE tally_g1.daily_bookings SET confirmed = confirmed + 5
		WHERE (day, city) = (SELECT day, city FROM tally_g1.daily_bookings ORDER BY day, city LIMIT 1) RETURNING day, city`).
		Scan(&day, &city))
	_, err := tb.store.Pool().Exec(ctx, `UPDATE tally_g1.cars SET status = 'retired'
		WHERE car_id = (SELECT car_id FROM tally_g1.cars WHERE status = 'active' ORDER BY car_id LIMIT 1)`)
	require.NoError(t, err)

	rep, err := tb.store.Verify(ctx, store.VerifyOptions{})
	require.NoError(t, err)
	fields := map[string]bool{}
	for _, d := range rep.Differences {
		fields[d.Counter+"."+d.Field] = true
		if d.Counter == "daily_bookings" {
			require.Equal(t, "day="+day.Format(time.DateOnly)+" city="+city, d.Key)
		}
	}
	require.Equal(t, map[string]bool{"daily_bookings.confirmed": true, "cars.status": true}, fields)

	rep, err = tb.store.Verify(ctx, store.VerifyOptions{Since: day.AddDate(0, 0, 1)})
	require.NoError(t, err)
	require.Len(t, rep.Differences, 1, "the daily row is before --since; the car still differs")
	require.Equal(t, "cars", rep.Differences[0].Counter)
}

func TestRebuildAppliesNewZonesAndRefusesASecondRebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	applySim(t, tb.store, smallTroubled(5))
	lock, err := tb.store.LockRebuild(ctx)
	require.NoError(t, err)
	_, err = tb.store.LockRebuild(ctx)
	require.ErrorIs(t, err, store.ErrRebuildRunning)
	lock.Release()

	paris, err := aggregator.ParseZones("Europe/Paris", "new_york=America/New_York")
	require.NoError(t, err)
	res := rebuild(t, tb.store, store.RebuildOptions{Zones: paris, KeepOld: true, MaxRate: 1e6})
	require.False(t, res.OldDropped)
	g, err := tb.store.CurrentGeneration(ctx)
	require.NoError(t, err)
	require.True(t, g.Zones.Equal(paris))
	rep, err := tb.store.Verify(ctx, store.VerifyOptions{})
	require.NoError(t, err)
	require.Empty(t, rep.Differences)
	st, found, err := tb.store.LatestRebuild(ctx)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, store.RebuildStatus{Gen: 2, State: "swapped", Done: res.Events, Total: res.Events, StartedAt: st.StartedAt}, st)

	// The kept generation is dropped by the next rebuild.
	res = rebuild(t, tb.store, store.RebuildOptions{Zones: paris})
	require.Equal(t, []int{1}, res.Leftovers)
	require.Equal(t, 3, res.Gen)
}
