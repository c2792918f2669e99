package integration

// Helpers of the reliability suite (issue 7): every TestReliability...
// scenario breaks something on purpose, then proves with requireExact that
// nothing was lost or counted twice, and reports its figures in one line
// that docs/reliability.md collects:
//
//	go test ./integration/ -run TestReliability -count=1 -v | grep 'reliability:'

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/consumer"
	"github.com/tallyhq/tally/internal/fleetsim"
)

// soakFlag scales the reliability scenarios up to the sizes reported in
// docs/reliability.md; TALLY_SOAK=1 does the same for `go test ./...`.
var soakFlag = flag.Bool("tally.soak", false, "run the reliability scenarios at soak size (also TALLY_SOAK=1)")

// soak reports whether the suite runs at soak size.
func soak() bool { return *soakFlag || os.Getenv("TALLY_SOAK") == "1" }

// sized returns def normally and big at soak size.
func sized[T any](def, big T) T {
	if soak() {
		return big
	}
	return def
}

// figures are what a scenario reports: how much it moved and what it
// took to recover.
type figures struct {
	scenario string
	start    time.Time
	messages int // published
	events   int // distinct valid events among them
	recovery time.Duration
	extra    []string // more name=value pairs
}

// newFigures starts the figures of a scenario that publishes msgs.
func newFigures(scenario string, msgs []fleetsim.Message) *figures {
	return &figures{scenario: scenario, start: time.Now(), messages: len(msgs), events: distinctEvents(msgs)}
}

// add records one more name=value pair.
func (g *figures) add(name string, value any) {
	g.extra = append(g.extra, fmt.Sprintf("%s=%v", name, value))
}

// report logs the figures in one parseable line, with the broker's count
// of redeliveries and the duplicates tally absorbed.
func (g *figures) report(f *fleet) {
	f.t.Helper()
	line := fmt.Sprintf("reliability: scenario=%s soak=%t messages=%d events=%d wall=%.1fs redeliveries=%d duplicates_absorbed=%d recovery=%.1fs",
		g.scenario, soak(), g.messages, g.events, time.Since(g.start).Seconds(), f.redeliveries(), f.absorbed(), g.recovery.Seconds())
	if len(g.extra) > 0 {
		line += " " + strings.Join(g.extra, " ")
	}
	f.t.Log(line)
}

// distinctEvents counts the valid event ids among msgs.
func distinctEvents(msgs []fleetsim.Message) int {
	ids := map[string]struct{}{}
	for _, m := range msgs {
		if !m.Bad {
			ids[events.PeekID(m.Body)] = struct{}{}
		}
	}
	return len(ids)
}

// consumerInfo reads the shared durable consumer's state from the broker.
func (f *fleet) consumerInfo() *jetstream.ConsumerInfo {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var info *jetstream.ConsumerInfo
	var last error
	require.Eventually(f.t, func() bool {
		cons, err := f.js.Consumer(ctx, f.names.Stream, f.names.Consumer)
		if err == nil {
			info, err = cons.Info(ctx)
		}
		last = err
		return err == nil
	}, 10*time.Second, 100*time.Millisecond, "consumer info: %v", last)
	return info
}

// ackPending is the number of messages delivered and not acknowledged,
// or -1 when the broker does not answer (safe in Eventually conditions).
func (f *fleet) ackPending() int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := f.js.Consumer(ctx, f.names.Stream, f.names.Consumer)
	if err != nil {
		return -1
	}
	info, err := c.Info(ctx)
	if err != nil {
		return -1
	}
	return info.NumAckPending
}

// redeliveries is the number of deliveries beyond the first of each
// message, as the broker counts them: each test's stream holds only its
// own subjects, so the consumer's stream sequence is the number of
// messages delivered at least once.
func (f *fleet) redeliveries() int64 {
	info := f.consumerInfo()
	return int64(info.Delivered.Consumer) - int64(info.Delivered.Stream)
}

// absorbed is the number of copies of recorded events tally received and
// counted as duplicates (same content or conflicting): the publishers'
// copies plus the redeliveries that reached a commit.
func (f *fleet) absorbed() int64 {
	return f.scalar("SELECT COALESCE(sum(duplicates + conflicts), 0)::int8 FROM tally.duplicates")
}

// scalar runs a query of one int8 on the fleet's database. It reports an
// error with Errorf, not require, because require.Eventually conditions
// call it from another goroutine, where FailNow must not be called.
func (f *fleet) scalar(sql string, args ...any) int64 {
	var n int64
	if err := f.store.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		f.t.Errorf("%s: %v", sql, err)
		return -1
	}
	return n
}

// publisherCopies is how many copies of already published valid events
// reach tally from msgs: duplicates tally absorbs even without any fault.
func publisherCopies(t testing.TB, msgs []fleetsim.Message) int64 {
	want := expect(t, msgs)
	var n int64
	for _, copies := range want.bodies {
		n += int64(len(copies) - 1)
	}
	return n
}

// recorded is the number of events in the ledger.
func (f *fleet) recorded() int64 { return f.scalar("SELECT count(*) FROM tally.events") }

// waitProgress waits until the ledger holds more than from events and
// returns how long that took.
func (f *fleet) waitProgress(from int64, timeout time.Duration) time.Duration {
	f.t.Helper()
	start := time.Now()
	require.Eventually(f.t, func() bool { return f.recorded() > from }, timeout, 20*time.Millisecond,
		"no event was recorded after %d", from)
	return time.Since(start)
}

