package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/store"
)

// TestApplyLosingARaceForANewEntityAppliesAgain makes two transactions
// meet a car and a booking that neither has seen: the second reads them as
// unknown, the first creates and commits them, then the second writes.
// The second must notice, apply its batch again on top of the first's
// states, and leave the counters a sequential apply leaves.
func TestApplyLosingARaceForANewEntityAppliesAgain(t *testing.T) {
	t.Parallel()
	first := []events.Draft{
		confirmed("b1", "c1", "paris", t0.Add(time.Hour)),
		car("c1", "paris", events.CarActive, 1, t0),
	}
	second := []events.Draft{
		{ID: "b1-s", Type: events.BookingStarted, OccurredAt: t0.Add(time.Hour), Seq: 2,
			Data: events.BookingChange{BookingID: "b1", CarID: "c1", City: "paris"}},
		car("c1", "paris", events.CarMaintenance, 2, t0.Add(2*time.Hour)),
	}

	r := raceBeforeWrite(t, nil, first, second) // the second has read c1 and b1 as unknown
	require.Zero(t, r.first.EntityRaces, "the first batch met no race")
	require.Equal(t, r.wantViews, viewsWithoutTimes(t, r.tb.store))
	rep := requireVerified(t, r.tb.store)
	require.Equal(t, 1, rep.Bookings)
	require.Equal(t, 1, rep.Cars)
	require.Equal(t, 1, r.second.EntityRaces, "the second batch must have lost the race and applied again")
	require.Equal(t, 2, r.second.Applied)
	require.Equal(t, []store.Attempt{{}, {}, {Placeholders: true}}, r.attempts,
		"the second batch, the first, then the second again with placeholders")
}

// raced is what raceBeforeWrite saw.
type raced struct {
	tb            *testBundle
	first, second store.Outcome
	// attempts lists how each transaction went about its batch, in the
	// order they reached their write.
	attempts []store.Attempt
	// wantViews are the views a sequential apply of base, first and
	// second leaves.
	wantViews store.Views
}

// raceBeforeWrite applies base, then starts applying second and holds it
// when it has read its entities and is about to write, applies first
// meanwhile (which must not wait for second), then lets second write.
func raceBeforeWrite(t *testing.T, base, first, second []events.Draft) raced {
	t.Helper()
	r := raced{wantViews: sequentialViews(t, base, first, second), tb: setup(t)}
	if len(base) > 0 {
		applyDrafts(t, r.tb.store, base...)
	}
	reached, release, attempts := holdFirstWrite(t, r.tb.store)
	done := applyAsync(t, r.tb.store, second)
	<-reached
	var err error
	r.first, err = r.tb.store.Apply(context.Background(), store.Batch{Events: incoming(drafted(t, first)...)})
	release()
	require.NoError(t, err, "the first batch must not wait for the second")
	res := <-done
	require.NoError(t, res.err)
	r.second, r.attempts = res.out, attempts()
	return r
}

// sequentialViews returns the views applying the batches one after the
// other leaves.
func sequentialViews(t *testing.T, batches ...[]events.Draft) store.Views {
	t.Helper()
	want := setup(t)
	for _, b := range batches {
		applyDrafts(t, want.store, b...)
	}
	return viewsWithoutTimes(t, want.store)
}

