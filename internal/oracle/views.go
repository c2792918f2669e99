package oracle

import "github.com/tallyhq/tally/store"

// FromViews turns the rows of the contract's views into Counters, leaving out rows that
// dropped to zero (a missing row reads as zero).
func FromViews(v store.Views) Counters {
	c := New()
	for _, r := range v.ActiveCars {
		if r.Cars != 0 {
			c.ActiveCars[r.City] = r.Cars
		}
	}
	for _, r := range v.BookingsByStatus {
		if r.Bookings != 0 {
			c.BookingsByStatus[CityStatus{City: r.City, Status: r.Status}] = r.Bookings
		}
	}
	for _, r := range v.DailyRevenue {
		rev := Revenue{Gross: r.GrossMinor, Refunded: r.RefundedMinor, Payments: r.Payments, Refunds: r.Refunds}
		if rev != (Revenue{}) {
			c.DailyRevenue[RevenueKey{Day: r.Day.Format(DayLayout), City: r.City, Currency: r.Currency}] = rev
		}
	}
	for _, r := range v.DailyBookings {
		d := DailyBookings{Confirmed: r.Confirmed, Started: r.Started, Ended: r.Ended, Cancelled: r.Cancelled}
		if d != (DailyBookings{}) {
			c.DailyBookings[DayCity{Day: r.Day.Format(DayLayout), City: r.City}] = d
		}
	}
	for _, r := range v.OverdueBookings {
		c.Overdue[r.City] = Overdue{Bookings: r.Bookings, Oldest: r.OldestStartAt.UTC()}
	}
	return c
}
