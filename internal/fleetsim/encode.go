package fleetsim

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/tallyhq/tally/events"
)

// appendEvent appends the body of an event: the same bytes as
// events.Draft.Encode, written without reflection because a benchmark
// encodes millions of them.
func appendEvent(b []byte, id string, e *event) []byte {
	zone := time.UTC
	if e.typ.Entity() == events.Booking {
		zone = e.car.zone
	}
	b = appendEnvelope(b, id, string(e.typ), e.at.In(zone), e.seq)
	b = appendData(b, e, zone)
	return append(b, '}')
}

// appendEnvelope appends an envelope up to and including `"data":`.
func appendEnvelope(b []byte, id, typ string, at time.Time, seq int64) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"occurred_at":`...)
	b = appendTime(b, at)
	if seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, seq, 10)
	}
	return append(b, `,"data":`...)
}

// appendData appends the data object of a known type, with the fields in
// the order of the events package's payload structs.
func appendData(b []byte, e *event, zone *time.Location) []byte {
	switch e.typ {
	case events.CarStatusChanged:
		b = appendField(b, '{', "car_id", e.car.id)
		b = appendField(b, ',', "city", e.car.city)
		b = appendField(b, ',', "status", e.status)
	case events.BookingConfirmed, events.BookingStarted, events.BookingEnded, events.BookingCancelled:
		b = appendField(b, '{', "booking_id", e.bookingID)
		b = appendField(b, ',', "car_id", e.car.id)
		b = appendField(b, ',', "city", e.car.city)
		if e.typ == events.BookingConfirmed {
			b = appendTime(append(b, `,"start_at":`...), e.startAt.In(zone))
			b = appendTime(append(b, `,"end_at":`...), e.endAt.In(zone))
		}
	case events.PaymentCaptured:
		b = appendField(b, '{', "payment_id", e.paymentID)
		b = appendField(b, ',', "booking_id", e.bookingID)
		b = appendMoney(appendField(b, ',', "city", e.car.city), e)
	case events.PaymentRefunded:
		b = appendField(b, '{', "payment_id", e.paymentID)
		b = appendMoney(appendField(b, ',', "city", e.car.city), e)
	}
	return append(b, '}')
}

func appendMoney(b []byte, e *event) []byte {
	b = strconv.AppendInt(append(b, `,"amount_minor":`...), e.amount, 10)
	return appendField(b, ',', "currency", e.car.currency)
}

// appendField appends sep, then "key":"value".
func appendField(b []byte, sep byte, key, value string) []byte {
	b = append(b, sep, '"')
	b = append(b, key...)
	b = append(b, `":`...)
	return appendString(b, value)
}

// appendTime appends t as encoding/json does: RFC 3339 with nanoseconds
// when it has them, in t's own offset.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString appends s as a JSON string exactly as encoding/json writes
// it; strings that need escaping, rare here, go through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
