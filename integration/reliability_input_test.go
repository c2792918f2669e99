package integration

// Reliability scenarios of what publishers send: duplicates inside and
// outside the broker's duplicate window (1), poison messages of every kind
// (8), a valid event the database refuses every time (14).

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/consumer"
	"github.com/tallyhq/tally/internal/fleetsim"
)

// publishEach publishes msgs one at a time and returns, without their
// Nats-Msg-Id, those the stream stored: the broker dropped the others as
// duplicates within its window, so they never reach tally.
func (f *fleet) publishEach(msgs []fleetsim.Message) (stored []fleetsim.Message, dropped int) {
	f.t.Helper()
	for _, m := range msgs {
		ok, err := f.publishOne(m)
		require.NoError(f.t, err)
		if !ok {
			dropped++
			continue
		}
		m.MsgID = ""
		stored = append(stored, m)
	}
	return stored, dropped
}

// publishOne publishes m and reports whether the stream stored it.
func (f *fleet) publishOne(m fleetsim.Message) (bool, error) {
	nm := nats.NewMsg(f.names.Prefix + "." + m.Subject)
	nm.Data = m.Body
	if m.MsgID != "" {
		nm.Header.Set(jetstream.MsgIDHeader, m.MsgID)
	}
	ack, err := f.js.PublishMsg(context.Background(), nm)
	if err != nil {
		return false, err
	}
	return !ack.Duplicate, nil
}

// variant returns a copy of a valid event with the same id and another
// occurred_at: a conflicting duplicate.
func variant(t testing.TB, m fleetsim.Message) fleetsim.Message {
	t.Helper()
	ev, err := events.Decode(m.Body, 0)
	require.NoError(t, err)
	at := ev.OccurredAt.Format(time.RFC3339Nano)
	later := ev.OccurredAt.Add(time.Second).Format(time.RFC3339Nano)
	m.Body = bytes.Replace(m.Body, []byte(`"occurred_at":"`+at), []byte(`"occurred_at":"`+later), 1)
	require.NotEqual(t, at, later)
	_, err = events.Decode(m.Body, 0)
	require.NoError(t, err)
	m.Conflict, m.MsgID = true, ev.ID
	return m
}

// withMsgID returns the valid, single-copy events of msgs that carry a
// Nats-Msg-Id, up to n.
func withMsgID(msgs []fleetsim.Message, n int) []fleetsim.Message {
	var out []fleetsim.Message
	for _, m := range msgs {
		if len(out) < n && m.MsgID != "" && !m.Bad && !m.Duplicate && !m.Conflict && !m.Unknown &&
			strings.Contains(string(m.Body), `"occurred_at":"`) {
			out = append(out, m)
		}
	}
	return out
}

// requireFirstCopies checks that the ledger holds, for every id, the copy
// that reached the stream first (one worker commits in stream order), and
// that every other content of an id is kept once as a conflict.
func (f *fleet) requireFirstCopies(reached []fleetsim.Message) {
	f.t.Helper()
	first, others := map[string][]byte{}, map[string]map[string]bool{}
	for _, m := range reached {
		if m.Bad {
			continue
		}
		id := events.PeekID(m.Body)
		if b, ok := first[id]; !ok {
			first[id] = m.Body
		} else if !bytes.Equal(b, m.Body) {
			if others[id] == nil {
				others[id] = map[string]bool{}
			}
			others[id][string(m.Body)] = true
		}
	}
	for _, ev := range f.ledger() {
		require.Equal(f.t, string(first[ev.ID]), string(ev.Body), "the copy of %s that came first counts", ev.ID)
	}
	want := 0
	for _, bodies := range others {
		want += len(bodies)
	}
	var got int
	require.NoError(f.t, f.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM tally.conflicts").Scan(&got))
	require.Equal(f.t, want, got, "conflicting copies kept once each")
}

// TestReliabilityDuplicates sends copies inside the broker's duplicate
// window (dropped there), outside it (they reach tally, which absorbs
// them), and copies of the same id with another body (the first counts).
func TestReliabilityDuplicates(t *testing.T) {
	t.Parallel()
	for _, b := range brokers() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, b.url)
			const window = 5 * time.Second
			f.createStream(window) // tally uses an existing stream as it is
			msgs := troubled(t, 1)
			fig := newFigures("duplicates_"+b.name, msgs)
			f.startWorker(nil)
			reached, dropped := f.publishEach(msgs)

			// Inside the window: the same Nats-Msg-Id, same or other body.
			copies := withMsgID(msgs[len(msgs)-100:], 40)
			require.Len(t, copies, 40)
			inside := append(copies[:25:25], variants(t, copies[25:])...)
			stored, insideDropped := f.publishEach(inside)
			require.Empty(t, stored, "the broker drops copies inside its window")

			// Outside the window: the same copies reach the stream. The
			// broker forgets ids oldest first, so once the youngest of
			// them is stored again, all are forgotten.
			early := withMsgID(msgs, 100)
			probe := early[len(early)-1]
			require.Eventually(t, func() bool {
				stored, err := f.publishOne(probe)
				return err == nil && stored
			}, time.Minute, 200*time.Millisecond, "the broker's window never passed")
			probe.MsgID = ""
			reached = append(reached, probe)
			outside, outsideDropped := f.publishEach(append(early[:79:79], variants(t, early[79:99])...))
			require.Zero(t, outsideDropped, "outside the window, copies reach the stream")
			reached = append(reached, outside...)

			f.waitIdle(2 * time.Minute)
			f.requireExact(reached)
			f.requireFirstCopies(reached)
			fig.messages = len(msgs) + len(inside) + len(early)
			fig.add("dropped_by_broker", dropped+insideDropped+outsideDropped)
			fig.add("reached_outside_window", len(outside)+1)
			fig.report(f)
		})
	}
}

