package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/testnats"
	"github.com/tallyhq/tally/store"
)

// exitCode waits for the process to end and returns its exit status.
func (p *proc) exitCode(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(t, p.err)
		return 0
	case <-time.After(timeout):
		require.FailNow(t, "process did not end", "output so far:\n%s", p.out.String())
		return -1
	}
}

// publishPaced publishes msgs a few at a time, so that they keep arriving
// for a while, and closes the returned channel when all are published.
func (f *fleet) publishPaced(msgs []fleetsim.Message, chunk int, every time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; i < len(msgs); i += chunk {
			f.publish(msgs[i:min(i+chunk, len(msgs))])
			<-tick.C
		}
	}()
	return done
}

// rebuildState reads the latest rebuild as tally.freshness shows it.
func (f *fleet) rebuildState() store.RebuildStatus {
	f.t.Helper()
	st, _, err := f.store.LatestRebuild(context.Background())
	require.NoError(f.t, err)
	return st
}

// waitRebuildRunning waits until a rebuild runs and, with progress, has
// recorded some.
func (f *fleet) waitRebuildRunning(progress bool) {
	f.t.Helper()
	require.Eventually(f.t, func() bool {
		st := f.rebuildState()
		return st.State == "running" && (st.Done > 0 || !progress)
	}, time.Minute, 10*time.Millisecond, "no rebuild ever ran")
}

func (f *fleet) currentGen() int {
	f.t.Helper()
	g, err := f.store.CurrentGeneration(context.Background())
	require.NoError(f.t, err)
	return g.Gen
}

// dashboard is a dashboard query loop: each round reads the views and, in
// the same snapshot, the ledger, and checks what holds at every committed
// moment (each batch commits its events and their effects together):
// bookings by status add up to the distinct bookings recorded; the daily
// views count every booking and payment event recorded.
type dashboard struct {
	mu         sync.Mutex
	reads      map[int]int // by the generation current in the snapshot
	violations []string
	errs       []error
	stop       context.CancelFunc
	done       chan struct{}
}

// ledgerTotalsSQL is what the ledger says the views must show.
const ledgerTotalsSQL = `SELECT
	count(DISTINCT entity) FILTER (WHERE type LIKE 'booking.%'),
	count(*) FILTER (WHERE type = 'booking.confirmed'), count(*) FILTER (WHERE type = 'booking.started'),
	count(*) FILTER (WHERE type = 'booking.ended'), count(*) FILTER (WHERE type = 'booking.cancelled'),
	count(*) FILTER (WHERE type = 'payment.captured'), count(*) FILTER (WHERE type = 'payment.refunded')
FROM tally.events`

// viewTotalsSQL is what the views show, in the same order.
const viewTotalsSQL = `SELECT
	(SELECT COALESCE(sum(bookings), 0) FROM tally.bookings_by_status),
	COALESCE(sum(confirmed), 0), COALESCE(sum(started), 0), COALESCE(sum(ended), 0), COALESCE(sum(cancelled), 0),
	(SELECT COALESCE(sum(payments), 0) FROM tally.daily_revenue), (SELECT COALESCE(sum(refunds), 0) FROM tally.daily_revenue)
FROM tally.daily_bookings`

func (f *fleet) startDashboard() *dashboard {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dashboard{reads: map[int]int{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			d.round(ctx, f)
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	f.t.Cleanup(d.finish)
	return d
}

// round reads the ledger first, then the views: the snapshot is taken by
// the first statement, before the views are even looked at.
func (d *dashboard) round(ctx context.Context, f *fleet) {
	var gen int
	ledger, views := make([]int64, 7), make([]int64, 7)
	err := pgx.BeginTxFunc(ctx, f.store.Pool(), pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, ledgerTotalsSQL).Scan(ptrs(ledger)...); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "SELECT gen FROM tally.generations WHERE state = 'current'").Scan(&gen); err != nil {
				return err
			}
			return tx.QueryRow(ctx, viewTotalsSQL).Scan(ptrs(views)...)
		})
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err != nil && ctx.Err() == nil:
		d.errs = append(d.errs, err)
	case err == nil:
		d.reads[gen]++
		if fmt.Sprint(ledger) != fmt.Sprint(views) {
			d.violations = append(d.violations, fmt.Sprintf("generation %d: ledger says %v, views show %v", gen, ledger, views))
		}
	}
}

