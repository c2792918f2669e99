package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/time/rate"

	"github.com/tallyhq/tally/aggregator"
)

// Rebuild phases, as RebuildProgress reports them.
const (
	PhaseScan    = "scan"     // folding the ledger up to the first watermark
	PhaseWrite   = "write"    // writing the states and counters
	PhaseCatchUp = "catch-up" // applying what was recorded meanwhile
	PhaseCheck   = "check"    // checking the new generation
	PhaseSwap    = "swap"     // applying the last events and swapping
)

// Tuning of the catch-up: rounds run until the tail left is small enough
// to apply under the exclusive generation lock, which stops the workers.
const (
	// DefaultSwapTail is RebuildOptions.SwapTail's default.
	DefaultSwapTail  = 2000
	maxCatchUpRounds = 20
	catchUpChunk     = 2000
	defaultDropWait  = 30 * time.Second
)

// RebuildOptions are the choices of a rebuild.
type RebuildOptions struct {
	// Zones are the zones the new generation counts days in: the
	// configured ones, which is how new zones take effect.
	Zones aggregator.Zones
	// Source is recorded in tally.rebuilds: "ledger" (the default) or
	// "stream" when the ledger was first restored from the stream.
	Source string
	// MaxRate caps the ledger events read per second, except the last few
	// applied under the lock; 0 means no cap.
	MaxRate float64
	// SwapTail is the most events left to apply under the exclusive lock,
	// while workers wait: catch-up rounds run until no more remain (at
	// most 20 rounds). Default DefaultSwapTail.
	SwapTail int
	// KeepOld keeps the old generation's schema after the swap, for
	// inspection; the next rebuild drops it.
	KeepOld bool
	// DropWait bounds the wait for reads that began before the swap
	// before the old generation is dropped; default 30s.
	DropWait time.Duration
	// Progress, when set, is called as events are folded, from one
	// goroutine at a time.
	Progress func(RebuildProgress)
}

// RebuildProgress is how far a rebuild got.
type RebuildProgress struct {
	Gen   int
	Phase string
	Done  int64 // ledger events folded
	Total int64 // ledger events known so far: it grows while events arrive
}

// RebuildResult says what a rebuild did.
type RebuildResult struct {
	Gen, OldGen int
	Zones       aggregator.Zones
	// Events is the ledger events read; Applied and Ignored those of known
	// and unknown types; Undecodable those the current code rejects, left
	// out (the worker that recorded them accepted them).
	Events, Applied, Ignored, Undecodable int64
	Cars, Bookings                        int
	Rounds                                int // catch-up rounds before the swap
	OldDropped                            bool
	// Leftovers are generations of earlier, unfinished rebuilds dropped
	// first; Notes say why an old generation was kept against the wish.
	Leftovers []int
	Notes     []string
	Took      time.Duration
}

// rebuilder is one rebuild in progress.
type rebuilder struct {
	s       *Store
	opts    RebuildOptions
	id      int64 // its tally.rebuilds row
	gen     int
	t       *totals
	limiter *rate.Limiter
	mark    int64 // the ledger is folded up to this position
	phase   string
	done    atomic.Int64
	total   atomic.Int64
	rounds  int
	bad     int64 // undecodable events met in the catch-up
	oldGen  int
}

// Rebuild builds a new generation of every entity state and counter from
// the ledger while workers keep the current one live, checks it, and swaps
// it in: it folds the ledger up to a watermark in memory, writes the
// result with COPY, catches up in rounds, then applies the last events and
// swaps in one transaction under the exclusive generation lock. The old
// generation is then dropped unless KeepOld. The caller holds lock.
//
// It is safe to interrupt: an unfinished generation is dropped now when
// possible, by the next rebuild otherwise. A generation that fails its
// check is kept for inspection (*CheckError).
func (s *Store) Rebuild(ctx context.Context, lock *RebuildLock, opts RebuildOptions) (RebuildResult, error) {
	res := RebuildResult{Zones: opts.Zones}
	if lock == nil || lock.conn == nil {
		return res, errors.New("rebuild: take the rebuild lock first")
	}
	start := time.Now()
	var err error
	if res.Leftovers, res.Notes, err = s.dropLeftovers(ctx, opts.dropWait()); err != nil {
		return res, err
	}
	r, err := s.newRebuilder(ctx, opts)
	if err != nil {
		return res, err
	}
	stop := r.recordEverySecond(ctx)
	err = r.run(ctx)
	stop()
	r.fill(&res)
	if err != nil {
		return res, r.abandon(ctx, err)
	}
	if !opts.KeepOld {
		note, err := s.dropRetired(ctx, r.oldGen, opts.dropWait())
		if err != nil {
			return res, fmt.Errorf("swapped in generation %d, but dropping generation %d failed: %w", r.gen, r.oldGen, err)
		}
		res.OldDropped = note == ""
		if note != "" {
			res.Notes = append(res.Notes, note)
		}
	}
	res.Took = time.Since(start)
	return res, nil
}

