package store

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tallyhq/tally/aggregator"
)

var (
	carColumns     = []string{"car_id", "city", "status", "key_seq", "key_at", "key_id", "updated_at"}
	bookingColumns = []string{"booking_id", "car_id", "city", "status", "key_seq", "key_at", "key_id",
		"start_at", "start_seq", "start_key_at", "start_key_id", "updated_at"}
)

// writeTotals writes every entity state and counter row of t into the
// empty tables of generation gen with COPY, as the apply path would have
// left them: zero counters are left out, as a missing row reads as zero.
func writeTotals(ctx context.Context, tx pgx.Tx, gen int, t *totals) error {
	var now time.Time
	if err := tx.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&now); err != nil {
		return fmt.Errorf("read the clock: %w", err)
	}
	schema := Schema(gen)
	if err := copyMap(ctx, tx, schema, "cars", carColumns, t.cars, func(c aggregator.CarState) []any {
		return []any{c.ID, c.City, c.Status, c.Key.Seq, nullTime(c.Key.At), c.Key.ID, now}
	}); err != nil {
		return err
	}
	if err := copyMap(ctx, tx, schema, "bookings", bookingColumns, t.bookings, func(b aggregator.BookingState) []any {
		return []any{b.ID, b.CarID, b.City, b.Status, b.Key.Seq, nullTime(b.Key.At), b.Key.ID,
			nullTime(b.StartAt), b.StartKey.Seq, nullTime(b.StartKey.At), nullString(b.StartKey.ID), now}
	}); err != nil {
		return err
	}
	return writeCounters(ctx, tx, schema, t.counters, now)
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// copyMap copies the values of m into schema.table, one row each.
func copyMap[K comparable, V any](ctx context.Context, tx pgx.Tx, schema, table string, cols []string,
	m map[K]V, row func(V) []any,
) error {
	next, stop := iter.Pull(maps.Values(m))
	defer stop()
	src := pgx.CopyFromFunc(func() ([]any, error) {
		v, ok := next()
		if !ok {
			return nil, nil
		}
		return row(v), nil
	})
	n, err := tx.CopyFrom(ctx, pgx.Identifier{schema, table}, cols, src)
	if err != nil {
		return fmt.Errorf("write %s.%s: %w", schema, table, err)
	}
	if n != int64(len(m)) {
		return fmt.Errorf("write %s.%s: copied %d rows of %d", schema, table, n, len(m))
	}
	return nil
}

func writeCounters(ctx context.Context, tx pgx.Tx, schema string, c counterSet, now time.Time) error {
	var active, byStatus, revenue, daily, starts [][]any
	for city, n := range c.active {
		if n != 0 {
			active = append(active, []any{city, n, now})
		}
	}
	for k, n := range c.byStatus {
		if n != 0 {
			byStatus = append(byStatus, []any{k.city, k.status, n, now})
		}
	}
	for k, r := range c.revenue {
		if r != (revenueRow{}) {
			revenue = append(revenue, []any{k.day.Time(), k.city, k.currency, r.gross, r.refunded, r.payments, r.refunds, now})
		}
	}
	for k, r := range c.daily {
		if r != (dailyRow{}) {
			daily = append(daily, []any{k.day.Time(), k.city, r.confirmed, r.started, r.ended, r.cancelled, now})
		}
	}
	for k, n := range c.starts {
		if n != 0 {
			starts = append(starts, []any{k.day.Time(), k.city, n})
		}
	}
	tables := []struct {
		name string
		cols []string
		rows [][]any
	}{
		{"active_cars", []string{"city", "cars", "updated_at"}, active},
		{"bookings_by_status", []string{"city", "status", "bookings", "updated_at"}, byStatus},
		{"daily_revenue", []string{"day", "city", "currency", "gross_minor", "refunded_minor", "payments", "refunds", "updated_at"}, revenue},
		{"daily_bookings", []string{"day", "city", "confirmed", "started", "ended", "cancelled", "updated_at"}, daily},
		{"confirmed_starts", []string{"day", "city", "bookings"}, starts},
	}
	for _, tb := range tables {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{schema, tb.name}, tb.cols, pgx.CopyFromRows(tb.rows)); err != nil {
			return fmt.Errorf("write %s.%s: %w", schema, tb.name, err)
		}
	}
	return nil
}

// readCounters reads every counter row of the generation in schema.
func readCounters(ctx context.Context, q rowQuerier, schema string) (counterSet, error) {
	c := newCounterSet()
	var city, status, currency string
	var day time.Time
	var n, a, b, d, e int64
	reads := []struct {
		sql  string
		dest []any
		add  func()
	}{
		{"SELECT city, cars FROM %s.active_cars", []any{&city, &n}, func() { c.active[city] = n }},
		{"SELECT city, status, bookings FROM %s.bookings_by_status", []any{&city, &status, &n},
			func() { c.byStatus[cityStatus{city, status}] = n }},
		{"SELECT day, city, currency, gross_minor, refunded_minor, payments, refunds FROM %s.daily_revenue",
			[]any{&day, &city, &currency, &a, &b, &d, &e},
			func() { c.revenue[revenueKey{dayCity{dayOf(day), city}, currency}] = revenueRow{a, b, d, e} }},
		{"SELECT day, city, confirmed, started, ended, cancelled FROM %s.daily_bookings",
			[]any{&day, &city, &a, &b, &d, &e},
			func() { c.daily[dayCity{dayOf(day), city}] = dailyRow{a, b, d, e} }},
		{"SELECT day, city, bookings FROM %s.confirmed_starts", []any{&day, &city, &n},
			func() { c.starts[dayCity{dayOf(day.UTC()), city}] = n }},
	}
	for _, r := range reads {
		rows, err := q.Query(ctx, fmt.Sprintf(r.sql, schema))
		if err != nil {
			return c, fmt.Errorf("read counters of %s: %w", schema, err)
		}
		if _, err := pgx.ForEachRow(rows, r.dest, func() error { r.add(); return nil }); err != nil {
			return c, fmt.Errorf("read counters of %s: %w", schema, err)
		}
	}
	return c, nil
}
