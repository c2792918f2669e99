package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// soak is scenario 5's steady run: SoakRate events/s for SoakFor, the
// worker's resident memory read every few seconds; its value at the end is
// compared with its value after SoakReference.
func (b *Bench) soak(ctx context.Context) error {
	o := b.Options
	n := int(float64(o.SoakRate)*o.SoakFor.Seconds()) + o.SoakRate
	// The worker consumes each message within a second: ten minutes of
	// stream is plenty and keeps the broker's disk small.
	w, sim, p, err := b.steadyWorld(ctx, Soak, n, 60, 10*time.Minute)
	if err != nil {
		return err
	}
	next, stop := messages(sim)
	defer stop()
	pc := &pacer{js: b.js, prefix: w.prefix, rate: o.SoakRate, next: next, exp: newExpected()}
	load := loadAverage()
	b.logf("%s: publishing %d events/s for %s", Soak, o.SoakRate, o.SoakFor)
	m := &memWatch{p: p, every: min(10*time.Second, o.SoakReference/2), reference: o.SoakReference}
	mctx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { m.run(mctx, b) })
	_, _, err = pc.run(ctx, o.SoakFor)
	stopWatch()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("%s: %w", Soak, err)
	}
	_, end, err := p.memory()
	if err != nil {
		return err
	}
	if _, err := w.waitDrained(ctx, p); err != nil {
		return fmt.Errorf("%s: %w", Soak, err)
	}
	peak, _, err := p.memory()
	if err != nil {
		return err
	}
	if err := p.terminate(); err != nil {
		return err
	}
	if m.err != nil {
		return m.err
	}
	if err := b.checkCounters(ctx, Soak, w.store, pc.exp); err != nil {
		return err
	}
	b.report.soak(o.SoakRate, o.SoakReference, o.SoakFor, m.atReference, end, peak, m.low, m.high, load)
	return nil
}

// memWatch reads the worker's resident memory on an interval.
type memWatch struct {
	p           *workerProc
	every       time.Duration
	reference   time.Duration
	atReference int64
	low, high   int64
	err         error
}

func (m *memWatch) run(ctx context.Context, b *Bench) {
	start := time.Now()
	t := time.NewTicker(m.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, rss, err := m.p.memory()
		if err != nil {
			m.err = err
			return
		}
		if m.atReference == 0 && time.Since(start) >= m.reference {
			m.atReference = rss
			b.logf("%s: worker RSS after %s: %s", Soak, m.reference, mib(rss))
		}
		if m.atReference != 0 {
			m.low, m.high = minNonZero(m.low, rss), max(m.high, rss)
		}
	}
}

func minNonZero(a, b int64) int64 {
	if a == 0 {
		return b
	}
	return min(a, b)
}
