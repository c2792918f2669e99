package bench

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tallyhq/tally/internal/fleetsim"
)

// publishAll publishes the first n messages of sim as fast as the broker
// acknowledges them and returns what they must leave in the ledger.
func (w *world) publishAll(ctx context.Context, sim *fleetsim.Sim, n int) (*expected, error) {
	exp := newExpected()
	start := time.Now()
	last := time.Now()
	progress := func(k int) {
		if time.Since(last) > 5*time.Second {
			w.b.logf("%s: published %d of %d messages", w.name, k, n)
			last = time.Now()
		}
	}
	if _, err := fleetsim.Publish(ctx, w.b.js, w.prefix, firstN(sim, n, exp), progress); err != nil {
		return nil, fmt.Errorf("%s: publish: %w", w.name, err)
	}
	if exp.messages < n {
		return nil, fmt.Errorf("%s: the simulated fleet yielded %d messages, not %d", w.name, exp.messages, n)
	}
	took := time.Since(start)
	w.b.logf("%s: published %d messages in %s (%.0f/s)", w.name, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	return exp, nil
}

// sent is a message the paced publisher sent: its stream sequence and
// when it was handed to the client.
type sent struct {
	seq uint64
	at  time.Time
}

// pacer publishes messages at a fixed rate for a while, asynchronously,
// and remembers when each went out.
type pacer struct {
	js      jetstream.JetStream
	prefix  string
	rate    int
	next    func() (fleetsim.Message, bool)
	exp     *expected
	pending []inflight
	sent    []sent
	keep    bool // keep sent (the freshness probe needs it; the soak does not)
}

type inflight struct {
	f  jetstream.PubAckFuture
	at time.Time
}

// run publishes for d at p.rate messages per second. Each moment it
// catches up to rate × elapsed, so a slow moment does not lower the rate;
// it returns the number published and how long that took.
func (p *pacer) run(ctx context.Context, d time.Duration) (int, time.Duration, error) {
	start := time.Now()
	n := 0
	for elapsed := time.Duration(0); elapsed < d; elapsed = time.Since(start) {
		due := int(float64(p.rate) * elapsed.Seconds())
		for ; n < due; n++ {
			if err := p.publish(ctx); err != nil {
				return n, time.Since(start), err
			}
		}
		if err := p.collect(ctx, false); err != nil {
			return n, time.Since(start), err
		}
		select {
		case <-ctx.Done():
			return n, time.Since(start), context.Cause(ctx)
		case <-time.After(time.Millisecond):
		}
	}
	took := time.Since(start)
	return n, took, p.collect(ctx, true)
}

func (p *pacer) publish(ctx context.Context) error {
	m, ok := p.next()
	if !ok {
		return fmt.Errorf("the simulated fleet ran out after %d messages", p.exp.messages)
	}
	p.exp.add(m)
	msg := &nats.Msg{Subject: p.prefix + "." + m.Subject, Data: m.Body}
	if m.MsgID != "" {
		msg.Header = nats.Header{jetstream.MsgIDHeader: []string{m.MsgID}}
	}
	at := time.Now()
	f, err := p.js.PublishMsgAsync(msg)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	p.pending = append(p.pending, inflight{f: f, at: at})
	return nil
}

// collect takes the acknowledgements that arrived, in order; with wait it
// waits for all of them.
func (p *pacer) collect(ctx context.Context, wait bool) error {
	i := 0
	for ; i < len(p.pending); i++ {
		in := p.pending[i]
		var ack *jetstream.PubAck
		if wait {
			select {
			case ack = <-in.f.Ok():
			case err := <-in.f.Err():
				return fmt.Errorf("publish: %w", err)
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		} else {
			select {
			case ack = <-in.f.Ok():
			case err := <-in.f.Err():
				return fmt.Errorf("publish: %w", err)
			default:
			}
		}
		if ack == nil {
			break
		}
		// A copy the duplicate window dropped never reaches tally.
		if p.keep && !ack.Duplicate {
			p.sent = append(p.sent, sent{seq: ack.Sequence, at: in.at})
		}
	}
	p.pending = append(p.pending[:0], p.pending[i:]...)
	return nil
}

// messages returns a pull iterator over sim's messages and its stop.
func messages(sim *fleetsim.Sim) (func() (fleetsim.Message, bool), func()) {
	return iter.Pull(iter.Seq[fleetsim.Message](sim.Messages))
}
