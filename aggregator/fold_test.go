package aggregator_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
)

const (
	active      = events.CarActive
	maintenance = events.CarMaintenance
	retired     = events.CarRetired
)

func fold(t *testing.T, prior aggregator.Prior, evs ...events.Event) aggregator.Result {
	t.Helper()
	res, err := aggregator.Fold(prior, evs, aggregator.UTC)
	require.NoError(t, err)
	return res
}

// carState is the state a car event leaves.
func carState(e events.Event) aggregator.CarState {
	return aggregator.CarState{ID: e.CarID, City: e.City, Status: e.Status, Key: e.Key()}
}

func priorCars(states ...aggregator.CarState) aggregator.Prior {
	p := aggregator.Prior{Cars: map[string]aggregator.CarState{}}
	for _, s := range states {
		p.Cars[s.ID] = s
	}
	return p
}

func TestFoldCarTransitions(t *testing.T) {
	t.Parallel()
	old := func(city, status string) aggregator.CarState {
		return carState(carEv("e0", "car-1", city, status, 1, at(0)))
	}
	tests := []struct {
		name  string
		prior aggregator.Prior
		ev    events.Event
		want  []aggregator.ActiveCars
	}{
		{"new active car", aggregator.Prior{}, carEv("e1", "car-1", "paris", active, 2, at(time.Hour)),
			[]aggregator.ActiveCars{{City: "paris", Cars: 1}}},
		{"new car in maintenance", aggregator.Prior{}, carEv("e1", "car-1", "paris", maintenance, 2, at(time.Hour)), nil},
		{"active to maintenance", priorCars(old("paris", active)), carEv("e1", "car-1", "paris", maintenance, 2, at(time.Hour)),
			[]aggregator.ActiveCars{{City: "paris", Cars: -1}}},
		{"active to retired", priorCars(old("paris", active)), carEv("e1", "car-1", "paris", retired, 2, at(time.Hour)),
			[]aggregator.ActiveCars{{City: "paris", Cars: -1}}},
		{"maintenance to active", priorCars(old("paris", maintenance)), carEv("e1", "car-1", "paris", active, 2, at(time.Hour)),
			[]aggregator.ActiveCars{{City: "paris", Cars: 1}}},
		{"retired to maintenance", priorCars(old("paris", retired)), carEv("e1", "car-1", "paris", maintenance, 2, at(time.Hour)), nil},
		{"active stays active", priorCars(old("paris", active)), carEv("e1", "car-1", "paris", active, 2, at(time.Hour)), nil},
		{"active moves city", priorCars(old("paris", active)), carEv("e1", "car-1", "berlin", active, 2, at(time.Hour)),
			[]aggregator.ActiveCars{{City: "berlin", Cars: 1}, {City: "paris", Cars: -1}}},
		{"moves city into maintenance", priorCars(old("paris", active)), carEv("e1", "car-1", "berlin", maintenance, 2, at(time.Hour)),
			[]aggregator.ActiveCars{{City: "paris", Cars: -1}}},
		{"maintenance moves city", priorCars(old("paris", maintenance)), carEv("e1", "car-1", "berlin", maintenance, 2, at(time.Hour)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := fold(t, tt.prior, tt.ev)
			require.Equal(t, tt.want, res.Deltas.ActiveCars)
			require.Equal(t, []aggregator.CarState{carState(tt.ev)}, res.Cars)
			require.Empty(t, res.Deltas.BookingsByStatus)
			require.Empty(t, res.Deltas.DailyBookings, "car events have no daily view")
			require.Empty(t, res.Deltas.DailyRevenue)
			require.Equal(t, 1, res.Applied)
		})
	}
}