func (o RebuildOptions) swapTail() int64 {
	if o.SwapTail > 0 {
		return int64(o.SwapTail)
	}
	return DefaultSwapTail
}

func (o RebuildOptions) dropWait() time.Duration {
	if o.DropWait > 0 {
		return o.DropWait
	}
	return defaultDropWait
}

// newRebuilder creates the new generation, empty and not current yet, and
// its tally.rebuilds row.
func (s *Store) newRebuilder(ctx context.Context, opts RebuildOptions) (*rebuilder, error) {
	if opts.Source == "" {
		opts.Source = "ledger"
	}
	r := &rebuilder{s: s, opts: opts, t: newTotals(opts.Zones)}
	if opts.MaxRate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(opts.MaxRate), min(scanChunk, max(1, int(opts.MaxRate))))
	}
	err := withTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT COALESCE(max(gen), 0) + 1 FROM tally.generations").Scan(&r.gen); err != nil {
			return fmt.Errorf("number the new generation: %w", err)
		}
		if err := createGeneration(ctx, tx, r.gen, opts.Zones, "building"); err != nil {
			return err
		}
		var err error
		r.id, err = recordRebuild(ctx, tx, r.gen, opts.Source)
		return err
	})
	if err != nil {
		return r, err
	}
	if err := s.redefineViews(ctx); err != nil {
		return r, r.abandon(ctx, err)
	}
	return r, nil
}

func (r *rebuilder) run(ctx context.Context) error {
	steps := []func(context.Context) error{r.scan, r.write, r.catchUp, r.checkEntities, r.swap}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// scan folds the ledger up to a first watermark in memory.
func (r *rebuilder) scan(ctx context.Context) error {
	r.phase = PhaseScan
	w, err := r.s.watermark(ctx)
	if err != nil {
		return err
	}
	n, err := countEvents(ctx, r.s.pool, 0, w)
	if err != nil {
		return err
	}
	r.total.Store(n)
	r.report()
	// Order does not matter to the fold: a sequential scan is fastest.
	st, err := foldBodies(ctx, r.s.pool, "SELECT body FROM tally.events WHERE pos <= $1", []any{w}, r.t,
		scanOptions{limiter: r.limiter, progress: func(rows int64) { r.done.Store(rows); r.report() }})
	if err != nil {
		return err
	}
	r.bad += st.undecodable
	r.mark = w
	return nil
}

// write stores the folded states and counters in the new generation.
func (r *rebuilder) write(ctx context.Context) error {
	r.phase = PhaseWrite
	r.report()
	return withTx(ctx, r.s.pool, func(tx pgx.Tx) error { return writeTotals(ctx, tx, r.gen, r.t) })
}

func (r *rebuilder) report() {
	if r.opts.Progress != nil {
		r.opts.Progress(RebuildProgress{Gen: r.gen, Phase: r.phase, Done: r.done.Load(), Total: r.total.Load()})
	}
}

// recordEverySecond stores the progress in tally.rebuilds until stopped.
func (r *rebuilder) recordEverySecond(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = r.s.recordProgress(ctx, r.id, r.done.Load(), r.total.Load())
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// abandon records why the rebuild stopped and drops the generation it was
// building, unless it failed its check (kept for inspection). It returns
// err, completed with what became of the generation.
func (r *rebuilder) abandon(ctx context.Context, err error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	state := "failed"
	if ctx.Err() != nil {
		state = "interrupted"
	}
	_ = r.s.finishRebuild(cctx, r.id, state, err.Error())
	if _, failedCheck := errors.AsType[*CheckError](err); failedCheck {
		return err
	}
	if derr := r.s.dropGeneration(cctx, r.gen); derr != nil {
		return fmt.Errorf("%w (generation %d left behind: the next tally rebuild drops it)", err, r.gen)
	}
	return fmt.Errorf("%w (generation %d dropped)", err, r.gen)
}

func (r *rebuilder) fill(res *RebuildResult) {
	res.Gen, res.OldGen, res.Rounds = r.gen, r.oldGen, r.rounds
	res.Events, res.Undecodable = r.done.Load(), r.bad
	res.Applied, res.Ignored = r.t.applied, r.t.ignored
	res.Cars, res.Bookings = len(r.t.cars), len(r.t.bookings)
}
