package integration

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/fleetsim"
)

// load is a few thousand events with trouble, sized so that a worker is
// busy for a while on 2 cores.
func load(t testing.TB, seed int64, days int) []fleetsim.Message {
	cfg := fleetsim.Troubled(seed)
	cfg.Days = days
	cfg.CarsPerCity = 15
	sim, err := fleetsim.New(cfg)
	require.NoError(t, err)
	return sim.All()
}

// inFlight reports how many messages the consumer has delivered and not
// yet seen acknowledged.
func (f *fleet) inFlight() int {
	c, err := f.js.Consumer(context.Background(), f.names.Stream, f.names.Consumer)
	if err != nil {
		return 0
	}
	info, err := c.Info(context.Background())
	if err != nil {
		return 0
	}
	return info.NumAckPending
}

// awaitInFlight polls, for at most d, for messages delivered and not
// acknowledged: the worker takes a batch as soon as it arrives, so one is
// in flight for milliseconds at a time.
func (f *fleet) awaitInFlight(d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if f.inFlight() > 0 {
			return true
		}
	}
	return false
}

func TestKilledWorkerLosesAndDoublesNothing(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	t.Logf("seed %d (kill moments)", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	f := newFleet(t, currentNATS.URL())
	msgs := load(t, 7, 2)
	// A small batch makes a kill land between commit and ack more often.
	extra := map[string]string{"TALLY_BATCH_SIZE": "200"}
	p := f.startProc(extra, "run")
	published := f.publishPaced(msgs, len(msgs)/30+1, 130*time.Millisecond)
	midBatch := 0
	for i := range 5 {
		time.Sleep(time.Duration(150+rng.IntN(600)) * time.Millisecond)
		if f.awaitInFlight(time.Second) {
			midBatch++
		}
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL), "kill %d", i)
		<-p.done
		p = f.startProc(extra, "run")
	}
	<-published
	require.Positive(t, midBatch, "no kill landed while messages were in flight")
	t.Logf("%d of 5 kills landed with messages delivered and not acknowledged", midBatch)
	f.waitIdle(2 * time.Minute)
	f.requireExact(msgs)
}

func TestThreeWorkersCountExactly(t *testing.T) {
	t.Parallel()
	for _, b := range brokers() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, b.url)
			msgs := load(t, 11, 2)
			for range 3 {
				f.startWorker(map[string]string{"TALLY_BATCH_SIZE": "100"})
			}
			f.publish(msgs)
			f.waitIdle(2 * time.Minute)
			f.requireExact(msgs)
		})
	}
}

func TestTerminatedConnectionsRecover(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnatsMachine())
	msgs := load(t, 13, 2)
	f.startWorker(map[string]string{"TALLY_BATCH_SIZE": "100"})
	published := f.publishPaced(msgs, len(msgs)/30+1, 100*time.Millisecond)
	ctx := context.Background()
	terminated := 0
	for idle := false; !idle; {
		select {
		case <-published:
			idle = true
		case <-time.After(150 * time.Millisecond):
		}
		var n int
		require.NoError(t, f.adminQueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'tally'`).Scan(&n))
		terminated += n
	}
	require.Positive(t, terminated, "the test must have cut some connections")
	t.Logf("terminated %d connections", terminated)
	f.waitIdle(2 * time.Minute)
	f.requireExact(msgs)
}

func TestWorkerRefusesOtherZones(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnatsMachine())
	code, out := f.runTally(map[string]string{"TALLY_TIMEZONE": "Europe/Paris"}, "run")
	require.Equal(t, 2, code, out)
	require.Regexp(t, `(?m)^tally: TALLY_TIMEZONE: configured zones Europe/Paris differ from the stored UTC; run tally rebuild`, out)
}

// A failure that is the system's (here a missing privilege, raised by a
// trigger) is retried until fixed; it must never dead-letter the events.
func TestSystemFailuresAreRetriedNotDeadLettered(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnatsMachine())
	ctx := context.Background()
	_, err := f.store.Pool().Exec(ctx, `
		CREATE FUNCTION public.deny() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'permission denied for table events' USING ERRCODE = '42501'; END $$;
		CREATE TRIGGER deny BEFORE INSERT ON tally.events FOR EACH STATEMENT EXECUTE FUNCTION public.deny();`)
	require.NoError(t, err)
	sim, err := fleetsim.New(fleetsim.DefaultConfig(21))
	require.NoError(t, err)
	msgs := sim.All()
	w := f.startWorker(nil)
	f.publish(msgs)
	retries := w.main.Metrics.ApplyRetries.WithLabelValues("system")
	require.Eventually(t, func() bool { return testutil.ToFloat64(retries) >= 3 }, time.Minute, 20*time.Millisecond)
	_, err = f.store.Pool().Exec(ctx, "DROP TRIGGER deny ON tally.events")
	require.NoError(t, err)
	f.waitIdle(2 * time.Minute)
	f.requireExact(msgs)
}
