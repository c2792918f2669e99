package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/tallyhq/tally/aggregator"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateLockKey serialises migrations: tally migrate may run on several
// hosts at once.
const migrateLockKey = 7_241_001

// Settings are what tally migrate stores in the database.
type Settings struct {
	Zones        aggregator.Zones
	OverdueGrace time.Duration
	// CreateRoles creates the roles (tally migrate --roles) named with
	// RolePrefix. Once they exist, every migrate grants them what its
	// migrations added.
	CreateRoles bool
	RolePrefix  string
}

// MigrateResult says what Migrate did.
type MigrateResult struct {
	CreatedDatabase bool
	Applied         []int64 // migration versions applied now
	Version         int64   // schema version after migrating
	// StoredZones are the zones the current generation uses. They differ
	// from the requested ones when events were already counted with other
	// zones: only a rebuild changes them then.
	StoredZones aggregator.Zones
	ZonesKept   bool
	// Roles are the roles granted now, nil when there are none.
	Roles *Roles
}

// Migrate creates the database when it is missing, then creates or
// upgrades tally's schema and stores the settings. It is safe to run again
// and from several hosts at once.
func Migrate(ctx context.Context, url string, s Settings, log *slog.Logger) (MigrateResult, error) {
	var res MigrateResult
	created, err := ensureDatabase(ctx, url)
	if err != nil {
		return res, err
	}
	res.CreatedDatabase = created
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return res, fmt.Errorf("connect to database %s: %w", Describe(url), redact(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return res, fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey) }()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS tally"); err != nil {
		return res, fmt.Errorf("create schema tally: %w", err)
	}
	if res.Applied, res.Version, err = runGoose(ctx, conn, log); err != nil {
		return res, err
	}
	res.StoredZones, res.ZonesKept, err = storeSettings(ctx, conn, s)
	if err != nil {
		return res, err
	}
	res.Roles, err = maintainRoles(ctx, conn, s)
	return res, err
}

// ensureDatabase creates the database named in url when it does not exist.
func ensureDatabase(ctx context.Context, url string) (bool, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false, fmt.Errorf("parse database url: %w", redact(err))
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return false, conn.Close(ctx)
	}
	if pgCode(err) != "3D000" { // invalid_catalog_name: the database is missing
		return false, fmt.Errorf("connect to database %s: %w", Describe(url), redact(err))
	}
	name := cfg.Database
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect to the postgres database to create %q: %w", name, redact(err))
	}
	defer admin.Close(context.WithoutCancel(ctx))
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	switch pgCode(err) {
	case "":
		return err == nil, wrap(err, "create database %q", name)
	case "42P04", "23505": // another host created it first
		return false, nil
	}
	return false, fmt.Errorf("create database %q: %w", name, err)
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

func runGoose(ctx context.Context, conn *pgx.Conn, log *slog.Logger) ([]int64, int64, error) {
	db := stdlib.OpenDB(*conn.Config())
	defer db.Close()
	p, err := newProvider(db, log)
	if err != nil {
		return nil, 0, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("migrate: %w", err)
	}
	var applied []int64
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	version, err := p.GetDBVersion(ctx)
	return applied, version, wrap(err, "read schema version")
}

func newProvider(db *sql.DB, log *slog.Logger) (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithTableName("tally.goose_db_version"), goose.WithDisableGlobalRegistry(true)}
	if log != nil {
		opts = append(opts, goose.WithSlog(log))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// LatestVersion is the schema version this binary migrates to: the
// highest numbered migration.
func LatestVersion() int64 {
	entries, _ := fs.Glob(migrationFS, "migrations/*.sql")
	var latest int64
	for _, e := range entries {
		v, err := strconv.ParseInt(strings.SplitN(path.Base(e), "_", 2)[0], 10, 64)
		if err == nil && v > latest {
			latest = v
		}
	}
	return latest
}

// storeSettings records the overdue grace, creates the first generation
// with the requested zones, and points the views at the current one.
func storeSettings(ctx context.Context, conn *pgx.Conn, s Settings) (aggregator.Zones, bool, error) {
	var stored aggregator.Zones
	var kept bool
	err := withTx(ctx, conn, func(tx pgx.Tx) error {
		grace := s.OverdueGrace
		if grace <= 0 {
			grace = 15 * time.Minute
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tally.settings (name, value) VALUES ('overdue_grace', $1)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now()
			WHERE tally.settings.value IS DISTINCT FROM excluded.value`, intervalText(grace)); err != nil {
			return fmt.Errorf("store overdue grace: %w", err)
		}
		g, err := currentGeneration(ctx, tx)
		switch {
		case errors.Is(err, errNoGeneration):
			if err := createGeneration(ctx, tx, 1, s.Zones, "current"); err != nil {
				return err
			}
			g = Generation{Gen: 1, Zones: s.Zones}
		case err != nil:
			return err
		case !g.Zones.Equal(s.Zones):
			if g, kept, err = maybeChangeZones(ctx, tx, g, s.Zones); err != nil {
				return err
			}
		}
		stored = g.Zones
		return pointViews(ctx, tx, g.Gen)
	})
	return stored, kept, err
}

// maybeChangeZones applies new zones to a generation that has counted
// nothing yet; otherwise it keeps the stored ones (a rebuild applies them).
func maybeChangeZones(ctx context.Context, tx pgx.Tx, g Generation, z aggregator.Zones) (Generation, bool, error) {
	var any bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM tally.events)").Scan(&any); err != nil {
		return g, false, fmt.Errorf("check ledger: %w", err)
	}
	if any {
		return g, true, nil
	}
	if _, err := tx.Exec(ctx, "UPDATE tally.generations SET timezone = $2, city_timezones = $3 WHERE gen = $1",
		g.Gen, z.DefaultName(), z.CitiesString()); err != nil {
		return g, false, fmt.Errorf("store zones: %w", err)
	}
	g.Zones = z
	return g, false, nil
}

// intervalText renders d as a PostgreSQL interval literal.
func intervalText(d time.Duration) string {
	return fmt.Sprintf("%d microseconds", d.Microseconds())
}

// isConnectError reports whether err is a failure to reach the server.
func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// SchemaSources returns the text of every migration and template, in
// order: what a schema fingerprint is computed from.
func SchemaSources() []string {
	parts := []string{generationSQL, viewsSQL}
	entries, _ := fs.Glob(migrationFS, "migrations/*.sql")
	for _, e := range entries {
		b, _ := migrationFS.ReadFile(e)
		parts = append(parts, e, string(b))
	}
	return parts
}
