package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/store"
)

// applyDrafts applies drafts as one batch.
func applyDrafts(t *testing.T, s *store.Store, ds ...events.Draft) {
	t.Helper()
	_, err := s.Apply(context.Background(), store.Batch{Events: incoming(drafted(t, ds)...)})
	require.NoError(t, err)
}

func confirmed(id, carID, city string, start time.Time) events.Draft {
	return events.Draft{ID: id + "-c", Type: events.BookingConfirmed, OccurredAt: start.Add(-time.Hour), Seq: 1,
		Data: events.BookingConfirmation{BookingID: id, CarID: carID, City: city, StartAt: start, EndAt: start.Add(time.Hour)}}
}

func payment(id, city string, amount int64, at time.Time) events.Draft {
	return events.Draft{ID: id, Type: events.PaymentCaptured, OccurredAt: at,
		Data: events.PaymentCapture{PaymentID: id, BookingID: "b-" + id, City: city, AmountMinor: amount, Currency: "EUR"}}
}

// takeAndRead takes a manual snapshot and reads the views right after it:
// nothing else writes, so they are what the snapshot must hold.
func takeAndRead(t *testing.T, s *store.Store) (store.Snapshot, store.Views) {
	t.Helper()
	ctx := context.Background()
	snap, taken, err := s.TakeSnapshot(ctx, store.SnapshotRequest{Kind: store.SnapshotManual})
	require.NoError(t, err)
	require.True(t, taken)
	v, err := s.ReadViews(ctx)
	require.NoError(t, err)
	v.Freshness = store.Freshness{}
	return snap, v
}

func requireViewsAt(t *testing.T, s *store.Store, at time.Time, want store.Snapshot, views store.Views) {
	t.Helper()
	got, err := s.ReadViewsAt(context.Background(), at)
	require.NoError(t, err)
	require.True(t, want.TakenAt.Equal(got.TakenAt), "X_at(%s) read the snapshot of %s, want %s", at, got.TakenAt, want.TakenAt)
	require.Equal(t, views, got.Views)
}

func TestSnapshotAtBeforeBetweenAndAfter(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	_, err := tb.store.ReadViewsAt(ctx, time.Now())
	require.ErrorIs(t, err, store.ErrNoSnapshot)

	applyDrafts(t, tb.store, car("c1", "paris", events.CarActive, 1, t0), car("c2", "berlin", events.CarActive, 1, t0),
		confirmed("b1", "c1", "paris", t0), payment("p1", "paris", 1200, t0))
	first, firstViews := takeAndRead(t, tb.store)
	require.Positive(t, first.ChangedRows)

	applyDrafts(t, tb.store, car("c1", "paris", events.CarMaintenance, 2, t0.Add(time.Minute)),
		payment("p2", "paris", 800, t0.Add(time.Minute)), payment("p3", "berlin", 500, t0.Add(25*time.Hour)))
	second, secondViews := takeAndRead(t, tb.store)
	require.NotEqual(t, firstViews, secondViews)

	_, err = tb.store.ReadViewsAt(ctx, first.TakenAt.Add(-time.Microsecond))
	require.ErrorIs(t, err, store.ErrNoSnapshot, "before the first snapshot")
	requireViewsAt(t, tb.store, first.TakenAt, first, firstViews)
	requireViewsAt(t, tb.store, second.TakenAt.Add(-time.Microsecond), first, firstViews)
	requireViewsAt(t, tb.store, second.TakenAt, second, secondViews)
	requireViewsAt(t, tb.store, second.TakenAt.Add(time.Hour), second, secondViews)
}

func TestSnapshotStoresOnlyChangedRows(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	applyDrafts(t, tb.store, car("c1", "paris", events.CarActive, 1, t0), car("c2", "berlin", events.CarActive, 1, t0))
	first, _ := takeAndRead(t, tb.store)
	require.Equal(t, 2, first.ChangedRows)

	same, _ := takeAndRead(t, tb.store)
	require.Zero(t, same.ChangedRows, "nothing changed")

	applyDrafts(t, tb.store, car("c1", "paris", events.CarRetired, 2, t0.Add(time.Minute)))
	changed, _ := takeAndRead(t, tb.store)
	require.Equal(t, 1, changed.ChangedRows, "only paris changed")
	require.Zero(t, changed.RemovedRows)
}

