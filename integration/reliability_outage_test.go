package integration

// Reliability scenarios of the services tally depends on: NATS restarted
// (5), PostgreSQL connections killed and PostgreSQL unreachable (6), a row
// lock held on a hot counter row (7), and a randomised mix (13).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/testnats"
	"github.com/tallyhq/tally/store"
)

// tallyBackends counts the fleet's database connections opened by tally
// workers, and those of them waiting for a lock.
func (f *fleet) tallyBackends() (all, waiting int) {
	f.t.Helper()
	require.NoError(f.t, f.store.Pool().QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock')
		FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'tally%' AND application_name <> 'tally_test'`).
		Scan(&all, &waiting))
	return all, waiting
}

// holdRowLocks locks the counter rows of a city in the current
// generation (active cars, confirmed bookings) in a transaction of its
// own, and returns the function that releases them.
func (f *fleet) holdRowLocks(city string) func() {
	f.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, withParam(f.dbURL, "application_name", "tally_test"))
	require.NoError(f.t, err)
	f.t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	require.NoError(f.t, err)
	schema := store.Schema(f.currentGen())
	var n int
	require.NoError(f.t, tx.QueryRow(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM (SELECT 1 FROM %[1]s.active_cars WHERE city = $1 FOR UPDATE) a)
		+ (SELECT count(*) FROM (SELECT 1 FROM %[1]s.bookings_by_status WHERE city = $1 AND status = 'confirmed' FOR UPDATE) b)`, schema), city).Scan(&n))
	require.Equal(f.t, 2, n, "the hot rows exist")
	return func() { require.NoError(f.t, tx.Rollback(ctx)) }
}

// TestReliabilityRowLock holds a lock on hot counter rows for longer than
// the ack wait while events keep coming: the workers wait and retry
// without piling up connections, keep their batches (no redelivery), and
// flow again by themselves when the lock goes.
func TestReliabilityRowLock(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	msgs := load(t, 71, sized(3, 20))
	half := len(msgs) / 2
	fig := newFigures("row_lock", msgs)
	procs := f.startWorkers(2, map[string]string{"TALLY_BATCH_SIZE": "100"})
	f.publish(msgs[:half])
	f.waitIdle(time.Minute)

	release := f.holdRowLocks("paris")
	locked := time.Now()
	published := f.publishPaced(msgs[half:], len(msgs)/40+1, 100*time.Millisecond)
	f.backendOf("Lock", time.Minute)
	time.Sleep(sized(10*time.Second, 60*time.Second)) // longer than the ack wait (4s) and apply timeout (3s)
	all, waiting := f.tallyBackends()
	fig.add("lock_held", fmt.Sprintf("%.1fs", time.Since(locked).Seconds()))
	fig.add("backends_at_release", all)
	fig.add("waiting_at_release", waiting)
	release()
	released := time.Now()
	<-published
	f.waitIdle(sized(2*time.Minute, 10*time.Minute))
	fig.recovery = time.Since(released)
	for _, p := range procs {
		require.Nil(t, exited(p), "a worker must not exit over a lock")
	}
	require.LessOrEqual(t, waiting, len(procs), "each worker waits with one connection: timed-out attempts do not linger")
	f.requireExact(msgs)
	require.Zero(t, f.redeliveries(), "a waiting worker keeps its batch")
	fig.report(f)
}

// exited returns the process's exit error when it has ended, or nil while
// it runs.
func exited(p *proc) error {
	select {
	case <-p.done:
		if p.err == nil {
			return fmt.Errorf("exited with status 0")
		}
		return p.err
	default:
		return nil
	}
}

// waitBroker waits until the test's own connection reaches JetStream again
// after a restart of the broker.
func (f *fleet) waitBroker() {
	f.t.Helper()
	require.Eventually(f.t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := f.js.Stream(ctx, f.names.Stream)
		return err == nil
	}, time.Minute, 50*time.Millisecond, "JetStream never came back")
}

// restartBroker stops the in-process NATS server for pause and starts it
// again on the same port and data.
func restartBroker(t testing.TB, srv *testnats.Server, pause time.Duration) {
	t.Helper()
	srv.Shutdown()
	time.Sleep(pause) // the outage itself
	require.NoError(t, srv.Restart())
}

