package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/store"
)

func (e *env) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the database schema",
		Long: `Creates the database when it is missing, then creates or upgrades schema tally
and stores the settings that counters depend on: the business time zone
(TALLY_TIMEZONE), city zones (TALLY_CITY_TIMEZONES) and the overdue grace
(TALLY_OVERDUE_GRACE). Safe to run again and from several hosts at once.

Zones are fixed once events are counted: changing them takes tally rebuild.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.config()
			if err != nil {
				return err
			}
			log := telemetry.NewLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
			res, err := store.Migrate(cmd.Context(), cfg.DatabaseURL, store.Settings{Zones: cfg.Zones(), OverdueGrace: cfg.OverdueGrace}, log)
			if err != nil {
				return err
			}
			e.reportMigrate(res, cfg.DatabaseURL, cfg.OverdueGrace)
			return nil
		},
	}
}

func (e *env) reportMigrate(res store.MigrateResult, url string, grace time.Duration) {
	w := e.stdout
	if res.CreatedDatabase {
		fmt.Fprintf(w, "created database %s\n", store.Describe(url))
	}
	if len(res.Applied) == 0 {
		fmt.Fprintf(w, "schema is current (version %d)\n", res.Version)
	} else {
		fmt.Fprintf(w, "applied migrations %v; schema version %d\n", res.Applied, res.Version)
	}
	fmt.Fprintf(w, "time zones: %s; overdue grace: %s\n", res.StoredZones, grace)
	if res.ZonesKept {
		fmt.Fprintln(w, "note: events are already counted with the stored zones; run tally rebuild to apply the configured ones")
	}
}
