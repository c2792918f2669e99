package integration

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/oracle"
	"github.com/tallyhq/tally/store"
)

// expectation is what tally must make of a set of published messages.
type expectation struct {
	bodies      map[string][][]byte // valid event id -> every published copy
	deadLetters map[events.Code]int // invalid messages that reach the stream
}

// expect works out the expectation of msgs published in order within the
// stream's duplicate window: a message whose Nats-Msg-Id was seen before
// never reaches tally.
func expect(t testing.TB, msgs []fleetsim.Message) expectation {
	t.Helper()
	e := expectation{bodies: map[string][][]byte{}, deadLetters: map[events.Code]int{}}
	seenMsgID := map[string]bool{}
	for _, m := range msgs {
		if m.MsgID != "" {
			if seenMsgID[m.MsgID] {
				continue
			}
			seenMsgID[m.MsgID] = true
		}
		if m.Bad {
			e.deadLetters[m.ExpectCode]++
			continue
		}
		ev, err := events.Decode(m.Body, 0)
		require.NoError(t, err, "a good simulated message must decode")
		e.bodies[ev.ID] = append(e.bodies[ev.ID], m.Body)
	}
	return e
}

// requireExact checks the end state of a fleet against what was published:
// the ledger holds every valid event exactly once (one of its published
// copies, nothing else), the views equal an independent recomputation from
// those events, and every invalid message is dead-lettered once with its
// code, in the database and in the dead-letter stream.
func (f *fleet) requireExact(msgs []fleetsim.Message) {
	f.t.Helper()
	want := expect(f.t, msgs)
	ledger := f.ledger()
	f.requireLedger(want, ledger)
	f.requireViews(ledger)
	f.requireDeadLetters(want.deadLetters)
}

// ledger reads every recorded event in recording order.
func (f *fleet) ledger() []events.Event {
	f.t.Helper()
	rows, err := f.store.Pool().Query(context.Background(), "SELECT body FROM tally.events ORDER BY pos")
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

func (f *fleet) requireLedger(want expectation, ledger []events.Event) {
	f.t.Helper()
	got := map[string][]byte{}
	for _, ev := range ledger {
		_, dup := got[ev.ID]
		require.False(f.t, dup, "event %q recorded twice", ev.ID)
		got[ev.ID] = ev.Body
	}
	missing, extra := diffKeys(want.bodies, got)
	require.Empty(f.t, missing, "valid events lost: not in the ledger")
	require.Empty(f.t, extra, "events in the ledger that were never published")
	for id, body := range got {
		require.True(f.t, slices.ContainsFunc(want.bodies[id], func(b []byte) bool { return string(b) == string(body) }),
			"ledger copy of %q is none of its published copies", id)
	}
}

func diffKeys[V, W any](want map[string]V, got map[string]W) (missing, extra []string) {
	for k := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return missing, extra
}

// requireViews compares every contract view with oracle.Recompute of the
// recorded events, reading the views and the database's clock in one
// snapshot so overdue bookings agree on "now".
func (f *fleet) requireViews(ledger []events.Event) {
	f.t.Helper()
	got, now, grace := f.readViews()
	g, err := f.store.CurrentGeneration(context.Background())
	require.NoError(f.t, err)
	want := oracle.Recompute(ledger, g.Zones, now, grace)
	require.Empty(f.t, got.Diff(want), "views differ from the recomputation")
}

// readViews reads the views as oracle.Counters, with now() and the grace.
func (f *fleet) readViews() (oracle.Counters, time.Time, time.Duration) {
	f.t.Helper()
	ctx := context.Background()
	var v store.Views
	var now time.Time
	var grace time.Duration
	err := pgx.BeginTxFunc(ctx, f.store.Pool(), pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT now(), (SELECT value::interval FROM tally.settings WHERE name = 'overdue_grace')`).
				Scan(&now, &grace); err != nil {
				return err
			}
			var err error
			v, err = store.ReadViewsTx(ctx, tx)
			return err
		})
	require.NoError(f.t, err)
	return oracle.FromViews(v), now, grace
}

// requireDeadLetters checks the dead letters by code, once each, in the
// database and in the dead-letter stream.
func (f *fleet) requireDeadLetters(want map[events.Code]int) {
	f.t.Helper()
	ctx := context.Background()
	rows, err := f.store.Pool().Query(ctx, "SELECT code, count(*)::int FROM tally.dead_letters GROUP BY code")
	require.NoError(f.t, err)
	got := map[events.Code]int{}
	var code string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&code, &n}, func() error { got[events.Code(code)] = n; return nil })
	require.NoError(f.t, err)
	total := 0
	for _, n := range want {
		total += n
	}
	maps.DeleteFunc(want, func(_ events.Code, n int) bool { return n == 0 })
	require.Equal(f.t, want, got, "dead letters by code")
	s, err := f.js.Stream(ctx, f.names.DLQStream)
	require.NoError(f.t, err)
	info, err := s.Info(ctx)
	require.NoError(f.t, err)
	require.Equal(f.t, uint64(total), info.State.Msgs, "copies in the dead-letter stream")
}
