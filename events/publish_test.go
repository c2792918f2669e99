package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
)

// draftOf returns the draft that publishes ev again: its typed payload for
// a known type, its data object as received otherwise.
func draftOf(t testing.TB, ev events.Event) events.Draft {
	d := events.Draft{ID: ev.ID, Type: ev.Type, OccurredAt: ev.OccurredAt, Seq: ev.Seq}
	switch ev.Type {
	case events.CarStatusChanged:
		d.Data = events.CarStatus{CarID: ev.CarID, City: ev.City, Status: ev.Status}
	case events.BookingConfirmed:
		d.Data = events.BookingConfirmation{
			BookingID: ev.BookingID, CarID: ev.CarID, City: ev.City, StartAt: ev.StartAt, EndAt: ev.EndAt,
		}
	case events.BookingStarted, events.BookingEnded, events.BookingCancelled:
		d.Data = events.BookingChange{BookingID: ev.BookingID, CarID: ev.CarID, City: ev.City}
	case events.PaymentCaptured:
		d.Data = events.PaymentCapture{
			PaymentID: ev.PaymentID, BookingID: ev.BookingID, City: ev.City,
			AmountMinor: ev.AmountMinor, Currency: ev.Currency,
		}
	case events.PaymentRefunded:
		d.Data = events.PaymentRefund{
			PaymentID: ev.PaymentID, City: ev.City, AmountMinor: ev.AmountMinor, Currency: ev.Currency,
		}
	default:
		var env map[string]json.RawMessage
		if err := json.Unmarshal(ev.Body, &env); err != nil {
			t.Fatalf("body of an accepted event: %v", err)
		}
		d.Data = env["data"]
	}
	return d
}

// requireRoundTrip encodes ev's draft and requires it to decode to ev.
func requireRoundTrip(t testing.TB, ev events.Event) {
	body, err := draftOf(t, ev).Encode()
	require.NoError(t, err)
	got, err := events.Decode(body, len(body))
	require.NoError(t, err, string(body))
	require.True(t, events.SameContent(&ev, &got), string(body))
	require.Equal(t, body, got.Body)
	got.Body = ev.Body
	require.Equal(t, ev, got, string(body))
}

func TestDraftEncodeRoundTrips(t *testing.T) {
	t.Parallel()
	for _, typ := range events.KnownTypes {
		requireRoundTrip(t, decodeOK(t, envelope(typ).with("seq", `12`).String()))
		requireRoundTrip(t, decodeOK(t, envelope(typ).String()))
	}
	requireRoundTrip(t, decodeOK(t, unknownMsg(`{"a":[1,2.5e3,null,"\u0000"],"b":{}}`)))
	requireRoundTrip(t, decodeOK(t, carMsg().with("id", `"<&>\u2028"`).String()))
}

func TestDraftEncode(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("CEST", 2*3600)
	d := events.Draft{
		ID: "evt-9", Type: events.BookingConfirmed, Seq: 0,
		OccurredAt: time.Date(2026, 5, 1, 11, 30, 0, 123_456_789, paris),
		Data: events.BookingConfirmation{
			BookingID: "bk-9", CarID: "car-9", City: "paris",
			StartAt: time.Date(2026, 5, 1, 12, 0, 0, 0, paris), EndAt: time.Date(2026, 5, 1, 14, 0, 0, 0, paris),
		},
	}
	body, err := d.Encode()
	require.NoError(t, err)
	require.NotContains(t, string(body), `"seq"`, "an absent seq is left out")
	ev := decodeOK(t, string(body))
	require.Equal(t, time.Date(2026, 5, 1, 9, 30, 0, 123_456_000, time.UTC), ev.OccurredAt)
	require.Equal(t, time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), ev.StartAt)
	require.Zero(t, ev.Seq)

	d.Data = func() {}
	_, err = d.Encode()
	require.ErrorContains(t, err, `encode event "evt-9"`)
}

func TestPublisherMsg(t *testing.T) {
	t.Parallel()
	p := events.NewPublisher(nil, "fleet")
	d := events.Draft{
		ID: "evt-3", Type: events.CarStatusChanged, OccurredAt: time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC),
		Data: events.CarStatus{CarID: "car-1", City: "paris", Status: events.CarActive},
	}
	m, err := p.Msg(d)
	require.NoError(t, err)
	require.Equal(t, "fleet.car.status_changed", m.Subject)
	require.Equal(t, "evt-3", m.Header.Get(jetstream.MsgIDHeader))
	ev := decodeOK(t, string(m.Data))
	require.Equal(t, "car-1", ev.CarID)
}
