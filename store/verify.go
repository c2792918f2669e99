package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tallyhq/tally/aggregator"
)

// VerifyOptions narrow a verify.
type VerifyOptions struct {
	// Since, when set, compares the daily counters from this local date on
	// only; the other counters and the entity states are compared whole.
	Since time.Time
	// Progress, when set, is called as events are folded, with the events
	// done and an estimate of the total (0 when unknown).
	Progress func(done, total int64)
}

// VerifyReport is what a verify compared and found.
type VerifyReport struct {
	Gen   int
	Zones aggregator.Zones
	// Events is the ledger events recomputed; Undecodable those the
	// current code rejects (left out of the recomputation).
	Events, Undecodable int64
	Cars, Bookings      int
	Differences         []Difference
	StartedAt           time.Time
	Took                time.Duration
}

// Verify recomputes every counter and entity state from the ledger and
// compares them with the current generation, all in one read-only,
// repeatable-read transaction: each apply transaction commits its events
// and their effects together, so in one snapshot the two must agree
// exactly, however many workers keep committing meanwhile.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	rep := VerifyReport{StartedAt: time.Now()}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return verifyTx(ctx, tx, opts, &rep) })
	rep.Took = time.Since(rep.StartedAt)
	return rep, err
}

func verifyTx(ctx context.Context, tx pgx.Tx, opts VerifyOptions, rep *VerifyReport) error {
	// The first statement takes the snapshot every later one reads.
	g, err := currentGeneration(ctx, tx)
	if err != nil {
		return err
	}
	rep.Gen, rep.Zones = g.Gen, g.Zones
	var now time.Time
	var grace time.Duration
	var estimate int64
	if err := tx.QueryRow(ctx, `SELECT now(),
		COALESCE((SELECT value::interval FROM tally.settings WHERE name = 'overdue_grace'), interval '15 minutes'),
		GREATEST((SELECT reltuples FROM pg_class WHERE oid = 'tally.events'::regclass),
			(SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'tally.events'::regclass), 0)::bigint`).
		Scan(&now, &grace, &estimate); err != nil {
		return fmt.Errorf("read the clock and settings: %w", err)
	}
	t := newTotals(g.Zones)
	var progress func(int64)
	if opts.Progress != nil {
		progress = func(done int64) { opts.Progress(done, max(estimate, done)) }
	}
	st, err := foldBodies(ctx, tx, "SELECT body FROM tally.events", nil, t, scanOptions{progress: progress})
	if err != nil {
		return err
	}
	rep.Events, rep.Undecodable, rep.Cars, rep.Bookings = st.rows, st.undecodable, len(t.cars), len(t.bookings)
	rep.Differences, err = compareGeneration(ctx, tx, g.Gen, t, opts.Since, now, grace)
	return err
}

// compareGeneration lists every difference between generation gen and the
// recomputation t, in a stable order.
func compareGeneration(ctx context.Context, tx pgx.Tx, gen int, t *totals, since, now time.Time,
	grace time.Duration,
) ([]Difference, error) {
	schema := Schema(gen)
	live, err := readCounters(ctx, tx, schema)
	if err != nil {
		return nil, err
	}
	diffs := diffCounters(live, t.counters, since)
	overdue, err := readOverdue(ctx, tx)
	if err != nil {
		return nil, err
	}
	diffs = append(diffs, diffOverdue(overdue, t.overdue(now, grace))...)
	carDiffs, err := diffCars(ctx, tx, schema, t.cars)
	if err != nil {
		return nil, err
	}
	bookingDiffs, err := diffBookings(ctx, tx, schema, t.bookings)
	if err != nil {
		return nil, err
	}
	diffs = append(append(diffs, carDiffs...), bookingDiffs...)
	slices.SortStableFunc(diffs, compareDifferences)
	return diffs, nil
}

// readOverdue reads tally.overdue_bookings, which computes it from the
// current generation with the transaction's now().
func readOverdue(ctx context.Context, tx pgx.Tx) (map[string]overdueRow, error) {
	rows, err := tx.Query(ctx, "SELECT city, bookings, oldest_start_at FROM tally.overdue_bookings")
	if err != nil {
		return nil, fmt.Errorf("read overdue bookings: %w", err)
	}
	out := map[string]overdueRow{}
	var city string
	var r overdueRow
	_, err = pgx.ForEachRow(rows, []any{&city, &r.bookings, &r.oldest}, func() error { out[city] = r; return nil })
	return out, wrap(err, "read overdue bookings")
}

