package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tallyhq/tally/aggregator"
)

// errEntityRace is an apply transaction losing a race: a car or booking
// it read as unknown was created by another transaction before it could
// create it, so it folded the batch from the wrong prior state. Store.Apply
// rolls back and applies the batch again with placeholders.
var errEntityRace = errors.New("another transaction created an entity of this batch first")

// lockCars locks and reads, in id order, the rows of the cars that exist; a
// row with no applied event reads as the zero state and is left out of the
// states.
//
// Optimistic (the first attempt), it takes the other cars for new: the
// write creates their rows with their state, and fails with errEntityRace
// if another transaction has created one meanwhile, or is creating or
// updating it (it does not wait: see queueEntities).
//
// With placeholders (after a lost race), it first makes sure a row exists
// for every car, so that two workers meeting a new car queue on one row:
// this cannot lose the race. It costs a row, an index entry and a second
// row version per new entity, about a sixth of a catch-up's time, which is
// why it is not the first attempt.
//
// Workers do not deadlock: both ways take cars, then bookings, each in id
// order; a placeholder attempt creates rows before locking them, an
// optimistic one after locking everything, and its creations give up
// rather than wait (see queueEntities), so the two orders cannot close a
// cycle of waits.
func (a *applier) lockCars(ctx context.Context, ids []string) (map[string]aggregator.CarState, error) {
	a.knownCars = nil
	if len(ids) == 0 {
		return nil, nil
	}
	if a.mode.placeholders {
		if _, err := a.tx.Exec(ctx, a.q.ensureCars, ids); err != nil {
			return nil, fmt.Errorf("create car rows: %w", err)
		}
	}
	rows, err := a.tx.Query(ctx, a.q.lockCars, ids)
	if err != nil {
		return nil, fmt.Errorf("lock cars: %w", err)
	}
	states := make(map[string]aggregator.CarState, len(ids))
	a.knownCars = make(map[string]struct{}, len(ids))
	var c aggregator.CarState
	var at *time.Time
	_, err = pgx.ForEachRow(rows, []any{&c.ID, &c.City, &c.Status, &c.Key.Seq, &at, &c.Key.ID}, func() error {
		a.knownCars[c.ID] = struct{}{}
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
	a.knownBookings = nil
	if len(ids) == 0 {
		return nil, nil
	}
	if a.mode.placeholders {
		if _, err := a.tx.Exec(ctx, a.q.ensureBookings, ids); err != nil {
			return nil, fmt.Errorf("create booking rows: %w", err)
		}
	}
	rows, err := a.tx.Query(ctx, a.q.lockBookings, ids)
	if err != nil {
		return nil, fmt.Errorf("lock bookings: %w", err)
	}
	states := make(map[string]aggregator.BookingState, len(ids))
	a.knownBookings = make(map[string]struct{}, len(ids))
	var b aggregator.BookingState
	var at, startAt, startKeyAt *time.Time
	dest := []any{&b.ID, &b.CarID, &b.City, &b.Status, &b.Key.Seq, &at, &b.Key.ID, &startAt, &b.StartKey.Seq, &startKeyAt, &b.StartKey.ID}
	_, err = pgx.ForEachRow(rows, dest, func() error {
		a.knownBookings[b.ID] = struct{}{}
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

// queueEntities adds the writes of changed entity states to the batch:
// the creation of new cars and bookings, then the updates of the rows
// lockCars and lockBookings locked.
//
// A creation that meets a row another transaction has created or updated
// and not yet committed would wait for it, and could wait in a cycle with
// a worker that is locking the rows of its batch. It waits for no one
// instead: lock_timeout is a millisecond for the creations, and running
// out of it is errEntityRace, as the other's commit would have been.
func (a *applier) queueEntities(b *pgx.Batch, cars []aggregator.CarState, bookings []aggregator.BookingState) {
	knownCars, newCars := split(cars, a.knownCars, func(c aggregator.CarState) string { return c.ID })
	knownBookings, newBookings := split(bookings, a.knownBookings, func(s aggregator.BookingState) string { return s.ID })
	if len(newCars)+len(newBookings) > 0 {
		b.Queue(`SELECT set_config('tally.lock_timeout', current_setting('lock_timeout'), true),
			set_config('lock_timeout', '1ms', true)`)
		if q := a.queueCarRows(b, a.q.insertCars, newCars); q != nil {
			q.Fn = expectCreated(len(newCars))
		}
		if q := a.queueBookingRows(b, a.q.insertBookings, newBookings); q != nil {
			q.Fn = expectCreated(len(newBookings))
		}
		b.Queue(`SELECT set_config('lock_timeout', current_setting('tally.lock_timeout'), true)`)
	}
	a.queueCarRows(b, a.q.writeCars, knownCars)
	a.queueBookingRows(b, a.q.writeBookings, knownBookings)
}

// expectCreated is the result handler of a creation of n rows: errEntityRace
// unless it created them all without waiting.
func expectCreated(n int) func(pgx.BatchResults) error {
	return func(br pgx.BatchResults) error {
		ct, err := br.Exec()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
			return fmt.Errorf("%w (one is being created or changed)", errEntityRace)
		}
		if err != nil {
			return err
		}
		if ct.RowsAffected() != int64(n) {
			return fmt.Errorf("%w (%d of %d were there)", errEntityRace, int64(n)-ct.RowsAffected(), n)
		}
		return nil
	}
}

// split divides states, in order, into those whose rows exist and the rest.
func split[S any](states []S, known map[string]struct{}, id func(S) string) (existing, created []S) {
	for _, s := range states {
		if _, ok := known[id(s)]; ok {
			existing = append(existing, s)
		} else {
			created = append(created, s)
		}
	}
	return existing, created
}

// queueCarRows queues sql (writeCars or insertCars) for the states and
// returns it; with no states it queues nothing and returns nil.
func (a *applier) queueCarRows(b *pgx.Batch, sql string, cars []aggregator.CarState) *pgx.QueuedQuery {
	if len(cars) == 0 {
		return nil
	}
	n := len(cars)
	ids, cities, statuses, keyIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs, ats := make([]int64, n), make([]*time.Time, n)
	for i, c := range cars {
		ids[i], cities[i], statuses[i] = c.ID, c.City, c.Status
		seqs[i], ats[i], keyIDs[i] = c.Key.Seq, nullTime(c.Key.At), c.Key.ID
	}
	return b.Queue(sql, ids, cities, statuses, seqs, ats, keyIDs)
}

// queueBookingRows is queueCarRows for bookings.
func (a *applier) queueBookingRows(b *pgx.Batch, sql string, bookings []aggregator.BookingState) *pgx.QueuedQuery {
	if len(bookings) == 0 {
		return nil
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
	return b.Queue(sql, ids, cars, cities, statuses, seqs, ats, keyIDs, starts, startSeqs, startAts, startKeyIDs)
}