func ptrs(xs []int64) []any {
	out := make([]any, len(xs))
	for i := range xs {
		out[i] = &xs[i]
	}
	return out
}

func (d *dashboard) finish() {
	d.stop()
	<-d.done
}

// results stops the loop and returns what it saw.
func (d *dashboard) results() (map[int]int, []string, []error) {
	d.finish()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reads, d.violations, d.errs
}

// eventsRecordedBetween counts the ledger events recorded in [from, to].
func (f *fleet) eventsRecordedBetween(from, to time.Time) int {
	f.t.Helper()
	var n int
	require.NoError(f.t, f.store.Pool().QueryRow(context.Background(),
		"SELECT count(*) FROM tally.events WHERE recorded_at BETWEEN $1 AND $2", from, to).Scan(&n))
	return n
}

func TestRebuildWhileEventsFlow(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	msgs := troubled(t, 21)
	half := len(msgs) / 2
	f.startWorker(nil)
	f.publish(msgs[:half])
	f.waitIdle(2 * time.Minute)

	dash := f.startDashboard()
	// Events arrive at about 60/s all through the rebuild, which reads at
	// most 150/s: it catches up in rounds and swaps while they still arrive
	// (for about 9s).
	p := f.startProc(nil, "rebuild", "--max-rate", "150", "--swap-tail", "20")
	f.waitRebuildRunning(false)
	published := f.publishPaced(msgs[half:], 3, 50*time.Millisecond)
	require.Equal(t, 0, p.exitCode(t, 3*time.Minute), p.out.String())
	select {
	case <-published:
		require.Fail(t, "the events stopped before the swap")
	default:
	}
	<-published
	f.waitIdle(2 * time.Minute)

	reads, violations, errs := dash.results()
	require.Empty(t, errs)
	require.Empty(t, violations[:min(3, len(violations))], "a dashboard saw a state that was never committed (%d times)", len(violations))
	require.Positive(t, reads[1], "the dashboard read the old generation")
	require.Positive(t, reads[2], "the dashboard read the new generation")
	require.Equal(t, 2, f.currentGen())
	st := f.rebuildState()
	require.Equal(t, "swapped", st.State)
	var swappedAt time.Time
	require.NoError(t, f.store.Pool().QueryRow(context.Background(),
		"SELECT swapped_at FROM tally.generations WHERE gen = 2").Scan(&swappedAt))
	require.Positive(t, f.eventsRecordedBetween(st.StartedAt, swappedAt), "events kept flowing during the rebuild")
	require.NotContains(t, p.out.String(), " 0 catch-up rounds", "the rebuild caught up in rounds")
	f.requireExact(msgs)
}

