package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/oracle"
	"github.com/tallyhq/tally/store"
)

// loadBatch is the number of events the load applies per transaction.
const loadBatch = 5000

// readsAndRebuild applies ReadEvents events over ReadDays, then runs
// scenario 3 (dashboard reads against the raw tables and materialized
// views) and scenario 4 (rebuild), as selected.
func (b *Bench) readsAndRebuild(ctx context.Context) error {
	o := b.Options
	w, err := b.newWorld(ctx, Reads, false, 0)
	if err != nil {
		return err
	}
	exp, err := b.load(ctx, w)
	if err != nil {
		return err
	}
	if err := b.checkCounters(ctx, Reads, w.store, exp); err != nil {
		return err
	}
	if o.runs(Reads) {
		if err := b.reads(ctx, w); err != nil {
			return err
		}
	}
	if o.runs(Rebuild) {
		return b.rebuild(ctx, w, exp)
	}
	return nil
}

// load applies the events in-process through store.Apply, the worker's
// own transaction, in batches of loadBatch: the same state a worker would
// leave, without a stream of 10 million messages on the broker's disk.
func (b *Bench) load(ctx context.Context, w *world) (*expected, error) {
	o := b.Options
	sim, err := o.fleet(o.ReadEvents, o.ReadDays)
	if err != nil {
		return nil, err
	}
	exp := newExpected()
	batches := make(chan store.Batch, 2)
	decoded := make(chan error, 1)
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { decoded <- decodeBatches(dctx, sim, o.ReadEvents, exp, batches) }()
	load := loadAverage()
	start := time.Now()
	applied, err := b.applyBatches(ctx, w, batches, start)
	if err != nil {
		return nil, err
	}
	if err := <-decoded; err != nil {
		return nil, err
	}
	took := time.Since(start)
	b.logf("%s: applied %d events in %s (%.0f/s, in-process, batches of %d)", Reads, applied, took.Round(time.Second),
		float64(applied)/took.Seconds(), loadBatch)
	b.report.load(applied, took, o.ReadDays, o.Cities, load)
	if err := w.store.Vacuum(ctx); err != nil {
		return nil, err
	}
	return exp, nil
}

// decodeBatches decodes the first n messages into batches.
func decodeBatches(ctx context.Context, sim *fleetsim.Sim, n int, exp *expected, out chan<- store.Batch) error {
	defer close(out)
	var batch store.Batch
	for m := range firstN(sim, n, exp) {
		ev, err := events.Decode(m.Body, 0)
		if err != nil {
			return fmt.Errorf("a simulated event does not decode: %w", err)
		}
		batch.Events = append(batch.Events, store.Incoming{Event: ev, StreamSeq: uint64(exp.messages)})
		if len(batch.Events) == loadBatch {
			if err := send(ctx, out, batch); err != nil {
				return err
			}
			batch = store.Batch{}
		}
	}
	if exp.messages < n {
		return fmt.Errorf("the simulated fleet yielded %d messages, not %d", exp.messages, n)
	}
	if len(batch.Events) == 0 {
		return nil
	}
	return send(ctx, out, batch)
}

func send(ctx context.Context, out chan<- store.Batch, b store.Batch) error {
	select {
	case out <- b:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (b *Bench) applyBatches(ctx context.Context, w *world, in <-chan store.Batch, start time.Time) (int, error) {
	applied := 0
	last := time.Now()
	for batch := range in {
		if _, err := w.store.Apply(ctx, batch); err != nil {
			return applied, fmt.Errorf("%s: apply: %w", Reads, err)
		}
		applied += len(batch.Events)
		if time.Since(last) > 10*time.Second {
			b.logf("%s: applied %d of %d events (%.0f/s)", Reads, applied, b.Options.ReadEvents,
				float64(applied)/time.Since(start).Seconds())
			last = time.Now()
		}
	}
	return applied, nil
}

// reads is scenario 3: each view read whole, as dashboards do, against the
// same numbers aggregated from raw tables and against refreshing a
// materialized view of that aggregate.
func (b *Bench) reads(ctx context.Context, w *world) error {
	o := b.Options
	b.logf("%s: building the raw tables (cars, bookings, payments) from the ledger", Reads)
	if err := w.store.BuildRawTables(ctx); err != nil {
		return err
	}
	if err := w.store.Vacuum(ctx); err != nil {
		return err
	}
	if err := b.checkRaw(ctx, w); err != nil {
		return err
	}
	for _, view := range store.CounterViews {
		load := loadAverage()
		fast, err := sample(ctx, o.ReadSamples, func() error { _, err := w.store.ReadCounterView(ctx, view); return err })
		if err != nil {
			return fmt.Errorf("%s: read %s: %w", Reads, view, err)
		}
		slow, err := sample(ctx, o.RawSamples, func() error { _, err := w.store.ReadRawAggregate(ctx, view); return err })
		if err != nil {
			return fmt.Errorf("%s: aggregate %s: %w", Reads, view, err)
		}
		refresh, err := sample(ctx, o.RefreshSamples, func() error { return w.store.RefreshRawView(ctx, view) })
		if err != nil {
			return fmt.Errorf("%s: refresh %s: %w", Reads, view, err)
		}
		rows, _ := w.store.ReadCounterView(ctx, view)
		b.report.read(view, rows, fast, slow, refresh, load)
	}
	return nil
}

// checkRaw makes sure the raw tables hold the same data: aggregated the
// old way, they give exactly the views' numbers.
func (b *Bench) checkRaw(ctx context.Context, w *world) error {
	raw, err := w.store.RawViews(ctx)
	if err != nil {
		return err
	}
	views, err := w.store.ReadViews(ctx)
	if err != nil {
		return err
	}
	if diffs := oracle.FromViews(raw).Diff(oracle.FromViews(views)); len(diffs) > 0 {
		return &CheckError{Scenario: Reads + " (raw tables against the views)", Differences: diffs}
	}
	b.report.check(Reads, "aggregates over the raw tables = the views")
	return nil
}

// sample runs fn n times (after one unmeasured run, which warms caches
// and prepares statements) and returns the durations, sorted.
func sample(ctx context.Context, n int, fn func() error) ([]time.Duration, error) {
	if err := fn(); err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, n)
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		start := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out, nil
}

// rebuild is scenario 4: tally rebuild of the loaded ledger, then the
// check of the new generation.
func (b *Bench) rebuild(ctx context.Context, w *world, exp *expected) error {
	g, err := w.store.CurrentGeneration(ctx)
	if err != nil {
		return err
	}
	lock, err := w.store.LockRebuild(ctx)
	if err != nil {
		return err
	}
	defer lock.Release()
	checkpoints := b.settle(ctx, w)
	load := loadAverage()
	b.logf("%s: rebuilding from the ledger", Rebuild)
	res, err := w.store.Rebuild(ctx, lock, store.RebuildOptions{Zones: g.Zones})
	if err != nil {
		return fmt.Errorf("%s: %w", Rebuild, err)
	}
	rate := float64(res.Events) / res.Took.Seconds()
	b.logf("%s: %d events in %s: %.0f/s", Rebuild, res.Events, res.Took.Round(time.Millisecond), rate)
	if err := b.checkCounters(ctx, Rebuild, w.store, exp); err != nil {
		return err
	}
	b.report.rebuild(res.Events, res.Took, rate, checkpoints(), load)
	return nil
}
