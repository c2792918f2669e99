package main

import (
	"context"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/app"
	"github.com/tallyhq/tally/internal/failpoint"
	"github.com/tallyhq/tally/internal/telemetry"
)

func (e *env) runCommand() *cobra.Command {
	var httpAddr string
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the worker: consume, apply, serve health and metrics",
		Long: `Consumes the stream with the shared durable consumer (TALLY_CONSUMER), applies
each batch in one transaction and acknowledges it after the commit. Several
workers can run at once against one stream and one database.

Serves /livez, /readyz, /metrics, the status page (/) and the JSON read API
(/v1/counters, /v1/freshness) on TALLY_HTTP_ADDR (loopback by default);
TALLY_HTTP_TOKEN guards all but /livez and /readyz.
SIGINT or SIGTERM: stops fetching, finishes the batch in flight, exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if httpAddr != "" {
				e.environ["TALLY_HTTP_ADDR"] = httpAddr
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return e.runWorker(ctx)
		},
	}
	c.Flags().StringVar(&httpAddr, "http-addr", "", "address of the health and metrics server (overrides TALLY_HTTP_ADDR)")
	return c
}

// workerGCPercent is the worker's GOGC unless the environment sets one: a
// worker's live heap is a few batches, so letting the heap grow to five
// times it between collections costs tens of megabytes and saves most of
// the CPU the collector took (tally bench: catch-up 32,000 -> 43,000
// events/s, peak RSS 44 -> 80 MiB).
const workerGCPercent = 400

func tuneGC(environ map[string]string) {
	if _, set := environ["GOGC"]; !set {
		debug.SetGCPercent(workerGCPercent)
	}
}

func (e *env) runWorker(ctx context.Context) error {
	cfg, err := e.config()
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	tuneGC(e.environ)
	if err := failpoint.Enable(e.environ["TALLY_FAILPOINTS"]); err != nil {
		return usageError{err}
	}
	if spec := failpoint.Enabled(); spec != "" {
		log.Warn("failpoints enabled: this worker will fail on purpose (tests only)", "failpoints", spec)
	}
	m := app.New(cfg, log)
	defer m.Close()
	if err := m.Open(ctx); err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	log.Info("tally stopped")
	return nil
}