func TestFoldCarWithinOneBatch(t *testing.T) {
	t.Parallel()
	// Several changes in one batch: only the net move from the prior state
	// counts, whatever the order of the events in the batch.
	prior := priorCars(carState(carEv("e0", "car-1", "paris", active, 1, at(0))))
	evs := []events.Event{
		carEv("e1", "car-1", "berlin", active, 2, at(time.Hour)),
		carEv("e2", "car-1", "rome", maintenance, 3, at(2*time.Hour)),
		carEv("e3", "car-1", "paris", active, 4, at(3*time.Hour)),
		carEv("e4", "car-2", "rome", active, 0, at(time.Hour)),
		carEv("e5", "car-2", "rome", maintenance, 0, at(2*time.Hour)),
	}
	for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 4, 0, 3, 1}} {
		batch := make([]events.Event, 0, len(evs))
		for _, i := range order {
			batch = append(batch, evs[i])
		}
		res := fold(t, prior, batch...)
		require.Empty(t, res.Deltas.ActiveCars, "paris active -> paris active, rome new -> maintenance")
		require.Equal(t, []aggregator.CarState{carState(evs[2]), carState(evs[4])}, res.Cars)
	}
}

func TestFoldOlderCarEventChangesNothing(t *testing.T) {
	t.Parallel()
	cur := carState(carEv("e5", "car-1", "paris", active, 5, at(0)))
	prior := priorCars(cur)
	for _, e := range []events.Event{
		carEv("e4", "car-1", "berlin", maintenance, 4, at(time.Hour)), // lower seq, later time
		carEv("e0", "car-1", "berlin", maintenance, 0, at(time.Hour)), // absent seq counts as 0
		carEv("e4", "car-1", "berlin", maintenance, 5, at(-time.Microsecond)),
		carEv("e4", "car-1", "berlin", maintenance, 5, at(0)), // same seq and instant: "e4" < "e5"
		carEv("E9", "car-1", "berlin", maintenance, 5, at(0)), // ids compare as bytes: "E9" < "e5"
	} {
		res := fold(t, prior, e)
		require.Empty(t, res.Cars, e.ID)
		require.True(t, res.Deltas.Empty(), e.ID)
		require.Equal(t, 1, res.Applied)
	}
	require.Equal(t, map[string]aggregator.CarState{"car-1": cur}, prior.Cars, "Fold leaves the prior alone")
}

func TestFoldKeyTies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		lose, win   events.Event
		winningCity string
	}{
		{"seq beats time", carEv("a", "car-1", "paris", active, 2, at(time.Hour)), carEv("b", "car-1", "rome", active, 3, at(0)), "rome"},
		{"seq beats absent seq", carEv("a", "car-1", "paris", active, 0, at(time.Hour)), carEv("b", "car-1", "rome", active, 1, at(0)), "rome"},
		{"time breaks a seq tie", carEv("b", "car-1", "paris", active, 2, at(0)), carEv("a", "car-1", "rome", active, 2, at(time.Microsecond)), "rome"},
		{"time breaks an absent seq tie", carEv("b", "car-1", "paris", active, 0, at(0)), carEv("a", "car-1", "rome", active, 0, at(time.Second)), "rome"},
		{"id breaks a full tie", carEv("evt-10", "car-1", "paris", active, 2, at(0)), carEv("evt-9", "car-1", "rome", active, 2, at(0)), "rome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, batch := range [][]events.Event{{tt.lose, tt.win}, {tt.win, tt.lose}} {
				res := fold(t, aggregator.Prior{}, batch...)
				require.Equal(t, []aggregator.CarState{carState(tt.win)}, res.Cars)
				require.Equal(t, []aggregator.ActiveCars{{City: tt.winningCity, Cars: 1}}, res.Deltas.ActiveCars)
			}
			// Across batches too: the winner as prior, the loser after it.
			res := fold(t, priorCars(carState(tt.win)), tt.lose)
			require.Empty(t, res.Cars)
			res = fold(t, priorCars(carState(tt.lose)), tt.win)
			require.Equal(t, []aggregator.CarState{carState(tt.win)}, res.Cars)
		})
	}
}

