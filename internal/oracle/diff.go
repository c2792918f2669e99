package oracle

import (
	"fmt"
	"slices"
	"time"

	"github.com/tallyhq/tally/aggregator"
)

// Diff lists every difference between c (what was observed) and want, one
// line per row, sorted; it is empty when they are equal. A missing row and a
// row of zeros are equal, as in the views.
func (c Counters) Diff(want Counters) []string {
	var out []string
	out = append(out, diffMap("active_cars", c.ActiveCars, want.ActiveCars,
		func(city string) string { return "city=" + city },
		func(n int64) string { return fmt.Sprintf("cars=%d", n) })...)
	out = append(out, diffMap("bookings_by_status", c.BookingsByStatus, want.BookingsByStatus,
		func(k CityStatus) string { return "city=" + k.City + " status=" + k.Status },
		func(n int64) string { return fmt.Sprintf("bookings=%d", n) })...)
	out = append(out, diffMap("daily_revenue", c.DailyRevenue, want.DailyRevenue,
		func(k RevenueKey) string { return "day=" + k.Day + " city=" + k.City + " currency=" + k.Currency },
		func(r Revenue) string {
			return fmt.Sprintf("gross=%d refunded=%d net=%d payments=%d refunds=%d",
				r.Gross, r.Refunded, r.Gross-r.Refunded, r.Payments, r.Refunds)
		})...)
	out = append(out, diffMap("daily_bookings", c.DailyBookings, want.DailyBookings,
		func(k DayCity) string { return "day=" + k.Day + " city=" + k.City },
		func(r DailyBookings) string {
			return fmt.Sprintf("confirmed=%d started=%d ended=%d cancelled=%d", r.Confirmed, r.Started, r.Ended, r.Cancelled)
		})...)
	out = append(out, diffMap("overdue_bookings", normalOverdue(c.Overdue), normalOverdue(want.Overdue),
		func(city string) string { return "city=" + city },
		func(o Overdue) string {
			return fmt.Sprintf("bookings=%d oldest=%s", o.Bookings, o.Oldest.Format(time.RFC3339Nano))
		})...)
	return out
}

// diffMap compares two views row by row, a missing row reading as zero.
func diffMap[K comparable, V comparable](view string, got, want map[K]V, key func(K) string, show func(V) string) []string {
	keys := map[K]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if g, w := got[k], want[k]; g != w {
			out = append(out, fmt.Sprintf("%s %s: got %s, want %s", view, key(k), show(g), show(w)))
		}
	}
	slices.Sort(out)
	return out
}

// normalOverdue puts every Oldest in UTC so that rows compare by instant.
func normalOverdue(m map[string]Overdue) map[string]Overdue {
	out := make(map[string]Overdue, len(m))
	for k, o := range m {
		if o.Bookings != 0 || !o.Oldest.IsZero() {
			out[k] = Overdue{Bookings: o.Bookings, Oldest: o.Oldest.UTC()}
		}
	}
	return out
}

// AddDeltas adds a batch's counter deltas to c, as the store adds them to
// the views, and drops the rows that reach zero.
func (c *Counters) AddDeltas(d aggregator.Deltas) {
	c.init()
	for _, r := range d.ActiveCars {
		addRow(c.ActiveCars, r.City, func(n int64) int64 { return n + r.Cars })
	}
	for _, r := range d.BookingsByStatus {
		addRow(c.BookingsByStatus, CityStatus{r.City, r.Status}, func(n int64) int64 { return n + r.Bookings })
	}
	for _, r := range d.DailyRevenue {
		addRow(c.DailyRevenue, RevenueKey{r.Day.Format(DayLayout), r.City, r.Currency}, func(v Revenue) Revenue {
			return Revenue{v.Gross + r.GrossMinor, v.Refunded + r.RefundedMinor, v.Payments + r.Payments, v.Refunds + r.Refunds}
		})
	}
	for _, r := range d.DailyBookings {
		addRow(c.DailyBookings, DayCity{r.Day.Format(DayLayout), r.City}, func(v DailyBookings) DailyBookings {
			return DailyBookings{v.Confirmed + r.Confirmed, v.Started + r.Started, v.Ended + r.Ended, v.Cancelled + r.Cancelled}
		})
	}
}

func addRow[K, V comparable](m map[K]V, k K, add func(V) V) {
	var zero V
	if v := add(m[k]); v != zero {
		m[k] = v
	} else {
		delete(m, k)
	}
}

// init makes the nil maps of c, so that the zero Counters can be added to.
func (c *Counters) init() {
	e := New()
	if c.ActiveCars == nil {
		c.ActiveCars = e.ActiveCars
	}
	if c.BookingsByStatus == nil {
		c.BookingsByStatus = e.BookingsByStatus
	}
	if c.DailyRevenue == nil {
		c.DailyRevenue = e.DailyRevenue
	}
	if c.DailyBookings == nil {
		c.DailyBookings = e.DailyBookings
	}
	if c.Overdue == nil {
		c.Overdue = e.Overdue
	}
}
