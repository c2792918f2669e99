package store

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/tallyhq/tally/events"
)

// scanChunk is how many ledger rows travel together through the pipeline.
const scanChunk = 1024

// rowQuerier runs a query: a pool, a connection or a transaction.
type rowQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// scanOptions tune foldBodies.
type scanOptions struct {
	// limiter, when set, paces the rows read.
	limiter *rate.Limiter
	// progress, when set, is called after each chunk with the rows folded
	// so far, from one goroutine at a time.
	progress func(rows int64)
}

// scanStats says what a scan read.
type scanStats struct {
	rows        int64
	undecodable int64 // recorded bodies the current code rejects
}

// rawChunk is ledger bodies copied out of the connection's buffer into one
// arena, so that a chunk costs a few allocations rather than one per row.
type rawChunk struct {
	arena []byte
	ends  []int // where each body ends in arena
}

func (c *rawChunk) add(body []byte) {
	c.arena = append(c.arena, body...)
	c.ends = append(c.ends, len(c.arena))
}

func (c *rawChunk) len() int { return len(c.ends) }

func (c *rawChunk) each(fn func(body []byte)) {
	start := 0
	for _, end := range c.ends {
		fn(c.arena[start:end:end])
		start = end
	}
}

type decodedChunk struct {
	evs         []events.Event
	undecodable int64
}

// foldBodies runs a query whose only column is ledger bodies, decodes them
// on every core and folds them into t. Reading, decoding and folding
// overlap; the order of folding does not matter (see aggregator.Fold), so
// chunks are folded as they come.
func foldBodies(ctx context.Context, q rowQuerier, sql string, args []any, t *totals, opt scanOptions) (scanStats, error) {
	g, gctx := errgroup.WithContext(ctx)
	workers := max(1, runtime.GOMAXPROCS(0))
	raw := make(chan rawChunk, 2*workers)
	decoded := make(chan decodedChunk, 2*workers)
	g.Go(func() error {
		defer close(raw)
		return readBodies(gctx, q, sql, args, opt.limiter, raw)
	})
	var decoders sync.WaitGroup
	for range workers {
		decoders.Add(1)
		g.Go(func() error {
			defer decoders.Done()
			return decodeChunks(gctx, raw, decoded)
		})
	}
	go func() { decoders.Wait(); close(decoded) }()
	var st scanStats
	g.Go(func() error { return foldChunks(decoded, t, &st, opt.progress) })
	err := g.Wait()
	return st, err
}

func readBodies(ctx context.Context, q rowQuerier, sql string, args []any, lim *rate.Limiter, out chan<- rawChunk) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("read the ledger: %w", err)
	}
	defer rows.Close()
	if fd := rows.FieldDescriptions(); len(fd) != 1 || fd[0].Format != pgx.BinaryFormatCode {
		return fmt.Errorf("read the ledger: want one binary column")
	}
	size := scanChunk
	if lim != nil {
		size = min(size, lim.Burst()) // smaller chunks, smoother progress
	}
	c := rawChunk{}
	for rows.Next() {
		c.add(rows.RawValues()[0])
		if c.len() == size {
			if err := send(ctx, lim, out, c); err != nil {
				return err
			}
			c = rawChunk{arena: make([]byte, 0, cap(c.arena)), ends: make([]int, 0, size)}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the ledger: %w", err)
	}
	if c.len() == 0 {
		return nil
	}
	return send(ctx, lim, out, c)
}

func send(ctx context.Context, lim *rate.Limiter, out chan<- rawChunk, c rawChunk) error {
	if lim != nil {
		if err := waitN(ctx, lim, c.len()); err != nil {
			return err
		}
	}
	select {
	case out <- c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func decodeChunks(ctx context.Context, in <-chan rawChunk, out chan<- decodedChunk) error {
	for c := range in {
		d := decodedChunk{evs: make([]events.Event, 0, c.len())}
		c.each(func(b []byte) {
			// No size limit: the event was accepted under the limit then.
			ev, err := events.Decode(b, len(b))
			if err != nil {
				d.undecodable++
				return
			}
			d.evs = append(d.evs, ev)
		})
		select {
		case out <- d:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func foldChunks(in <-chan decodedChunk, t *totals, st *scanStats, progress func(int64)) error {
	for d := range in {
		if err := t.add(d.evs); err != nil {
			return fmt.Errorf("fold the ledger: %w", err)
		}
		st.rows += int64(len(d.evs)) + d.undecodable
		st.undecodable += d.undecodable
		if progress != nil {
			progress(st.rows)
		}
	}
	return nil
}

// waitN waits for n events' worth of the limiter, in pieces no larger than
// its burst.
func waitN(ctx context.Context, lim *rate.Limiter, n int) error {
	for n > 0 {
		k := min(n, lim.Burst())
		if err := lim.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
