package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/store"
)

func (e *env) verifyCommand() *cobra.Command {
	var since string
	c := &cobra.Command{
		Use:   "verify",
		Short: "Recompute every counter from the recorded events and report each difference",
		Long: `Recomputes every counter view and entity state from the recorded events (the
ledger, tally.events) and compares them with the live ones, in one consistent
database snapshot: workers keep committing meanwhile and nothing is locked.

Prints each difference (counter, key, field, live value, expected value) and
exits 1 when there is one, 0 when the counters are exact. The result is kept
in tally.verify_runs, which the workers export as metrics.

--since DAY (YYYY-MM-DD, a local date of the business zone) compares the
daily views from that day on only; the other views and entity states are
compared whole.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var day time.Time
			if since != "" {
				var err error
				if day, err = time.Parse(time.DateOnly, since); err != nil {
					return usageError{fmt.Errorf("--since %q: want a date such as 2026-03-28", since)}
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return e.verify(ctx, day)
		},
	}
	c.Flags().StringVar(&since, "since", "", "compare the daily views from this day on (YYYY-MM-DD)")
	return c
}

func (e *env) verify(ctx context.Context, since time.Time) error {
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
	p := newProgress(e.stderr, "verify", "events")
	rep, err := st.Verify(ctx, store.VerifyOptions{Since: since, Progress: func(done, total int64) {
		p.update("recompute", done, total)
	}})
	p.finish()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	run := store.VerifyRun{StartedAt: rep.StartedAt, FinishedAt: time.Now(), Differences: int64(len(rep.Differences))}
	if !since.IsZero() {
		run.Since = &since
	}
	if err := st.RecordVerifyRun(ctx, run); err != nil {
		log.Warn("cannot record the verify run", "err", err)
	}
	reportVerify(e.stdout, rep)
	if n := len(rep.Differences); n > 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("%s between the live counters and the recorded events", plural(n, "difference"))}
	}
	return nil
}

func reportVerify(w io.Writer, r store.VerifyReport) {
	rate := float64(r.Events) / max(r.Took.Seconds(), 1e-3)
	fmt.Fprintf(w, "verified generation %d (time zones %s) against %s recorded events in %s (%s events/s): %s cars, %s bookings\n",
		r.Gen, r.Zones, count(r.Events), r.Took.Round(time.Millisecond), count(int64(rate)),
		count(int64(r.Cars)), count(int64(r.Bookings)))
	if r.Undecodable > 0 {
		fmt.Fprintf(w, "warning: %s recorded events fail today's validation and were left out of the recomputation\n", count(r.Undecodable))
	}
	if len(r.Differences) == 0 {
		fmt.Fprintln(w, "no differences")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNTER\tKEY\tFIELD\tLIVE\tEXPECTED")
	for _, d := range r.Differences {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Counter, d.Key, d.Field, d.Live, d.Expected)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, plural(len(r.Differences), "difference"))
}

// plural writes n things: "1 difference", "2,481 differences".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return count(int64(n)) + " " + thing + "s"
}
