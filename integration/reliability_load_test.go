package integration

// Reliability scenarios of load and contention: a backlog caught up by
// three workers (9), a hot key (10), events out of order per entity across
// workers (11).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/testnats"
)

// fleetOf returns about n messages of a four-city fleet over ten days with
// a little of every trouble.
func fleetOf(t testing.TB, seed int64, n int) []fleetsim.Message {
	t.Helper()
	cfg := fleetsim.DefaultConfig(seed)
	cfg.Days = 10
	// About 15 messages per car and day in four cities.
	cfg.CarsPerCity = max(1, n/(4*cfg.Days*15))
	cfg.DuplicateRate, cfg.ConflictRate, cfg.ReorderRate = 0.01, 0.001, 0.01
	cfg.BadRate, cfg.UnknownTypeRate = 0.002, 0.002
	sim, err := fleetsim.New(cfg)
	require.NoError(t, err)
	return sim.All()
}

// publishAll publishes msgs in order, with a deadline fit for a backlog.
func (f *fleet) publishAll(msgs []fleetsim.Message, timeout time.Duration) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := fleetsim.Publish(ctx, f.js, f.names.Prefix, slices.Values(msgs), nil)
	require.NoError(f.t, err)
}

// startWorkers starts n tally processes named tally_w0... and returns them.
func (f *fleet) startWorkers(n int, extra map[string]string) []*proc {
	procs := make([]*proc, n)
	for i := range procs {
		procs[i] = f.startProc(f.namedWorker(fmt.Sprintf("tally_w%d", i), extra), "run")
	}
	f.t.Cleanup(func() { logOnFailure(f.t, procs...) })
	return procs
}

// TestReliabilityBacklog publishes a backlog with no worker running, then
// starts three: they catch up, exactly.
func TestReliabilityBacklog(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	msgs := fleetOf(t, 91, sized(100_000, 1_000_000))
	fig := newFigures("backlog", msgs)
	f.createStream(0)
	f.publishAll(msgs, sized(3*time.Minute, 20*time.Minute))
	fig.add("publish", fmt.Sprintf("%.1fs", time.Since(fig.start).Seconds()))
	caughtUp := time.Now()
	f.startWorkers(3, map[string]string{"TALLY_BATCH_SIZE": "1000"})
	f.waitIdle(sized(6*time.Minute, 60*time.Minute))
	took := time.Since(caughtUp)
	fig.add("catch_up", fmt.Sprintf("%.1fs", took.Seconds()))
	fig.add("events_per_s", int(float64(fig.messages)/took.Seconds()))
	f.requireExact(msgs)
	fig.report(f)
}

// draft returns the message of a valid event, with Nats-Msg-Id set.
func draft(t testing.TB, d events.Draft) fleetsim.Message {
	t.Helper()
	body, err := d.Encode()
	require.NoError(t, err)
	return fleetsim.Message{Subject: string(d.Type), Body: body, MsgID: d.ID}
}

// hotTrips returns about n events of one car in one city: a status change
// and a booking (confirmed, then started and ended, or cancelled) with
// its payment, a minute apart.
func hotTrips(t testing.TB, car, city string, n int) []fleetsim.Message {
	var msgs []fleetsim.Message
	statuses := []string{"active", "maintenance", "active", "retired", "active"}
	for i := 0; len(msgs) < n; i++ {
		at := fleetsim.DefaultStart.Add(time.Duration(i) * time.Minute)
		id := fmt.Sprintf("hot-%s-%d", car, i)
		bk := events.BookingChange{BookingID: "bk-" + id, CarID: car, City: city}
		msgs = append(msgs,
			draft(t, events.Draft{ID: id + "-st", Type: events.CarStatusChanged, OccurredAt: at,
				Data: events.CarStatus{CarID: car, City: city, Status: statuses[i%len(statuses)]}}),
			draft(t, events.Draft{ID: id + "-cf", Type: events.BookingConfirmed, OccurredAt: at.Add(time.Second),
				Data: events.BookingConfirmation{BookingID: bk.BookingID, CarID: car, City: city,
					StartAt: at.Add(10 * time.Minute), EndAt: at.Add(40 * time.Minute)}}))
		if i%7 == 0 {
			msgs = append(msgs, draft(t, events.Draft{ID: id + "-cx", Type: events.BookingCancelled, OccurredAt: at.Add(2 * time.Second), Data: bk}))
			continue
		}
		msgs = append(msgs,
			draft(t, events.Draft{ID: id + "-sa", Type: events.BookingStarted, OccurredAt: at.Add(10 * time.Minute), Data: bk}),
			draft(t, events.Draft{ID: id + "-en", Type: events.BookingEnded, OccurredAt: at.Add(40 * time.Minute), Data: bk}),
			draft(t, events.Draft{ID: id + "-pay", Type: events.PaymentCaptured, OccurredAt: at.Add(41 * time.Minute),
				Data: events.PaymentCapture{PaymentID: "pay-" + id, BookingID: bk.BookingID, City: city, AmountMinor: int64(500 + i), Currency: "EUR"}}))
	}
	return msgs
}