// holdFirstWrite makes the first apply transaction of s that is about to
// write close reached and wait until release is called; attempts lists how every
// transaction that got there went about its batch.
func holdFirstWrite(t *testing.T, s *store.Store) (reached chan struct{}, release func(), attempts func() []store.Attempt) {
	reached, released := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	t.Cleanup(release) // a test that fails before it releases must not hang in s.Close
	var seen []store.Attempt
	var mu sync.Mutex
	store.SetHookBeforeWrite(s, func(a store.Attempt) {
		mu.Lock()
		seen = append(seen, a)
		firstCall := len(seen) == 1
		mu.Unlock()
		if firstCall {
			close(reached)
			<-released
		}
	})
	return reached, release, func() []store.Attempt {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// waitForLockWait waits until a statement of s's database that matches
// query (a LIKE pattern) waits for a lock.
func waitForLockWait(t *testing.T, s *store.Store, query, msg string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var waiting bool
		err := s.Pool().QueryRow(context.Background(), `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1)`, query).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 5*time.Millisecond, msg)
}

// uncommitted runs sql in a transaction of its own connection to tb's
// database and returns the transaction, open: its changes hold their row
// locks until the test commits it.
func uncommitted(t *testing.T, tb *testBundle, sql string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	other, err := pgx.Connect(ctx, tb.url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close(ctx) })
	tx, err := other.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, sql)
	require.NoError(t, err)
	return tx
}

type applyResult struct {
	out store.Outcome
	err error
}

// applyAsync applies ds as one batch on another goroutine.
func applyAsync(t *testing.T, s *store.Store, ds []events.Draft) <-chan applyResult {
	evs := drafted(t, ds)
	done := make(chan applyResult, 1)
	go func() {
		out, err := s.Apply(context.Background(), store.Batch{Events: incoming(evs...)})
		done <- applyResult{out, err}
	}()
	return done
}

func drafted(t *testing.T, ds []events.Draft) []events.Event {
	t.Helper()
	evs := make([]events.Event, len(ds))
	for i, d := range ds {
		evs[i] = mustEvent(t, d)
	}
	return evs
}

// TestApplyDoesNotWaitForAnEntityBeingCreated holds a booking row created
// and not committed (as a worker mid-batch does) while a batch meets that
// booking for the first time: its optimistic attempt must give up at once
// rather than wait, since waiting there can close a cycle with a worker
// locking its rows, and its second attempt must queue on the row and count
// the booking once the other transaction commits.
func TestApplyDoesNotWaitForAnEntityBeingCreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	tx := uncommitted(t, tb, "INSERT INTO tally_g1.bookings (booking_id) VALUES ('b1')")

	done := applyAsync(t, tb.store, []events.Draft{confirmed("b1", "c1", "paris", t0.Add(time.Hour))})
	// Without the lock timeout the optimistic creation would wait for the
	// other transaction for good, and the placeholder would never come.
	waitForLockWait(t, tb.store, "INSERT INTO tally_g1.bookings (booking_id) SELECT unnest%",
		"the second attempt must queue on the uncommitted row")
	require.NoError(t, tx.Commit(ctx))

	res := <-done
	require.NoError(t, res.err)
	require.Equal(t, 1, res.out.EntityRaces)
	v, err := tb.store.ReadViews(ctx)
	require.NoError(t, err)
	require.Len(t, v.BookingsByStatus, 1)
	require.Equal(t, int64(1), v.BookingsByStatus[0].Bookings)
	requireVerified(t, tb.store)
}

