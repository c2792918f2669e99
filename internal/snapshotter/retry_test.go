package snapshotter

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/store"
)

// flaky is a store whose first snapshot fails.
type flaky struct {
	mu    sync.Mutex
	slots []time.Time
}

func (f *flaky) TakeSnapshot(_ context.Context, r store.SnapshotRequest) (store.Snapshot, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slots = append(f.slots, r.SlotAt)
	if len(f.slots) == 1 {
		return store.Snapshot{}, false, errors.New("database went away")
	}
	return store.Snapshot{ID: int64(len(f.slots))}, true, nil
}

func (f *flaky) PruneSnapshots(context.Context, time.Time) (int64, error) { return 0, nil }

func (f *flaky) CurrentGeneration(context.Context) (store.Generation, error) {
	return store.Generation{Gen: 1, Zones: aggregator.UTC}, nil
}

func (f *flaky) attempts() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.slots...)
}

func TestFailedSnapshotIsRetried(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	now.Store(start.UnixNano())
	st := &flaky{}
	s := &Scheduler{Store: st, Interval: time.Hour, Log: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Unix(0, now.Load()).UTC() }, Wake: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	require.Eventually(t, func() bool { return len(st.attempts()) == 1 }, 5*time.Second, time.Millisecond)
	now.Store(start.Add(retryAfter + time.Second).UnixNano())
	require.Eventually(t, func() bool { return len(st.attempts()) == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, []time.Time{start, start}, st.attempts(), "the same slot, again")
	require.Never(t, func() bool { return len(st.attempts()) > 2 }, 50*time.Millisecond, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}
