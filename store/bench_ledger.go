package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tallyhq/tally/aggregator"
)

// LedgerCheck is the contract's views and the same counters recomputed
// from the ledger, read in one snapshot so that they must agree exactly.
type LedgerCheck struct {
	Views      Views
	Recomputed Views
	// ByType counts the ledger's events by type.
	ByType map[string]int64
	// Now is the database's now() of the snapshot (overdue bookings).
	Now time.Time
}

// benchEventsSQL decodes the ledger's events of known types once, set-based,
// into a temporary table: the data fields come from each recorded body
// (PostgreSQL's own JSON parser, not tally's decoder), the envelope from
// the ledger's columns; day is the local date in the city's zone.
const benchEventsSQL = `CREATE TEMP TABLE bench_ev ON COMMIT DROP AS
SELECT e.id COLLATE "C" AS id, e.type, e.occurred_at, COALESCE(e.seq, 0) AS seq,
       j.d ->> 'city' AS city, j.d ->> 'car_id' AS car_id, j.d ->> 'booking_id' AS booking_id,
       j.d ->> 'status' AS status, (j.d ->> 'start_at')::timestamptz AS start_at,
       j.d ->> 'currency' AS currency, (j.d ->> 'amount_minor')::bigint AS amount,
       (e.occurred_at AT TIME ZONE COALESCE(z.zone, $1))::date AS day
FROM tally.events AS e
CROSS JOIN LATERAL (SELECT convert_from(e.body, 'UTF8')::jsonb -> 'data' AS d) AS j
LEFT JOIN unnest($2::text[], $3::text[]) AS z(city, zone) ON z.city = j.d ->> 'city'
WHERE e.type IN ('car.status_changed', 'booking.confirmed', 'booking.started', 'booking.ended',
                 'booking.cancelled', 'payment.captured', 'payment.refunded')`

// benchBookingsSQL is every booking's state: city and status of its
// greatest-key event, start_at of its greatest-key confirmation.
const benchBookingsSQL = `CREATE TEMP TABLE bench_bk ON COMMIT DROP AS
SELECT l.booking_id, l.city, l.status, c.start_at
FROM (SELECT DISTINCT ON (booking_id) booking_id, city,
             CASE type WHEN 'booking.confirmed' THEN 'confirmed' WHEN 'booking.started' THEN 'ongoing'
                       WHEN 'booking.ended' THEN 'ended' ELSE 'cancelled' END AS status
      FROM bench_ev WHERE type LIKE 'booking.%'
      ORDER BY booking_id, seq DESC, occurred_at DESC, id DESC) AS l
LEFT JOIN (SELECT DISTINCT ON (booking_id) booking_id, start_at
           FROM bench_ev WHERE type = 'booking.confirmed'
           ORDER BY booking_id, seq DESC, occurred_at DESC, id DESC) AS c USING (booking_id)`

// The counters, from the two temporary tables.
const (
	benchActiveCarsSQL = `SELECT city, count(*) AS cars, now() AS updated_at
FROM (SELECT DISTINCT ON (car_id) car_id, city, status FROM bench_ev WHERE type = 'car.status_changed'
      ORDER BY car_id, seq DESC, occurred_at DESC, id DESC) AS c
WHERE status = 'active' GROUP BY city ORDER BY city`
	benchByStatusSQL = `SELECT city, status, count(*) AS bookings, now() AS updated_at
FROM bench_bk GROUP BY city, status ORDER BY city, status`
	benchOverdueSQL = `SELECT city, count(*) AS bookings, min(start_at) AS oldest_start_at
FROM bench_bk WHERE status = 'confirmed'
  AND start_at < now() - (SELECT value::interval FROM tally.settings WHERE name = 'overdue_grace')
GROUP BY city ORDER BY city`
	benchDailyBookingsSQL = `SELECT day, city,
       count(*) FILTER (WHERE type = 'booking.confirmed') AS confirmed,
       count(*) FILTER (WHERE type = 'booking.started') AS started,
       count(*) FILTER (WHERE type = 'booking.ended') AS ended,
       count(*) FILTER (WHERE type = 'booking.cancelled') AS cancelled, now() AS updated_at
FROM bench_ev WHERE type LIKE 'booking.%' GROUP BY day, city ORDER BY day, city`
	benchDailyRevenueSQL = `SELECT day, city, currency,
       COALESCE(sum(amount) FILTER (WHERE type = 'payment.captured'), 0)::bigint AS gross_minor,
       COALESCE(sum(amount) FILTER (WHERE type = 'payment.refunded'), 0)::bigint AS refunded_minor,
       (COALESCE(sum(amount) FILTER (WHERE type = 'payment.captured'), 0)
        - COALESCE(sum(amount) FILTER (WHERE type = 'payment.refunded'), 0))::bigint AS net_minor,
       count(*) FILTER (WHERE type = 'payment.captured') AS payments,
       count(*) FILTER (WHERE type = 'payment.refunded') AS refunds, now() AS updated_at
FROM bench_ev WHERE type LIKE 'payment.%' GROUP BY day, city, currency ORDER BY day, city, currency`
)