// A row that disappears from a view (here as a rebuild would make it) is
// gone from later snapshots and still in the earlier ones.
func TestSnapshotRemovedRowIsATombstone(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	applyDrafts(t, tb.store, car("c1", "paris", events.CarActive, 1, t0), car("c2", "berlin", events.CarActive, 1, t0))
	before, beforeViews := takeAndRead(t, tb.store)

	g, err := tb.store.CurrentGeneration(ctx)
	require.NoError(t, err)
	_, err = tb.store.Pool().Exec(ctx, fmt.Sprintf("DELETE FROM %s.active_cars WHERE city = 'berlin'", store.Schema(g.Gen)))
	require.NoError(t, err)
	after, afterViews := takeAndRead(t, tb.store)
	require.Equal(t, 1, after.RemovedRows)
	require.Len(t, afterViews.ActiveCars, 1)

	requireViewsAt(t, tb.store, before.TakenAt, before, beforeViews)
	requireViewsAt(t, tb.store, after.TakenAt, after, afterViews)
}

func TestSnapshotSlotIsTakenOnce(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	applyDrafts(t, tb.store, car("c1", "paris", events.CarActive, 1, t0))
	slot := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	results := make(chan error, 4)
	var taken atomic.Int64
	for range 4 {
		wg.Go(func() {
			_, ok, err := tb.store.TakeSnapshot(context.Background(), store.SnapshotRequest{Kind: store.SnapshotInterval, SlotAt: slot})
			if ok {
				taken.Add(1)
			}
			results <- err
		})
	}
	wg.Wait()
	for range 4 {
		require.NoError(t, <-results)
	}
	require.EqualValues(t, 1, taken.Load())
	list, err := tb.store.ListSnapshots(context.Background(), time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.True(t, slot.Equal(*list[0].SlotAt))
	require.Equal(t, "interval", list[0].Kind)
}

func TestPruneKeepsXAtForKeptSnapshots(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	var snaps []store.Snapshot
	var views []store.Views
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Hour)
		applyDrafts(t, tb.store, car(fmt.Sprintf("c%d", i), "paris", events.CarActive, 1, at),
			car("c0", "paris", []string{events.CarActive, events.CarMaintenance}[i%2], int64(i+2), at),
			payment(fmt.Sprintf("p%d", i), "berlin", int64(100*(i+1)), at))
		s, v := takeAndRead(t, tb.store)
		snaps, views = append(snaps, s), append(views, v)
	}
	versions := func() int {
		var n int
		require.NoError(t, tb.store.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM tally.snapshot_active_cars)
			+ (SELECT count(*) FROM tally.snapshot_daily_revenue) + (SELECT count(*) FROM tally.snapshot_bookings_by_status)`).Scan(&n))
		return n
	}
	before := versions()

	deleted, err := tb.store.PruneSnapshots(ctx, snaps[2].TakenAt)
	require.NoError(t, err)
	require.EqualValues(t, 2, deleted)
	require.Less(t, versions(), before, "versions only the pruned snapshots saw are gone")

	_, err = tb.store.ReadViewsAt(ctx, snaps[2].TakenAt.Add(-time.Microsecond))
	require.ErrorIs(t, err, store.ErrNoSnapshot)
	for i := 2; i < 5; i++ {
		requireViewsAt(t, tb.store, snaps[i].TakenAt, snaps[i], views[i])
	}
	next, nextViews := takeAndRead(t, tb.store)
	requireViewsAt(t, tb.store, next.TakenAt, next, nextViews)

	deleted, err = tb.store.PruneSnapshots(ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 3, deleted, "the latest snapshot is always kept")
	requireViewsAt(t, tb.store, next.TakenAt, next, nextViews)
}
