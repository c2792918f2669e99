package store

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The benchmark's "old way": the raw tables a product keeps (cars,
// bookings, payments) with the indexes a team would give them, and the
// aggregate queries a dashboard would run over them on every page load.
// They live in schema bench_raw of the benchmark's own database.

//go:embed sql/bench_raw.sql
var benchRawSQL string

// CounterViews are the contract's counter views, in the order the
// benchmark reports them.
var CounterViews = []string{"active_cars", "bookings_by_status", "daily_revenue", "daily_bookings", "overdue_bookings"}

// rawAggregates computes each counter view from the raw tables, with the
// view's columns (updated_at as now()).
var rawAggregates = map[string]string{
	"active_cars": `SELECT city, count(*) AS cars, now() AS updated_at
		FROM bench_raw.cars WHERE status = 'active' GROUP BY city`,
	"bookings_by_status": `SELECT city, status, count(*) AS bookings, now() AS updated_at
		FROM bench_raw.bookings GROUP BY city, status`,
	"daily_revenue": `SELECT (p.occurred_at AT TIME ZONE COALESCE(z.zone, g.timezone))::date AS day, p.city, p.currency,
			COALESCE(sum(p.amount_minor) FILTER (WHERE p.kind = 'capture'), 0)::bigint AS gross_minor,
			COALESCE(sum(p.amount_minor) FILTER (WHERE p.kind = 'refund'), 0)::bigint AS refunded_minor,
			(COALESCE(sum(p.amount_minor) FILTER (WHERE p.kind = 'capture'), 0)
			 - COALESCE(sum(p.amount_minor) FILTER (WHERE p.kind = 'refund'), 0))::bigint AS net_minor,
			count(*) FILTER (WHERE p.kind = 'capture') AS payments,
			count(*) FILTER (WHERE p.kind = 'refund') AS refunds, now() AS updated_at
		FROM bench_raw.payments AS p
		CROSS JOIN (SELECT timezone FROM tally.generations WHERE state = 'current') AS g
		LEFT JOIN bench_raw.city_zones AS z ON z.city = p.city
		GROUP BY 1, 2, 3`,
	"daily_bookings": `SELECT (t.at AT TIME ZONE COALESCE(z.zone, g.timezone))::date AS day, t.city,
			count(*) FILTER (WHERE t.kind = 'confirmed') AS confirmed,
			count(*) FILTER (WHERE t.kind = 'started') AS started,
			count(*) FILTER (WHERE t.kind = 'ended') AS ended,
			count(*) FILTER (WHERE t.kind = 'cancelled') AS cancelled, now() AS updated_at
		FROM (SELECT city, 'confirmed' AS kind, confirmed_at AS at FROM bench_raw.bookings WHERE confirmed_at IS NOT NULL
			UNION ALL SELECT city, 'started', started_at FROM bench_raw.bookings WHERE started_at IS NOT NULL
			UNION ALL SELECT city, 'ended', ended_at FROM bench_raw.bookings WHERE ended_at IS NOT NULL
			UNION ALL SELECT city, 'cancelled', cancelled_at FROM bench_raw.bookings WHERE cancelled_at IS NOT NULL) AS t
		CROSS JOIN (SELECT timezone FROM tally.generations WHERE state = 'current') AS g
		LEFT JOIN bench_raw.city_zones AS z ON z.city = t.city
		GROUP BY 1, 2`,
	"overdue_bookings": `SELECT city, count(*) AS bookings, min(start_at) AS oldest_start_at
		FROM bench_raw.bookings
		WHERE status = 'confirmed'
		  AND start_at < now() - (SELECT value::interval FROM tally.settings WHERE name = 'overdue_grace')
		GROUP BY city`,
}

// BuildRawTables fills schema bench_raw from the ledger: one row per car
// and per booking in its latest state (with the time of each of its
// lifecycle events), one per payment or refund, the indexes a team would
// give them, and a materialized view per counter view over them. It then
// analyzes them (see Vacuum).
func (s *Store) BuildRawTables(ctx context.Context) error {
	g, err := s.CurrentGeneration(ctx)
	if err != nil {
		return err
	}
	cities, zones := zoneArrays(g.Zones)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("build raw tables: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET work_mem = '256MB'; SET maintenance_work_mem = '512MB'"); err != nil {
		return fmt.Errorf("build raw tables: %w", err)
	}
	// Without arguments, Exec runs the whole script in one simple query.
	if _, err := conn.Exec(ctx, benchRawSQL); err != nil {
		return fmt.Errorf("build raw tables: %w", err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO bench_raw.city_zones SELECT * FROM unnest($1::text[], $2::text[])",
		cities, zones); err != nil {
		return fmt.Errorf("build raw tables: %w", err)
	}
	for _, v := range CounterViews {
		sql := fmt.Sprintf("CREATE MATERIALIZED VIEW bench_raw.mv_%s AS %s", v, rawAggregates[v])
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("create materialized view of %s: %w", v, err)
		}
	}
	_, err = conn.Exec(ctx, "RESET work_mem; RESET maintenance_work_mem")
	return wrap(err, "build raw tables")
}

// Vacuum vacuums and analyzes the whole database, as autovacuum would
// have by the time dashboards read it.
func (s *Store) Vacuum(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "VACUUM (ANALYZE)")
	return wrap(err, "vacuum")
}

// ReadCounterView reads the whole of tally.<view>, as a dashboard does,
// and returns the number of rows.
func (s *Store) ReadCounterView(ctx context.Context, view string) (int, error) {
	if rawAggregates[view] == "" {
		return 0, fmt.Errorf("no counter view %q", view)
	}
	return s.countRows(ctx, "SELECT * FROM tally."+view)
}

// ReadRawAggregate computes the view from the raw tables, the old way,
// and returns the number of rows.
func (s *Store) ReadRawAggregate(ctx context.Context, view string) (int, error) {
	sql := rawAggregates[view]
	if sql == "" {
		return 0, fmt.Errorf("no counter view %q", view)
	}
	return s.countRows(ctx, sql)
}

// RefreshRawView runs REFRESH MATERIALIZED VIEW of the view's equivalent
// over the raw tables.
func (s *Store) RefreshRawView(ctx context.Context, view string) error {
	if rawAggregates[view] == "" {
		return fmt.Errorf("no counter view %q", view)
	}
	_, err := s.pool.Exec(ctx, "REFRESH MATERIALIZED VIEW bench_raw.mv_"+view)
	return wrap(err, "refresh materialized view of %s", view)
}

func (s *Store) countRows(ctx context.Context, sql string) (int, error) {
	rows, err := s.pool.Query(ctx, sql)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// RawViews computes every counter view the old way, in one snapshot, so
// that the benchmark can check the raw tables hold the same data.
func (s *Store) RawViews(ctx context.Context) (Views, error) {
	var v Views
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			var err error
			if v.ActiveCars, err = collect[ActiveCarsRow](ctx, tx, rawAggregates["active_cars"]); err != nil {
				return err
			}
			if v.BookingsByStatus, err = collect[BookingsByStatusRow](ctx, tx, rawAggregates["bookings_by_status"]); err != nil {
				return err
			}
			if v.DailyRevenue, err = collect[DailyRevenueRow](ctx, tx, rawAggregates["daily_revenue"]); err != nil {
				return err
			}
			if v.DailyBookings, err = collect[DailyBookingsRow](ctx, tx, rawAggregates["daily_bookings"]); err != nil {
				return err
			}
			v.OverdueBookings, err = collect[OverdueRow](ctx, tx, rawAggregates["overdue_bookings"])
			return err
		})
	return v, wrap(err, "read raw aggregates")
}