func TestFoldIgnoresUnknownTypes(t *testing.T) {
	t.Parallel()
	res := fold(t, aggregator.Prior{}, unknownEv("u1", at(0)), unknownEv("u2", at(time.Hour)),
		payEv("p1", "paris", "EUR", 100, at(0)))
	require.Equal(t, 2, res.Ignored)
	require.Equal(t, 1, res.Applied)
	require.Empty(t, res.Cars)
	require.Empty(t, res.Bookings)
	require.Len(t, res.Deltas.DailyRevenue, 1)
	// Unknown types are recorded, not applied: only p1 moves freshness.
	require.Equal(t, at(0), res.LastEventAt)

	res = fold(t, aggregator.Prior{}, unknownEv("u1", at(0)))
	require.True(t, res.Deltas.Empty())
	require.Equal(t, aggregator.Result{Ignored: 1}, res)

	res = fold(t, aggregator.Prior{})
	require.Equal(t, aggregator.Result{}, res)
}

func TestFoldLastEventAt(t *testing.T) {
	t.Parallel()
	res := fold(t, aggregator.Prior{},
		payEv("p1", "paris", "EUR", 100, at(time.Hour)),
		carEv("c1", "car-1", "paris", active, 0, at(3*time.Hour)),
		refundEv("r1", "paris", "EUR", 100, at(-time.Hour)),
	)
	require.Equal(t, at(3*time.Hour), res.LastEventAt)
}

func TestFoldOverflow(t *testing.T) {
	t.Parallel()
	for _, mk := range []func(string, string, string, int64, time.Time) events.Event{payEv, refundEv} {
		var evs []events.Event
		// 1024 * (2^53-1) fits in int64; one more amount does not.
		for i := range 1025 {
			evs = append(evs, mk(fmt.Sprintf("p%d", i), "paris", "EUR", events.MaxAmountMinor, at(0)))
		}
		_, err := aggregator.Fold(aggregator.Prior{}, evs[:1024], aggregator.UTC)
		require.NoError(t, err)
		res, err := aggregator.Fold(aggregator.Prior{}, evs, aggregator.UTC)
		require.ErrorIs(t, err, aggregator.ErrOverflow)
		require.Zero(t, res)
		// Split by day, the same amounts fit.
		evs[1024].OccurredAt = at(24 * time.Hour)
		_, err = aggregator.Fold(aggregator.Prior{}, evs, aggregator.UTC)
		require.NoError(t, err)
	}
}

func TestFoldIsOrderIndependent(t *testing.T) {
	t.Parallel()
	evs := []events.Event{
		carEv("c1", "car-1", "paris", active, 1, at(0)),
		carEv("c2", "car-1", "rome", active, 2, at(time.Hour)),
		carEv("c3", "car-2", "rome", maintenance, 0, at(time.Hour)),
		bookingEv("b1", events.BookingConfirmed, "bk-1", "paris", 1, at(0)),
		bookingEv("b2", events.BookingStarted, "bk-1", "paris", 2, at(time.Hour)),
		bookingEv("b3", events.BookingCancelled, "bk-2", "rome", 0, at(25*time.Hour)),
		payEv("p1", "paris", "EUR", 100, at(0)),
		payEv("p2", "rome", "EUR", 100, at(0)),
		refundEv("r1", "paris", "USD", 5, at(-10*time.Hour)),
		unknownEv("u1", at(0)),
	}
	want := fold(t, aggregator.Prior{}, evs...)
	for range 20 {
		shuffled := slices.Clone(evs)
		shuffle(shuffled)
		require.Equal(t, want, fold(t, aggregator.Prior{}, shuffled...))
	}
}

func shuffle(evs []events.Event) {
	// A fixed permutation sequence is enough here; the property test
	// explores orders at random.
	for i := range evs {
		j := (i*7 + 3) % len(evs)
		evs[i], evs[j] = evs[j], evs[i]
	}
}

func TestFoldWrapsErrorsWithTheEventID(t *testing.T) {
	t.Parallel()
	evs := []events.Event{payEv("big-1", "paris", "EUR", 1<<62, at(0)), payEv("big-2", "paris", "EUR", 1<<62, at(0))}
	_, err := aggregator.Fold(aggregator.Prior{}, evs, aggregator.UTC)
	require.True(t, errors.Is(err, aggregator.ErrOverflow))
	require.ErrorContains(t, err, `"big-2"`)
}
