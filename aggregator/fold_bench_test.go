package aggregator_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
)

// benchEvents returns the first n distinct valid events of a realistic
// simulated fleet, as a batch reaches Fold once the ledger has removed the
// duplicates.
func benchEvents(b *testing.B, n int) []events.Event {
	b.Helper()
	cfg := fleetsim.DefaultConfig(1)
	cfg.CarsPerCity, cfg.Days = 100, 30
	sim, err := fleetsim.New(cfg)
	require.NoError(b, err)
	evs := make([]events.Event, 0, n)
	for m := range sim.Messages {
		if len(evs) == n {
			break
		}
		ev, err := events.Decode(m.Body, 0)
		require.NoError(b, err)
		evs = append(evs, ev)
	}
	require.Len(b, evs, n)
	return evs
}

// BenchmarkFold folds batches of new events onto the prior states of the
// entities they touch: the states the events of the batch before left.
func BenchmarkFold(b *testing.B) {
	zones, err := aggregator.ParseZones("UTC", "jakarta=Asia/Jakarta,new_york=America/New_York")
	require.NoError(b, err)
	for _, n := range []int{100, 1_000, 10_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			evs := benchEvents(b, 2*n)
			first, err := aggregator.Fold(aggregator.Prior{}, evs[:n], zones)
			require.NoError(b, err)
			prior := priorOf(first)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := aggregator.Fold(prior, evs[n:], zones); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

// priorOf turns the states a fold changed into the prior of the next.
func priorOf(r aggregator.Result) aggregator.Prior {
	p := aggregator.Prior{Cars: map[string]aggregator.CarState{}, Bookings: map[string]aggregator.BookingState{}}
	for _, c := range r.Cars {
		p.Cars[c.ID] = c
	}
	for _, bk := range r.Bookings {
		p.Bookings[bk.ID] = bk
	}
	return p
}