// TestReliabilityNATSRestart restarts the broker several times while a
// worker applies batches: the worker reconnects by itself, and what was
// delivered and not acknowledged when the broker went down is redelivered
// and absorbed.
func TestReliabilityNATSRestart(t *testing.T) {
	t.Parallel()
	srv := testnats.Start(t)
	f := newFleet(t, srv.URL())
	msgs := load(t, 51, sized(3, 30))
	fig := newFigures("nats_restart", msgs)
	p := f.startProc(map[string]string{"TALLY_BATCH_SIZE": "100"}, "run")
	restarts := sized(3, 10)
	chunk := len(msgs)/(restarts+1) + 1
	var worst time.Duration
	for i := range restarts {
		from := f.recorded()
		f.publish(msgs[i*chunk : (i+1)*chunk])
		f.waitProgress(from, time.Minute) // the worker is busy with this chunk
		restartBroker(t, srv, time.Second)
		back := time.Now()
		f.waitBroker()
		// Recovered: every message up to now committed and acknowledged,
		// including those redelivered after the ack wait.
		f.waitIdle(time.Minute)
		worst = max(worst, time.Since(back))
	}
	f.publish(msgs[restarts*chunk:])
	f.waitIdle(sized(2*time.Minute, 10*time.Minute))
	require.Nil(t, exited(p), "the worker reconnects; it does not exit")
	logOnFailure(t, p)
	f.requireExact(msgs)
	fig.recovery = worst
	fig.add("restarts", restarts)
	fig.report(f)
}

