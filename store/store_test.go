package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/store"
)

type testBundle struct {
	store *store.Store
	url   string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	url := testdb.New(t)
	s, err := store.Open(context.Background(), url, nil)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return &testBundle{store: s, url: url}
}

// requireVerified runs Verify on s and requires no difference.
func requireVerified(t *testing.T, s *store.Store) store.VerifyReport {
	t.Helper()
	rep, err := s.Verify(context.Background(), store.VerifyOptions{})
	require.NoError(t, err)
	require.Empty(t, rep.Differences, "counters and states must match a recomputation from the ledger")
	return rep
}

func mustEvent(t *testing.T, d events.Draft) events.Event {
	t.Helper()
	body, err := d.Encode()
	require.NoError(t, err)
	ev, err := events.Decode(body, 0)
	require.NoError(t, err)
	return ev
}

func incoming(evs ...events.Event) []store.Incoming {
	out := make([]store.Incoming, len(evs))
	for i, e := range evs {
		out[i] = store.Incoming{Event: e, StreamSeq: uint64(i + 1)}
	}
	return out
}

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func car(id, city, status string, seq int64, at time.Time) events.Draft {
	return events.Draft{ID: fmt.Sprintf("%s-%d", id, seq), Type: events.CarStatusChanged, OccurredAt: at, Seq: seq,
		Data: events.CarStatus{CarID: id, City: city, Status: status}}
}

func TestApplyCountsOnceAndKeepsConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)

	a := mustEvent(t, car("c1", "paris", events.CarActive, 1, t0))
	b := mustEvent(t, car("c2", "paris", events.CarActive, 1, t0))
	out, err := tb.store.Apply(ctx, store.Batch{Events: incoming(a, b, a)})
	require.NoError(t, err)
	require.Equal(t, 2, out.Applied)
	require.Equal(t, 1, out.Duplicates)

	conflicting := car("c1", "berlin", events.CarActive, 1, t0)
	c := mustEvent(t, conflicting)
	out, err = tb.store.Apply(ctx, store.Batch{Events: incoming(c, a)})
	require.NoError(t, err)
	require.Equal(t, 0, out.Applied)
	require.Equal(t, 1, out.Duplicates)
	require.Equal(t, 1, out.Conflicts)

	// Copies of a new id in one batch: the first counts, the later ones
	// are compared with it.
	d := mustEvent(t, car("c3", "paris", events.CarActive, 1, t0))
	dElsewhere := mustEvent(t, car("c3", "rome", events.CarActive, 1, t0))
	require.Equal(t, d.ID, dElsewhere.ID)
	out, err = tb.store.Apply(ctx, store.Batch{Events: incoming(d, dElsewhere, d, a)})
	require.NoError(t, err)
	require.Equal(t, 1, out.Applied)
	require.Equal(t, 2, out.Duplicates)
	require.Equal(t, 1, out.Conflicts)
	require.Equal(t, []string{d.ID}, out.ConflictIDs)

	v, err := tb.store.ReadViews(ctx)
	require.NoError(t, err)
	require.Len(t, v.ActiveCars, 1)
	require.Equal(t, "paris", v.ActiveCars[0].City)
	require.EqualValues(t, 3, v.ActiveCars[0].Cars)

	var kept int
	require.NoError(t, tb.store.Pool().QueryRow(ctx, "SELECT count(*) FROM tally.conflicts").Scan(&kept))
	require.Equal(t, 2, kept)
}

// TestApplyReportsItsSteps checks the step times the worker logs: every
// step of a batch with new events and a duplicate took some time, and
// together no longer than the apply.
func TestApplyReportsItsSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	a := mustEvent(t, car("c1", "paris", events.CarActive, 1, t0))
	b := mustEvent(t, car("c2", "paris", events.CarActive, 1, t0))
	_, err := tb.store.Apply(ctx, store.Batch{Events: incoming(a)})
	require.NoError(t, err)

	start := time.Now()
	out, err := tb.store.Apply(ctx, store.Batch{Events: incoming(a, b)})
	took := time.Since(start)
	require.NoError(t, err)
	require.Equal(t, 1, out.Applied)
	require.Equal(t, 1, out.Duplicates)
	st := out.Steps
	steps := []time.Duration{st.Start, st.Read, st.Record, st.Check, st.Write, st.Commit}
	var sum time.Duration
	for i, d := range steps {
		require.Positive(t, d, "step %d of %+v", i, st)
		sum += d
	}
	require.LessOrEqual(t, sum, took, "%+v", st)
}

func TestMigrateTwiceIsANoop(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	res, err := store.Migrate(context.Background(), tb.url, store.Settings{}, nil)
	require.NoError(t, err)
	require.Empty(t, res.Applied)
	require.Equal(t, store.LatestVersion(), res.Version)
}

// TestApplyTimedOutLeavesNoBackendWaiting times an apply out while it
// waits for a counter row another transaction holds: when Apply returns,
// the timed-out transaction's backend must be gone, not still queued on
// the row behind the worker's next attempt.
func TestApplyTimedOutLeavesNoBackendWaiting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	_, err := tb.store.Apply(ctx, store.Batch{Events: incoming(mustEvent(t, car("c1", "paris", events.CarActive, 1, t0)))})
	require.NoError(t, err)
	g, err := tb.store.CurrentGeneration(ctx)
	require.NoError(t, err)

	holder, err := tb.store.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { require.NoError(t, holder.Rollback(ctx)) }()
	_, err = holder.Exec(ctx, fmt.Sprintf("SELECT 1 FROM %s.active_cars WHERE city = 'paris' FOR UPDATE", store.Schema(g.Gen)))
	require.NoError(t, err)

	for i := range 3 {
		actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		ev := mustEvent(t, car(fmt.Sprintf("c%d", i+2), "paris", events.CarActive, 1, t0))
		_, err = tb.store.Apply(actx, store.Batch{Events: incoming(ev)})
		cancel()
		require.Error(t, err, "the row is locked")
		var waiting int
		require.NoError(t, holder.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting))
		require.Zero(t, waiting, "attempt %d: the timed-out transaction still waits", i+1)
	}
}
