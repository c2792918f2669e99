package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/store"
)

// overdueCutoff sets the overdue grace so that the view's cutoff (now minus
// the grace) is noon, UTC, of the day before yesterday, and returns that
// noon: the tests place bookings on the cutoff's own day, before and after
// it, and on the days before, whatever the time they run at. (The cutoff
// moves on with the clock, by seconds in a test: the bookings are minutes
// away from it.)
func overdueCutoff(t *testing.T, tb *testBundle) time.Time {
	t.Helper()
	now := time.Now().UTC()
	cutoff := now.Truncate(24 * time.Hour).Add(-48*time.Hour + 12*time.Hour)
	grace := now.Sub(cutoff).Truncate(time.Second)
	_, err := tb.store.Pool().Exec(context.Background(),
		"UPDATE tally.settings SET value = $1 WHERE name = 'overdue_grace'", fmt.Sprintf("%d seconds", int64(grace.Seconds())))
	require.NoError(t, err)
	return cutoff
}

func bookingEvent(id string, typ events.Type, seq int64, at time.Time, city string) events.Draft {
	return events.Draft{ID: fmt.Sprintf("%s-%s-%d", id, typ, seq), Type: typ, OccurredAt: at, Seq: seq,
		Data: events.BookingChange{BookingID: id, CarID: "c-" + id, City: city}}
}

func confirmedAt(id, city string, seq int64, start time.Time) events.Draft {
	return events.Draft{ID: fmt.Sprintf("%s-confirmed-%d", id, seq), Type: events.BookingConfirmed,
		OccurredAt: start.Add(-72 * time.Hour).Add(time.Duration(seq) * time.Minute), Seq: seq,
		Data: events.BookingConfirmation{BookingID: id, CarID: "c-" + id, City: city, StartAt: start, EndAt: start.Add(time.Hour)}}
}

// overdueByRows computes tally.overdue_bookings the way version 5 of the
// view did, from the current generation's bookings alone.
func overdueByRows(t *testing.T, s *store.Store) []store.OverdueRow {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `SELECT city, count(*)::bigint, min(start_at) FROM tally_g1.bookings
		WHERE status = 'confirmed' AND start_at < now() - (SELECT value::interval FROM tally.settings WHERE name = 'overdue_grace')
		GROUP BY city ORDER BY city`)
	require.NoError(t, err)
	var out []store.OverdueRow
	for rows.Next() {
		var r store.OverdueRow
		require.NoError(t, rows.Scan(&r.City, &r.Bookings, &r.OldestStartAt))
		r.OldestStartAt = r.OldestStartAt.UTC()
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func readOverdue(t *testing.T, s *store.Store) []store.OverdueRow {
	t.Helper()
	v, err := s.ReadViews(context.Background())
	require.NoError(t, err)
	for i := range v.OverdueBookings {
		v.OverdueBookings[i].OldestStartAt = v.OverdueBookings[i].OldestStartAt.UTC()
	}
	return v.OverdueBookings
}

// TestOverdueBookingsCountsPastDaysAndToday checks tally.overdue_bookings,
// which sums confirmed_starts for the days before the cutoff's and counts
// that day's bookings one by one, against a count of the bookings: on the
// cutoff's day before and after it, on past days, a booking that started
// or was cancelled, one whose start moved to another day, and events that
// arrive out of order; then after a migration that fills confirmed_starts
// from the bookings of a database of version 5.
func TestOverdueBookingsCountsPastDaysAndToday(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	c := overdueCutoff(t, tb)
	day := 24 * time.Hour
	batches := [][]events.Draft{
		{confirmedAt("b1", "paris", 1, c.Add(-time.Hour)), confirmedAt("b2", "paris", 1, c.Add(time.Hour))},
		{confirmedAt("b3", "paris", 1, c.Add(-2*day)), confirmedAt("b4", "paris", 1, c.Add(-2*day+time.Hour))},
		{confirmedAt("b5", "berlin", 1, c.Add(-5*day)), confirmedAt("b6", "berlin", 1, c.Add(-3*day))},
		{bookingEvent("b6", events.BookingStarted, 2, c.Add(-3*day), "berlin"), confirmedAt("b7", "rome", 1, c.Add(-3*day))},
		// b7 is cancelled; b8's cancellation arrives before its confirmation.
		{bookingEvent("b7", events.BookingCancelled, 2, c.Add(-4*day), "rome"), bookingEvent("b8", events.BookingCancelled, 2, c.Add(-4*day), "rome")},
		{confirmedAt("b8", "rome", 1, c.Add(-4*day)), confirmedAt("b9", "rome", 1, c.Add(-4*day))},
		// b9 is confirmed again with a later start: it moves to another day.
		{confirmedAt("b9", "rome", 2, c.Add(-day-time.Minute))},
		// and b4, confirmed again, moves past the cutoff.
		{confirmedAt("b4", "paris", 2, c.Add(2*time.Hour))},
	}
	for _, b := range batches {
		applyDrafts(t, tb.store, b...)
	}
	want := []store.OverdueRow{
		{City: "berlin", Bookings: 1, OldestStartAt: c.Add(-5 * day)},
		{City: "paris", Bookings: 2, OldestStartAt: c.Add(-2 * day)},
		{City: "rome", Bookings: 1, OldestStartAt: c.Add(-day - time.Minute)},
	}
	require.Equal(t, want, overdueByRows(t, tb.store), "the bookings themselves")
	require.Equal(t, want, readOverdue(t, tb.store))
	requireVerified(t, tb.store)

	require.NoError(t, store.MigrateDownTo(ctx, tb.url, 5))
	require.Equal(t, want, readOverdue(t, tb.store), "version 5's view")
	_, err := store.Migrate(ctx, tb.url, store.Settings{Zones: aggregator.UTC, OverdueGrace: time.Since(c).Truncate(time.Second)}, nil)
	require.NoError(t, err)
	require.Equal(t, want, readOverdue(t, tb.store), "after the migration filled confirmed_starts")
	requireVerified(t, tb.store)
}

// TestVerifyFindsAWrongConfirmedStart: confirmed_starts is not a contract
// view, but the overdue view sums it, so verify compares it too.
func TestVerifyFindsAWrongConfirmedStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	c := overdueCutoff(t, tb)
	applyDrafts(t, tb.store, confirmedAt("b1", "paris", 1, c.Add(-48*time.Hour)))
	_, err := tb.store.Pool().Exec(ctx, "UPDATE tally_g1.confirmed_starts SET bookings = bookings + 1")
	require.NoError(t, err)
	rep, err := tb.store.Verify(ctx, store.VerifyOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Differences, 2, "confirmed_starts and the overdue view: %v", rep.Differences)
	require.Equal(t, "confirmed_starts", rep.Differences[0].Counter)
}
