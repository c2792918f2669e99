package main

import (
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/demo"
	"github.com/tallyhq/tally/internal/telemetry"
)

func (e *env) demoCommand() *cobra.Command {
	var opts demo.Options
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run a simulated fleet day on this machine, end to end",
		Long: `Migrates the database (creating it when missing), starts a worker, publishes a
simulated day of a fleet in a few cities (cars, bookings, payments, refunds,
a few duplicates, invalid events and bookings that never started), waits
until every event is counted, then prints the counters and where to look.

Needs PostgreSQL (TALLY_DATABASE_URL). When no NATS answers at TALLY_NATS_URL,
it starts an embedded nats-server with JetStream (data in --dir) and says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.config()
			if err != nil {
				return err
			}
			log := telemetry.NewLogger(e.stderr, "warn", cfg.LogFormat)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return demo.Run(ctx, cfg, opts, e.stdout, log)
		},
	}
	c.Flags().Int64Var(&opts.Seed, "seed", 1, "seed of the simulation")
	c.Flags().StringVar(&opts.Dir, "dir", ".tally-demo", "folder for the embedded NATS server's data, when one is needed")
	c.Flags().BoolVar(&opts.KeepRunning, "keep-running", false, "keep the worker running after the report, until Ctrl-C")
	return c
}
