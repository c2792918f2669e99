package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tallyhq/tally/internal/bench"
)

func (e *env) benchCommand() *cobra.Command {
	var quick, workerLog bool
	o := bench.DefaultOptions()
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure this deployment: catch-up, freshness, dashboard reads, rebuild, memory",
		Long: `Runs the benchmark of docs/performance.md against the configured PostgreSQL
and NATS, in databases and streams of its own (tally_bench_*, TALLY_BENCH_*)
that it removes at the end, even on Ctrl-C. Workers run as child processes
(tally run) with your TALLY_* settings, so tuning such as TALLY_BATCH_SIZE
applies; their memory is read from /proc. Prints a table of figures and the
targets they are held to.

Scenarios (--scenarios, all by default; a full run takes about an hour):
  catchup    --events messages (3% duplicates) already in the stream, one
             worker drains them, --catchup-runs times (the median counts),
             with the CPU time per message of the worker and of this
             machine's postgres and nats-server processes; the same for a
             one-transaction-per-event consumer (--baseline-events of
             them), and the ratio
  freshness  --rates events/s for --rate-for each: publish to visible p50/p99/max
  reads      --read-events over --read-days applied; each view read whole,
             against aggregating raw tables and REFRESH MATERIALIZED VIEW
  rebuild    tally rebuild of those events
  soak       --soak-rate events/s for --soak: the worker's RSS stays flat

Each measurement starts with a CHECKPOINT (when the role may ask for one)
and the report says how many checkpoints fell into it.

Every scenario checks the counters against a recomputation from the ledger
and the simulator's totals; tally bench exits 1 when they differ. A missed
target is shown as MISSED and does not change the exit status.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick {
				o = quickUnlessSet(cmd.Flags())
			}
			return e.runBench(cmd.Context(), o, workerLog)
		},
	}
	benchFlags(c.Flags(), &o)
	c.Flags().BoolVar(&workerLog, "worker-log", false, "copy the workers' logs to stderr (set TALLY_LOG_LEVEL for more)")
	c.Flags().BoolVar(&quick, "quick", false, "every scenario at a small size, in well under a minute: checks that the benchmark works")
	return c
}

func benchFlags(f *pflag.FlagSet, o *bench.Options) {
	f.StringSliceVar(&o.Scenarios, "scenarios", o.Scenarios, "scenarios to run")
	f.Int64Var(&o.Seed, "seed", o.Seed, "seed of the simulated fleet")
	f.IntVar(&o.Cities, "cities", o.Cities, "cities of the fleet (at most 8)")
	f.IntVar(&o.Events, "events", o.Events, "catch-up: messages in the stream")
	f.IntVar(&o.Workers, "workers", o.Workers, "catch-up: worker processes draining the stream")
	f.IntVar(&o.CatchUpRuns, "catchup-runs", o.CatchUpRuns, "catch-up: drains measured, each on a stream of its own (the median counts)")
	f.IntVar(&o.BaselineEvents, "baseline-events", o.BaselineEvents, "catch-up: messages the one-transaction-per-event baseline consumes (0: all)")
	f.IntSliceVar(&o.Rates, "rates", o.Rates, "freshness: publish rates, events/s")
	f.DurationVar(&o.RateFor, "rate-for", o.RateFor, "freshness: how long each rate is held")
	f.DurationVar(&o.PollInterval, "poll", o.PollInterval, "freshness: how often the probe looks for new commits")
	f.IntVar(&o.ReadEvents, "read-events", o.ReadEvents, "reads and rebuild: events applied")
	f.IntVar(&o.ReadDays, "read-days", o.ReadDays, "reads and rebuild: days they span")
	f.IntVar(&o.ReadSamples, "read-samples", o.ReadSamples, "reads: reads of each view")
	f.IntVar(&o.RawSamples, "raw-samples", o.RawSamples, "reads: aggregates over the raw tables per view")
	f.IntVar(&o.RefreshSamples, "refresh-samples", o.RefreshSamples, "reads: refreshes of each materialized view")
	f.DurationVar(&o.SoakFor, "soak", o.SoakFor, "soak: duration")
	f.IntVar(&o.SoakRate, "soak-rate", o.SoakRate, "soak: publish rate, events/s")
	f.DurationVar(&o.SoakReference, "soak-reference", o.SoakReference, "soak: when the reference RSS is read")
}

// quickUnlessSet returns the quick sizes with the flags given on top.
func quickUnlessSet(given *pflag.FlagSet) bench.Options {
	q := bench.QuickOptions()
	quick := pflag.NewFlagSet("quick", pflag.ContinueOnError)
	benchFlags(quick, &q)
	given.Visit(func(fl *pflag.Flag) {
		to := quick.Lookup(fl.Name)
		if to == nil {
			return
		}
		if from, ok := fl.Value.(pflag.SliceValue); ok {
			_ = to.Value.(pflag.SliceValue).Replace(from.GetSlice())
			return
		}
		_ = to.Value.Set(fl.Value.String())
	})
	return q
}

func (e *env) runBench(ctx context.Context, o bench.Options, workerLog bool) error {
	cfg, err := e.config()
	if err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return usageError{err}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the tally binary for the workers: %w", err)
	}
	tuneGC(e.environ) // the reads scenario applies its events in this process
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	defer stop()
	b := &bench.Bench{Config: cfg, Environ: e.environ, Exe: exe, Options: o, Out: e.stderr}
	if workerLog {
		b.WorkerLog = e.stderr
	}
	start := time.Now()
	rep, err := b.Run(ctx)
	if rep != nil {
		rep.Print(e.stdout)
	}
	if ctx.Err() != nil && !errors.Is(err, bench.ErrCountersDiffer) {
		return fmt.Errorf("interrupted after %s; benchmark databases and streams removed: %w", time.Since(start).Round(time.Second), err)
	}
	return err
}
