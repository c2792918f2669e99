package aggregator_test

import (
	"time"

	"github.com/tallyhq/tally/events"
)

// t0 is a Friday morning in UTC; tests place events relative to it.
var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// carEv is a car.status_changed event.
func carEv(id, carID, city, status string, seq int64, when time.Time) events.Event {
	return events.Event{
		ID: id, Type: events.CarStatusChanged, OccurredAt: when, Seq: seq,
		CarID: carID, City: city, Status: status,
	}
}

// bookingEv is a booking event of typ; a booking.confirmed starts an hour
// after it occurs unless startAt is set afterwards.
func bookingEv(id string, typ events.Type, bookingID, city string, seq int64, when time.Time) events.Event {
	e := events.Event{
		ID: id, Type: typ, OccurredAt: when, Seq: seq,
		BookingID: bookingID, CarID: "car-" + bookingID, City: city,
	}
	if typ == events.BookingConfirmed {
		e.StartAt, e.EndAt = when.Add(time.Hour), when.Add(3*time.Hour)
	}
	return e
}

// confirmedEv is a booking.confirmed event with the given start.
func confirmedEv(id, bookingID, city string, seq int64, when, start time.Time) events.Event {
	e := bookingEv(id, events.BookingConfirmed, bookingID, city, seq, when)
	e.StartAt, e.EndAt = start, start.Add(2*time.Hour)
	return e
}

// payEv is a payment.captured event.
func payEv(id, city, currency string, amount int64, when time.Time) events.Event {
	return events.Event{
		ID: id, Type: events.PaymentCaptured, OccurredAt: when,
		PaymentID: "pay-" + id, BookingID: "bk", City: city, AmountMinor: amount, Currency: currency,
	}
}

// refundEv is a payment.refunded event.
func refundEv(id, city, currency string, amount int64, when time.Time) events.Event {
	return events.Event{
		ID: id, Type: events.PaymentRefunded, OccurredAt: when,
		PaymentID: "pay-" + id, City: city, AmountMinor: amount, Currency: currency,
	}
}

// unknownEv is an event of a type tally does not know.
func unknownEv(id string, when time.Time) events.Event {
	return events.Event{ID: id, Type: "car.renamed", OccurredAt: when, Seq: 9, City: "paris"}
}
