package integration

// Reliability scenarios of processes that stop: three `tally migrate` at
// once (12), SIGKILL at failpoints and at random (3), SIGTERM mid-stream
// (4), a worker frozen in a slow batch while others take it over (2).

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/internal/testnats"
)

// schemaFingerprintSQL describes what tally migrate made of a database:
// relations, columns, functions, migrations applied (each once, we hope)
// and the rows that must exist once.
const schemaFingerprintSQL = `SELECT string_agg(x, E'\n' ORDER BY x) FROM (
	SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'tally%'
	UNION ALL SELECT n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname LIKE 'tally%' AND a.attnum > 0 AND NOT a.attisdropped
	UNION ALL SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname LIKE 'tally%'
	UNION ALL SELECT 'migration ' || version_id || ' applied ' || count(*) || 'x'
		FROM tally.goose_db_version WHERE is_applied GROUP BY version_id
	UNION ALL SELECT 'generation ' || gen || ' ' || state || ' ' || timezone FROM tally.generations
	UNION ALL SELECT 'setting ' || name || '=' || value FROM tally.settings
	UNION ALL SELECT 'freshness rows ' || count(*) FROM tally.freshness_state
) AS s(x)`

// schemaFingerprint reads schemaFingerprintSQL on the database at url.
func schemaFingerprint(t testing.TB, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var fp string
	require.NoError(t, conn.QueryRow(ctx, schemaFingerprintSQL).Scan(&fp))
	return fp
}

// migrateAtOnce runs three `tally migrate` on the database at url at the
// same moment and requires that each succeeds.
func (f *fleet) migrateAtOnce(url string) {
	f.t.Helper()
	var procs []*proc
	for range 3 {
		procs = append(procs, f.startProc(map[string]string{"TALLY_DATABASE_URL": url}, "migrate"))
	}
	for i, p := range procs {
		require.Equal(f.t, 0, p.exitCode(f.t, 2*time.Minute), "migrate %d:\n%s", i, p.out.String())
	}
}

// TestReliabilityConcurrentMigrate runs three `tally migrate` at once on an
// empty database, and on one that does not exist yet: all succeed, the
// schema is the one a single migrate makes, and a worker then counts
// exactly.
func TestReliabilityConcurrentMigrate(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL(), testdb.Options{Empty: true})
	fig := newFigures("concurrent_migrate", nil)
	want := schemaFingerprint(t, testdb.New(t))
	require.Contains(t, want, "migration 1 applied 1x")

	f.migrateAtOnce(f.dbURL)
	require.Equal(t, want, schemaFingerprint(t, f.dbURL), "three migrates on an empty database")
	missing := testdb.URLFor(testdb.NewName(t))
	f.migrateAtOnce(missing)
	require.Equal(t, want, schemaFingerprint(t, missing), "three migrates creating the database")

	msgs := troubled(t, 12)
	f.startWorker(nil)
	f.publish(msgs)
	f.waitIdle(2 * time.Minute)
	f.requireExact(msgs)
	fig.messages, fig.events = len(msgs), distinctEvents(msgs)
	fig.add("migrates", 6)
	fig.report(f)
}

// chaosSeed returns the seed of a randomised scenario: TALLY_CHAOS_SEED
// when set, to replay a failure, or the time. It is logged either way.
func chaosSeed(t testing.TB) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TALLY_CHAOS_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "TALLY_CHAOS_SEED")
	}
	t.Logf("seed %d (replay with TALLY_CHAOS_SEED=%d)", seed, seed)
	return seed
}

// killAt runs a worker with a failpoint and requires that it kills the
// process there, leaving its batch delivered and not acknowledged.
func (f *fleet) killAt(spec string, extra map[string]string) {
	f.t.Helper()
	p := f.startProc(withVars(extra, "TALLY_FAILPOINTS", spec), "run")
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		require.FailNow(f.t, "the failpoint was never reached", "%s\n%s", spec, p.out.String())
	}
	require.True(f.t, p.killed(), "%s: the process must die by SIGKILL:\n%s", spec, p.out.String())
	name, _, _ := strings.Cut(spec, "=")
	require.Contains(f.t, p.out.String(), "failpoint "+name+": killing the process")
	require.Positive(f.t, f.consumerInfo().NumAckPending, "%s: the batch is left unacknowledged", spec)
}

