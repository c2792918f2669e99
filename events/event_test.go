package events_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
)

func TestKeyCompare(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	paris := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		name string
		a, b events.Key
		want int
	}{
		{"seq first", events.Key{Seq: 1, At: t0.Add(time.Hour), ID: "z"}, events.Key{Seq: 2, At: t0, ID: "a"}, -1},
		{"absent seq is 0", events.Key{Seq: 0, At: t0.Add(time.Hour), ID: "z"}, events.Key{Seq: 1, At: t0, ID: "a"}, -1},
		{"seq greater", events.Key{Seq: 10, At: t0, ID: "a"}, events.Key{Seq: 9, At: t0, ID: "z"}, 1},
		{"then instant", events.Key{Seq: 3, At: t0, ID: "z"}, events.Key{Seq: 3, At: t0.Add(time.Microsecond), ID: "a"}, -1},
		{"instant, not zone", events.Key{At: t0.In(paris), ID: "a"}, events.Key{At: t0, ID: "a"}, 0},
		{"instant across zones", events.Key{At: t0.Add(time.Hour).In(time.UTC), ID: "a"},
			events.Key{At: t0.In(paris), ID: "b"}, 1},
		{"then id", events.Key{Seq: 3, At: t0, ID: "a"}, events.Key{Seq: 3, At: t0, ID: "b"}, -1},
		{"id as bytes, upper before lower", events.Key{At: t0, ID: "Z"}, events.Key{At: t0, ID: "a"}, -1},
		{"id as bytes, prefix first", events.Key{At: t0, ID: "ab"}, events.Key{At: t0, ID: "abc"}, -1},
		{"id as bytes, not numbers", events.Key{At: t0, ID: "10"}, events.Key{At: t0, ID: "9"}, -1},
		{"id as bytes, UTF-8", events.Key{At: t0, ID: "é"}, events.Key{At: t0, ID: "z"}, 1},
		{"equal", events.Key{Seq: 5, At: t0, ID: "a"}, events.Key{Seq: 5, At: t0, ID: "a"}, 0},
		{"zero first", events.Key{}, events.Key{At: time.Time{}, ID: "a"}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.a.Compare(tt.b))
			require.Equal(t, -tt.want, tt.b.Compare(tt.a))
			require.Equal(t, tt.want < 0, tt.a.Less(tt.b))
		})
	}
}

func TestZeroKeySortsFirst(t *testing.T) {
	t.Parallel()
	require.True(t, events.Key{}.IsZero())
	// The earliest event tally accepts still sorts after the zero Key.
	ev := decodeOK(t, carMsg().with("id", `"\u0001"`).with("occurred_at", `"0001-01-01T00:00:00Z"`).String())
	require.False(t, ev.Key().IsZero())
	require.True(t, events.Key{}.Less(ev.Key()))
}

func TestEventKeyAndEntity(t *testing.T) {
	t.Parallel()
	ev := decodeOK(t, carMsg().with("seq", `4`).String())
	require.Equal(t, events.Key{Seq: 4, At: ev.OccurredAt, ID: "evt-1"}, ev.Key())
	require.Equal(t, "car-1", ev.EntityID())

	want := map[events.Type]struct {
		kind   events.EntityKind
		id     string
		status string
	}{
		events.CarStatusChanged: {events.Car, "car-1", ""},
		events.BookingConfirmed: {events.Booking, "bk-1", events.StatusConfirmed},
		events.BookingStarted:   {events.Booking, "bk-1", events.StatusOngoing},
		events.BookingEnded:     {events.Booking, "bk-1", events.StatusEnded},
		events.BookingCancelled: {events.Booking, "bk-1", events.StatusCancelled},
		events.PaymentCaptured:  {events.NoEntity, "", ""},
		events.PaymentRefunded:  {events.NoEntity, "", ""},
	}
	require.Len(t, want, len(events.KnownTypes))
	for typ, w := range want {
		ev := decodeOK(t, envelope(typ).String())
		require.Equal(t, w.kind, typ.Entity(), typ)
		require.Equal(t, w.id, ev.EntityID(), typ)
		require.Equal(t, w.status, typ.BookingStatus(), typ)
	}
}

