package store

import (
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

// readCars reads the rows of the cars that exist, with the version (xmin)
// of each; a row with no applied event reads as the zero state and is left
// out of the states.
//
// Optimistic (the first attempt), it neither locks the rows it reads nor
// creates the others, which it takes for new:
//   - the write updates a row only if its version is still the one read,
//     and fails with errEntityChanged if another transaction has changed
//     one meanwhile (the update waits for that transaction to end, then
//     finds the new version);
//   - the write creates the new cars' rows with their state, and fails
//     with errEntityRace if another transaction has created one meanwhile,
//     or is creating or updating it (it does not wait: see queueEntities).
//
// After an errEntityChanged (mode.lockEntities) it locks the rows as it
// reads them, in id order (FOR UPDATE), so that the write cannot find them
// changed. Locking costs PostgreSQL about as much as reading (it marks
// and logs every row), and workers rarely change one entity at the same
// moment, which is why it is not the first attempt.
//
// With placeholders (after an errEntityRace), it also first makes sure a
// row exists for every car, so that two workers meeting a new car queue on
// one row: this cannot lose the race. It costs a row, an index entry and a
// second row version per new entity, about a sixth of a catch-up's time.
//
// Workers do not deadlock: every transaction records its events, then
// takes cars, then bookings, then counters, each in key order (an
// optimistic one takes its cars and bookings when it updates them, in the
// order of the ids it passes, a cautious one when it reads them), and
// creations of new rows come after those updates and give up rather than
// wait (see queueEntities), so no cycle of waits can close.
//
// readCars queues the statements into b, which readPrior sends with
// readBookings' in one round trip; they fill *states.
func (a *applier) readCars(b *pgx.Batch, ids []string, states *map[string]aggregator.CarState) {
	a.knownCars = nil
	if len(ids) == 0 {
		return
	}
	if a.mode.placeholders {
		b.Queue(a.q.ensureCars, ids).Fn = execWrapped("create car rows")
	}
	b.Queue(a.pick(a.q.lockCars, a.q.readCars), ids).Query(func(rows pgx.Rows) error {
		*states = make(map[string]aggregator.CarState, len(ids))
		a.knownCars = make(map[string]uint32, len(ids))
		var c aggregator.CarState
		var at *time.Time
		var xmin uint32
		_, err := pgx.ForEachRow(rows, []any{&c.ID, &c.City, &c.Status, &c.Key.Seq, &at, &c.Key.ID, &xmin}, func() error {
			a.knownCars[c.ID] = xmin
			if at != nil {
				c.Key.At = at.UTC()
				(*states)[c.ID] = c
			}
			return nil
		})
		return wrap(err, "read cars")
	})
}

// readBookings is readCars for bookings.
func (a *applier) readBookings(b *pgx.Batch, ids []string, states *map[string]aggregator.BookingState) {
	a.knownBookings = nil
	if len(ids) == 0 {
		return
	}
	if a.mode.placeholders {
		b.Queue(a.q.ensureBookings, ids).Fn = execWrapped("create booking rows")
	}
	b.Queue(a.pick(a.q.lockBookings, a.q.readBookings), ids).Query(func(rows pgx.Rows) error {
		*states = make(map[string]aggregator.BookingState, len(ids))
		a.knownBookings = make(map[string]uint32, len(ids))
		var bk aggregator.BookingState
		var at, startAt, startKeyAt *time.Time
		var xmin uint32
		dest := []any{&bk.ID, &bk.CarID, &bk.City, &bk.Status, &bk.Key.Seq, &at, &bk.Key.ID, &startAt, &bk.StartKey.Seq, &startKeyAt, &bk.StartKey.ID, &xmin}
		_, err := pgx.ForEachRow(rows, dest, func() error {
			a.knownBookings[bk.ID] = xmin
			s := bk
			s.Key.At, s.StartAt, s.StartKey.At = utc(at), utc(startAt), utc(startKeyAt)
			if !s.Key.IsZero() || !s.StartKey.IsZero() {
				(*states)[s.ID] = s
			}
			return nil
		})
		return wrap(err, "read bookings")
	})
}

// execWrapped is a batched statement's result function that says what
// failed.
func execWrapped(what string) func(pgx.BatchResults) error {
	return func(br pgx.BatchResults) error {
		_, err := br.Exec()
		return wrap(err, what)
	}
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) *time.Time {
	return timeOrNull(&t)
}

// timeOrNull is nullTime for a time the caller keeps unchanged until the
// statement is sent: it points at it rather than at a copy, so that the
// arrays of a batch's states cost no allocation per element.
func timeOrNull(t *time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return t
}

// queueEntities adds the writes of changed entity states to the batch:
// the updates of the rows readCars and readBookings found (as they were
// read, unless they were locked), then the creation of new cars and
// bookings.
//
// A creation that meets a row another transaction has created or updated
// and not yet committed would wait for it, and could wait in a cycle with
// a worker that is locking the rows of its batch. It waits for no one
// instead: lock_timeout is a millisecond for the creations, and running
// out of it is errEntityRace, as the other's commit would have been. The
// creations come after the updates, which do wait (for the rows they
// update, in id order): a transaction holding a row it created and not
// yet committed must not wait for another's row, since the other may be
// creating placeholders and wait for that created row in turn.
// TestApplyUnderContentionCountsExactly deadlocked with the creations
// first.
func (a *applier) queueEntities(b *pgx.Batch, cars []aggregator.CarState, bookings []aggregator.BookingState) {
	knownCars, newCars := split(cars, a.knownCars, func(c aggregator.CarState) string { return c.ID })
	knownBookings, newBookings := split(bookings, a.knownBookings, func(s aggregator.BookingState) string { return s.ID })
	if a.locked() {
		a.queueCarRows(b, a.q.writeCars, knownCars)
		a.queueBookingRows(b, a.q.writeBookings, knownBookings)
	} else {
		carXmins := xmins(knownCars, a.knownCars, func(c aggregator.CarState) string { return c.ID })
		if q := a.queueCarRows(b, a.q.writeReadCars, knownCars, carXmins); q != nil {
			q.Fn = expectUnchanged(len(knownCars))
		}
		bookingXmins := xmins(knownBookings, a.knownBookings, func(s aggregator.BookingState) string { return s.ID })
		if q := a.queueBookingRows(b, a.q.writeReadBookings, knownBookings, bookingXmins); q != nil {
			q.Fn = expectUnchanged(len(knownBookings))
		}
	}
	if len(newCars)+len(newBookings) == 0 {
		return
	}
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

// xmins is the argument of writeReadCars and writeReadBookings that holds
// the versions of the rows read, in the order of states.
func xmins[S any](states []S, known map[string]uint32, id func(S) string) []uint32 {
	x := make([]uint32, len(states))
	for i, s := range states {
		x[i] = known[id(s)]
	}
	return x
}

// expectUnchanged is the result handler of an update of n rows read
// without a lock: errEntityChanged unless all n were still as read.
func expectUnchanged(n int) func(pgx.BatchResults) error {
	return func(br pgx.BatchResults) error {
		ct, err := br.Exec()
		if err != nil {
			return err
		}
		if ct.RowsAffected() != int64(n) {
			return fmt.Errorf("%w (%d of %d changed since read)", errEntityChanged, int64(n)-ct.RowsAffected(), n)
		}
		return nil
	}
}

// errEntityChanged is an optimistic apply transaction finding, as it
// writes, that a car or booking it read has changed since: it folded the
// batch from a stale prior state. Store.Apply rolls back and applies the
// batch again with mode.lockEntities.
var errEntityChanged = errors.New("another transaction changed an entity of this batch after it was read")

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
func split[S any](states []S, known map[string]uint32, id func(S) string) (existing, created []S) {
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
func (a *applier) queueCarRows(b *pgx.Batch, sql string, cars []aggregator.CarState, extra ...any) *pgx.QueuedQuery {
	if len(cars) == 0 {
		return nil
	}
	n := len(cars)
	ids, cities, statuses, keyIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs, ats := make([]int64, n), make([]*time.Time, n)
	for i := range cars {
		c := &cars[i]
		ids[i], cities[i], statuses[i] = c.ID, c.City, c.Status
		seqs[i], ats[i], keyIDs[i] = c.Key.Seq, timeOrNull(&c.Key.At), c.Key.ID
	}
	return b.Queue(sql, append([]any{ids, cities, statuses, seqs, ats, keyIDs}, extra...)...)
}

// queueBookingRows is queueCarRows for bookings.
func (a *applier) queueBookingRows(b *pgx.Batch, sql string, bookings []aggregator.BookingState, extra ...any) *pgx.QueuedQuery {
	if len(bookings) == 0 {
		return nil
	}
	n := len(bookings)
	ids, cars, cities, statuses, keyIDs, startKeyIDs := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	seqs, startSeqs := make([]int64, n), make([]int64, n)
	ats, starts, startAts := make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
	for i := range bookings {
		s := &bookings[i]
		ids[i], cars[i], cities[i], statuses[i] = s.ID, s.CarID, s.City, s.Status
		seqs[i], ats[i], keyIDs[i] = s.Key.Seq, timeOrNull(&s.Key.At), s.Key.ID
		starts[i], startSeqs[i], startAts[i], startKeyIDs[i] = timeOrNull(&s.StartAt), s.StartKey.Seq, timeOrNull(&s.StartKey.At), s.StartKey.ID
	}
	return b.Queue(sql, append([]any{ids, cars, cities, statuses, seqs, ats, keyIDs, starts, startSeqs, startAts, startKeyIDs}, extra...)...)
}

// locked reports whether the transaction locks its entities as it reads
// them: only after a lost race.
func (a *applier) locked() bool { return a.mode.placeholders || a.mode.lockEntities }

// pick returns lock when the transaction locks its entities, else read.
func (a *applier) pick(lock, read string) string {
	if a.locked() {
		return lock
	}
	return read
}
