package store_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/store"
)

// snapshotDays sizes TestSnapshotStorage: a week by default, a year with
//
//	go test ./store -run TestSnapshotStorage -snapshot.days=365 -v -timeout 60m
var snapshotDays = flag.Int("snapshot.days", 7, "days of hourly snapshots TestSnapshotStorage simulates")

// churn moves the counters of a fleet of 20 cities and 2 currencies as an
// hour of business would, by writing the generation's tables directly.
type churn struct {
	schema string
	cities []string
	rnd    *rand.Rand
	nextID int
}

func (c *churn) hour(ctx context.Context, s *store.Store, at time.Time) error {
	b := &pgx.Batch{}
	day := at.UTC().Truncate(24 * time.Hour)
	for _, city := range c.cities {
		if c.rnd.Float64() < 0.7 {
			b.Queue(fmt.Sprintf(`INSERT INTO %s.active_cars AS t VALUES ($1, $2, clock_timestamp())
				ON CONFLICT (city) DO UPDATE SET cars = t.cars + excluded.cars - 40, updated_at = excluded.updated_at`, c.schema),
				city, 40+c.rnd.Int64N(7)-3)
		}
		for i, status := range []string{"confirmed", "ongoing", "ended", "cancelled"} {
			if c.rnd.Float64() < []float64{0.9, 0.9, 0.95, 0.3}[i] {
				b.Queue(fmt.Sprintf(`INSERT INTO %s.bookings_by_status AS t VALUES ($1, $2, $3, clock_timestamp())
					ON CONFLICT (city, status) DO UPDATE SET bookings = t.bookings + excluded.bookings, updated_at = excluded.updated_at`, c.schema),
					city, status, 1+c.rnd.Int64N(5))
			}
		}
		c.daily(b, city, day)
		if c.rnd.Float64() < 0.1 { // a late refund or a late event: yesterday's rows move too
			c.daily(b, city, day.Add(-24*time.Hour))
		}
		c.overdue(b, city)
	}
	return s.Pool().SendBatch(ctx, b).Close()
}

func (c *churn) daily(b *pgx.Batch, city string, day time.Time) {
	for _, currency := range []string{"EUR", "USD"} {
		if c.rnd.Float64() < 0.8 {
			b.Queue(fmt.Sprintf(`INSERT INTO %s.daily_revenue AS t VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp())
				ON CONFLICT (day, city, currency) DO UPDATE SET gross_minor = t.gross_minor + excluded.gross_minor,
				refunded_minor = t.refunded_minor + excluded.refunded_minor, payments = t.payments + excluded.payments,
				refunds = t.refunds + excluded.refunds, updated_at = excluded.updated_at`, c.schema),
				day, city, currency, 1000+c.rnd.Int64N(90000), c.rnd.Int64N(2)*c.rnd.Int64N(5000), 1+c.rnd.Int64N(20), c.rnd.Int64N(2))
		}
	}
	if c.rnd.Float64() < 0.9 {
		b.Queue(fmt.Sprintf(`INSERT INTO %s.daily_bookings AS t VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())
			ON CONFLICT (day, city) DO UPDATE SET confirmed = t.confirmed + excluded.confirmed, started = t.started + excluded.started,
			ended = t.ended + excluded.ended, cancelled = t.cancelled + excluded.cancelled, updated_at = excluded.updated_at`, c.schema),
			day, city, 1+c.rnd.Int64N(20), c.rnd.Int64N(20), c.rnd.Int64N(20), c.rnd.Int64N(3))
	}
}

// overdue now and then leaves a booking confirmed past its start, and
// starts the overdue ones late: cities come and go in overdue_bookings.
func (c *churn) overdue(b *pgx.Batch, city string) {
	if c.rnd.Float64() < 0.03 {
		c.nextID++
		b.Queue(fmt.Sprintf(`INSERT INTO %s.bookings (booking_id, city, status, start_at, updated_at)
			VALUES ($1, $2, 'confirmed', now() - interval '1 hour', clock_timestamp())`, c.schema),
			fmt.Sprintf("late-%d", c.nextID), city)
	}
	if c.rnd.Float64() < 0.3 {
		b.Queue(fmt.Sprintf(`UPDATE %s.bookings SET status = 'ongoing' WHERE city = $1 AND status = 'confirmed'`, c.schema), city)
	}
}

// storage is what history takes on disk.
type storage struct {
	Snapshots, Versions, FullCopyRows int64
	Bytes                             int64
}

