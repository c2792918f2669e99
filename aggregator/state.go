package aggregator

import (
	"time"

	"github.com/tallyhq/tally/events"
)

// CarState is a car's state: the attributes of its greatest-key event.
// The zero value is a car tally has not seen.
type CarState struct {
	ID     string
	City   string
	Status string
	Key    events.Key
}

// Exists reports whether any event of the car has been applied.
func (c CarState) Exists() bool { return !c.Key.IsZero() }

// Active reports whether the car counts in active_cars.
func (c CarState) Active() bool { return c.Status == events.CarActive }

// BookingState is a booking's state: status, car and city from its
// greatest-key event, StartAt from its greatest-key booking.confirmed event
// whatever the order they arrived in.
type BookingState struct {
	ID       string
	CarID    string
	City     string
	Status   string
	Key      events.Key
	StartAt  time.Time  // zero until a booking.confirmed is applied
	StartKey events.Key // key of the booking.confirmed that set StartAt
}

// Exists reports whether any event of the booking has been applied.
func (b BookingState) Exists() bool { return !b.Key.IsZero() }

// Pending reports whether the booking counts in ConfirmedStarts: still
// confirmed, with a start.
func (b BookingState) Pending() bool {
	return b.Status == events.StatusConfirmed && !b.StartAt.IsZero()
}

// applyCar moves a car's state to e when e sorts after the current state.
func applyCar(s CarState, e *events.Event) CarState {
	if !s.Key.Less(e.Key()) {
		return s
	}
	s.City, s.Status, s.Key = e.City, e.Status, e.Key()
	return s
}

// applyBooking moves a booking's state to e when e sorts after it; a
// booking.confirmed sets StartAt when it is the greatest confirmation.
func applyBooking(s BookingState, e *events.Event) BookingState {
	k := e.Key()
	if e.Type == events.BookingConfirmed && s.StartKey.Less(k) {
		s.StartAt, s.StartKey = e.StartAt, k
	}
	if s.Key.Less(k) {
		s.CarID, s.City, s.Status, s.Key = e.CarID, e.City, e.Type.BookingStatus(), k
	}
	return s
}
