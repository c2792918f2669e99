package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/app"
	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/consumer"
	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/store"
)

type rebuildFlags struct {
	fromStream, allowPartial, keepOld bool
	maxRate                           float64
	swapTail                          int
}

func (e *env) rebuildCommand() *cobra.Command {
	var f rebuildFlags
	c := &cobra.Command{
		Use:   "rebuild",
		Short: "Rebuild every counter and entity state, with no downtime",
		Long: `Builds a new generation of every entity state and counter from the recorded
events (the ledger, tally.events) while tally run workers keep the current one
live, then swaps it in atomically: dashboards read the old generation whole
until the swap, the new one whole after it, never a partial state. Workers
pick the new generation up with their next batch, without a restart.

The new generation counts days in the configured zones (TALLY_TIMEZONE,
TALLY_CITY_TIMEZONES): this is how new zones take effect. Workers started
with the old zones are refused from then on.

Steps: fold the ledger in memory up to a watermark; write the states and
counters; catch up with what was recorded meanwhile, in rounds; check the new
generation against the recomputation; apply the last events and swap, under
a lock that holds the workers for the last few events only; drop the old
generation (or keep it with --keep-old, until the next rebuild).

--from-stream first restores the ledger from the stream: every valid event of
the stream, from its first message to the one the workers have acknowledged,
that the ledger lacks. It refuses a stream that no longer holds its oldest
events unless --allow-partial.

Safe to interrupt (Ctrl-C) and run again: the unfinished generation is
dropped, now or by the next run. One rebuild at a time: a second one is
refused. Progress shows on stderr and in tally.freshness.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.maxRate < 0 || f.swapTail < 1 {
				return usageError{fmt.Errorf("--max-rate must not be negative, --swap-tail must be positive")}
			}
			if f.allowPartial && !f.fromStream {
				return usageError{fmt.Errorf("--allow-partial goes with --from-stream")}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return e.rebuild(ctx, f)
		},
	}
	c.Flags().BoolVar(&f.fromStream, "from-stream", false, "restore the ledger from the stream first (needs NATS)")
	c.Flags().BoolVar(&f.allowPartial, "allow-partial", false, "with --from-stream: go on when the stream lost its oldest events")
	c.Flags().BoolVar(&f.keepOld, "keep-old", false, "keep the old generation's schema after the swap (until the next rebuild)")
	c.Flags().Float64Var(&f.maxRate, "max-rate", 0, "read at most this many events per second (0: no limit), to spare the live database")
	c.Flags().IntVar(&f.swapTail, "swap-tail", store.DefaultSwapTail, "catch up until at most this many events are left to apply while the workers wait for the swap")
	return c
}

func (e *env) rebuild(ctx context.Context, f rebuildFlags) error {
	cfg, err := e.config()
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	lock, err := st.LockRebuild(ctx)
	if err != nil {
		return err
	}
	defer lock.Release()
	opts := store.RebuildOptions{Zones: cfg.Zones(), MaxRate: f.maxRate, SwapTail: f.swapTail, KeepOld: f.keepOld, Source: "ledger"}
	if f.fromStream {
		if err := e.restoreLedger(ctx, cfg, st, f.allowPartial, log); err != nil {
			return err
		}
		opts.Source = "stream"
	}
	p := newProgress(e.stderr, "rebuild", "events")
	opts.Progress = func(r store.RebuildProgress) { p.update(r.Phase, r.Done, r.Total) }
	res, err := st.Rebuild(ctx, lock, opts)
	p.finish()
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	reportRebuild(e.stdout, res, f.keepOld)
	return nil
}

// openStore connects to the database and checks its schema; every failure
// names the setting.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*store.Store, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := store.Open(cctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, &config.Error{Name: "TALLY_DATABASE_URL", Msg: err.Error()}
	}
	if err := st.CheckSchema(ctx); err != nil {
		st.Close()
		return nil, &config.Error{Name: "TALLY_DATABASE_URL", Msg: err.Error()}
	}
	return st, nil
}

// restoreLedger records in the ledger the valid events of the stream that
// it lacks, up to the durable consumer's ack floor.
func (e *env) restoreLedger(ctx context.Context, cfg config.Config, st *store.Store, allowPartial bool, log *slog.Logger) error {
	nc, err := app.ConnectNATS(cfg, log, "tally rebuild")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	ccfg := consumer.Config{Stream: cfg.Stream, Subjects: cfg.Subjects, Consumer: cfg.Consumer}
	h, err := consumer.InspectHistory(ctx, js, ccfg)
	if err != nil {
		return err
	}
	if h.Partial() && !allowPartial {
		return fmt.Errorf("%s: restoring the ledger from it would miss them. Rebuild from the ledger (without --from-stream), "+
			"or pass --allow-partial to restore what the stream still holds", h.Describe())
	}
	if h.Partial() {
		log.Warn("restoring from a partial stream", "detail", h.Describe())
	}
	fmt.Fprintf(e.stdout, "restoring the ledger from stream %s: sequences %d to %d, recorded by the workers up to %d\n",
		h.Stream, h.FirstSeq, h.LastSeq, h.AckFloor)
	p := newProgress(e.stderr, "restore", "messages")
	rs, err := consumer.RestoreLedger(ctx, js, ccfg, h.AckFloor, cfg.MaxEventBytes, st, func(rs consumer.RestoreStats) {
		p.update("read", int64(rs.Read), 0)
	})
	p.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s missing events into the ledger (%s messages read, %s invalid)\n",
		count(int64(rs.Restored)), count(int64(rs.Read)), count(int64(rs.Invalid)))
	return nil
}

func reportRebuild(w io.Writer, r store.RebuildResult, keepOld bool) {
	for _, g := range r.Leftovers {
		fmt.Fprintf(w, "dropped generation %d, left by an earlier rebuild\n", g)
	}
	rate := float64(r.Events) / max(r.Took.Seconds(), 1e-3)
	fmt.Fprintf(w, "rebuilt generation %d from %s events in %s (%s events/s, %d catch-up rounds)\n",
		r.Gen, count(r.Events), r.Took.Round(time.Millisecond), count(int64(rate)), r.Rounds)
	fmt.Fprintf(w, "  %s counted, %s of unknown types ignored; %s cars, %s bookings; time zones %s\n",
		count(r.Applied), count(r.Ignored), count(int64(r.Cars)), count(int64(r.Bookings)), r.Zones)
	if r.Undecodable > 0 {
		fmt.Fprintf(w, "  warning: %s recorded events fail today's validation and were left out\n", count(r.Undecodable))
	}
	old := fmt.Sprintf("generation %d dropped", r.OldGen)
	switch {
	case keepOld:
		old = fmt.Sprintf("generation %d kept as schema %s until the next rebuild", r.OldGen, store.Schema(r.OldGen))
	case !r.OldDropped:
		old = fmt.Sprintf("generation %d not dropped yet", r.OldGen)
	}
	fmt.Fprintf(w, "swapped in generation %d; %s\n", r.Gen, old)
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+strings.TrimSpace(n))
	}
}