// RecomputeFromLedger reads the contract's views and recomputes the same
// counters from the ledger with set-based SQL, in one repeatable-read
// snapshot. It is an independent check of the apply path (PostgreSQL's
// JSON parser and SQL aggregates instead of tally's decoder and fold) that
// scales to tens of millions of events; the benchmark runs it after every
// scenario.
func (s *Store) RecomputeFromLedger(ctx context.Context) (LedgerCheck, error) {
	var lc LedgerCheck
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead},
		func(tx pgx.Tx) error { return recomputeTx(ctx, tx, &lc) })
	return lc, wrap(err, "recompute from the ledger")
}

func recomputeTx(ctx context.Context, tx pgx.Tx, lc *LedgerCheck) error {
	// The first statement takes the snapshot every later one reads.
	g, err := currentGeneration(ctx, tx)
	if err != nil {
		return err
	}
	if lc.Views, err = ReadViewsTx(ctx, tx); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, "SELECT now()").Scan(&lc.Now); err != nil {
		return err
	}
	if lc.ByType, err = ledgerByType(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL work_mem = '256MB'"); err != nil {
		return err
	}
	cities, zones := zoneArrays(g.Zones)
	if _, err := tx.Exec(ctx, benchEventsSQL, g.Zones.DefaultName(), cities, zones); err != nil {
		return fmt.Errorf("decode the ledger: %w", err)
	}
	if _, err := tx.Exec(ctx, benchBookingsSQL); err != nil {
		return fmt.Errorf("recompute bookings: %w", err)
	}
	return readRecomputed(ctx, tx, &lc.Recomputed)
}

func readRecomputed(ctx context.Context, tx pgx.Tx, v *Views) error {
	var err error
	if v.ActiveCars, err = collect[ActiveCarsRow](ctx, tx, benchActiveCarsSQL); err != nil {
		return err
	}
	if v.BookingsByStatus, err = collect[BookingsByStatusRow](ctx, tx, benchByStatusSQL); err != nil {
		return err
	}
	if v.OverdueBookings, err = collect[OverdueRow](ctx, tx, benchOverdueSQL); err != nil {
		return err
	}
	if v.DailyBookings, err = collect[DailyBookingsRow](ctx, tx, benchDailyBookingsSQL); err != nil {
		return err
	}
	v.DailyRevenue, err = collect[DailyRevenueRow](ctx, tx, benchDailyRevenueSQL)
	return err
}

func ledgerByType(ctx context.Context, tx pgx.Tx) (map[string]int64, error) {
	rows, err := tx.Query(ctx, "SELECT type, count(*) FROM tally.events GROUP BY type")
	if err != nil {
		return nil, fmt.Errorf("count the ledger: %w", err)
	}
	byType := map[string]int64{}
	var typ string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&typ, &n}, func() error { byType[typ] = n; return nil })
	return byType, wrap(err, "count the ledger")
}

// zoneArrays returns the city zones as two parallel arrays, by city.
func zoneArrays(z aggregator.Zones) (cities, zones []string) {
	for _, city := range slices.Sorted(maps.Keys(z.Cities)) {
		cities = append(cities, city)
		zones = append(zones, z.Cities[city].String())
	}
	return cities, zones
}
