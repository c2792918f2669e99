package events_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
)

// object builds a JSON object from name and raw JSON value pairs, in order,
// so that tests can state exactly the bytes a publisher would send.
type object [][2]string

// with returns a copy with name set to raw, replacing it in place or
// appending it.
func (o object) with(name, raw string) object {
	out := make(object, 0, len(o)+1)
	found := false
	for _, kv := range o {
		if kv[0] == name {
			kv[1], found = raw, true
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, [2]string{name, raw})
	}
	return out
}

// without returns a copy without name.
func (o object) without(name string) object {
	out := make(object, 0, len(o))
	for _, kv := range o {
		if kv[0] != name {
			out = append(out, kv)
		}
	}
	return out
}

func (o object) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + kv[0] + `":` + kv[1])
	}
	b.WriteByte('}')
	return b.String()
}

// The valid data of each known type.
var validData = map[events.Type]object{
	events.CarStatusChanged: {{"car_id", `"car-1"`}, {"city", `"paris"`}, {"status", `"active"`}},
	events.BookingConfirmed: {
		{"booking_id", `"bk-1"`}, {"car_id", `"car-1"`}, {"city", `"paris"`},
		{"start_at", `"2026-05-01T10:00:00Z"`}, {"end_at", `"2026-05-01T12:00:00Z"`},
	},
	events.BookingStarted:   {{"booking_id", `"bk-1"`}, {"car_id", `"car-1"`}, {"city", `"paris"`}},
	events.BookingEnded:     {{"booking_id", `"bk-1"`}, {"car_id", `"car-1"`}, {"city", `"paris"`}},
	events.BookingCancelled: {{"booking_id", `"bk-1"`}, {"car_id", `"car-1"`}, {"city", `"paris"`}},
	events.PaymentCaptured: {
		{"payment_id", `"pay-1"`}, {"booking_id", `"bk-1"`}, {"city", `"paris"`},
		{"amount_minor", `1250`}, {"currency", `"EUR"`},
	},
	events.PaymentRefunded: {
		{"payment_id", `"pay-1"`}, {"city", `"paris"`}, {"amount_minor", `250`}, {"currency", `"EUR"`},
	},
}

// envelope returns a valid envelope of type t carrying its valid data.
func envelope(t events.Type) object {
	return object{
		{"id", `"evt-1"`}, {"type", `"` + string(t) + `"`},
		{"occurred_at", `"2026-05-01T09:30:00Z"`}, {"data", validData[t].String()},
	}
}

// carMsg is a valid car.status_changed envelope.
func carMsg() object { return envelope(events.CarStatusChanged) }

// decodeOK decodes body and requires it to be accepted.
func decodeOK(t *testing.T, body string) events.Event {
	t.Helper()
	ev, err := events.Decode([]byte(body), 0)
	require.NoError(t, err, body)
	return ev
}

// requireCode decodes body and requires it to fail with code.
func requireCode(t *testing.T, body string, code events.Code) *events.Error {
	t.Helper()
	ev, err := events.Decode([]byte(body), 0)
	require.Error(t, err, body)
	require.Equal(t, code, events.CodeOf(err), "%s: %v", body, err)
	require.Zero(t, ev, "a rejected message yields no event")
	var ve *events.Error
	require.ErrorAs(t, err, &ve)
	return ve
}