// variants returns a conflicting copy of each message.
func variants(t testing.TB, msgs []fleetsim.Message) []fleetsim.Message {
	out := make([]fleetsim.Message, len(msgs))
	for i, m := range msgs {
		out[i] = variant(t, m)
	}
	return out
}

// poisonExtras are invalid messages beyond fleetsim's kinds: empty,
// blank, a byte-order mark, nesting deeper than any decoder allows, and
// one near the stream's 1 MiB limit (its dead-letter copy is truncated).
func poisonExtras() []fleetsim.Message {
	bad := func(name string, code events.Code, body []byte) fleetsim.Message {
		return fleetsim.Message{Subject: "garbage", Body: body, Bad: true, ExpectCode: code, BadKind: name}
	}
	return []fleetsim.Message{
		bad("empty", events.CodeInvalidJSON, []byte{}),
		bad("blank", events.CodeInvalidJSON, []byte(" \n\t ")),
		bad("bom", events.CodeInvalidJSON, []byte("\xef\xbb\xbf{\"id\":\"bom\"}")),
		bad("deep", events.CodeInvalidJSON, []byte(strings.Repeat("[", 20_000)+strings.Repeat("]", 20_000))),
		bad("near_stream_limit", events.CodeTooLarge, bytes.Repeat([]byte("x"), 1<<20-2048)),
	}
}

// poisonOfEveryKind returns one invalid message of each kind fleetsim
// knows, then the extras.
func poisonOfEveryKind(t testing.TB) []fleetsim.Message {
	cfg := fleetsim.DefaultConfig(8)
	cfg.RunPrefix, cfg.BadRate = "poison", 1
	sim, err := fleetsim.New(cfg)
	require.NoError(t, err)
	kinds := map[string]bool{}
	var out []fleetsim.Message
	for m := range sim.Messages {
		if m.Bad && !kinds[m.BadKind] {
			kinds[m.BadKind] = true
			out = append(out, m)
		}
		if len(kinds) == len(fleetsim.BadKinds()) {
			break
		}
	}
	require.Len(t, kinds, len(fleetsim.BadKinds()))
	return append(out, poisonExtras()...)
}

// dlqCodes counts the copies in the dead-letter stream by the code of
// their Tally-Error header, and those marked truncated.
func (f *fleet) dlqCodes() (map[events.Code]int, int) {
	f.t.Helper()
	ctx := context.Background()
	s, err := f.js.Stream(ctx, f.names.DLQStream)
	require.NoError(f.t, err)
	info, err := s.Info(ctx)
	require.NoError(f.t, err)
	codes, truncated := map[events.Code]int{}, 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(f.t, err)
		code, _, _ := strings.Cut(m.Header.Get(consumer.HeaderError), ":")
		codes[events.Code(code)]++
		if m.Header.Get(consumer.HeaderTruncated) != "" {
			truncated++
		}
	}
	return codes, truncated
}

// latency publishes a fresh valid event and returns how long it took to
// reach the ledger.
func (f *fleet) latency(id string) time.Duration {
	f.t.Helper()
	start := time.Now()
	f.publish([]fleetsim.Message{carEvent(f.t, id, fleetsim.DefaultStart)})
	require.Eventually(f.t, func() bool { return f.isRecorded(id) }, time.Minute, 10*time.Millisecond)
	return time.Since(start)
}

