package store_test

import (
	"context"
	"fmt"
	"iter"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/store"
)

// batchSource yields consecutive batches of a long simulated fleet, so
// that every batch applied brings new events (with the simulation's few
// duplicates) to entities the ledger already knows.
type batchSource struct {
	next func() (fleetsim.Message, bool)
	stop func()
	seq  uint64
}

func newBatchSource(b *testing.B) *batchSource {
	cfg := fleetsim.DefaultConfig(3)
	cfg.CarsPerCity, cfg.Days, cfg.DuplicateRate = 200, 3000, 0.03
	sim, err := fleetsim.New(cfg)
	require.NoError(b, err)
	next, stop := iter.Pull(sim.Messages)
	b.Cleanup(stop)
	return &batchSource{next: next, stop: stop}
}

func (s *batchSource) batch(b *testing.B, n int) store.Batch {
	var batch store.Batch
	for len(batch.Events) < n {
		m, ok := s.next()
		require.True(b, ok, "the simulation ran out of events")
		ev, err := events.Decode(m.Body, 0)
		require.NoError(b, err)
		s.seq++
		batch.Events = append(batch.Events, store.Incoming{Event: ev, StreamSeq: s.seq})
	}
	return batch
}

// BenchmarkApply applies batches of 100, 1,000 and 10,000 messages in one
// transaction each, synchronous commit on: the worker's database cost per
// event, on a ledger that grows as the benchmark runs. Preparing the next
// batch is not timed.
func BenchmarkApply(b *testing.B) {
	for _, n := range []int{100, 1_000, 10_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			ctx := context.Background()
			st, err := store.Open(ctx, testdb.New(b), nil)
			require.NoError(b, err)
			b.Cleanup(st.Close)
			src := newBatchSource(b)
			_, err = st.Apply(ctx, src.batch(b, n)) // the entities' first events
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				batch := src.batch(b, n)
				b.StartTimer()
				if _, err := st.Apply(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}
