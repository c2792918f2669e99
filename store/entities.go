package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tallyhq/tally/aggregator"
)

// lockCars makes sure a row exists for each car (so that two workers meeting
// a new car queue on one row), then locks and reads them in id order. A row
// with no applied event reads as the zero state and is left out.
func (a *applier) lockCars(ctx context.Context, ids []string) (map[string]aggregator.CarState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := a.tx.Exec(ctx, a.q.ensureCars, ids); err != nil {
		return nil, fmt.Errorf("create car rows: %w", err)
	}
	rows, err := a.tx.Query(ctx, a.q.lockCars, ids)
	if err != nil {
		return nil, fmt.Errorf("lock cars: %w", err)
	}
	states := make(map[string]aggregator.CarState, len(ids))
	var c aggregator.CarState
	var at *time.Time
	_, err = pgx.ForEachRow(rows, []any{&c.ID, &c.City, &c.Status, &c.Key.Seq, &at, &c.Key.ID}, func() error {
		if at != nil {
			c.Key.At = at.UTC()
			states[c.ID] = c
		}
		return nil
	})
	return states, wrap(err, "lock cars")
}

// lockBookings is lockCars for bookings.
func (a *applier) lockBookings(ctx context.Context, ids []string) (map[string]aggregator.BookingState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := a.tx.Exec(ctx, a.q.ensureBookings, ids); err != nil {
		return nil, fmt.Errorf("create booking rows: %w", err)
	}
	rows, err := a.tx.Query(ctx, a.q.lockBookings, ids)
	if err != nil {
		return nil, fmt.Errorf("lock bookings: %w", err)
	}
	states := make(map[string]aggregator.BookingState, len(ids))
	var b aggregator.BookingState
	var at, startAt, startKeyAt *time.Time
	dest := []any{&b.ID, &b.CarID, &b.City, &b.Status, &b.Key.Seq, &at, &b.Key.ID, &startAt, &b.StartKey.Seq, &startKeyAt, &b.StartKey.ID}
	_, err = pgx.ForEachRow(rows, dest, func() error {
		s := b
		s.Key.At, s.StartAt, s.StartKey.At = utc(at), utc(startAt), utc(startKeyAt)
		if !s.Key.IsZero() || !s.StartKey.IsZero() {
			states[s.ID] = s
		}
		return nil
	})
	return states, wrap(err, "lock bookings")
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// queueCars adds the write of changed car states to the batch.
func (a *applier) queueCars(b *pgx.Batch, cars []aggregator.CarState) {
	if len(cars) == 0 {
		return
	}
	n := len(cars)
	ids, cities, statuses, keyIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs, ats := make([]int64, n), make([]*time.Time, n)
	for i, c := range cars {
		ids[i], cities[i], statuses[i] = c.ID, c.City, c.Status
		seqs[i], ats[i], keyIDs[i] = c.Key.Seq, nullTime(c.Key.At), c.Key.ID
	}
	b.Queue(a.q.writeCars, ids, cities, statuses, seqs, ats, keyIDs)
}

// queueBookings adds the write of changed booking states to the batch.
func (a *applier) queueBookings(b *pgx.Batch, bookings []aggregator.BookingState) {
	if len(bookings) == 0 {
		return
	}
	n := len(bookings)
	ids, cars, cities, statuses, keyIDs, startKeyIDs := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	seqs, startSeqs := make([]int64, n), make([]int64, n)
	ats, starts, startAts := make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
	for i, s := range bookings {
		ids[i], cars[i], cities[i], statuses[i] = s.ID, s.CarID, s.City, s.Status
		seqs[i], ats[i], keyIDs[i] = s.Key.Seq, nullTime(s.Key.At), s.Key.ID
		starts[i], startSeqs[i], startAts[i], startKeyIDs[i] = nullTime(s.StartAt), s.StartKey.Seq, nullTime(s.StartKey.At), s.StartKey.ID
	}
	b.Queue(a.q.writeBookings, ids, cars, cities, statuses, seqs, ats, keyIDs, starts, startSeqs, startAts, startKeyIDs)
}
