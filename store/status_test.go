package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/store"
)

func booking(id, city string, typ events.Type, at time.Time) events.Draft {
	d := events.Draft{ID: id + "-" + string(typ), Type: typ, OccurredAt: at}
	if typ == events.BookingConfirmed {
		d.Data = events.BookingConfirmation{BookingID: id, CarID: "c-" + id, City: city, StartAt: at.Add(time.Hour), EndAt: at.Add(2 * time.Hour)}
	} else {
		d.Data = events.BookingChange{BookingID: id, CarID: "c-" + id, City: city}
	}
	return d
}

func TestReadCounterFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	day1, day2 := t0, t0.Add(24*time.Hour)
	_, err := tb.store.Apply(ctx, store.Batch{Events: incoming(
		mustEvent(t, booking("b1", "paris", events.BookingConfirmed, day1)),
		mustEvent(t, booking("b2", "paris", events.BookingConfirmed, day2)),
		mustEvent(t, booking("b3", "berlin", events.BookingConfirmed, day2)),
	)})
	require.NoError(t, err)

	c, err := tb.store.ReadCounter(ctx, "daily_bookings", store.CounterFilter{Day: day2, City: "paris"})
	require.NoError(t, err)
	rows := c.Rows.([]store.DailyBookingsRow)
	require.Len(t, rows, 1)
	require.Equal(t, "paris", rows[0].City)
	require.True(t, rows[0].Day.Equal(time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)))
	require.Equal(t, rows[0].UpdatedAt, c.UpdatedAt)

	c, err = tb.store.ReadCounter(ctx, "daily_bookings", store.CounterFilter{})
	require.NoError(t, err)
	require.Len(t, c.Rows, 3)
	c, err = tb.store.ReadCounter(ctx, "bookings_by_status", store.CounterFilter{City: "nowhere"})
	require.NoError(t, err)
	require.Empty(t, c.Rows)
	require.NotNil(t, c.Rows, "no rows is an empty list, not null")

	_, err = tb.store.ReadCounter(ctx, "active_cars", store.CounterFilter{Day: day1})
	require.ErrorIs(t, err, store.ErrBadFilter)
	_, err = tb.store.ReadCounter(ctx, "events", store.CounterFilter{})
	require.ErrorIs(t, err, store.ErrUnknownCounter)
}

func TestReadStatusAndOpsSample(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	now := time.Now()
	late := mustEvent(t, events.Draft{ID: "late", Type: events.BookingConfirmed, OccurredAt: now.Add(-2 * time.Hour),
		Data: events.BookingConfirmation{BookingID: "b9", CarID: "c9", City: "lisbon", StartAt: now.Add(-time.Hour), EndAt: now}})
	conflicting := mustEvent(t, events.Draft{ID: "late", Type: events.BookingConfirmed, OccurredAt: now.Add(-2 * time.Hour),
		Data: events.BookingConfirmation{BookingID: "b9", CarID: "c9", City: "porto", StartAt: now.Add(-time.Hour), EndAt: now}})
	_, err := tb.store.Apply(ctx, store.Batch{Events: incoming(late, conflicting), DeadLetters: []store.DeadLetter{
		{Stream: "S", Seq: 7, Subject: "x", Code: events.CodeInvalidJSON, Detail: "bad", Body: []byte("{")},
		{Stream: "S", Seq: 8, Subject: "x", Code: events.CodeInvalidJSON, Detail: "bad", Body: []byte("[")},
	}})
	require.NoError(t, err)
	w := store.WorkerInfo{ID: "w1", Hostname: "host", PID: 42, Version: "v1", StartedAt: now.Add(-time.Minute)}
	require.NoError(t, tb.store.Heartbeat(ctx, w, now.Add(-time.Second)))
	require.NoError(t, tb.store.Heartbeat(ctx, w, now))
	old := store.WorkerInfo{ID: "w0", Hostname: "gone", PID: 1, Version: "v0", StartedAt: now.AddDate(0, 0, -9)}
	require.NoError(t, tb.store.Heartbeat(ctx, old, now.AddDate(0, 0, -8)))
	require.NoError(t, tb.store.Heartbeat(ctx, w, now), "a heartbeat forgets workers not seen for a week")

	st, err := tb.store.ReadStatus(ctx)
	require.NoError(t, err)
	require.Len(t, st.DeadLetters, 1)
	require.Equal(t, store.DeadLetterCount{Code: "invalid_json", Total: 2, Outstanding: 2, LastAt: st.DeadLetters[0].LastAt}, st.DeadLetters[0])
	require.EqualValues(t, 1, st.Conflicts)
	require.Len(t, st.Workers, 1)
	got := st.Workers[0]
	require.Equal(t, []any{w.ID, w.Hostname, w.PID, w.Version}, []any{got.ID, got.Hostname, got.PID, got.Version})
	require.WithinDuration(t, w.StartedAt, got.StartedAt, time.Millisecond)
	require.WithinDuration(t, now, got.LastSeenAt, time.Millisecond)
	require.Len(t, st.OverdueBookings, 1)

	o, err := tb.store.ReadOpsSample(ctx)
	require.NoError(t, err)
	require.Equal(t, 15*time.Minute, o.OverdueGrace)
	require.Equal(t, "lisbon", o.Overdue[0].City)
	require.NotNil(t, o.Freshness.AppliedAt)
	require.Nil(t, o.LastVerify)

	require.NoError(t, tb.store.RecordVerifyRun(ctx, store.VerifyRun{StartedAt: now.Add(-time.Minute), FinishedAt: now, Differences: 3}))
	o, err = tb.store.ReadOpsSample(ctx)
	require.NoError(t, err)
	require.NotNil(t, o.LastVerify)
	require.EqualValues(t, 3, o.LastVerify.Differences)
}
