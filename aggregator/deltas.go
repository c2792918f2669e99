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
}

// Empty reports whether the deltas change no counter.
func (d Deltas) Empty() bool {
	return len(d.ActiveCars)+len(d.BookingsByStatus)+len(d.DailyRevenue)+len(d.DailyBookings) == 0
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

func compareRevenue(a, b DailyRevenue) int {
	return cmp.Or(a.Day.Compare(b.Day), cmp.Compare(a.City, b.City), cmp.Compare(a.Currency, b.Currency))
}

func compareDaily(a, b DailyBookings) int {
	return cmp.Or(a.Day.Compare(b.Day), cmp.Compare(a.City, b.City))
}