// terminateTally terminates every database connection of tally workers
// and returns how many it cut.
func (f *fleet) terminateTally() int {
	f.t.Helper()
	var n int
	require.NoError(f.t, f.store.Pool().QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name LIKE 'tally%' AND application_name <> 'tally_test'`).Scan(&n))
	return n
}

// TestReliabilityDatabaseOutage cuts a worker's database connections
// while it applies, then makes PostgreSQL unreachable (a TCP proxy cut)
// for longer than the ack wait: the worker retries with backoff, never
// exits, keeps its batch, and flows again by itself.
func TestReliabilityDatabaseOutage(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	proxy := startProxy(t, "127.0.0.1:5432")
	msgs := load(t, 61, sized(3, 30))
	third := len(msgs) / 3
	fig := newFigures("database_outage", msgs)
	url := strings.Replace(f.dbURL, "127.0.0.1:5432", proxy.addr, 1)
	p := f.startProc(map[string]string{"TALLY_DATABASE_URL": url, "TALLY_BATCH_SIZE": "100"}, "run")

	published := f.publishPaced(msgs[:third], third/20+1, 100*time.Millisecond)
	terminated := 0
	for done := false; !done; {
		select {
		case <-published:
			done = true
		case <-time.After(150 * time.Millisecond):
		}
		terminated += f.terminateTally()
	}
	require.Positive(t, terminated)
	f.waitIdle(time.Minute)

	// Events arrive while the database is unreachable.
	proxy.cut()
	retriesBefore := strings.Count(p.out.String(), "apply failed, retrying")
	f.publish(msgs[third : 2*third])
	outage := sized(10*time.Second, 60*time.Second)
	time.Sleep(outage) // the outage itself: longer than the ack wait (4s)
	retries := strings.Count(p.out.String(), "apply failed, retrying") - retriesBefore
	require.Nil(t, exited(p), "the worker waits for the database; it does not exit")
	proxy.restore(t)
	restored := time.Now()
	f.waitIdle(time.Minute)
	fig.recovery = time.Since(restored)

	f.publish(msgs[2*third:])
	f.waitIdle(sized(2*time.Minute, 10*time.Minute))
	logOnFailure(t, p)
	require.Positive(t, retries, "the worker retried during the outage")
	// Backoff doubles to 10s: a hot loop would retry hundreds of times.
	require.Less(t, retries, int(outage/time.Second)+5, "retries back off")
	require.Nil(t, exited(p))
	f.requireExact(msgs)
	fig.add("connections_terminated", terminated)
	fig.add("outage", outage)
	fig.add("retries_during_outage", retries)
	fig.report(f)
}

// chaos is the state of a randomised run: the broker, the proxy in front
// of PostgreSQL, the workers, and what is down until when.
type chaos struct {
	f       *fleet
	t       *testing.T
	rng     *rand.Rand
	srv     *testnats.Server
	proxy   *proxy
	extra   map[string]string
	workers []*proc
	all     []*proc // every worker process started, for the logs
	deadAt  []int   // step at which a killed worker comes back; -1 when it runs
	cutTill int     // step at which the database comes back; -1 when it is up
	faults  map[string]int
	start   time.Time
}

// act applies step's part of the seeded schedule: bring back what is due,
// then maybe break one thing.
func (c *chaos) act(step int) {
	if c.cutTill == step {
		c.proxy.restore(c.t)
		c.cutTill = -1
		c.log(step, "database reachable again")
	}
	for i, at := range c.deadAt {
		if at >= 0 && at <= step && c.cutTill < 0 { // a worker cannot start without its database
			c.workers[i] = c.startWorker()
			c.deadAt[i] = -1
			c.log(step, "worker %d restarted", i)
		}
	}
	switch roll := c.rng.IntN(100); {
	case roll < 8:
		c.kill(step)
	case roll < 14:
		pause := time.Duration(200+c.rng.IntN(1800)) * time.Millisecond
		c.log(step, "NATS restarted after %s down", pause)
		restartBroker(c.t, c.srv, pause)
		c.f.waitBroker()
		c.faults["nats_restart"]++
	case roll < 20:
		c.log(step, "terminated %d database connections", c.f.terminateTally())
		c.faults["connections_terminated"]++
	case roll < 25 && c.cutTill < 0:
		c.proxy.cut()
		c.cutTill = step + 2 + c.rng.IntN(15)
		c.log(step, "database unreachable until step %d", c.cutTill)
		c.faults["database_cut"]++
	}
}

// startWorker starts a worker process and waits until it runs: as a
// supervisor would, it starts one when NATS and the database are up, and
// a worker that cannot reach them at start refuses to run (exit 2), by
// contract.
func (c *chaos) startWorker() *proc {
	p := c.f.startProc(c.extra, "run")
	c.all = append(c.all, p)
	require.Eventually(c.t, func() bool {
		return exited(p) != nil || strings.Contains(p.out.String(), "tally is running")
	}, time.Minute, 20*time.Millisecond)
	require.Nil(c.t, exited(p), "a worker failed to start:\n%s", p.out.String())
	return p
}

// kill SIGKILLs a running worker, to be restarted a few steps later.
func (c *chaos) kill(step int) {
	i := c.rng.IntN(len(c.workers))
	if c.deadAt[i] >= 0 {
		return
	}
	w := c.workers[i]
	if err := exited(w); err != nil {
		require.FailNow(c.t, "a worker exited by itself", "worker %d: %v\n%s", i, err, w.out.String())
	}
	require.NoError(c.t, w.cmd.Process.Signal(syscall.SIGKILL))
	<-c.workers[i].done
	c.deadAt[i] = step + 1 + c.rng.IntN(4)
	c.log(step, "worker %d killed", i)
	c.faults["sigkill"]++
}

func (c *chaos) log(step int, format string, args ...any) {
	c.t.Logf("chaos step %d (%.1fs): %s", step, time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

// heal brings everything back up.
func (c *chaos) heal() {
	if c.cutTill >= 0 {
		c.proxy.restore(c.t)
		c.cutTill = -1
	}
	for i, at := range c.deadAt {
		if at >= 0 {
			c.workers[i] = c.startWorker()
			c.deadAt[i] = -1
		}
	}
}

// TestReliabilityChaos mixes SIGKILL, NATS restarts, terminated database
// connections and database outages on a seeded schedule (the seed is
// logged; TALLY_CHAOS_SEED replays it) while events keep coming to two
// workers: the counters are exact at the end.
func TestReliabilityChaos(t *testing.T) {
	t.Parallel()
	seed := chaosSeed(t)
	srv := testnats.Start(t)
	f := newFleet(t, srv.URL())
	p := startProxy(t, "127.0.0.1:5432")
	c := &chaos{f: f, t: t, rng: rand.New(rand.NewPCG(seed, 13)), srv: srv, proxy: p, cutTill: -1,
		faults: map[string]int{}, start: time.Now(), deadAt: []int{-1, -1},
		extra: map[string]string{"TALLY_DATABASE_URL": strings.Replace(f.dbURL, "127.0.0.1:5432", p.addr, 1), "TALLY_BATCH_SIZE": "100"}}
	c.workers = []*proc{c.startWorker(), c.startWorker()}
	t.Cleanup(func() { logOnFailure(t, c.all...) })
	msgs := fleetOf(t, int64(seed%1000), sized(20_000, 150_000))
	fig := newFigures("chaos", msgs)
	const step = 500 * time.Millisecond
	steps := int(sized(25*time.Second, 90*time.Second) / step)
	chunk := len(msgs)/steps + 1
	for s := range steps {
		f.publish(msgs[min(s*chunk, len(msgs)):min((s+1)*chunk, len(msgs))])
		time.Sleep(step) // the pace of the schedule
		c.act(s)
	}
	c.heal()
	healed := time.Now()
	f.waitIdle(sized(3*time.Minute, 10*time.Minute))
	fig.recovery = time.Since(healed)
	for i, w := range c.workers {
		require.Nil(t, exited(w), "worker %d exited by itself:\n%s", i, w.out.String())
	}
	f.requireExact(msgs)
	fig.add("seed", seed)
	for _, k := range []string{"sigkill", "nats_restart", "connections_terminated", "database_cut"} {
		fig.add(k, c.faults[k])
	}
	fig.report(f)
}
