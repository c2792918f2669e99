package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/store"
)

func (e *env) migrateCommand() *cobra.Command {
	var roles bool
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the database schema",
		Long: `Creates the database when it is missing, then creates or upgrades schema tally
and stores the settings that counters depend on: the business time zone
(TALLY_TIMEZONE), city zones (TALLY_CITY_TIMEZONES) and the overdue grace
(TALLY_OVERDUE_GRACE). Safe to run again and from several hosts at once.

Zones are fixed once events are counted: changing them takes tally rebuild.

--roles also creates four NOLOGIN group roles named with TALLY_ROLE_PREFIX
(default tally_): owner (owns the schema: run migrate and rebuild as a
member), writer (tally run), reader (the views and tally.X_at functions) and
support (reader plus the ledger and dead letters, for the playbook). It needs
a superuser or a user with CREATEROLE. Later migrations keep granting them.
Log in as your own users, members of one role:
  CREATE ROLE worker1 LOGIN PASSWORD '...' IN ROLE tally_writer;`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.config()
			if err != nil {
				return err
			}
			log := telemetry.NewLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
			res, err := store.Migrate(cmd.Context(), cfg.DatabaseURL, store.Settings{Zones: cfg.Zones(), OverdueGrace: cfg.OverdueGrace,
				CreateRoles: roles, RolePrefix: cfg.RolePrefix}, log)
			if err != nil {
				return err
			}
			e.reportMigrate(res, cfg.DatabaseURL, cfg.OverdueGrace)
			e.reportRoles(res.Roles)
			return nil
		},
	}
	c.Flags().BoolVar(&roles, "roles", false, "also create the owner, writer, reader and support roles (TALLY_ROLE_PREFIX)")
	return c
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

func (e *env) reportRoles(r *store.Roles) {
	if r == nil {
		return
	}
	fmt.Fprintf(e.stdout, "roles granted: %s (NOLOGIN; add login users with CREATE ROLE name LOGIN PASSWORD '...' IN ROLE %s)\n",
		r, r.Writer)
}