// withVars returns extra with more settings on top.
func withVars(extra map[string]string, kv ...string) map[string]string {
	vars := maps.Clone(extra)
	if vars == nil {
		vars = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	return vars
}

// TestReliabilitySIGKILL kills the worker right after a commit and before
// its ack, right before a commit, and at random moments while events keep
// arriving: nothing is lost, and what was committed and redelivered is
// absorbed as duplicates.
func TestReliabilitySIGKILL(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(chaosSeed(t), 3))
	f := newFleet(t, testnats.MachineURL())
	msgs := load(t, 31, sized(3, 30))
	half := len(msgs) / 2
	fig := newFigures("sigkill", msgs)
	extra := map[string]string{"TALLY_BATCH_SIZE": "100"}
	f.createStream(0)
	f.publishAll(msgs[:half], time.Minute)
	points := []string{"after_commit=kill@3", "before_commit=kill@2", "after_commit=kill@1", "before_commit=kill@4"}
	for _, spec := range points {
		f.killAt(spec, extra)
	}
	published := f.publishPaced(msgs[half:], len(msgs)/40+1, 100*time.Millisecond)
	kills, midBatch := sized(6, 40), 0
	for range kills {
		p := f.startProc(extra, "run")
		time.Sleep(time.Duration(200+rng.IntN(900)) * time.Millisecond)
		if f.inFlight() > 0 {
			midBatch++
		}
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
		require.True(t, p.killed())
	}
	<-published
	last := f.startProc(extra, "run")
	recovery := time.Now()
	f.waitIdle(sized(2*time.Minute, 10*time.Minute))
	fig.recovery = time.Since(recovery)
	f.requireExact(msgs)
	redelivered := f.absorbed() - publisherCopies(t, msgs)
	require.Positive(t, redelivered, "batches committed before a kill came back and were absorbed")
	logOnFailure(t, last)
	fig.add("failpoint_kills", len(points))
	fig.add("random_kills", kills)
	fig.add("random_kills_mid_batch", midBatch)
	fig.add("redelivered_duplicates", redelivered)
	fig.report(f)
}

// TestReliabilitySIGTERM stops a worker with SIGTERM while a batch is in
// flight: the batch commits and is acknowledged, the worker exits 0, and
// no message is ever redelivered.
func TestReliabilitySIGTERM(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	msgs := load(t, 41, sized(2, 20))
	third := len(msgs) / 3
	slow := carEvent(t, "sigterm-slow", fleetsim.DefaultStart)
	all := append(slices.Clone(msgs), slow)
	fig := newFigures("sigterm", all)
	extra := f.namedWorker("tally_w0", map[string]string{"TALLY_BATCH_SIZE": "100"})
	p := f.startProc(extra, "run")
	f.publish(msgs[:third])
	f.waitIdle(time.Minute)

	// A batch in flight for 1.5s, less than the apply timeout, while
	// events keep coming.
	f.slowEvent(events.PeekID(slow.Body), 1500*time.Millisecond, 1)
	f.publish([]fleetsim.Message{slow})
	published := f.publishPaced(msgs[third:], len(msgs)/30+1, 100*time.Millisecond)
	f.backendOf("PgSleep", time.Minute)
	stopped := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.exitCode(t, time.Minute), p.out.String())
	fig.add("shutdown", fmt.Sprintf("%.1fs", time.Since(stopped).Seconds()))
	require.Contains(t, p.out.String(), "tally stopped")
	require.NotContains(t, p.out.String(), "returned for redelivery")
	require.True(t, f.isRecorded(events.PeekID(slow.Body)), "the batch in flight committed")
	// With no worker left, a message delivered and not acknowledged would
	// stay pending: none may.
	require.Eventually(t, func() bool { return f.ackPending() == 0 }, 10*time.Second, 50*time.Millisecond,
		"every message delivered before the stop was acknowledged")
	require.Zero(t, f.redeliveries())

	<-published
	restarted := time.Now()
	f.startProc(extra, "run")
	f.waitIdle(sized(2*time.Minute, 10*time.Minute))
	fig.recovery = time.Since(restarted)
	f.requireExact(all)
	require.Zero(t, f.redeliveries(), "nothing is redelivered needlessly")
	fig.report(f)
}

