package aggregator

import (
	"cmp"
	"time"
)

// Deltas are the changes a batch makes to the counters: one entry per row,
// sorted by key, zero rows dropped. Writers apply them in this order so that
// concurrent workers lock rows in one global order.
type Deltas struct {
	ActiveCars       []ActiveCars
	BookingsByStatus []BookingsByStatus
	DailyRevenue     []DailyRevenue
	DailyBookings    []DailyBookings
	ConfirmedStarts  []ConfirmedStarts
}

// Empty reports whether the deltas change no counter.
func (d Deltas) Empty() bool {
	return len(d.ActiveCars)+len(d.BookingsByStatus)+len(d.DailyRevenue)+len(d.DailyBookings)+len(d.ConfirmedStarts) == 0
}

// ActiveCars is a change to tally.active_cars.
type ActiveCars struct {
	City string
	Cars int64
}

// BookingsByStatus is a change to tally.bookings_by_status.
type BookingsByStatus struct {
	City     string
	Status   string
	Bookings int64
}

// DailyRevenue is a change to tally.daily_revenue. Day is the local date
// as midnight UTC.
type DailyRevenue struct {
	Day           time.Time
	City          string
	Currency      string
	GrossMinor    int64
	RefundedMinor int64
	Payments      int64
	Refunds       int64
}

// DailyBookings is a change to tally.daily_bookings.
type DailyBookings struct {
	Day       time.Time
	City      string
	Confirmed int64
	Started   int64
	Ended     int64
	Cancelled int64
}

// ConfirmedStarts is a change to the count of bookings still confirmed
// whose start falls on Day (a UTC day, as its midnight), by city: what
// tally.overdue_bookings sums for the days before today's, so that it reads
// a row per day instead of a row per booking.
type ConfirmedStarts struct {
	Day      time.Time
	City     string
	Bookings int64
}

// StartDay is the UTC day of a start, as its midnight: the key of
// ConfirmedStarts.
func StartDay(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

func compareRevenue(a, b DailyRevenue) int {
	return cmp.Or(a.Day.Compare(b.Day), cmp.Compare(a.City, b.City), cmp.Compare(a.Currency, b.Currency))
}

func compareDaily(a, b DailyBookings) int {
	return cmp.Or(a.Day.Compare(b.Day), cmp.Compare(a.City, b.City))
}
