package snapshotter_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/internal/snapshotter"
	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/store"
)

// clock is an injected clock the test moves.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// attempt is a slot and its kind.
type attempt struct {
	slot time.Time
	kind store.SnapshotKind
}

func (a attempt) String() string { return fmt.Sprintf("%s %s", a.slot.Format(time.RFC3339), a.kind) }

// counting is a worker's store that counts, per slot, the attempts of all
// workers and the snapshots they took.
type counting struct {
	*store.Store
	mu       *sync.Mutex
	attempts map[attempt]int
	taken    map[attempt]int
}

func (c *counting) TakeSnapshot(ctx context.Context, r store.SnapshotRequest) (store.Snapshot, bool, error) {
	snap, ok, err := c.Store.TakeSnapshot(ctx, r)
	key := attempt{r.SlotAt.UTC(), r.Kind}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.attempts[key]++
		if ok {
			c.taken[key]++
		}
	}
	return snap, ok, err
}

// warnings counts the records at warn level and above.
type warnings struct {
	slog.Handler
	n *atomic.Int64
}

func (w warnings) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.n.Add(1)
	}
	return nil
}

func TestSeveralWorkersTakeEachSlotOnce(t *testing.T) {
	t.Parallel()
	// Kolkata is UTC+05:30: its midnights fall between hourly boundaries.
	z, err := aggregator.ParseZones("Asia/Kolkata", "")
	require.NoError(t, err)
	url := testdb.New(t, testdb.Options{Zones: &z})
	clk := &clock{}
	clk.Set(at("2026-05-01T17:10:00Z"))
	var mu sync.Mutex
	attempts, taken := map[attempt]int{}, map[attempt]int{}
	var warned atomic.Int64
	log := slog.New(warnings{Handler: slog.DiscardHandler, n: &warned})

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	const workers = 3
	errs := make(chan error, workers)
	for range workers {
		s, err := store.Open(ctx, url, nil)
		require.NoError(t, err)
		t.Cleanup(s.Close)
		sch := &snapshotter.Scheduler{Store: &counting{Store: s, mu: &mu, attempts: attempts, taken: taken},
			Interval: time.Hour, Log: log, Now: clk.Now, Wake: 2 * time.Millisecond}
		wg.Go(func() { errs <- sch.Run(ctx) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for range workers {
			require.NoError(t, <-errs)
		}
	})

	steps := []struct {
		now  string
		want attempt
	}{
		{"2026-05-01T17:10:00Z", attempt{at("2026-05-01T17:00:00Z"), store.SnapshotInterval}}, // on start
		{"2026-05-01T18:00:00Z", attempt{at("2026-05-01T18:00:00Z"), store.SnapshotInterval}},
		{"2026-05-01T18:30:00Z", attempt{at("2026-05-01T18:30:00Z"), store.SnapshotMidnight}},
		{"2026-05-01T18:59:59Z", attempt{}}, // nothing due
		// The clock jumps over 19:00 and 20:00: only 21:00 is taken.
		{"2026-05-01T21:05:00Z", attempt{at("2026-05-01T21:00:00Z"), store.SnapshotInterval}},
	}
	var want []attempt
	for _, step := range steps {
		clk.Set(at(step.now))
		if step.want == (attempt{}) {
			continue
		}
		want = append(want, step.want)
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return attempts[step.want] == workers
		}, 10*time.Second, 5*time.Millisecond, "every worker tries %s", step.want)
	}

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, attempts, len(want), "no other slot was tried: %v", attempts)
	for _, a := range want {
		require.Equal(t, 1, taken[a], "slot %s taken once", a)
	}
	require.Zero(t, warned.Load(), "no failure was logged")

	s, err := store.Open(context.Background(), url, nil)
	require.NoError(t, err)
	defer s.Close()
	list, err := s.ListSnapshots(context.Background(), time.Time{}, 0)
	require.NoError(t, err)
	var got []attempt
	for _, snap := range list {
		got = append(got, attempt{snap.SlotAt.UTC(), store.SnapshotKind(snap.Kind)})
	}
	require.Equal(t, want, got)
}