// workerNamed returns the worker whose connections carry application_name.
func workerNamed(t testing.TB, procs []*proc, name string) *proc {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "tally_w"))
	require.NoError(t, err, "application_name %q", name)
	return procs[i]
}

// TestReliabilitySlowBatchRedelivered makes batches slower than the ack
// wait with three workers. A live worker keeps its slow batch (it tells
// the broker the batch is in progress): nothing is redelivered. A worker
// frozen in the middle of its transaction (SIGSTOP, as in a long pause)
// stops saying so: the broker redelivers its batch, another worker
// commits it while the first still holds it, and when the first wakes up
// its copy is absorbed as a duplicate.
func TestReliabilitySlowBatchRedelivered(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	msgs := load(t, 21, sized(3, 20))
	third := len(msgs) / 3
	slow := carEvent(t, "slow-alive", fleetsim.DefaultStart)
	frozen := carEvent(t, "slow-frozen", fleetsim.DefaultStart.Add(time.Hour))
	all := append(slices.Clone(msgs), slow, frozen)
	fig := newFigures("slow_batch", all)
	procs := f.startWorkers(3, map[string]string{"TALLY_BATCH_SIZE": "50"})
	f.publish(msgs[:third])
	f.waitIdle(time.Minute)

	// Alive: each attempt sleeps past the apply timeout (3s) twice, so the
	// batch takes longer than the ack wait (4s).
	f.slowEvent(events.PeekID(slow.Body), 10*time.Second, 2)
	f.publish([]fleetsim.Message{slow})
	published := f.publishPaced(msgs[third:2*third], third/20+1, 100*time.Millisecond)
	start := time.Now()
	require.Eventually(t, func() bool { return f.isRecorded(events.PeekID(slow.Body)) }, time.Minute, 50*time.Millisecond)
	fig.add("slow_batch", fmt.Sprintf("%.1fs", time.Since(start).Seconds()))
	<-published
	require.Zero(t, f.redeliveries(), "a live worker keeps its slow batch")

	// Frozen in the middle of its transaction (SIGSTOP: a paused VM, a host
	// gone), holding the ledger rows of the events of its batch recorded
	// before the slow one (which sorts last). The others take the batch
	// over: they must not wait for the frozen worker to wake up.
	f.waitIdle(time.Minute)
	burst := slices.Insert(slices.Clone(msgs[2*third:2*third+200]), 100, frozen)
	f.slowEvent(events.PeekID(frozen.Body), 2500*time.Millisecond, 1) // within the apply timeout
	f.publish(burst)
	holder := workerNamed(t, procs, f.backendOf("PgSleep", time.Minute))
	require.NoError(t, holder.cmd.Process.Signal(syscall.SIGSTOP))
	stopped := time.Now()
	published = f.publishPaced(msgs[2*third+200:], third/20+1, 100*time.Millisecond)
	require.Eventually(t, func() bool { return f.isRecorded(events.PeekID(frozen.Body)) }, time.Minute, 50*time.Millisecond,
		"another worker commits the frozen worker's batch while it is frozen")
	fig.add("taken_over_after", fmt.Sprintf("%.1fs", time.Since(stopped).Seconds()))
	require.Positive(t, f.redeliveries())
	require.NoError(t, holder.cmd.Process.Signal(syscall.SIGCONT))
	woke := time.Now()
	// The broker counts the batch acknowledged by the worker that took it
	// over; the woken worker still applies its own copy: wait for it.
	copies := publisherCopies(t, all)
	require.Eventually(t, func() bool { return f.absorbed() > copies }, time.Minute, 50*time.Millisecond,
		"the woken worker's copy of its batch is absorbed as a duplicate")
	<-published
	f.waitIdle(sized(2*time.Minute, 10*time.Minute))
	fig.recovery = time.Since(woke)
	f.requireExact(all)
	fig.add("redelivered_duplicates", f.absorbed()-copies)
	fig.report(f)
}
