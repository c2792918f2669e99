package oracle

import (
	"cmp"
	"slices"
	"time"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
)

// DayLayout is the form of the Day fields: a local calendar date.
const DayLayout = "2006-01-02"

// CityStatus identifies a tally.bookings_by_status row.
type CityStatus struct{ City, Status string }

// RevenueKey identifies a tally.daily_revenue row.
type RevenueKey struct{ Day, City, Currency string }

// Revenue is a tally.daily_revenue row; net is Gross - Refunded.
type Revenue struct{ Gross, Refunded, Payments, Refunds int64 }

// DayCity identifies a tally.daily_bookings row.
type DayCity struct{ Day, City string }

// DailyBookings is a tally.daily_bookings row.
type DailyBookings struct{ Confirmed, Started, Ended, Cancelled int64 }

// Overdue is a tally.overdue_bookings row.
type Overdue struct {
	Bookings int64
	Oldest   time.Time
}

// Counters are the values of tally's counter views. A missing entry reads as
// zero; Recompute leaves zero entries out.
type Counters struct {
	ActiveCars       map[string]int64 // city -> cars
	BookingsByStatus map[CityStatus]int64
	DailyRevenue     map[RevenueKey]Revenue
	DailyBookings    map[DayCity]DailyBookings
	Overdue          map[string]Overdue // city -> overdue bookings
}

// New returns empty Counters.
func New() Counters {
	return Counters{
		ActiveCars:       map[string]int64{},
		BookingsByStatus: map[CityStatus]int64{},
		DailyRevenue:     map[RevenueKey]Revenue{},
		DailyBookings:    map[DayCity]DailyBookings{},
		Overdue:          map[string]Overdue{},
	}
}

// Car is a car's state: the city and status of its greatest-key event.
type Car struct{ City, Status string }

// Booking is a booking's state: car, city and status from its greatest-key
// event, StartAt from its greatest-key confirmation (zero when it has none).
type Booking struct {
	CarID, City, Status string
	StartAt             time.Time
}

// Recompute returns the counters that evs yield: the first copy of each id
// counts, unknown types are ignored, entities are as Entities returns them,
// and daily views count every event by its own city and local day. A
// booking is overdue when it is still confirmed and its start is more than
// grace before now.
func Recompute(evs []events.Event, zones aggregator.Zones, now time.Time, grace time.Duration) Counters {
	c := New()
	for _, e := range firstCopies(evs) {
		switch e.Type {
		case events.BookingConfirmed, events.BookingStarted, events.BookingEnded, events.BookingCancelled:
			c.countBooking(e, day(zones, e))
		case events.PaymentCaptured, events.PaymentRefunded:
			c.countMoney(e, day(zones, e))
		}
	}
	cars, bookings := Entities(evs)
	for _, car := range cars {
		if car.Status == "active" {
			c.ActiveCars[car.City]++
		}
	}
	for _, b := range bookings {
		c.BookingsByStatus[CityStatus{b.City, b.Status}]++
		if b.Status == "confirmed" && b.StartAt.Before(now.Add(-grace)) {
			c.countOverdue(b)
		}
	}
	return c
}

// Entities returns the state of every car and booking that evs touch, by
// id, the first copy of each event id counting.
func Entities(evs []events.Event) (map[string]Car, map[string]Booking) {
	carEvs := map[string][]events.Event{}
	bookingEvs := map[string][]events.Event{}
	for _, e := range firstCopies(evs) {
		switch e.Type {
		case events.CarStatusChanged:
			carEvs[e.CarID] = append(carEvs[e.CarID], e)
		case events.BookingConfirmed, events.BookingStarted, events.BookingEnded, events.BookingCancelled:
			bookingEvs[e.BookingID] = append(bookingEvs[e.BookingID], e)
		}
	}
	cars := map[string]Car{}
	for id, evs := range carEvs {
		last := latest(evs)
		cars[id] = Car{City: last.City, Status: last.Status}
	}
	bookings := map[string]Booking{}
	for id, evs := range bookingEvs {
		last := latest(evs)
		b := Booking{CarID: last.CarID, City: last.City, Status: statusOf[last.Type]}
		if confs := confirmations(evs); len(confs) > 0 {
			b.StartAt = latest(confs).StartAt
		}
		bookings[id] = b
	}
	return cars, bookings
}

// firstCopies returns evs without the later copies of an id.
func firstCopies(evs []events.Event) []events.Event {
	seen := map[string]bool{}
	var out []events.Event
	for _, e := range evs {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

// day is the local date of e in its city's zone.
func day(zones aggregator.Zones, e events.Event) string {
	return e.OccurredAt.In(zones.Location(e.City)).Format(DayLayout)
}

// latest returns the event with the greatest key: seq (absent is 0), then
// the instant to the microsecond, then the id's bytes.
func latest(evs []events.Event) events.Event {
	sorted := slices.Clone(evs)
	slices.SortFunc(sorted, func(a, b events.Event) int {
		return cmp.Or(
			cmp.Compare(a.Seq, b.Seq),
			cmp.Compare(a.OccurredAt.UnixMicro(), b.OccurredAt.UnixMicro()),
			cmp.Compare(a.ID, b.ID),
		)
	})
	return sorted[len(sorted)-1]
}

func confirmations(evs []events.Event) []events.Event {
	var out []events.Event
	for _, e := range evs {
		if e.Type == events.BookingConfirmed {
			out = append(out, e)
		}
	}
	return out
}

var statusOf = map[events.Type]string{
	events.BookingConfirmed: "confirmed",
	events.BookingStarted:   "ongoing",
	events.BookingEnded:     "ended",
	events.BookingCancelled: "cancelled",
}

func (c Counters) countOverdue(b Booking) {
	o := c.Overdue[b.City]
	if o.Bookings == 0 || b.StartAt.Before(o.Oldest) {
		o.Oldest = b.StartAt
	}
	o.Bookings++
	c.Overdue[b.City] = o
}

func (c Counters) countBooking(e events.Event, d string) {
	k := DayCity{d, e.City}
	row := c.DailyBookings[k]
	switch e.Type {
	case events.BookingConfirmed:
		row.Confirmed++
	case events.BookingStarted:
		row.Started++
	case events.BookingEnded:
		row.Ended++
	case events.BookingCancelled:
		row.Cancelled++
	}
	c.DailyBookings[k] = row
}

func (c Counters) countMoney(e events.Event, d string) {
	k := RevenueKey{d, e.City, e.Currency}
	row := c.DailyRevenue[k]
	if e.Type == events.PaymentCaptured {
		row.Gross += e.AmountMinor
		row.Payments++
	} else {
		row.Refunded += e.AmountMinor
		row.Refunds++
	}
	c.DailyRevenue[k] = row
}
