package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	ctx := context.Background()
	first := []events.Draft{
		confirmed("b1", "c1", "paris", t0.Add(time.Hour)),
		car("c1", "paris", events.CarActive, 1, t0),
	}
	second := []events.Draft{
		{ID: "b1-s", Type: events.BookingStarted, OccurredAt: t0.Add(time.Hour), Seq: 2,
			Data: events.BookingChange{BookingID: "b1", CarID: "c1", City: "paris"}},
		car("c1", "paris", events.CarMaintenance, 2, t0.Add(2*time.Hour)),
	}

	// What applying the batches one after the other leaves.
	want := setup(t)
	applyDrafts(t, want.store, first...)
	applyDrafts(t, want.store, second...)
	wantViews := viewsWithoutTimes(t, want.store)

	tb := setup(t)
	reached, release := make(chan struct{}), make(chan struct{})
	var attempts []bool
	var mu sync.Mutex
	store.SetHookBeforeWrite(tb.store, func(placeholders bool) {
		mu.Lock()
		attempts = append(attempts, placeholders)
		firstCall := len(attempts) == 1
		mu.Unlock()
		if firstCall {
			close(reached)
			<-release
		}
	})

	type result struct {
		out store.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := tb.store.Apply(ctx, store.Batch{Events: incoming(drafted(t, second)...)})
		done <- result{out, err}
	}()
	<-reached // the second batch has read c1 and b1 as unknown
	out, err := tb.store.Apply(ctx, store.Batch{Events: incoming(drafted(t, first)...)})
	require.NoError(t, err)
	require.Zero(t, out.EntityRaces, "the first batch met no race")
	close(release)
	res := <-done
	require.NoError(t, res.err)

	require.Equal(t, wantViews, viewsWithoutTimes(t, tb.store))
	rep, err := tb.store.Verify(ctx, store.VerifyOptions{})
	require.NoError(t, err)
	require.Empty(t, rep.Differences, "counters and states must match a recomputation from the ledger")
	require.Equal(t, 1, rep.Bookings)
	require.Equal(t, 1, rep.Cars)
	require.Equal(t, 1, res.out.EntityRaces, "the second batch must have lost the race and applied again")
	require.Equal(t, 2, res.out.Applied)
	require.Equal(t, []bool{false, false, true}, attempts, "the second batch, the first, then the second again with placeholders")
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
	other, err := pgx.Connect(ctx, tb.url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close(ctx) })
	tx, err := other.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO tally_g1.bookings (booking_id) VALUES ('b1')")
	require.NoError(t, err)

	type result struct {
		out store.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		ev := mustEvent(t, confirmed("b1", "c1", "paris", t0.Add(time.Hour)))
		out, err := tb.store.Apply(ctx, store.Batch{Events: incoming(ev)})
		done <- result{out, err}
	}()
	// Without the lock timeout the optimistic creation would wait for the
	// other transaction for good, and the placeholder would never come.
	require.Eventually(t, func() bool {
		var waiting bool
		err := tb.store.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'
				AND query LIKE 'INSERT INTO tally_g1.bookings (booking_id) SELECT unnest%')`).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 5*time.Millisecond, "the second attempt must queue on the uncommitted row")
	require.NoError(t, tx.Commit(ctx))

	res := <-done
	require.NoError(t, res.err)
	require.Equal(t, 1, res.out.EntityRaces)
	v, err := tb.store.ReadViews(ctx)
	require.NoError(t, err)
	require.Len(t, v.BookingsByStatus, 1)
	require.Equal(t, int64(1), v.BookingsByStatus[0].Bookings)
	rep, err := tb.store.Verify(ctx, store.VerifyOptions{})
	require.NoError(t, err)
	require.Empty(t, rep.Differences)
}

// TestApplyLosingARaceForAnEventAppliesAgain makes two transactions record
// the same event: the second looks the id up while the first holds it
// uncommitted, so its copy meets the first's row. It must wait for the
// first, then, the first having committed, apply its batch again and count
// the event as a duplicate, not a second time.
func TestApplyLosingARaceForAnEventAppliesAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	shared := confirmed("b1", "c1", "paris", t0.Add(time.Hour))
	first := []events.Draft{shared, car("c1", "paris", events.CarActive, 1, t0)}
	second := []events.Draft{payment("p1", "paris", 1500, t0.Add(2*time.Hour)), shared}

	want := setup(t)
	applyDrafts(t, want.store, first...)
	applyDrafts(t, want.store, second...)
	wantViews := viewsWithoutTimes(t, want.store)

	tb := setup(t)
	reached, release := make(chan struct{}), make(chan struct{})
	var attempts []bool
	var mu sync.Mutex
	store.SetHookBeforeWrite(tb.store, func(placeholders bool) {
		mu.Lock()
		attempts = append(attempts, placeholders)
		firstCall := len(attempts) == 1
		mu.Unlock()
		if firstCall {
			close(reached)
			<-release
		}
	})

	type result struct {
		out store.Outcome
		err error
	}
	firstDone, secondDone := make(chan result, 1), make(chan result, 1)
	go func() {
		out, err := tb.store.Apply(ctx, store.Batch{Events: incoming(drafted(t, first)...)})
		firstDone <- result{out, err}
	}()
	<-reached // the first batch holds b1-c recorded and not committed
	go func() {
		out, err := tb.store.Apply(ctx, store.Batch{Events: incoming(drafted(t, second)...)})
		secondDone <- result{out, err}
	}()
	require.Eventually(t, func() bool {
		var waiting bool
		err := tb.store.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'
				AND query LIKE 'copy "tally"."events"%')`).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 5*time.Millisecond, "the second batch's copy must wait for the first's uncommitted event")
	close(release)
	res1 := <-firstDone
	require.NoError(t, res1.err)
	require.Zero(t, res1.out.LedgerRaces, "the first batch met no race")
	res := <-secondDone
	require.NoError(t, res.err)

	require.Equal(t, wantViews, viewsWithoutTimes(t, tb.store))
	rep, err := tb.store.Verify(ctx, store.VerifyOptions{})
	require.NoError(t, err)
	require.Empty(t, rep.Differences, "counters and states must match a recomputation from the ledger")
	require.Equal(t, 1, res.out.LedgerRaces, "the second batch must have lost the race and applied again")
	require.Zero(t, res.out.EntityRaces)
	require.Equal(t, 1, res.out.Applied, "the payment")
	require.Equal(t, 1, res.out.Duplicates, "b1-c, recorded by the first batch")
	require.Equal(t, []bool{false, false}, attempts,
		"the first batch, then the second's second attempt (its first stopped at the copy), neither with placeholders")
}