// TestReliabilityPoison sends poison of every kind, one over the size
// limit near the stream's own, amid valid events: each is dead-lettered
// once with its code, in PostgreSQL and in the DLQ stream, without a
// single failed apply or redelivery, and the event right behind a burst
// of them is counted as promptly as one behind nothing.
func TestReliabilityPoison(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnatsMachine())
	w := f.startWorker(nil)
	poison := poisonOfEveryKind(t)
	start := time.Now()
	calm := f.latency("poison-sentinel-calm")

	f.publish(poison)
	behind := f.latency("poison-sentinel-behind")
	cfg := fleetsim.Troubled(88)
	cfg.Days, cfg.BadRate = sized(1, 10), 0.2
	sim, err := fleetsim.New(cfg)
	require.NoError(t, err)
	mixed := sim.All()
	f.publish(mixed)
	f.waitIdle(2 * time.Minute)

	all := append(append(poison, mixed...), carEvent(t, "poison-sentinel-calm", fleetsim.DefaultStart),
		carEvent(t, "poison-sentinel-behind", fleetsim.DefaultStart))
	fig := newFigures("poison", all)
	fig.start = start
	f.requireExact(all)
	want := expect(t, all).deadLetters
	codes, truncated := f.dlqCodes()
	require.Equal(t, want, codes, "the DLQ copies carry their codes")
	require.Equal(t, 1, truncated, "the copy too large for the DLQ is marked truncated")
	m := w.main.Metrics
	for _, kind := range []string{"transient", "data"} {
		require.Zero(t, testutil.ToFloat64(m.ApplyRetries.WithLabelValues(kind)), "poison never fails a batch (%s)", kind)
	}
	require.Zero(t, f.redeliveries(), "poison is acknowledged, never redelivered")
	require.Less(t, behind, calm+10*time.Second, "the event behind the poison waits for nothing")
	fig.add("poison_kinds", len(poison))
	fig.add("dead_letters", countBad(all))
	fig.add("latency_calm", fmt.Sprintf("%.3fs", calm.Seconds()))
	fig.add("latency_behind_poison", fmt.Sprintf("%.3fs", behind.Seconds()))
	fig.report(f)
}

func countBad(msgs []fleetsim.Message) int {
	n := 0
	for _, m := range msgs {
		if m.Bad {
			n++
		}
	}
	return n
}

// singleCopy returns the id of the first valid event of a known type in
// msgs that is published once, with no copy anywhere.
func singleCopy(msgs []fleetsim.Message) string {
	n := map[string]int{}
	for _, m := range msgs {
		n[events.PeekID(m.Body)]++
	}
	for _, m := range withMsgID(msgs, len(msgs)) {
		if id := events.PeekID(m.Body); n[id] == 1 {
			return id
		}
	}
	return ""
}

// TestReliabilityApplyFailed makes the database refuse one valid event
// every time (a trigger raises for its id): the worker isolates it from
// its batch, dead-letters it as apply_failed, and counts the rest of the
// batch and everything behind it.
func TestReliabilityApplyFailed(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnatsMachine())
	msgs := troubled(t, 14)
	id := singleCopy(msgs[len(msgs)/2:])
	require.NotEmpty(t, id)
	f.failEvent(id)
	fig := newFigures("apply_failed", msgs)
	f.createStream(0)
	f.publish(msgs) // a backlog, so that the event comes in a full batch
	w := f.startWorker(map[string]string{"TALLY_BATCH_SIZE": "200"})
	f.waitIdle(2 * time.Minute)
	fig.recovery = time.Since(fig.start)

	want := make([]fleetsim.Message, len(msgs))
	for i, m := range msgs {
		if events.PeekID(m.Body) == id && !m.Bad {
			m.Bad, m.ExpectCode = true, events.CodeApplyFailed
		}
		want[i] = m
	}
	f.requireExact(want)
	var code, detail, eventID string
	require.NoError(t, f.store.Pool().QueryRow(context.Background(),
		"SELECT code, detail, event_id FROM tally.dead_letters WHERE code = 'apply_failed'").Scan(&code, &detail, &eventID))
	require.Equal(t, id, eventID)
	require.Contains(t, detail, "refused by a trigger")
	codes, _ := f.dlqCodes()
	require.Equal(t, 1, codes[events.CodeApplyFailed])
	fig.add("data_retries", testutil.ToFloat64(w.main.Metrics.ApplyRetries.WithLabelValues("data")))
	fig.report(f)
}
