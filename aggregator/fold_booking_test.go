package aggregator_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
)

const (
	confirmed = events.BookingConfirmed
	started   = events.BookingStarted
	ended     = events.BookingEnded
	cancelled = events.BookingCancelled
)

func status(city, st string, n int64) aggregator.BookingsByStatus {
	return aggregator.BookingsByStatus{City: city, Status: st, Bookings: n}
}

func priorBookings(states ...aggregator.BookingState) aggregator.Prior {
	p := aggregator.Prior{Bookings: map[string]aggregator.BookingState{}}
	for _, s := range states {
		p.Bookings[s.ID] = s
	}
	return p
}

// bookingAfter folds evs onto an empty prior and returns the one booking.
func bookingAfter(t *testing.T, evs ...events.Event) aggregator.BookingState {
	t.Helper()
	res := fold(t, aggregator.Prior{}, evs...)
	require.Len(t, res.Bookings, 1)
	return res.Bookings[0]
}

func TestFoldBookingLifecycle(t *testing.T) {
	t.Parallel()
	conf := bookingEv("b1", confirmed, "bk-1", "paris", 1, at(0))
	start := bookingEv("b2", started, "bk-1", "paris", 2, at(time.Hour))
	end := bookingEv("b3", ended, "bk-1", "paris", 3, at(2*time.Hour))
	cancel := bookingEv("b3", cancelled, "bk-1", "paris", 3, at(2*time.Hour))

	res := fold(t, aggregator.Prior{}, conf)
	require.Equal(t, []aggregator.BookingsByStatus{status("paris", "confirmed", 1)}, res.Deltas.BookingsByStatus)
	s1 := res.Bookings[0]
	require.Equal(t, aggregator.BookingState{
		ID: "bk-1", CarID: "car-bk-1", City: "paris", Status: "confirmed",
		Key: conf.Key(), StartAt: conf.StartAt, StartKey: conf.Key(),
	}, s1)
	require.True(t, s1.Exists())

	res = fold(t, priorBookings(s1), start)
	require.Equal(t, []aggregator.BookingsByStatus{status("paris", "confirmed", -1), status("paris", "ongoing", 1)},
		res.Deltas.BookingsByStatus)
	s2 := res.Bookings[0]
	require.Equal(t, "ongoing", s2.Status)
	require.Equal(t, conf.StartAt, s2.StartAt, "start_at stays with the confirmation")

	res = fold(t, priorBookings(s2), end)
	require.Equal(t, []aggregator.BookingsByStatus{status("paris", "ended", 1), status("paris", "ongoing", -1)},
		res.Deltas.BookingsByStatus)

	res = fold(t, priorBookings(s1), cancel)
	require.Equal(t, []aggregator.BookingsByStatus{status("paris", "cancelled", 1), status("paris", "confirmed", -1)},
		res.Deltas.BookingsByStatus)

	// The whole lifecycle in one batch, in any order: only the end state.
	for _, batch := range [][]events.Event{{conf, start, end}, {end, start, conf}, {start, end, conf}} {
		res = fold(t, aggregator.Prior{}, batch...)
		require.Equal(t, []aggregator.BookingsByStatus{status("paris", "ended", 1)}, res.Deltas.BookingsByStatus)
		require.Equal(t, []aggregator.DailyBookings{{Day: date(2026, 5, 1), City: "paris", Confirmed: 1, Started: 1, Ended: 1}},
			res.Deltas.DailyBookings)
		require.Equal(t, conf.StartAt, res.Bookings[0].StartAt)
	}
}

func TestFoldBookingCityMove(t *testing.T) {
	t.Parallel()
	s := bookingAfter(t, bookingEv("b1", confirmed, "bk-1", "paris", 1, at(0)))
	res := fold(t, priorBookings(s), bookingEv("b2", confirmed, "bk-1", "lyon", 2, at(time.Hour)))
	require.Equal(t, []aggregator.BookingsByStatus{status("lyon", "confirmed", 1), status("paris", "confirmed", -1)},
		res.Deltas.BookingsByStatus)
	require.Equal(t, []aggregator.DailyBookings{{Day: date(2026, 5, 1), City: "lyon", Confirmed: 1}}, res.Deltas.DailyBookings)
	require.Equal(t, "lyon", res.Bookings[0].City)

	// A re-confirmation in the same city nets to zero: no row.
	res = fold(t, priorBookings(s), bookingEv("b3", confirmed, "bk-1", "paris", 2, at(time.Hour)))
	require.Empty(t, res.Deltas.BookingsByStatus)
	require.Len(t, res.Bookings, 1, "the state changed even though no counter did")
}

func TestFoldOlderBookingEventStillCountsDaily(t *testing.T) {
	t.Parallel()
	cur := bookingAfter(t,
		bookingEv("b1", confirmed, "bk-1", "paris", 1, at(0)),
		bookingEv("b3", ended, "bk-1", "paris", 3, at(2*time.Hour)),
	)
	late := bookingEv("b2", started, "bk-1", "rome", 2, at(26*time.Hour))
	res := fold(t, priorBookings(cur), late)
	require.Empty(t, res.Bookings, "an older event changes no state")
	require.Empty(t, res.Deltas.BookingsByStatus)
	require.Equal(t, []aggregator.DailyBookings{{Day: date(2026, 5, 2), City: "rome", Started: 1}}, res.Deltas.DailyBookings,
		"it counts in the daily view by its own city and day")
	require.Equal(t, 1, res.Applied)
}

