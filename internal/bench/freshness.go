package bench

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/store"
)

// freshness is scenario 2 at one rate: a worker running, events published
// at rate per second for RateFor, and for each event the time from its
// publish to the moment a reader of the views could see it.
func (b *Bench) freshness(ctx context.Context, rate int) error {
	o := b.Options
	name := fmt.Sprintf("%s%d", Freshness, rate)
	n := int(float64(rate)*o.RateFor.Seconds()) + rate
	w, sim, p, err := b.steadyWorld(ctx, name, n, 14, 0)
	if err != nil {
		return err
	}
	probe, err := newProbe(ctx, w.dbURL, o.PollInterval)
	if err != nil {
		return err
	}
	b.onCleanup("close the probe of "+name, func(ctx context.Context) error { return probe.conn.Close(ctx) })
	pctx, stopProbe := context.WithCancel(ctx)
	probed := make(chan error, 1)
	go func() { probed <- probe.run(pctx) }()

	next, stop := messages(sim)
	defer stop()
	pc := &pacer{js: b.js, prefix: w.prefix, rate: rate, next: next, exp: newExpected(), keep: true}
	checkpoints := b.settle(ctx, w)
	load := loadAverage()
	b.logf("%s: publishing %d events/s for %s", name, rate, o.RateFor)
	published, took, err := pc.run(ctx, o.RateFor)
	if err != nil {
		stopProbe()
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := w.waitDrained(ctx, p); err != nil {
		stopProbe()
		return fmt.Errorf("%s: %w", name, err)
	}
	time.Sleep(2 * o.PollInterval) // a last look after the end
	stopProbe()
	if err := <-probed; err != nil {
		return fmt.Errorf("%s: probe: %w", name, err)
	}
	peak, _, err := p.memory()
	if err != nil {
		return err
	}
	if err := p.terminate(); err != nil {
		return err
	}
	lat, err := latencies(ctx, w.store, pc.sent, probe)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := b.checkCounters(ctx, name, w.store, pc.exp); err != nil {
		return err
	}
	b.report.freshness(rate, float64(published)/took.Seconds(), lat, peak, o.PollInterval, checkpoints(), load)
	return nil
}

// steadyWorld creates a world with a stream, a fleet of at least n
// messages over days, and a worker consuming the empty stream.
func (b *Bench) steadyWorld(ctx context.Context, name string, n, days int, maxAge time.Duration) (*world, *fleetsim.Sim, *workerProc, error) {
	w, err := b.newWorld(ctx, name, true, maxAge)
	if err != nil {
		return nil, nil, nil, err
	}
	sim, err := b.Options.fleet(n, days)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := b.startWorker(ctx, w)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := w.waitConsuming(ctx, p); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return w, sim, p, nil
}

// probe polls the newest ledger position a new snapshot sees. With one
// worker, batches commit one after another and every position up to the
// newest visible one is committed, so the first poll that sees an event's
// position bounds when it became visible in the views: they change in the
// same transaction. The bound is late by at most the poll interval plus
// one query.
type probe struct {
	conn     *pgx.Conn
	interval time.Duration
	samples  []probeSample
}

type probeSample struct {
	at  time.Time
	pos int64
}

func newProbe(ctx context.Context, dbURL string, interval time.Duration) (*probe, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	return &probe{conn: conn, interval: interval}, nil
}

func (p *probe) run(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		pos, err := store.MaxPosition(ctx, p.conn)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		p.samples = append(p.samples, probeSample{at: time.Now(), pos: pos})
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// visibleAt returns when the probe first saw position pos.
func (p *probe) visibleAt(pos int64) (time.Time, bool) {
	i := sort.Search(len(p.samples), func(i int) bool { return p.samples[i].pos >= pos })
	if i == len(p.samples) {
		return time.Time{}, false
	}
	return p.samples[i].at, true
}

// latencies returns, sorted, the publish-to-visible time of every event
// the ledger recorded from the sent messages (copies of an event have no
// time of their own: nothing became visible).
func latencies(ctx context.Context, st *store.Store, sent []sent, p *probe) ([]time.Duration, error) {
	pos, err := st.Positions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, len(sent))
	for _, s := range sent {
		at, ok := pos[s.seq]
		if !ok {
			continue
		}
		seen, ok := p.visibleAt(at)
		if !ok {
			return nil, fmt.Errorf("the probe never saw stream message %d, recorded at position %d", s.seq, at)
		}
		out = append(out, seen.Sub(s.at))
	}
	slices.Sort(out)
	return out, nil
}