// adminExec runs SQL on the fleet's database as the test, not as tally.
func (f *fleet) adminExec(sql string, args ...any) {
	f.t.Helper()
	_, err := f.store.Pool().Exec(context.Background(), sql, args...)
	require.NoError(f.t, err)
}

// backendOf waits until one of tally's connections to the fleet's database
// is in the wait event given (such as PgSleep, or a Lock) and returns its
// application_name.
func (f *fleet) backendOf(waitEvent string, timeout time.Duration) string {
	f.t.Helper()
	var app string
	require.Eventually(f.t, func() bool {
		err := f.store.Pool().QueryRow(context.Background(), `SELECT application_name FROM pg_stat_activity
			WHERE datname = current_database() AND application_name LIKE 'tally%' AND application_name <> 'tally_test'
			  AND (wait_event = $1 OR wait_event_type = $1) LIMIT 1`, waitEvent).Scan(&app)
		return err == nil
	}, timeout, 20*time.Millisecond, "no tally connection waited on %s", waitEvent)
	return app
}

// namedWorker returns settings that give a worker's database connections
// their own application_name, so the test can tell which worker holds what.
func (f *fleet) namedWorker(name string, extra map[string]string) map[string]string {
	vars := map[string]string{"TALLY_DATABASE_URL": withParam(f.dbURL, "application_name", name)}
	for k, v := range extra {
		vars[k] = v
	}
	return vars
}

// killed reports whether the process ended by SIGKILL.
func (p *proc) killed() bool {
	<-p.done
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// createStream creates the fleet's stream as tally would, with another
// duplicate window when dupWindow is not 0, so that events can be
// published before any worker runs. tally uses an existing stream as it is.
func (f *fleet) createStream(dupWindow time.Duration) {
	f.t.Helper()
	sc := consumer.StreamConfig(f.consumerConfig())
	if dupWindow != 0 {
		sc.Duplicates = dupWindow
	}
	_, err := f.js.CreateStream(context.Background(), sc)
	require.NoError(f.t, err)
}

// consumerConfig is what the fleet's workers use of its settings.
func (f *fleet) consumerConfig() consumer.Config {
	cfg := f.config(nil)
	return consumer.Config{Stream: cfg.Stream, Subjects: cfg.Subjects, StreamMaxAge: cfg.StreamMaxAge}
}

// logOnFailure logs what the processes said beyond INFO when the test
// failed: the warnings tell what the workers went through.
func logOnFailure(t testing.TB, procs ...*proc) {
	if !t.Failed() {
		return
	}
	for i, p := range procs {
		var lines []string
		for line := range strings.Lines(p.out.String()) {
			if !strings.Contains(line, "level=INFO") {
				lines = append(lines, line)
			}
		}
		t.Logf("process %d (%s):\n%s", i, strings.Join(p.cmd.Args[1:], " "), strings.Join(lines, ""))
	}
}

// faultSetupSQL installs, in the test's own database, a trigger on the
// ledger that makes the insert of chosen events sleep or fail (rows of
// rel_faults). Sleeps count their attempts in a sequence, which a
// rollback does not undo.
const faultSetupSQL = `
CREATE TABLE IF NOT EXISTS public.rel_faults (
	id      text PRIMARY KEY,
	fail    boolean NOT NULL DEFAULT false,
	seconds float8 NOT NULL DEFAULT 0,
	times   int NOT NULL DEFAULT 0,
	hits    text
);
CREATE OR REPLACE FUNCTION public.rel_fault() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r public.rel_faults;
BEGIN
	SELECT * INTO r FROM public.rel_faults WHERE id = NEW.id;
	IF NOT FOUND THEN
		RETURN NEW;
	END IF;
	IF r.fail THEN
		RAISE EXCEPTION 'reliability test: event % refused by a trigger', NEW.id;
	END IF;
	IF nextval(r.hits::regclass) <= r.times THEN
		PERFORM pg_sleep(r.seconds);
	END IF;
	RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER rel_fault BEFORE INSERT ON tally.events FOR EACH ROW EXECUTE FUNCTION public.rel_fault();`

// slowEvent makes the first times inserts of event id into the ledger
// sleep for d, whatever becomes of their transactions.
func (f *fleet) slowEvent(id string, d time.Duration, times int) {
	f.t.Helper()
	f.adminExec(faultSetupSQL)
	seq := fmt.Sprintf("public.rel_hits_%d", time.Now().UnixNano())
	f.adminExec("CREATE SEQUENCE " + seq)
	f.adminExec("INSERT INTO public.rel_faults (id, seconds, times, hits) VALUES ($1, $2, $3, $4)", id, d.Seconds(), times, seq)
}

// failEvent makes every insert of event id into the ledger raise an
// exception: a valid event that fails inside the database every time.
func (f *fleet) failEvent(id string) {
	f.t.Helper()
	f.adminExec(faultSetupSQL)
	f.adminExec("INSERT INTO public.rel_faults (id, fail) VALUES ($1, true)", id)
}

// isRecorded reports whether event id is in the ledger.
func (f *fleet) isRecorded(id string) bool {
	return f.scalar("SELECT count(*) FROM tally.events WHERE id = $1", id) == 1
}

// carEvent returns a valid car.status_changed event of a car of its own.
func carEvent(t testing.TB, id string, at time.Time) fleetsim.Message {
	return draft(t, events.Draft{ID: id, Type: events.CarStatusChanged, OccurredAt: at,
		Data: events.CarStatus{CarID: "car-" + id, City: "paris", Status: "active"}})
}