func TestFoldStartAtFromGreatestConfirmation(t *testing.T) {
	t.Parallel()
	start1, start2 := at(5*time.Hour), at(7*time.Hour)
	conf1 := confirmedEv("b1", "bk-1", "paris", 1, at(0), start1)
	conf2 := confirmedEv("b2", "bk-1", "paris", 2, at(time.Hour), start2)
	begin := bookingEv("b3", started, "bk-1", "paris", 3, at(2*time.Hour))

	orders := [][]events.Event{
		{conf1, conf2, begin}, {begin, conf2, conf1}, {conf2, begin, conf1}, {begin, conf1, conf2},
	}
	for _, order := range orders {
		// In one batch.
		s := bookingAfter(t, order...)
		require.Equal(t, start2, s.StartAt)
		require.Equal(t, conf2.Key(), s.StartKey)
		require.Equal(t, "ongoing", s.Status)
		require.Equal(t, begin.Key(), s.Key)
		// One event per batch, each folded onto the state the last left.
		var prior aggregator.Prior
		for _, e := range order {
			if res := fold(t, prior, e); len(res.Bookings) > 0 {
				prior = priorBookings(res.Bookings[0])
			}
		}
		require.Equal(t, s, prior.Bookings["bk-1"])
	}
}

func TestFoldStartedBeforeConfirmed(t *testing.T) {
	t.Parallel()
	begin := bookingEv("b2", started, "bk-1", "paris", 2, at(time.Hour))
	s := bookingAfter(t, begin)
	require.Equal(t, "ongoing", s.Status)
	require.True(t, s.StartAt.IsZero())
	require.True(t, s.StartKey.IsZero())

	conf := confirmedEv("b1", "bk-1", "paris", 1, at(0), at(30*time.Minute))
	res := fold(t, priorBookings(s), conf)
	require.Empty(t, res.Deltas.BookingsByStatus, "status stays ongoing")
	require.Equal(t, []aggregator.DailyBookings{{Day: date(2026, 5, 1), City: "paris", Confirmed: 1}}, res.Deltas.DailyBookings)
	require.Len(t, res.Bookings, 1)
	got := res.Bookings[0]
	require.Equal(t, "ongoing", got.Status)
	require.Equal(t, begin.Key(), got.Key)
	require.Equal(t, at(30*time.Minute), got.StartAt, "start_at comes from the confirmation whatever the order")
	require.Equal(t, conf.Key(), got.StartKey)
}

func TestFoldBookingPriorHonoured(t *testing.T) {
	t.Parallel()
	// A prior confirmed booking in paris, with the key of seq 5.
	prior := aggregator.BookingState{
		ID: "bk-1", CarID: "car-1", City: "paris", Status: "confirmed",
		Key: events.Key{Seq: 5, At: at(0), ID: "x5"}, StartAt: at(time.Hour), StartKey: events.Key{Seq: 5, At: at(0), ID: "x5"},
	}
	older := confirmedEv("b4", "bk-1", "rome", 4, at(10*time.Hour), at(20*time.Hour))
	res := fold(t, priorBookings(prior), older)
	require.Empty(t, res.Bookings, "an older confirmation sets neither status nor start_at")

	newer := bookingEv("b6", cancelled, "bk-1", "rome", 6, at(-time.Hour))
	res = fold(t, priorBookings(prior), newer, older)
	require.Equal(t, []aggregator.BookingsByStatus{status("paris", "confirmed", -1), status("rome", "cancelled", 1)},
		res.Deltas.BookingsByStatus)
	require.Equal(t, at(time.Hour), res.Bookings[0].StartAt)
}

func TestFoldDailyBookings(t *testing.T) {
	t.Parallel()
	z, err := aggregator.ParseZones("Europe/Paris", "nyc=America/New_York")
	require.NoError(t, err)
	evs := []events.Event{
		bookingEv("b1", confirmed, "bk-1", "paris", 0, utc("2026-03-28T22:59:59Z")), // 28th in Paris
		bookingEv("b2", confirmed, "bk-2", "paris", 0, utc("2026-03-28T23:00:00Z")), // 29th
		bookingEv("b3", started, "bk-1", "paris", 0, utc("2026-03-29T21:59:59Z")),   // 29th, a 23-hour day
		bookingEv("b4", ended, "bk-1", "paris", 0, utc("2026-03-29T22:00:00Z")),     // 30th
		bookingEv("b5", cancelled, "bk-3", "nyc", 0, utc("2026-03-29T03:59:59Z")),   // 28th in New York
		bookingEv("b6", cancelled, "bk-4", "nyc", 0, utc("2026-03-29T04:00:00Z")),   // 29th
		bookingEv("b7", cancelled, "bk-5", "nyc", 0, utc("2026-03-29T05:00:00Z")),   // 29th
	}
	res, err := aggregator.Fold(aggregator.Prior{}, evs, z)
	require.NoError(t, err)
	require.Equal(t, []aggregator.DailyBookings{
		{Day: date(2026, 3, 28), City: "nyc", Cancelled: 1},
		{Day: date(2026, 3, 28), City: "paris", Confirmed: 1},
		{Day: date(2026, 3, 29), City: "nyc", Cancelled: 2},
		{Day: date(2026, 3, 29), City: "paris", Confirmed: 1, Started: 1},
		{Day: date(2026, 3, 30), City: "paris", Ended: 1},
	}, res.Deltas.DailyBookings)
}