// diffCars compares every car's state with its recomputation. A row that
// no event reached reads as no car.
func diffCars(ctx context.Context, tx pgx.Tx, schema string, want map[string]aggregator.CarState) ([]Difference, error) {
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT car_id, COALESCE(city, ''), COALESCE(status, ''), key_seq, key_at,
		COALESCE(key_id, '') FROM %s.cars`, schema))
	if err != nil {
		return nil, fmt.Errorf("read cars: %w", err)
	}
	var out []Difference
	seen := 0
	var c aggregator.CarState
	var at *time.Time
	_, err = pgx.ForEachRow(rows, []any{&c.ID, &c.City, &c.Status, &c.Key.Seq, &at, &c.Key.ID}, func() error {
		live := c
		if live.Key.At = utc(at); live.Key.IsZero() {
			live = aggregator.CarState{}
		}
		w, ok := want[c.ID]
		if ok {
			seen++
		}
		if !sameCar(live, w) {
			diffCar(c.ID, live, w, &out)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read cars: %w", err)
	}
	if seen < len(want) {
		return missingRows(ctx, tx, schema+".cars", "car_id", want, out, func(id string, w aggregator.CarState, out *[]Difference) {
			diffCar(id, aggregator.CarState{}, w, out)
		})
	}
	return out, nil
}

// diffBookings is diffCars for bookings.
func diffBookings(ctx context.Context, tx pgx.Tx, schema string, want map[string]aggregator.BookingState) ([]Difference, error) {
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT booking_id, COALESCE(car_id, ''), COALESCE(city, ''), COALESCE(status, ''),
		key_seq, key_at, COALESCE(key_id, ''), start_at, start_seq, start_key_at, COALESCE(start_key_id, '')
		FROM %s.bookings`, schema))
	if err != nil {
		return nil, fmt.Errorf("read bookings: %w", err)
	}
	var out []Difference
	seen := 0
	var b aggregator.BookingState
	var at, startAt, startKeyAt *time.Time
	dest := []any{&b.ID, &b.CarID, &b.City, &b.Status, &b.Key.Seq, &at, &b.Key.ID, &startAt, &b.StartKey.Seq, &startKeyAt, &b.StartKey.ID}
	_, err = pgx.ForEachRow(rows, dest, func() error {
		live := b
		live.Key.At, live.StartAt, live.StartKey.At = utc(at), utc(startAt), utc(startKeyAt)
		if live.Key.IsZero() && live.StartKey.IsZero() {
			live = aggregator.BookingState{}
		}
		w, ok := want[b.ID]
		if ok {
			seen++
		}
		if !sameBooking(live, w) {
			diffBooking(b.ID, live, w, &out)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read bookings: %w", err)
	}
	if seen < len(want) {
		return missingRows(ctx, tx, schema+".bookings", "booking_id", want, out, func(id string, w aggregator.BookingState, out *[]Difference) {
			diffBooking(id, aggregator.BookingState{}, w, out)
		})
	}
	return out, nil
}

// missingRows adds a difference for every entity of want that has no row
// in table: only read when some are missing.
func missingRows[V any](ctx context.Context, tx pgx.Tx, table, idColumn string, want map[string]V, out []Difference,
	diff func(id string, w V, out *[]Difference),
) ([]Difference, error) {
	rows, err := tx.Query(ctx, fmt.Sprintf("SELECT %s FROM %s", idColumn, table))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	have := map[string]struct{}{}
	var id string
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { have[id] = struct{}{}; return nil }); err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	for id, w := range want {
		if _, ok := have[id]; !ok {
			diff(id, w, &out)
		}
	}
	return out, nil
}

func sameCar(a, b aggregator.CarState) bool {
	return a.City == b.City && a.Status == b.Status && a.Key.Compare(b.Key) == 0
}

func sameBooking(a, b aggregator.BookingState) bool {
	return a.CarID == b.CarID && a.City == b.City && a.Status == b.Status && a.Key.Compare(b.Key) == 0 &&
		a.StartAt.Equal(b.StartAt) && a.StartKey.Compare(b.StartKey) == 0
}
