package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tallyhq/tally/events"
)

// catchUp applies to the new generation, in rounds, what the workers
// recorded since the last watermark, until the tail left is small (or the
// rounds run out, when events arrive faster than they are caught up).
func (r *rebuilder) catchUp(ctx context.Context) error {
	r.phase = PhaseCatchUp
	for r.rounds < maxCatchUpRounds {
		w, err := r.s.watermark(ctx)
		if err != nil {
			return err
		}
		if w-r.mark <= r.opts.swapTail() {
			return nil
		}
		n, err := countEvents(ctx, r.s.pool, r.mark, w)
		if err != nil {
			return err
		}
		r.total.Add(n)
		if err := r.catchUpTo(ctx, w); err != nil {
			return err
		}
		r.rounds++
	}
	return nil
}

// catchUpTo applies the events up to position w, a chunk per transaction.
// The fold in memory follows each commit, so both stay at r.mark.
func (r *rebuilder) catchUpTo(ctx context.Context, w int64) error {
	for r.mark < w {
		var evs []events.Event
		var last int64
		err := withTx(ctx, r.s.pool, func(tx pgx.Tx) error {
			var err error
			evs, last, err = r.applyChunk(ctx, tx, r.mark, w)
			return err
		})
		if err != nil {
			return err
		}
		if err := r.t.add(evs); err != nil {
			return fmt.Errorf("fold: %w", err)
		}
		r.mark = last
		r.report()
		if r.limiter != nil {
			if err := waitN(ctx, r.limiter, max(1, len(evs))); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyChunk applies to the new generation, in tx, the ledger events with
// position in (lo, hi], at most catchUpChunk of them, the way the apply
// path does (prior states read, then new states and deltas; the rebuild is
// the only writer of the new generation, so it never loses a race).
// It returns the events and the last position covered.
func (r *rebuilder) applyChunk(ctx context.Context, tx pgx.Tx, lo, hi int64) ([]events.Event, int64, error) {
	rows, err := tx.Query(ctx, `SELECT pos, body FROM tally.events WHERE pos > $1 AND pos <= $2 ORDER BY pos LIMIT $3`,
		lo, hi, catchUpChunk)
	if err != nil {
		return nil, 0, fmt.Errorf("read the ledger: %w", err)
	}
	var evs []events.Event
	var pos int64
	var body []byte
	n, last := 0, lo
	_, err = pgx.ForEachRow(rows, []any{&pos, &body}, func() error {
		n, last = n+1, pos
		ev, err := events.Decode(body, len(body))
		if err != nil {
			r.bad++
			return nil
		}
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read the ledger: %w", err)
	}
	if n < catchUpChunk {
		last = hi
	}
	r.done.Add(int64(n))
	return evs, last, r.applyToNew(ctx, tx, evs)
}

// applyToNew folds events into the new generation's tables.
func (r *rebuilder) applyToNew(ctx context.Context, tx pgx.Tx, evs []events.Event) error {
	if len(evs) == 0 {
		return nil
	}
	a := applier{tx: tx, gen: Generation{Gen: r.gen, Zones: r.opts.Zones}, q: queriesFor(r.gen)}
	res, err := a.fold(ctx, evs)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	a.queueEntities(b, res.Cars, res.Bookings)
	a.queueDeltas(b, res.Deltas)
	return wrap(tx.SendBatch(ctx, b).Close(), "write generation %d", r.gen)
}

// checkEntities checks, before the swap, that the new generation's entity
// tables agree with the counters folded in memory: as many active cars
// and bookings of each status in the tables as the counters say.
func (r *rebuilder) checkEntities(ctx context.Context) error {
	r.phase = PhaseCheck
	r.report()
	schema := Schema(r.gen)
	got := newCounterSet()
	var city, status string
	var n int64
	rows, err := r.s.pool.Query(ctx, fmt.Sprintf(`SELECT city, count(*) FROM %s.cars WHERE status = 'active' GROUP BY city`, schema))
	if err != nil {
		return fmt.Errorf("check cars: %w", err)
	}
	if _, err := pgx.ForEachRow(rows, []any{&city, &n}, func() error { got.active[city] = n; return nil }); err != nil {
		return fmt.Errorf("check cars: %w", err)
	}
	rows, err = r.s.pool.Query(ctx, fmt.Sprintf(`SELECT city, status, count(*) FROM %s.bookings
		WHERE status IS NOT NULL GROUP BY city, status`, schema))
	if err != nil {
		return fmt.Errorf("check bookings: %w", err)
	}
	if _, err := pgx.ForEachRow(rows, []any{&city, &status, &n}, func() error {
		got.byStatus[cityStatus{city, status}] = n
		return nil
	}); err != nil {
		return fmt.Errorf("check bookings: %w", err)
	}
	want := newCounterSet()
	want.active, want.byStatus = r.t.counters.active, r.t.counters.byStatus
	if diffs := diffCounters(got, want, noSince); len(diffs) > 0 {
		return &CheckError{Gen: r.gen, Differences: diffs}
	}
	return nil
}

// swap applies the last events and swaps the new generation in, in one
// transaction under the exclusive generation lock: workers wait, and pick
// the new generation up with their next batch. Before the swap, every
// counter of the new generation must equal the fold in memory.
func (r *rebuilder) swap(ctx context.Context) error {
	r.phase = PhaseSwap
	r.report()
	return withTx(ctx, r.s.pool, func(tx pgx.Tx) error {
		w, err := lockedWatermark(ctx, tx)
		if err != nil {
			return err
		}
		old, err := currentGeneration(ctx, tx)
		if err != nil {
			return err
		}
		r.oldGen = old.Gen
		if err := r.applyTail(ctx, tx, w); err != nil {
			return err
		}
		if err := r.checkCounters(ctx, tx); err != nil {
			return err
		}
		return r.markSwapped(ctx, tx)
	})
}

// applyTail applies the events up to w in tx, without pacing: the workers
// are waiting.
func (r *rebuilder) applyTail(ctx context.Context, tx pgx.Tx, w int64) error {
	n, err := countEvents(ctx, tx, r.mark, w)
	if err != nil {
		return err
	}
	r.total.Add(n)
	for mark := r.mark; mark < w; {
		evs, last, err := r.applyChunk(ctx, tx, mark, w)
		if err != nil {
			return err
		}
		if err := r.t.add(evs); err != nil {
			return fmt.Errorf("fold: %w", err)
		}
		mark = last
	}
	r.mark = w
	return nil
}

func (r *rebuilder) checkCounters(ctx context.Context, tx pgx.Tx) error {
	got, err := readCounters(ctx, tx, Schema(r.gen))
	if err != nil {
		return err
	}
	if diffs := diffCounters(got, r.t.counters, noSince); len(diffs) > 0 {
		return &CheckError{Gen: r.gen, Differences: diffs}
	}
	return nil
}

func (r *rebuilder) markSwapped(ctx context.Context, tx pgx.Tx) error {
	b := &pgx.Batch{}
	b.Queue("UPDATE tally.generations SET state = 'retired' WHERE state = 'current'")
	b.Queue("UPDATE tally.generations SET state = 'current', swapped_at = now() WHERE gen = $1 AND state = 'building'", r.gen)
	b.Queue(`UPDATE tally.rebuilds SET state = 'swapped', done = $2, total = $3, finished_at = now(), updated_at = now()
		WHERE id = $1`, r.id, r.done.Load(), r.total.Load())
	return wrap(tx.SendBatch(ctx, b).Close(), "swap in generation %d", r.gen)
}