// TestApplyLosingARaceForAnEventAppliesAgain makes two transactions record
// the same event: the second looks the id up while the first holds it
// uncommitted, so its copy meets the first's row. It must wait for the
// first, then, the first having committed, apply its batch again and count
// the event as a duplicate, not a second time.
func TestApplyLosingARaceForAnEventAppliesAgain(t *testing.T) {
	t.Parallel()
	shared := confirmed("b1", "c1", "paris", t0.Add(time.Hour))
	first := []events.Draft{shared, car("c1", "paris", events.CarActive, 1, t0)}
	second := []events.Draft{payment("p1", "paris", 1500, t0.Add(2*time.Hour)), shared}

	wantViews := sequentialViews(t, first, second)

	tb := setup(t)
	reached, release, attempts := holdFirstWrite(t, tb.store)
	firstDone := applyAsync(t, tb.store, first)
	<-reached // the first batch holds b1-c recorded and not committed
	secondDone := applyAsync(t, tb.store, second)
	waitForLockWait(t, tb.store, `COPY tally.events %`, "the second batch's copy must wait for the first's uncommitted event")
	release()
	res1 := <-firstDone
	require.NoError(t, res1.err)
	require.Zero(t, res1.out.LedgerRaces, "the first batch met no race")
	res := <-secondDone
	require.NoError(t, res.err)

	require.Equal(t, wantViews, viewsWithoutTimes(t, tb.store))
	requireVerified(t, tb.store)
	require.Equal(t, 1, res.out.LedgerRaces, "the second batch must have lost the race and applied again")
	require.Zero(t, res.out.EntityRaces)
	require.Equal(t, 1, res.out.Applied, "the payment")
	require.Equal(t, 1, res.out.Duplicates, "b1-c, recorded by the first batch")
	require.Equal(t, []store.Attempt{{}, {InsertEvents: true}}, attempts(),
		"the first batch, then the second's second attempt (its first stopped at the copy)")

	// Workers that met each other's events keep meeting them: for a while,
	// the store inserts rather than copies.
	applyDrafts(t, tb.store, payment("p2", "paris", 700, t0.Add(3*time.Hour)))
	require.Equal(t, []store.Attempt{{}, {InsertEvents: true}, {InsertEvents: true}}, attempts(),
		"the next batch after the race")
}

// bookingChange is a booking event of the given type after the confirmation.
func bookingChange(id string, typ events.Type, bookingID string, seq int64, at time.Time) events.Draft {
	return events.Draft{ID: id, Type: typ, OccurredAt: at, Seq: seq,
		Data: events.BookingChange{BookingID: bookingID, CarID: "c1", City: "paris"}}
}

// TestApplyLosingARaceForAChangedEntityAppliesAgain makes a batch read a
// car and a booking without locking them, and another batch change and
// commit both before the first writes. The first must notice, apply its
// batch again from the committed states, and leave the counters a
// sequential apply leaves.
func TestApplyLosingARaceForAChangedEntityAppliesAgain(t *testing.T) {
	t.Parallel()
	base := []events.Draft{confirmed("b1", "c1", "paris", t0.Add(time.Hour)), car("c1", "paris", events.CarActive, 1, t0)}
	first := []events.Draft{
		bookingChange("b1-s", events.BookingStarted, "b1", 2, t0.Add(time.Hour)),
		car("c1", "paris", events.CarMaintenance, 2, t0.Add(2*time.Hour)),
	}
	second := []events.Draft{
		bookingChange("b1-e", events.BookingEnded, "b1", 3, t0.Add(3*time.Hour)),
		car("c1", "paris", events.CarActive, 3, t0.Add(4*time.Hour)),
	}

	r := raceBeforeWrite(t, base, first, second) // the second has read c1 and b1, and holds no lock on them
	require.Zero(t, r.first.ChangeRaces)
	require.Equal(t, r.wantViews, viewsWithoutTimes(t, r.tb.store))
	requireVerified(t, r.tb.store)
	require.Equal(t, 1, r.second.ChangeRaces, "the second batch must have lost the race and applied again")
	require.Zero(t, r.second.EntityRaces)
	require.Equal(t, 2, r.second.Applied)
	require.Equal(t, []store.Attempt{{}, {}, {LockEntities: true}}, r.attempts,
		"the second batch, the first, then the second again with locks")
}

// TestApplyWaitingForAChangeAppliesAgain changes a booking in another
// transaction and holds it uncommitted while a batch reads the booking and
// writes it: the write must wait for the other transaction, and once that
// commits, find the row changed and apply the batch again.
func TestApplyWaitingForAChangeAppliesAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := []events.Draft{confirmed("b1", "c1", "paris", t0.Add(time.Hour))}
	later := []events.Draft{bookingChange("b1-s", events.BookingStarted, "b1", 2, t0.Add(time.Hour))}
	wantViews := sequentialViews(t, base, later)

	tb := setup(t)
	applyDrafts(t, tb.store, base...)
	// A change that leaves the state as it was: only the row version moves.
	tx := uncommitted(t, tb, "UPDATE tally_g1.bookings SET updated_at = now() WHERE booking_id = 'b1'")

	done := applyAsync(t, tb.store, later)
	waitForLockWait(t, tb.store, "UPDATE tally_g1.bookings%", "the write must wait for the uncommitted change")
	require.NoError(t, tx.Commit(ctx))
	res := <-done
	require.NoError(t, res.err)
	require.Equal(t, 1, res.out.ChangeRaces)
	require.Equal(t, wantViews, viewsWithoutTimes(t, tb.store))
	requireVerified(t, tb.store)
}