func measureStorage(t *testing.T, s *store.Store) storage {
	t.Helper()
	var st storage
	require.NoError(t, s.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM tally.snapshots),
		(SELECT count(*) FROM tally.snapshot_active_cars) + (SELECT count(*) FROM tally.snapshot_bookings_by_status)
		+ (SELECT count(*) FROM tally.snapshot_daily_revenue) + (SELECT count(*) FROM tally.snapshot_daily_bookings)
		+ (SELECT count(*) FROM tally.snapshot_overdue_bookings),
		(SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class AS c
		 WHERE c.relnamespace = 'tally'::regnamespace AND c.relkind = 'r'
		   AND (c.relname = 'snapshots' OR c.relname LIKE 'snapshot\_%'))::bigint`).
		Scan(&st.Snapshots, &st.Versions, &st.Bytes))
	return st
}

// timeAt returns the mean time of a query over a few runs.
func timeAt(t *testing.T, s *store.Store, sql string, at time.Time) time.Duration {
	t.Helper()
	ctx := context.Background()
	const runs = 20
	start := time.Now()
	for range runs {
		rows, err := s.Pool().Query(ctx, sql, at)
		require.NoError(t, err)
		rows.Close()
		require.NoError(t, rows.Err())
	}
	return time.Since(start) / runs
}

func TestSnapshotStorage(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	g, err := tb.store.CurrentGeneration(ctx)
	require.NoError(t, err)
	c := &churn{schema: store.Schema(g.Gen), rnd: rand.New(rand.NewPCG(1, 2))}
	for i := range 20 {
		c.cities = append(c.cities, fmt.Sprintf("city%02d", i))
	}
	hours := *snapshotDays * 24
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var full int64
	var mid store.Snapshot
	began := time.Now()
	for h := range hours {
		require.NoError(t, c.hour(ctx, tb.store, start.Add(time.Duration(h)*time.Hour)))
		snap, taken, err := tb.store.TakeSnapshot(ctx, store.SnapshotRequest{Kind: store.SnapshotInterval, SlotAt: start.Add(time.Duration(h) * time.Hour)})
		require.NoError(t, err)
		require.True(t, taken)
		full += viewRows(t, tb.store)
		if h == hours/2 {
			mid = snap
		}
		if h%24 == 23 {
			vacuumHistory(t, tb.store)
		}
	}
	elapsed := time.Since(began)
	vacuumHistory(t, tb.store)
	st := measureStorage(t, tb.store)
	st.FullCopyRows = full
	require.EqualValues(t, hours, st.Snapshots)
	require.Less(t, st.Versions, full/3, "changed rows only: far fewer than whole copies")

	latest := time.Now()
	t.Logf("%d days of hourly snapshots, 20 cities x 2 currencies, taken in %s (%s each)", *snapshotDays, elapsed.Round(time.Second),
		(elapsed / time.Duration(hours)).Round(time.Millisecond))
	t.Logf("snapshots %d, row versions stored %d (whole copies would be %d rows), %.1f MiB with indexes",
		st.Snapshots, st.Versions, st.FullCopyRows, float64(st.Bytes)/(1<<20))
	for _, fn := range []string{"active_cars_at", "bookings_by_status_at", "daily_revenue_at", "daily_bookings_at", "overdue_bookings_at"} {
		all, server := "SELECT * FROM tally."+fn+"($1)", "SELECT count(*) FROM tally."+fn+"($1)"
		var rows int
		require.NoError(t, tb.store.Pool().QueryRow(ctx, server, latest).Scan(&rows))
		t.Logf("%-22s %6d rows: latest %6.2f ms (in the server %6.2f ms), mid-period %6.2f ms", fn, rows,
			ms(timeAt(t, tb.store, all, latest)), ms(timeAt(t, tb.store, server, latest)), ms(timeAt(t, tb.store, all, mid.TakenAt)))
	}
	logRelations(t, tb.store)
	d := timeAt(t, tb.store, "SELECT * FROM tally.active_cars_change($1::timestamptz - interval '1 day', $1::timestamptz)", latest)
	t.Logf("active_cars_change     %6.2f ms", ms(d))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// vacuumHistory does what autovacuum does in production (the test
// cluster may run without it): closing a version leaves a dead tuple.
func vacuumHistory(t *testing.T, s *store.Store) {
	t.Helper()
	_, err := s.Pool().Exec(context.Background(), "VACUUM ANALYZE tally.snapshots, tally.snapshot_active_cars, "+
		"tally.snapshot_bookings_by_status, tally.snapshot_daily_revenue, tally.snapshot_daily_bookings, tally.snapshot_overdue_bookings")
	require.NoError(t, err)
}

// viewRows counts the rows of the counter views: what a whole copy of
// them at each snapshot would store.
func viewRows(t *testing.T, s *store.Store) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM tally.active_cars) + (SELECT count(*) FROM tally.bookings_by_status)
		+ (SELECT count(*) FROM tally.daily_revenue) + (SELECT count(*) FROM tally.daily_bookings)
		+ (SELECT count(*) FROM tally.overdue_bookings)`).Scan(&n))
	return n
}

// logRelations logs the size of each history table and its indexes.
func logRelations(t *testing.T, s *store.Store) {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `SELECT c.relname, c.reltuples::bigint,
		pg_relation_size(c.oid), pg_indexes_size(c.oid)
		FROM pg_class AS c WHERE c.relnamespace = 'tally'::regnamespace AND c.relkind = 'r'
		  AND (c.relname = 'snapshots' OR c.relname LIKE 'snapshot\_%') ORDER BY 1`)
	require.NoError(t, err)
	var name string
	var tuples, table, indexes int64
	_, err = pgx.ForEachRow(rows, []any{&name, &tuples, &table, &indexes}, func() error {
		t.Logf("  %-28s %9d rows  table %7.1f MiB  indexes %7.1f MiB", name, tuples,
			float64(table)/(1<<20), float64(indexes)/(1<<20))
		return nil
	})
	require.NoError(t, err)
}
