package aggregator_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
)

func TestFoldRevenue(t *testing.T) {
	t.Parallel()
	z, err := aggregator.ParseZones("UTC", "jakarta=Asia/Jakarta")
	require.NoError(t, err)
	evs := []events.Event{
		payEv("p1", "paris", "EUR", 1000, utc("2026-05-01T10:00:00Z")),
		payEv("p2", "paris", "EUR", 250, utc("2026-05-01T23:59:59.999999Z")),
		refundEv("r1", "paris", "EUR", 100, utc("2026-05-01T12:00:00Z")),
		refundEv("r2", "paris", "EUR", 100, utc("2026-05-01T13:00:00Z")), // a second partial refund counts too
		payEv("p3", "paris", "USD", 700, utc("2026-05-01T10:00:00Z")),
		payEv("p4", "paris", "EUR", 5, utc("2026-05-02T00:00:00Z")),
		refundEv("r3", "jakarta", "IDR", 50000, utc("2026-05-01T16:59:59Z")), // the 1st in Jakarta
		payEv("p5", "jakarta", "IDR", 90000, utc("2026-05-01T17:00:00Z")),    // the 2nd in Jakarta
	}
	res, err := aggregator.Fold(aggregator.Prior{}, evs, z)
	require.NoError(t, err)
	require.Equal(t, []aggregator.DailyRevenue{
		{Day: date(2026, 5, 1), City: "jakarta", Currency: "IDR", RefundedMinor: 50000, Refunds: 1},
		{Day: date(2026, 5, 1), City: "paris", Currency: "EUR", GrossMinor: 1250, RefundedMinor: 200, Payments: 2, Refunds: 2},
		{Day: date(2026, 5, 1), City: "paris", Currency: "USD", GrossMinor: 700, Payments: 1},
		{Day: date(2026, 5, 2), City: "jakarta", Currency: "IDR", GrossMinor: 90000, Payments: 1},
		{Day: date(2026, 5, 2), City: "paris", Currency: "EUR", GrossMinor: 5, Payments: 1},
	}, res.Deltas.DailyRevenue)
	require.Empty(t, res.Cars)
	require.Empty(t, res.Bookings)
	require.Empty(t, res.Deltas.DailyBookings)
	require.Equal(t, 8, res.Applied)
}

func TestFoldDeltasSortedAndCoalesced(t *testing.T) {
	t.Parallel()
	prior := aggregator.Prior{
		Cars: map[string]aggregator.CarState{
			"car-z": carState(carEv("c0", "car-z", "zurich", active, 1, at(0))),
			"car-y": carState(carEv("c1", "car-y", "amsterdam", active, 1, at(0))),
		},
		Bookings: map[string]aggregator.BookingState{},
	}
	evs := []events.Event{
		payEv("p1", "rome", "EUR", 1, at(0)),
		carEv("c2", "car-z", "zurich", maintenance, 2, at(time.Hour)), // zurich -1
		carEv("c3", "car-a", "berlin", active, 0, at(0)),              // berlin +1
		carEv("c4", "car-y", "amsterdam", retired, 2, at(time.Hour)),  // amsterdam -1 ...
		carEv("c5", "car-x", "amsterdam", active, 0, at(0)),           // ... +1: no row
		bookingEv("b1", confirmed, "bk-2", "rome", 0, at(0)),
		payEv("p2", "amsterdam", "EUR", 1, at(0)),
		payEv("p3", "rome", "EUR", 2, at(-24*time.Hour)),
		payEv("p4", "rome", "CHF", 3, at(0)),
		payEv("p5", "rome", "EUR", 4, at(0)),
		bookingEv("b2", confirmed, "bk-1", "berlin", 0, at(0)),
		bookingEv("b3", cancelled, "bk-3", "berlin", 0, at(-24*time.Hour)),
		bookingEv("b4", started, "bk-4", "amsterdam", 0, at(0)),
	}
	res := fold(t, prior, evs...)
	d := res.Deltas
	require.Equal(t, []aggregator.ActiveCars{{City: "berlin", Cars: 1}, {City: "zurich", Cars: -1}}, d.ActiveCars)
	require.Equal(t, []aggregator.BookingsByStatus{
		status("amsterdam", "ongoing", 1), status("berlin", "cancelled", 1),
		status("berlin", "confirmed", 1), status("rome", "confirmed", 1),
	}, d.BookingsByStatus)
	require.Equal(t, []aggregator.DailyRevenue{
		{Day: date(2026, 4, 30), City: "rome", Currency: "EUR", GrossMinor: 2, Payments: 1},
		{Day: date(2026, 5, 1), City: "amsterdam", Currency: "EUR", GrossMinor: 1, Payments: 1},
		{Day: date(2026, 5, 1), City: "rome", Currency: "CHF", GrossMinor: 3, Payments: 1},
		{Day: date(2026, 5, 1), City: "rome", Currency: "EUR", GrossMinor: 5, Payments: 2},
	}, d.DailyRevenue)
	require.Equal(t, []aggregator.DailyBookings{
		{Day: date(2026, 4, 30), City: "berlin", Cancelled: 1},
		{Day: date(2026, 5, 1), City: "amsterdam", Started: 1},
		{Day: date(2026, 5, 1), City: "berlin", Confirmed: 1},
		{Day: date(2026, 5, 1), City: "rome", Confirmed: 1},
	}, d.DailyBookings)
	require.False(t, d.Empty())

	ids := func(cs []aggregator.CarState) (out []string) {
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	require.Equal(t, []string{"car-a", "car-x", "car-y", "car-z"}, ids(res.Cars))
	var bids []string
	for _, b := range res.Bookings {
		bids = append(bids, b.ID)
	}
	require.Equal(t, []string{"bk-1", "bk-2", "bk-3", "bk-4"}, bids)
}

func TestDeltasEmpty(t *testing.T) {
	t.Parallel()
	require.True(t, aggregator.Deltas{}.Empty())
	require.False(t, aggregator.Deltas{ActiveCars: []aggregator.ActiveCars{{City: "x", Cars: 1}}}.Empty())
	require.False(t, aggregator.Deltas{DailyRevenue: []aggregator.DailyRevenue{{City: "x"}}}.Empty())
}