// TestApplyUnderContentionCountsExactly applies batches that all touch the
// same few cars and bookings from eight goroutines at once, with events
// out of order and some in two batches, so that transactions keep meeting
// rows the others have read, changed, created or recorded: every apply
// must succeed (a deadlock would fail one) and the counters must be those
// of one sequential apply of the same events.
func TestApplyUnderContentionCountsExactly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	statuses := []string{events.CarActive, events.CarMaintenance, events.CarActive, events.CarRetired}
	var all []events.Draft
	for c := range 3 {
		id, city := fmt.Sprintf("c%d", c), []string{"paris", "berlin"}[c%2]
		for seq := int64(1); seq <= 40; seq++ {
			all = append(all, car(id, city, statuses[rng.IntN(len(statuses))], seq, t0.Add(time.Duration(rng.IntN(600))*time.Minute)))
		}
	}
	for b := range 4 {
		id, city := fmt.Sprintf("b%d", b), []string{"paris", "berlin"}[b%2]
		start := t0.Add(time.Duration(b+1) * time.Hour)
		all = append(all, confirmed(id, fmt.Sprintf("c%d", b%3), city, start),
			bookingChange(id+"-s", events.BookingStarted, id, 2, start),
			bookingChange(id+"-e", events.BookingEnded, id, 3, start.Add(time.Hour)))
	}
	for p := range 20 {
		all = append(all, payment(fmt.Sprintf("p%d", p), "paris", int64(100+p), t0.Add(time.Duration(p)*time.Minute)))
	}
	wantViews := sequentialViews(t, all)

	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var batches [][]events.Draft
	for len(all) > 0 {
		n := min(len(all), 8)
		batch := slices.Clone(all[:n])
		if rng.IntN(3) == 0 { // an event published twice, its copies in two batches
			batch = append(batch, all[rng.IntN(len(all))])
		}
		batches = append(batches, batch)
		all = all[n:]
	}

	tb := setup(t)
	work := make(chan []events.Draft, len(batches))
	for _, b := range batches {
		work <- b
	}
	close(work)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var races store.Outcome
	for range 8 {
		wg.Go(func() {
			for b := range work {
				out, err := tb.store.Apply(ctx, store.Batch{Events: incoming(drafted(t, b)...)})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				races.ChangeRaces += out.ChangeRaces
				races.EntityRaces += out.EntityRaces
				races.LedgerRaces += out.LedgerRaces
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d batches; applied again after a race for a changed entity: %d, a new entity: %d, an event: %d",
		len(batches), races.ChangeRaces, races.EntityRaces, races.LedgerRaces)

	// A counter that fell back to zero keeps its row; a sequential apply
	// may never have written it.
	require.Equal(t, withoutZeros(wantViews), withoutZeros(viewsWithoutTimes(t, tb.store)))
	requireVerified(t, tb.store)
}

// withoutZeros drops the rows of v's state counters that are zero.
func withoutZeros(v store.Views) store.Views {
	v.ActiveCars = slices.DeleteFunc(v.ActiveCars, func(r store.ActiveCarsRow) bool { return r.Cars == 0 })
	v.BookingsByStatus = slices.DeleteFunc(v.BookingsByStatus, func(r store.BookingsByStatusRow) bool { return r.Bookings == 0 })
	return v
}
