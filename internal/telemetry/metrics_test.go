package telemetry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/internal/testdb"
)

type testBundle struct {
	reg *prometheus.Registry
	m   *telemetry.Metrics
	now time.Time
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	tb := &testBundle{reg: prometheus.NewRegistry(), now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	tb.m = telemetry.NewMetrics(tb.reg)
	tb.m.Now = func() time.Time { return tb.now }
	return tb
}

func TestMetricsLint(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	pool, err := pgxpool.New(context.Background(), testdb.AdminURL())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, pool.Ping(context.Background()))
	tb.reg.MustRegister(telemetry.NewPoolCollector(pool.Stat))
	// Every series present, so that the linter sees every name.
	tb.m.SetOverdue([]telemetry.CityCount{{City: "paris", Bookings: 2, OldestStartAt: tb.now.Add(-time.Hour)}})
	tb.m.ObserveVerify(tb.now, 0)

	problems, err := testutil.GatherAndLint(tb.reg)
	require.NoError(t, err)
	require.Empty(t, problems)

	names := metricNames(t, tb.reg)
	for _, want := range []string{"tally_events_total", "tally_dead_letters_total", "tally_batch_size", "tally_apply_duration_seconds",
		"tally_consumer_pending_messages", "tally_redeliveries_total", "tally_last_commit_age_seconds", "tally_event_lag_seconds",
		"tally_overdue_bookings", "tally_overdue_grace_seconds", "tally_verify_differences", "tally_build_info",
		"tally_db_pool_connections", "tally_db_pool_acquires_total"} {
		require.Contains(t, names, want)
	}
}

func metricNames(t *testing.T, g prometheus.Gatherer) []string {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
}

func TestMetricsAgesGrowWhileNothingMoves(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	commit := tb.now
	tb.m.Committed(commit, commit.Add(-30*time.Second))
	tb.now = commit.Add(90 * time.Second)
	requireGauge(t, tb.reg, "tally_last_commit_age_seconds", 90)
	requireGauge(t, tb.reg, "tally_event_lag_seconds", 120)

	// Another worker committed newer events: the database says so.
	applied, last := commit.Add(80*time.Second), commit.Add(75*time.Second)
	tb.m.ObserveFreshness(&last, &applied)
	requireGauge(t, tb.reg, "tally_last_commit_age_seconds", 10)
	requireGauge(t, tb.reg, "tally_event_lag_seconds", 15)

	// An older sample never moves them back.
	old := commit.Add(-time.Hour)
	tb.m.ObserveFreshness(&old, &old)
	requireGauge(t, tb.reg, "tally_last_commit_age_seconds", 10)
}

func TestMetricsOverdueCitiesAreBounded(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	var rows []telemetry.CityCount
	for i := range 30 {
		rows = append(rows, telemetry.CityCount{City: fmt.Sprintf("city%02d", i), Bookings: int64(100 - i), OldestStartAt: tb.now.Add(-time.Duration(i) * time.Minute)})
	}
	tb.m.SetOverdue(rows)
	require.Equal(t, telemetry.MaxOverdueCities, testutil.CollectAndCount(tb.reg, "tally_overdue_bookings"))
	var other int64
	for i := telemetry.MaxOverdueCities - 1; i < 30; i++ {
		other += int64(100 - i)
	}
	byCity := overdueByCity(t, tb.reg)
	require.EqualValues(t, 100, byCity["city00"])
	require.EqualValues(t, 82, byCity["city18"])
	require.EqualValues(t, other, byCity[telemetry.OtherCity])
	require.NotContains(t, byCity, "city19")

	tb.m.SetOverdue(nil)
	require.Zero(t, testutil.CollectAndCount(tb.reg, "tally_overdue_bookings"), "a city no longer overdue disappears")
}

func requireGauge(t *testing.T, g prometheus.Gatherer, name string, want float64) {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.InDelta(t, want, mf.GetMetric()[0].GetGauge().GetValue(), 0.001, name)
			return
		}
	}
	t.Fatalf("no metric %s", name)
}

func overdueByCity(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "tally_overdue_bookings" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}
