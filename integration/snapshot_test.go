package integration

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/app"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/oracle"
	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/store"
)

// coveredEvents reads the ledger events a snapshot covers: those whose
// row its database snapshot sees. Test databases are young, so a row's
// xmin is its full transaction id.
func (f *fleet) coveredEvents(snapshotID int64) []events.Event {
	f.t.Helper()
	rows, err := f.store.Pool().Query(context.Background(), `SELECT e.body FROM tally.events AS e, tally.snapshots AS s
		WHERE s.id = $1 AND pg_visible_in_snapshot(e.xmin::text::xid8, s.covers) ORDER BY e.pos`, snapshotID)
	require.NoError(f.t, err)
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	require.NoError(f.t, err)
	evs := make([]events.Event, len(bodies))
	for i, b := range bodies {
		evs[i], err = events.Decode(b, len(b))
		require.NoError(f.t, err)
	}
	return evs
}

// requireSnapshotExact checks that X_at(taken_at) of a snapshot equals a
// recomputation of exactly the events it covers, at its own clock.
func (f *fleet) requireSnapshotExact(snap store.Snapshot) int {
	f.t.Helper()
	ctx := context.Background()
	covered := f.coveredEvents(snap.ID)
	g, err := f.store.CurrentGeneration(ctx)
	require.NoError(f.t, err)
	var grace time.Duration
	require.NoError(f.t, f.store.Pool().QueryRow(ctx,
		"SELECT value::interval FROM tally.settings WHERE name = 'overdue_grace'").Scan(&grace))
	at, err := f.store.ReadViewsAt(ctx, snap.TakenAt)
	require.NoError(f.t, err)
	require.True(f.t, snap.TakenAt.Equal(at.TakenAt))
	want := oracle.Recompute(covered, g.Zones, snap.TakenAt, grace)
	require.Empty(f.t, oracle.FromViews(at.Views).Diff(want), "snapshot %d (%d events) differs from a recomputation", snap.ID, len(covered))
	return len(covered)
}

func TestSnapshotUnderLoadIsConsistent(t *testing.T) {
	t.Parallel()
	z := dstZones(t)
	f := newFleet(t, currentNATS.URL(), testdb.Options{Zones: &z})
	cfg := fleetsim.Troubled(11)
	cfg.Start, cfg.Cities = time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), []string{"paris", "new_york", "berlin"}
	sim, err := fleetsim.New(cfg)
	require.NoError(t, err)
	msgs := sim.All()
	// Small batches and two workers: many commits for the snapshots to
	// fall between.
	env := map[string]string{"TALLY_TIMEZONE": "Europe/Paris", "TALLY_CITY_TIMEZONES": "new_york=America/New_York",
		"TALLY_BATCH_SIZE": "10", "TALLY_SNAPSHOT_INTERVAL": "0"}
	f.startWorker(env)
	f.startWorker(env)
	published := make(chan struct{})
	go func() { defer close(published); f.publish(msgs) }()

	// Take snapshots until the load is applied (conditions run on another
	// goroutine: a failure is kept for after).
	var snaps []store.Snapshot
	var snapErr error
	require.Eventually(t, func() bool {
		snap, _, err := f.store.TakeSnapshot(context.Background(), store.SnapshotRequest{Kind: store.SnapshotManual})
		if err != nil {
			snapErr = err
			return true
		}
		snaps = append(snaps, snap)
		select {
		case <-published:
			return f.consumerIdle()
		default:
			return false
		}
	}, 3*time.Minute, 20*time.Millisecond)
	require.NoError(t, snapErr)

	total := len(f.ledger())
	midLoad := 0
	for _, snap := range snaps {
		if n := f.requireSnapshotExact(snap); n > 0 && n < total {
			midLoad++
		}
	}
	t.Logf("%d snapshots, %d of them mid-load, of %d events", len(snaps), midLoad, total)
	require.GreaterOrEqual(t, midLoad, 3, "snapshots taken while batches were applied (of %d)", len(snaps))
	// The loop's last snapshot may precede the last commit (it is taken
	// before the idle check), so take one now that the consumer is idle.
	last, _, err := f.store.TakeSnapshot(context.Background(), store.SnapshotRequest{Kind: store.SnapshotManual})
	require.NoError(t, err)
	require.Equal(t, total, f.requireSnapshotExact(last), "a snapshot taken idle covers every event")
}

