package store

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
)

var foldT0 = time.Date(2026, 3, 28, 22, 30, 0, 0, time.UTC)

func foldCar(id, carID, status string, seq int64, at time.Time) events.Event {
	return events.Event{ID: id, Type: events.CarStatusChanged, OccurredAt: at, Seq: seq, CarID: carID, City: "paris", Status: status}
}

func foldPay(id string, amount int64, at time.Time) events.Event {
	return events.Event{ID: id, Type: events.PaymentCaptured, OccurredAt: at, PaymentID: "p" + id, BookingID: "b",
		City: "paris", AmountMinor: amount, Currency: "EUR"}
}

func TestTotalsFoldChunksInAnyOrder(t *testing.T) {
	t.Parallel()
	paris, err := aggregator.ParseZones("Europe/Paris", "")
	require.NoError(t, err)
	evs := []events.Event{
		foldCar("e1", "c1", events.CarActive, 1, foldT0),
		foldCar("e2", "c1", events.CarMaintenance, 2, foldT0.Add(time.Hour)),
		foldCar("e3", "c2", events.CarActive, 0, foldT0),
		foldPay("e4", 100, foldT0),                          // 23:30 in Paris: March 28
		foldPay("e5", 50, foldT0.Add(2*time.Hour)),          // March 29 in Paris
		{ID: "e6", Type: "car.renamed", OccurredAt: foldT0}, // unknown: recorded, ignored
	}
	forward, backward := newTotals(paris), newTotals(paris)
	require.NoError(t, forward.add(evs[:3]))
	require.NoError(t, forward.add(evs[3:]))
	for i := len(evs) - 1; i >= 0; i-- {
		require.NoError(t, backward.add(evs[i:i+1]))
	}
	for _, tt := range []*totals{forward, backward} {
		require.Equal(t, map[string]int64{"paris": 1}, nonZero(tt.counters.active))
		require.Equal(t, events.CarMaintenance, tt.cars["c1"].Status)
		require.EqualValues(t, 5, tt.applied)
		require.EqualValues(t, 1, tt.ignored)
		day28 := dayCity{dayOf(time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC)), "paris"}
		day29 := dayCity{day28.day + 1, "paris"}
		require.Equal(t, map[revenueKey]revenueRow{
			{day28, "EUR"}: {gross: 100, payments: 1},
			{day29, "EUR"}: {gross: 50, payments: 1},
		}, tt.counters.revenue)
	}
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func TestTotalsRefuseToOverflow(t *testing.T) {
	t.Parallel()
	tt := newTotals(aggregator.UTC)
	require.NoError(t, tt.add([]events.Event{foldPay("a", math.MaxInt64-1, foldT0)}))
	require.ErrorIs(t, tt.add([]events.Event{foldPay("b", 2, foldT0)}), errCounterOverflow)
}

func TestOverdueFollowsTheView(t *testing.T) {
	t.Parallel()
	tt := newTotals(aggregator.UTC)
	start := foldT0.Add(time.Hour)
	conf := events.Event{ID: "c", Type: events.BookingConfirmed, OccurredAt: foldT0, BookingID: "b1", CarID: "c1",
		City: "paris", StartAt: start, EndAt: start.Add(time.Hour)}
	require.NoError(t, tt.add([]events.Event{conf}))
	grace := 15 * time.Minute
	require.Empty(t, tt.overdue(start.Add(grace), grace), "start_at must be before now - grace")
	require.Equal(t, map[string]overdueRow{"paris": {bookings: 1, oldest: start}}, tt.overdue(start.Add(grace+time.Second), grace))
}

func TestDiffCountersReadsMissingRowsAsZero(t *testing.T) {
	t.Parallel()
	d1 := dayOf(time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC))
	live, want := newCounterSet(), newCounterSet()
	live.active["paris"] = 0
	live.byStatus[cityStatus{"paris", "ended"}] = 3
	want.byStatus[cityStatus{"paris", "ended"}] = 4
	live.daily[dayCity{d1, "paris"}] = dailyRow{confirmed: 2}
	want.daily[dayCity{d1 + 1, "paris"}] = dailyRow{started: 1}
	diffs := diffCounters(live, want, noSince)
	require.Equal(t, []Difference{
		{Counter: "bookings_by_status", Key: "city=paris status=ended", Field: "bookings", Live: "3", Expected: "4"},
		{Counter: "daily_bookings", Key: "day=2026-03-28 city=paris", Field: "confirmed", Live: "2", Expected: "0"},
		{Counter: "daily_bookings", Key: "day=2026-03-29 city=paris", Field: "started", Live: "0", Expected: "1"},
	}, diffs)
	require.Len(t, diffCounters(live, want, (d1+1).Time()), 2, "days before since are left out")
}

func TestDayKeyRoundTrips(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"0001-01-01", "1969-12-31", "1970-01-01", "2026-03-29", "9999-12-31"} {
		d, err := time.Parse(time.DateOnly, s)
		require.NoError(t, err)
		require.Equal(t, s, dayOf(d).String())
		require.True(t, dayOf(d).Time().Equal(d))
	}
}

func TestRawChunkKeepsBodiesApart(t *testing.T) {
	t.Parallel()
	var c rawChunk
	for _, b := range []string{"a", "", "bcd", "efgh"} {
		c.add([]byte(b))
	}
	var got []string
	c.each(func(b []byte) { got = append(got, string(b)) })
	require.Equal(t, []string{"a", "", "bcd", "efgh"}, got)
	require.Equal(t, 4, c.len())
}
