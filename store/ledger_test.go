package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/store"
)

// TestApplyRecordsEachEventAsReceived reads the ledger rows an apply
// copied and compares every column with the event it came from: NULL for
// a missing seq, entity or city, occurred_at to the microsecond, the body
// byte for byte.
func TestApplyRecordsEachEventAsReceived(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)

	beforeY2K := time.Date(1999, 12, 31, 23, 59, 59, 999_999_000, time.UTC)
	unknown, err := events.Decode([]byte(`{"id":"日本-🚗 \"quoted\"","type":"fleet.painted","occurred_at":"2026-05-01T11:00:00.000001+02:00","data":{"colour":"red"}}`), 0)
	require.NoError(t, err)
	evs := []events.Event{
		mustEvent(t, car("c1", "paris", events.CarActive, 7, t0)),
		mustEvent(t, events.Draft{ID: "b1-confirmed", Type: events.BookingConfirmed, OccurredAt: beforeY2K,
			Data: events.BookingConfirmation{BookingID: "b1", CarID: "c1", City: "paris",
				StartAt: t0.Add(time.Hour), EndAt: t0.Add(2 * time.Hour)}}),
		mustEvent(t, events.Draft{ID: "p1", Type: events.PaymentCaptured, OccurredAt: t0, Seq: 3,
			Data: events.PaymentCapture{PaymentID: "pay-1", BookingID: "b1", City: "berlin", AmountMinor: 1250, Currency: "EUR"}}),
		unknown,
	}
	in := incoming(evs...)
	for i := range in {
		in[i].StreamSeq = uint64(1000 + i)
	}
	out, err := tb.store.Apply(ctx, store.Batch{Events: in})
	require.NoError(t, err)
	require.Equal(t, 3, out.Applied)
	require.Equal(t, 1, out.Ignored)

	type row struct {
		ID, Type     string
		OccurredAt   time.Time
		Seq          *int64
		Entity, City *string
		StreamSeq    int64
		Body         []byte
	}
	rows, err := tb.store.Pool().Query(ctx,
		"SELECT id, type, occurred_at, seq, entity, city, stream_seq, body FROM tally.events ORDER BY stream_seq")
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	require.NoError(t, err)
	require.Len(t, got, len(evs))

	str := func(s string) *string { return &s }
	i64 := func(v int64) *int64 { return &v }
	want := []struct {
		seq          *int64
		entity, city *string
	}{
		{i64(7), str("c1"), str("paris")},
		{nil, str("b1"), str("paris")},
		{i64(3), nil, str("berlin")},
		{nil, nil, nil},
	}
	for i, r := range got {
		ev := evs[i]
		require.Equal(t, ev.ID, r.ID)
		require.Equal(t, string(ev.Type), r.Type)
		require.True(t, r.OccurredAt.Equal(ev.OccurredAt), "%s: %v, sent %v", ev.ID, r.OccurredAt, ev.OccurredAt)
		require.Equal(t, want[i].seq, r.Seq, ev.ID)
		require.Equal(t, want[i].entity, r.Entity, ev.ID)
		require.Equal(t, want[i].city, r.City, ev.ID)
		require.Equal(t, int64(1000+i), r.StreamSeq)
		require.Equal(t, ev.Body, r.Body)
	}
	requireVerified(t, tb.store)
}