func TestSameContent(t *testing.T) {
	t.Parallel()
	confirmed := envelope(events.BookingConfirmed).with("seq", `3`)
	conf := validData[events.BookingConfirmed]
	same := []struct {
		name string
		a, b string
	}{
		{"identical", confirmed.String(), confirmed.String()},
		{"white space", confirmed.String(), " {\n" + confirmed.String()[1:]},
		{"key order", confirmed.String(), object{
			confirmed[3], confirmed[4], confirmed[2], confirmed[1], confirmed[0],
		}.String()},
		{"envelope extras", confirmed.String(), confirmed.with("trace", `"abc"`).String()},
		{"data extras", confirmed.String(), confirmed.with("data", conf.with("note", `"x"`).String()).String()},
		{"occurred_at offset", confirmed.String(), confirmed.with("occurred_at", `"2026-05-01T11:30:00+02:00"`).String()},
		{"occurred_at below the microsecond", confirmed.String(),
			confirmed.with("occurred_at", `"2026-05-01T09:30:00.0000004Z"`).String()},
		{"start_at offset", confirmed.String(),
			confirmed.with("data", conf.with("start_at", `"2026-05-01T12:00:00+02:00"`).String()).String()},
		{"string escapes", confirmed.String(), confirmed.with("data", conf.with("city", `"p\u0061ris"`).String()).String()},
		{"null seq is no seq", carMsg().String(), carMsg().with("seq", `null`).String()},
		{"unknown type, key order", unknownMsg(`{"a":1,"b":[true,{"c":"d"}]}`), unknownMsg(`{ "b": [true, {"c":"d"}], "a": 1 }`)},
	}
	for _, tt := range same {
		t.Run("same/"+tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := decodeOK(t, tt.a), decodeOK(t, tt.b)
			require.True(t, events.SameContent(&a, &b))
			require.True(t, events.SameContent(&b, &a))
		})
	}
	differ := []struct {
		name string
		a, b string
	}{
		{"seq", confirmed.String(), confirmed.with("seq", `4`).String()},
		{"seq absent", confirmed.String(), confirmed.without("seq").String()},
		{"instant", confirmed.String(), confirmed.with("occurred_at", `"2026-05-01T09:30:00.000001Z"`).String()},
		{"type", envelope(events.BookingStarted).String(), envelope(events.BookingEnded).String()},
		{"city", confirmed.String(), confirmed.with("data", conf.with("city", `"Paris"`).String()).String()},
		{"car", confirmed.String(), confirmed.with("data", conf.with("car_id", `"car-2"`).String()).String()},
		{"start_at", confirmed.String(), confirmed.with("data", conf.with("start_at", `"2026-05-01T10:00:01Z"`).String()).String()},
		{"end_at", confirmed.String(), confirmed.with("data", conf.with("end_at", `"2026-05-01T12:00:01Z"`).String()).String()},
		{"status", carMsg().String(), withData(events.CarStatusChanged, func(o object) object { return o.with("status", `"retired"`) })},
		{"amount", envelope(events.PaymentCaptured).String(),
			withData(events.PaymentCaptured, func(o object) object { return o.with("amount_minor", `1251`) })},
		{"currency", envelope(events.PaymentRefunded).String(),
			withData(events.PaymentRefunded, func(o object) object { return o.with("currency", `"USD"`) })},
		{"payment", envelope(events.PaymentRefunded).String(),
			withData(events.PaymentRefunded, func(o object) object { return o.with("payment_id", `"pay-2"`) })},
		{"unknown type data", unknownMsg(`{"a":1}`), unknownMsg(`{"a":2}`)},
		{"unknown type extra data", unknownMsg(`{"a":1}`), unknownMsg(`{"a":1,"b":null}`)},
	}
	for _, tt := range differ {
		t.Run("differ/"+tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := decodeOK(t, tt.a), decodeOK(t, tt.b)
			require.False(t, events.SameContent(&a, &b))
			require.False(t, events.SameContent(&b, &a))
		})
	}
}

func unknownMsg(data string) string {
	return carMsg().with("type", `"car.renamed"`).with("data", data).String()
}
