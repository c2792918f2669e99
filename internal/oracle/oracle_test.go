package oracle_test

import (
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/oracle"
)

var t0 = time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func car(id, carID, city, status string, seq int64, when time.Time) events.Event {
	return events.Event{ID: id, Type: events.CarStatusChanged, OccurredAt: when, Seq: seq, CarID: carID, City: city, Status: status}
}

func booking(id string, typ events.Type, bookingID, city string, seq int64, when time.Time) events.Event {
	e := events.Event{ID: id, Type: typ, OccurredAt: when, Seq: seq, BookingID: bookingID, CarID: "car-1", City: city}
	if typ == events.BookingConfirmed {
		e.StartAt, e.EndAt = when.Add(time.Hour), when.Add(2*time.Hour)
	}
	return e
}

func money(id string, typ events.Type, city, currency string, amount int64, when time.Time) events.Event {
	return events.Event{ID: id, Type: typ, OccurredAt: when, PaymentID: "p", BookingID: "b", City: city, AmountMinor: amount, Currency: currency}
}

func TestRecompute(t *testing.T) {
	t.Parallel()
	zones, err := aggregator.ParseZones("Europe/Paris", "nyc=America/New_York")
	require.NoError(t, err)
	lateConf := booking("b5", events.BookingConfirmed, "bk-2", "nyc", 1, at(0))
	lateConf.StartAt = at(-3 * time.Hour)
	evs := []events.Event{
		car("c1", "car-1", "paris", "active", 1, at(0)),
		car("c2", "car-1", "paris", "maintenance", 2, at(-time.Hour)), // seq wins over time
		car("c3", "car-2", "paris", "active", 0, at(0)),
		car("c4", "car-3", "nyc", "active", 0, at(0)),
		car("c4", "car-3", "nyc", "retired", 0, at(time.Hour)), // a later copy of c4: ignored
		booking("b1", events.BookingConfirmed, "bk-1", "paris", 0, at(0)),
		booking("b2", events.BookingStarted, "bk-1", "paris", 0, at(time.Hour)),
		booking("b3", events.BookingConfirmed, "bk-2", "nyc", 0, at(0)),
		booking("b4", events.BookingConfirmed, "bk-3", "nyc", 0, at(10*time.Hour)),
		lateConf, // seq 1: bk-2's greatest confirmation, starting 3h before t0
		money("p1", events.PaymentCaptured, "paris", "EUR", 100, utc("2026-03-28T22:59:59Z")),
		money("p2", events.PaymentCaptured, "paris", "EUR", 50, utc("2026-03-28T23:00:00Z")),
		money("r1", events.PaymentRefunded, "paris", "EUR", 20, utc("2026-03-28T23:30:00Z")),
		money("r2", events.PaymentRefunded, "paris", "EUR", 20, utc("2026-03-28T23:45:00Z")),
		money("p3", events.PaymentCaptured, "nyc", "USD", 7, utc("2026-03-29T03:59:59Z")),
		{ID: "u1", Type: "car.renamed", OccurredAt: at(0), CarID: "car-2", City: "paris", Status: "retired"},
	}
	now, grace := at(time.Hour), 15*time.Minute
	got := oracle.Recompute(evs, zones, now, grace)
	want := oracle.Counters{
		ActiveCars: map[string]int64{"paris": 1, "nyc": 1},
		BookingsByStatus: map[oracle.CityStatus]int64{
			{City: "paris", Status: "ongoing"}: 1, {City: "nyc", Status: "confirmed"}: 2,
		},
		DailyRevenue: map[oracle.RevenueKey]oracle.Revenue{
			{Day: "2026-03-28", City: "paris", Currency: "EUR"}: {Gross: 100, Payments: 1},
			{Day: "2026-03-29", City: "paris", Currency: "EUR"}: {Gross: 50, Refunded: 40, Payments: 1, Refunds: 2},
			{Day: "2026-03-28", City: "nyc", Currency: "USD"}:   {Gross: 7, Payments: 1},
		},
		DailyBookings: map[oracle.DayCity]oracle.DailyBookings{
			{Day: "2026-03-28", City: "paris"}: {Confirmed: 1, Started: 1},
			{Day: "2026-03-28", City: "nyc"}:   {Confirmed: 3},
		},
		Overdue: map[string]oracle.Overdue{"nyc": {Bookings: 1, Oldest: at(-3 * time.Hour)}},
	}
	require.Empty(t, got.Diff(want))
	require.Equal(t, want, got)

	cars, bookings := oracle.Entities(evs)
	require.Equal(t, map[string]oracle.Car{
		"car-1": {City: "paris", Status: "maintenance"}, "car-2": {City: "paris", Status: "active"},
		"car-3": {City: "nyc", Status: "active"},
	}, cars)
	require.Equal(t, oracle.Booking{CarID: "car-1", City: "nyc", Status: "confirmed", StartAt: at(-3 * time.Hour)}, bookings["bk-2"])
	require.Equal(t, at(time.Hour), bookings["bk-1"].StartAt)
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestRecomputeOverdueBoundary(t *testing.T) {
	t.Parallel()
	conf := func(id string, start time.Time) events.Event {
		e := booking(id, events.BookingConfirmed, id, "paris", 0, at(-48*time.Hour))
		e.StartAt = start
		return e
	}
	now, grace := at(0), 15*time.Minute
	evs := []events.Event{
		conf("bk-1", at(-15*time.Minute)),                  // exactly the grace: not yet
		conf("bk-2", at(-15*time.Minute-time.Microsecond)), // just over
		conf("bk-3", at(-time.Hour)),
		conf("bk-4", at(-2*time.Hour)),
		booking("s4", events.BookingStarted, "bk-4", "paris", 0, at(-time.Hour)), // started: not overdue
	}
	got := oracle.Recompute(evs, aggregator.UTC, now, grace)
	require.Equal(t, map[string]oracle.Overdue{"paris": {Bookings: 2, Oldest: at(-time.Hour)}}, got.Overdue)
	require.Empty(t, oracle.Recompute(evs, aggregator.UTC, now, 3*time.Hour).Overdue)
}

func TestRecomputeFirstCopyWins(t *testing.T) {
	t.Parallel()
	a := money("p1", events.PaymentCaptured, "paris", "EUR", 100, at(0))
	b := money("p1", events.PaymentCaptured, "rome", "USD", 999, at(48*time.Hour))
	got := oracle.Recompute([]events.Event{a, b, a}, aggregator.UTC, at(0), 0)
	require.Equal(t, map[oracle.RevenueKey]oracle.Revenue{
		{Day: "2026-03-28", City: "paris", Currency: "EUR"}: {Gross: 100, Payments: 1},
	}, got.DailyRevenue)
	got = oracle.Recompute([]events.Event{b, a}, aggregator.UTC, at(0), 0)
	require.Equal(t, map[oracle.RevenueKey]oracle.Revenue{
		{Day: "2026-03-30", City: "rome", Currency: "USD"}: {Gross: 999, Payments: 1},
	}, got.DailyRevenue)
}

func TestRecomputeEmpty(t *testing.T) {
	t.Parallel()
	got := oracle.Recompute(nil, aggregator.UTC, at(0), 0)
	require.Equal(t, oracle.New(), got)
	require.Empty(t, got.Diff(oracle.Counters{}))
}

func TestDiff(t *testing.T) {
	t.Parallel()
	a := oracle.New()
	a.ActiveCars["paris"] = 2
	a.ActiveCars["rome"] = 0 // a row at zero reads like a missing one
	a.DailyRevenue[oracle.RevenueKey{Day: "2026-03-28", City: "paris", Currency: "EUR"}] = oracle.Revenue{Gross: 10, Refunded: 3, Payments: 1, Refunds: 1}
	a.Overdue["paris"] = oracle.Overdue{Bookings: 1, Oldest: at(0).In(time.FixedZone("", 3600))}
	b := oracle.Counters{
		ActiveCars:       map[string]int64{"paris": 3},
		BookingsByStatus: map[oracle.CityStatus]int64{{City: "paris", Status: "ended"}: 1},
		Overdue:          map[string]oracle.Overdue{"paris": {Bookings: 1, Oldest: at(0)}},
	}
	require.Equal(t, []string{
		"active_cars city=paris: got cars=2, want cars=3",
		"bookings_by_status city=paris status=ended: got bookings=0, want bookings=1",
		"daily_revenue day=2026-03-28 city=paris currency=EUR: got gross=10 refunded=3 net=7 payments=1 refunds=1, " +
			"want gross=0 refunded=0 net=0 payments=0 refunds=0",
	}, a.Diff(b))
	require.Empty(t, a.Diff(a))
	b.Overdue["paris"] = oracle.Overdue{Bookings: 1, Oldest: at(time.Second)}
	require.Contains(t, a.Diff(b), "overdue_bookings city=paris: got bookings=1 oldest=2026-03-28T12:00:00Z, "+
		"want bookings=1 oldest=2026-03-28T12:00:01Z")
}

func TestAddDeltas(t *testing.T) {
	t.Parallel()
	var c oracle.Counters
	day := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	c.AddDeltas(aggregator.Deltas{
		ActiveCars:       []aggregator.ActiveCars{{City: "paris", Cars: 2}, {City: "rome", Cars: 1}},
		BookingsByStatus: []aggregator.BookingsByStatus{{City: "paris", Status: "confirmed", Bookings: 1}},
		DailyRevenue:     []aggregator.DailyRevenue{{Day: day, City: "paris", Currency: "EUR", GrossMinor: 5, Payments: 1}},
		DailyBookings:    []aggregator.DailyBookings{{Day: day, City: "paris", Confirmed: 1}},
	})
	c.AddDeltas(aggregator.Deltas{
		ActiveCars:       []aggregator.ActiveCars{{City: "rome", Cars: -1}},
		BookingsByStatus: []aggregator.BookingsByStatus{{City: "paris", Status: "confirmed", Bookings: -1}},
		DailyRevenue:     []aggregator.DailyRevenue{{Day: day, City: "paris", Currency: "EUR", RefundedMinor: 2, Refunds: 1}},
	})
	require.Equal(t, map[string]int64{"paris": 2}, c.ActiveCars, "rows that reach zero are dropped")
	require.Empty(t, c.BookingsByStatus)
	require.Equal(t, map[oracle.RevenueKey]oracle.Revenue{
		{Day: "2026-03-29", City: "paris", Currency: "EUR"}: {Gross: 5, Refunded: 2, Payments: 1, Refunds: 1},
	}, c.DailyRevenue)
	require.Equal(t, map[oracle.DayCity]oracle.DailyBookings{{Day: "2026-03-29", City: "paris"}: {Confirmed: 1}}, c.DailyBookings)
}