// consumerIdle reports whether the consumer has nothing pending or awaiting ack.
func (f *fleet) consumerIdle() bool {
	ctx := context.Background()
	c, err := f.js.Consumer(ctx, f.names.Stream, f.names.Consumer)
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

// snapshotClock is an injected clock the test moves.
type snapshotClock struct{ ns atomic.Int64 }

func (c *snapshotClock) Now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *snapshotClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// startWorkerAt runs an in-process worker whose clock is clk.
func (f *fleet) startWorkerAt(clk *snapshotClock, extra map[string]string) {
	f.t.Helper()
	m := app.New(f.config(extra), testLogger())
	m.Now = clk.Now
	require.NoError(f.t, m.Open(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{main: m, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- m.Run(ctx) }()
	f.t.Cleanup(func() { w.stop(f.t) })
}

func TestSnapshotSchedulerTakesEachSlotOnceAcrossWorkers(t *testing.T) {
	t.Parallel()
	// Jakarta is UTC+7: its midnight is 17:00 UTC, an interval boundary too.
	zones, err := aggregator.ParseZones("Asia/Jakarta", "")
	require.NoError(t, err)
	f := newFleet(t, testnatsMachine(), testdb.Options{Zones: &zones})
	clk := &snapshotClock{}
	clk.Set(time.Date(2026, 6, 1, 16, 20, 0, 0, time.UTC))
	env := map[string]string{"TALLY_TIMEZONE": "Asia/Jakarta", "TALLY_SNAPSHOT_INTERVAL": "30m"}
	for range 3 {
		f.startWorkerAt(clk, env)
	}
	// slots lists the snapshots' slots; nil when it cannot (it runs in
	// conditions, on another goroutine).
	slots := func() []string {
		list, err := f.store.ListSnapshots(context.Background(), time.Time{}, 0)
		if err != nil {
			return nil
		}
		var out []string
		for _, s := range list {
			out = append(out, s.SlotAt.UTC().Format("15:04")+" "+s.Kind)
		}
		return out
	}
	want := []string{"16:00 interval"}
	for _, step := range []struct {
		now  time.Time
		slot string
	}{
		{time.Date(2026, 6, 1, 16, 30, 0, 0, time.UTC), "16:30 interval"},
		{time.Date(2026, 6, 1, 17, 0, 1, 0, time.UTC), "17:00 midnight"},
		{time.Date(2026, 6, 1, 18, 10, 0, 0, time.UTC), "18:00 interval"}, // 17:30 skipped
	} {
		require.Eventually(t, func() bool { return len(slots()) == len(want) }, 20*time.Second, 20*time.Millisecond)
		clk.Set(step.now)
		want = append(want, step.slot)
	}
	require.Eventually(t, func() bool { return len(slots()) == len(want) }, 20*time.Second, 20*time.Millisecond)
	// Every worker wakes within a second of each move: give the slower
	// ones that long to try, and find no second snapshot of any slot.
	require.Never(t, func() bool { return len(slots()) > len(want) }, 1500*time.Millisecond, 100*time.Millisecond)
	require.Equal(t, want, slots())
}

func TestSnapshotCommands(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnatsMachine())
	code, out := f.runTally(nil, "snapshot")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `^snapshot 1 taken at \S+: ledger up to position 0, last event at -; 0 rows changed, 0 removed\n$`, out)
	code, out = f.runTally(nil, "snapshot", "list", "--since", "1h")
	require.Equal(t, 0, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Regexp(t, `^1\s+\S+\s+manual\s+-\s+1\s+0\s+-\s+0\s+0$`, lines[1])
	require.Equal(t, "(1 snapshots)", lines[2])

	code, out = f.runTally(nil, "snapshot", "list", "--since", "yesterday-ish")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "--since")
	code, out = f.runTally(map[string]string{"TALLY_SNAPSHOT_INTERVAL": "30s"}, "snapshot")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "TALLY_SNAPSHOT_INTERVAL: must be from 1m to 24h")
}