// interleave merges a and b at random, keeping the order within each.
func interleave(rng *rand.Rand, a, b []fleetsim.Message) []fleetsim.Message {
	out := make([]fleetsim.Message, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && rng.IntN(len(a)+len(b)) < len(a)) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// TestReliabilityHotKey puts half the events on one car in one city, so
// that three workers fight over the same entity and counter rows.
func TestReliabilityHotKey(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	n := sized(10_000, 100_000)
	hot := hotTrips(t, "hot-car", "paris", n/2)
	msgs := interleave(rand.New(rand.NewPCG(10, 10)), fleetOf(t, 10, n/2), hot)
	fig := newFigures("hot_key", msgs)
	fig.add("hot_share", fmt.Sprintf("%.2f", float64(len(hot))/float64(len(msgs))))
	f.startWorkers(3, map[string]string{"TALLY_BATCH_SIZE": "100"})
	f.publishAll(msgs, sized(2*time.Minute, 10*time.Minute))
	f.waitIdle(sized(4*time.Minute, 30*time.Minute))
	f.requireExact(msgs)
	fig.report(f)
}

// outOfOrder returns a fleet whose events arrive out of order per entity:
// reordered at the source, many cars retired then re-activated, and the
// whole stream shuffled in windows of a few hundred messages, so that
// bookings end before they start across workers.
func outOfOrder(t testing.TB, seed int64, n int) []fleetsim.Message {
	t.Helper()
	cfg := fleetsim.Troubled(seed)
	cfg.Days = 5
	cfg.CarsPerCity = max(1, n/(4*cfg.Days*16))
	cfg.ReorderRate, cfg.RetireRate = 0.5, 0.3
	sim, err := fleetsim.New(cfg)
	require.NoError(t, err)
	msgs := sim.All()
	rng := rand.New(rand.NewPCG(uint64(seed), 11))
	for i := 0; i < len(msgs); i += 300 {
		w := msgs[i:min(i+300, len(msgs))]
		rng.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
	}
	return msgs
}

// lateEvents counts the valid events that arrive after an event of their
// entity with a greater key, and the entities that have one.
func lateEvents(msgs []fleetsim.Message) (late, entities int) {
	newest := map[string]events.Key{}
	hit := map[string]bool{}
	for _, m := range msgs {
		ev, err := events.Decode(m.Body, 0)
		if err != nil || ev.EntityID() == "" {
			continue
		}
		k := string(ev.Type.Entity()) + "/" + ev.EntityID()
		if n, ok := newest[k]; ok && ev.Key().Less(n) {
			late++
			hit[k] = true
			continue
		}
		newest[k] = ev.Key()
	}
	return late, len(hit)
}

// orderFacts counts the bookings whose booking.ended arrives before their
// booking.started, and the cars retired and later (by key) active again.
func orderFacts(msgs []fleetsim.Message) (endedFirst, reactivated int) {
	started := map[string]bool{}
	retiredAt := map[string]events.Key{}
	again := map[string]bool{}
	for _, m := range msgs {
		ev, err := events.Decode(m.Body, 0)
		switch {
		case err != nil:
		case ev.Type == events.BookingStarted:
			started[ev.BookingID] = true
		case ev.Type == events.BookingEnded && !started[ev.BookingID]:
			endedFirst++
		case ev.Type == events.CarStatusChanged && ev.Status == "retired":
			retiredAt[ev.CarID] = ev.Key()
		}
	}
	for _, m := range msgs {
		ev, err := events.Decode(m.Body, 0)
		if err == nil && ev.Type == events.CarStatusChanged && ev.Status == "active" {
			if k, ok := retiredAt[ev.CarID]; ok && k.Less(ev.Key()) {
				again[ev.CarID] = true
			}
		}
	}
	return endedFirst, len(again)
}

// TestReliabilityOutOfOrder sends each entity's events out of order to
// three workers with small batches: every entity ends in the state of its
// greatest key, and every event counts once.
func TestReliabilityOutOfOrder(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	msgs := outOfOrder(t, 111, sized(12_000, 150_000))
	fig := newFigures("out_of_order", msgs)
	late, entities := lateEvents(msgs)
	endedFirst, reactivated := orderFacts(msgs)
	require.Positive(t, endedFirst, "some bookings must end before they start")
	require.Positive(t, reactivated, "some cars must be retired, then active again")
	fig.add("late_events", late)
	fig.add("entities_out_of_order", entities)
	fig.add("ended_before_started", endedFirst)
	fig.add("cars_reactivated", reactivated)
	f.startWorkers(3, map[string]string{"TALLY_BATCH_SIZE": "20"})
	f.publishAll(msgs, sized(2*time.Minute, 10*time.Minute))
	f.waitIdle(sized(4*time.Minute, 30*time.Minute))
	f.requireExact(msgs)
	fig.report(f)
}
