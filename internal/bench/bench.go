package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tallyhq/tally/internal/app"
	"github.com/tallyhq/tally/internal/config"
)

// Bench is one run of the benchmark.
type Bench struct {
	// Config is the user's settings: the servers to run against, and the
	// tuning the worker children inherit through Environ.
	Config  config.Config
	Environ map[string]string
	// WorkerEnv are extra settings for the worker children only.
	WorkerEnv map[string]string
	// Exe is the tally binary the workers run (os.Executable()).
	Exe     string
	Options Options
	// Out receives progress lines; WorkerLog, when set, the workers' logs.
	Out, WorkerLog io.Writer

	id     string
	nc     *nats.Conn
	js     jetstream.JetStream
	report *Report

	mu       sync.Mutex
	cleanups []cleanup

	noCheckpoint bool // the server refused a CHECKPOINT: do not ask again
}

type cleanup struct {
	what string
	fn   func(context.Context) error
}

// Run runs the selected scenarios in order and returns their report. It
// removes every database and stream it created before returning, even
// when ctx is cancelled (Ctrl-C). A counters check that fails returns an
// error matching ErrCountersDiffer.
func (b *Bench) Run(ctx context.Context) (rep *Report, err error) {
	if err := b.Options.Validate(); err != nil {
		return nil, err
	}
	b.id = randomID()
	b.report = &Report{}
	defer func() { err = errors.Join(err, b.cleanUp(ctx)) }()
	if b.nc, err = app.ConnectNATS(b.Config, slog.New(slog.DiscardHandler), "tally-bench"); err != nil {
		return nil, err
	}
	b.onCleanup("close NATS", func(context.Context) error { b.nc.Close(); return nil })
	if b.js, err = jetstream.New(b.nc, jetstream.WithPublishAsyncMaxPending(1<<15)); err != nil {
		return nil, err
	}
	if err := b.describeMachine(ctx); err != nil {
		return nil, err
	}
	return b.report, b.runScenarios(ctx)
}

func (b *Bench) runScenarios(ctx context.Context) error {
	o := b.Options
	if o.runs(CatchUp) {
		if err := b.catchUp(ctx); err != nil {
			return err
		}
	}
	if o.runs(Freshness) {
		for _, rate := range o.Rates {
			if err := b.freshness(ctx, rate); err != nil {
				return err
			}
		}
	}
	if o.runs(Reads) || o.runs(Rebuild) {
		if err := b.readsAndRebuild(ctx); err != nil {
			return err
		}
	}
	if o.runs(Soak) {
		return b.soak(ctx)
	}
	return nil
}

// onCleanup registers what to undo at the end, in reverse order.
func (b *Bench) onCleanup(what string, fn func(context.Context) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, cleanup{what, fn})
}

// cleanUp stops the workers and removes the databases and streams, with a
// context of its own: after Ctrl-C, ctx is already cancelled.
func (b *Bench) cleanUp(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	b.mu.Lock()
	cs := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i].fn(cctx); err != nil {
			errs = append(errs, fmt.Errorf("clean up (%s): %w", cs[i].what, err))
		}
	}
	if len(cs) > 0 {
		b.logf("cleaned up: benchmark databases and streams removed")
	}
	return errors.Join(errs...)
}

func (b *Bench) logf(format string, args ...any) {
	if b.Out != nil {
		fmt.Fprintf(b.Out, time.Now().Format("15:04:05")+" "+format+"\n", args...)
	}
}

// describeMachine records what the figures were measured on.
func (b *Bench) describeMachine(ctx context.Context) error {
	w, err := b.newWorld(ctx, "info", false, 0)
	if err != nil {
		return err
	}
	srv, err := w.store.Server(ctx)
	if err != nil {
		return err
	}
	c := b.Config
	b.report.Machine = []string{
		fmt.Sprintf("tally bench %s, %s, run %s (databases tally_bench_%s_*, streams TALLY_BENCH_%s_*)",
			time.Now().Format(time.RFC3339), runtime.Version(), b.id, b.id, strings.ToUpper(b.id)),
		fmt.Sprintf("machine: %d CPUs, %s memory, load average %.2f at start", runtime.NumCPU(), mib(memTotal()), loadAverage()),
		fmt.Sprintf("PostgreSQL %s (synchronous_commit %s, shared_buffers %s, max_wal_size %s, autovacuum %s)",
			srv.Version, srv.SynchronousCommit, srv.SharedBuffers, srv.MaxWALSize, srv.Autovacuum),
		fmt.Sprintf("NATS server %s", b.nc.ConnectedServerVersion()),
		fmt.Sprintf("worker: TALLY_BATCH_SIZE=%d TALLY_BATCH_WAIT=%s TALLY_APPLY_CONCURRENCY=%d; zones %s",
			c.BatchSize, c.BatchWait, c.ApplyConcurrency, c.Zones()),
	}
	return nil
}

// settle starts a measurement with no checkpoint due: it asks the server
// for one, so that the WAL the previous scenario wrote does not start one
// in the middle of this one (for a while after a checkpoint begins, the
// first change to each page writes the whole page to the WAL). It returns
// a function that tells how many checkpoints began since, for the report.
// Without the privilege to ask (superuser or pg_checkpoint), it says so
// once and measures anyway.
func (b *Bench) settle(ctx context.Context, w *world) func() string {
	if err := w.store.Checkpoint(ctx); err != nil && !b.noCheckpoint {
		b.noCheckpoint = true
		b.logf("cannot ask for a checkpoint before measuring (%v): a checkpoint may fall into a measurement", err)
	}
	before, err := w.store.Checkpoints(ctx)
	return func() string {
		after, err2 := w.store.Checkpoints(ctx)
		if err != nil || err2 != nil {
			return "checkpoints unknown"
		}
		return plural(int(after-before), "checkpoint")
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// loadAverage returns the 1-minute load average, or -1 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	v, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// memTotal returns the machine's memory in bytes, 0 when unknown.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			return kilobytes(strings.TrimSpace(v))
		}
	}
	return 0
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
