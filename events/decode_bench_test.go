package events_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
)

// benchSizes are the batch sizes of the decode, fold and apply benchmarks.
var benchSizes = []int{100, 1_000, 10_000}

// benchBodies returns the first n valid messages of a realistic simulated
// fleet (the contract's mix of types, a few duplicates).
func benchBodies(b *testing.B, n int) [][]byte {
	b.Helper()
	cfg := fleetsim.DefaultConfig(1)
	cfg.CarsPerCity, cfg.Days, cfg.DuplicateRate = 100, 30, 0.03
	sim, err := fleetsim.New(cfg)
	require.NoError(b, err)
	bodies := make([][]byte, 0, n)
	for m := range sim.Messages {
		if len(bodies) == n {
			break
		}
		bodies = append(bodies, m.Body)
	}
	require.Len(b, bodies, n)
	return bodies
}

// BenchmarkDecode decodes and validates batches of messages; ns/event is
// the figure to compare with the worker's budget per event.
func BenchmarkDecode(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			bodies := benchBodies(b, n)
			size := 0
			for _, body := range bodies {
				size += len(body)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, body := range bodies {
					if _, err := events.Decode(body, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}