// metricsBody reads a worker's /metrics.
func metricsBody(t testing.TB, w *worker) string {
	t.Helper()
	resp, err := http.Get("http://" + w.main.Addr().String() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestRebuildKilledMidwayFinishesWhenRunAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFleet(t, testnats.MachineURL())
	msgs := troubled(t, 22)
	w := f.startWorker(nil)
	f.publish(msgs)
	f.waitIdle(2 * time.Minute)

	p := f.startProc(nil, "rebuild", "--max-rate", "150")
	f.waitRebuildRunning(true)
	code, out := f.runTally(nil, "rebuild")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "another tally rebuild is running on this database (building generation 2")
	require.Eventually(t, func() bool {
		return strings.Contains(metricsBody(t, w), "tally_rebuild_in_progress 1")
	}, 10*time.Second, 50*time.Millisecond, "the worker's metrics show the rebuild")
	var shown int64
	require.NoError(t, f.store.Pool().QueryRow(ctx, "SELECT rebuild_done FROM tally.freshness WHERE rebuild_state = 'running'").Scan(&shown))
	require.Positive(t, shown)

	require.NoError(t, p.cmd.Process.Kill())
	require.Equal(t, -1, p.exitCode(t, time.Minute), "killed")
	var state string
	require.NoError(t, f.store.Pool().QueryRow(ctx, "SELECT state FROM tally.generations WHERE gen = 2").Scan(&state))
	require.Equal(t, "building", state, "the killed rebuild left its generation behind")

	code, out = f.runTally(nil, "rebuild")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "dropped generation 2, left by an earlier rebuild")
	require.Contains(t, out, "swapped in generation 2; generation 1 dropped")
	require.Equal(t, 2, f.currentGen())
	rows, err := f.store.Pool().Query(ctx, "SELECT state FROM tally.rebuilds ORDER BY id")
	require.NoError(t, err)
	states, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"interrupted", "swapped"}, states)
	require.Eventually(t, func() bool {
		return strings.Contains(metricsBody(t, w), `tally_rebuild_progress_ratio{generation="2"} 1`)
	}, 10*time.Second, 50*time.Millisecond)
	f.requireExact(msgs)
}

func TestRebuildFromStreamMatchesTheLedger(t *testing.T) {
	t.Parallel()
	for _, b := range brokers() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFleet(t, b.url)
			msgs := troubled(t, 23)
			f.startWorker(nil)
			f.publish(msgs)
			f.waitIdle(2 * time.Minute)

			code, out := f.runTally(nil, "rebuild")
			require.Equal(t, 0, code, out)
			fromLedger, _, _ := f.readViews()
			// A damaged ledger: every seventh event lost.
			tag, err := f.store.Pool().Exec(ctx, "DELETE FROM tally.events WHERE pos % 7 = 0")
			require.NoError(t, err)
			code, out = f.runTally(nil, "rebuild", "--from-stream")
			require.Equal(t, 0, code, out)
			require.Contains(t, out, fmt.Sprintf("restored %d missing events into the ledger", tag.RowsAffected()))
			fromStream, _, _ := f.readViews()
			require.Empty(t, fromStream.Diff(fromLedger), "--from-stream and the ledger give the same counters")
			f.requireExact(msgs)

			// A stream that lost its first message is refused, unless asked.
			s, err := f.js.Stream(ctx, f.names.Stream)
			require.NoError(t, err)
			require.NoError(t, s.DeleteMsg(ctx, 1))
			code, out = f.runTally(nil, "rebuild", "--from-stream")
			require.Equal(t, 1, code, out)
			require.Contains(t, out, "no longer holds its oldest events: it starts at sequence 2")
			code, out = f.runTally(nil, "rebuild", "--from-stream", "--allow-partial")
			require.Equal(t, 0, code, out)
			f.requireExact(msgs)
		})
	}
}

func TestRebuildAppliesNewZones(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	msgs := troubled(t, 24)
	half := len(msgs) / 2
	utc := f.startWorker(nil)
	f.publish(msgs[:half])
	f.waitIdle(2 * time.Minute)

	paris := map[string]string{"TALLY_TIMEZONE": "Europe/Paris", "TALLY_CITY_TIMEZONES": "new_york=America/New_York"}
	code, out := f.runTally(paris, "rebuild")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "time zones Europe/Paris (new_york=America/New_York)")
	g, err := f.store.CurrentGeneration(context.Background())
	require.NoError(t, err)
	require.Equal(t, dstZones(t).String(), g.Zones.String())
	f.requireViews(f.ledger())

	code, out = f.runTally(nil, "run")
	require.Equal(t, 2, code, "a worker with the old zones is refused")
	require.Contains(t, out, "run tally rebuild to apply them")
	utc.stop(t)
	f.startWorker(paris)
	f.publish(msgs[half:])
	f.waitIdle(2 * time.Minute)
	f.requireExact(msgs)
}
