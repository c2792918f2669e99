package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// need is the privileges a role needs on one relation of schema tally.
// The writer's list is both what --roles grants and what a worker checks
// at start, so the two cannot drift apart.
type need struct {
	object     string // schema.relation
	privileges []string
}

func (n need) schema() string { s, _, _ := strings.Cut(n.object, "."); return s }
func (n need) name() string   { _, r, _ := strings.Cut(n.object, "."); return r }

func needs(privileges string, objects ...string) []need {
	out := make([]need, len(objects))
	for i, o := range objects {
		out[i] = need{object: o, privileges: strings.Split(privileges, ", ")}
	}
	return out
}

// contractViews are the contract's views in schema tally.
var contractViews = []string{"tally.active_cars", "tally.bookings_by_status", "tally.daily_revenue",
	"tally.daily_bookings", "tally.overdue_bookings", "tally.freshness"}

// writerNeeds is what tally run reads and writes outside the generation
// schemas (whose every table it reads and writes).
var writerNeeds = concat(
	needs("SELECT", "tally.settings", "tally.generations", "tally.goose_db_version", "tally.verify_runs"),
	needs("SELECT", contractViews...),
	// ON CONFLICT with a target and RETURNING read the rows they insert.
	needs("SELECT, INSERT", "tally.events", "tally.dead_letters", "tally.conflicts"),
	needs("SELECT, INSERT, UPDATE", "tally.duplicates"),
	needs("SELECT, UPDATE", "tally.freshness_state"),
	needs("SELECT, INSERT, UPDATE, DELETE", "tally.workers"),
	// The worker takes the periodic snapshots (migration 3) and exports
	// the rebuilds' progress (migration 2).
	needs("SELECT, INSERT, UPDATE, DELETE", "tally.snapshots", "tally.snapshot_active_cars",
		"tally.snapshot_bookings_by_status", "tally.snapshot_daily_revenue", "tally.snapshot_daily_bookings",
		"tally.snapshot_overdue_bookings"),
	needs("SELECT", "tally.rebuilds"),
)

// readerNeeds is what dashboards and analysts read: the contract only
// (the history functions are granted apart).
var readerNeeds = concat(needs("SELECT", contractViews...), needs("SELECT", "tally.snapshots"))

// supportNeeds is what the playbook reads beyond the reader's: the ledger,
// dead letters, duplicates, and the zones of the current generation.
var supportNeeds = needs("SELECT", "tally.events", "tally.dead_letters", "tally.conflicts", "tally.duplicates",
	"tally.generations", "tally.workers", "tally.verify_runs", "tally.rebuilds")

// readerFunctions are the history functions of the contract (X_at, and
// snapshot_at and X_change beside them), for every counter view X.
func readerFunctions() []string {
	names := []string{"snapshot_at"}
	for _, v := range CounterNames() {
		names = append(names, v+"_at", v+"_change")
	}
	return names
}

// supportFunctions are the functions the playbook calls beyond the
// reader's: the entity states of the current generation.
var supportFunctions = []string{"bookings_in_status"}

func concat(lists ...[]need) []need {
	var out []need
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// PrivilegeError says which privilege the database user lacks.
type PrivilegeError struct {
	User      string
	Privilege string
	Object    string
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("the database user %q lacks %s on %s, which the worker needs (grant it the writer role: see tally migrate --roles)",
		e.User, e.Privilege, e.Object)
}

// missingPrivilegeSQL returns the first (object, privilege) of the lists
// that exists and that the current user does not hold. Objects are found
// through the catalogs, which anyone may read: looking a name up in a
// schema without USAGE would fail instead of answering.
const missingPrivilegeSQL = `SELECT o.obj, u.priv
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(nsp, rel, priv, i)
JOIN pg_namespace n ON n.nspname = u.nsp
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = u.rel
CROSS JOIN LATERAL (SELECT CASE WHEN u.rel = '' THEN quote_ident(u.nsp) ELSE quote_ident(u.nsp) || '.' || quote_ident(u.rel) END) AS o(obj)
WHERE CASE WHEN u.rel = '' THEN NOT has_schema_privilege(n.oid, u.priv)
           WHEN c.oid IS NULL THEN false
           ELSE NOT has_table_privilege(c.oid, u.priv) END
ORDER BY u.i LIMIT 1`

// CheckWorkerPrivileges fails with a *PrivilegeError when the database
// user lacks a privilege tally run needs, so that a worker started with
// the wrong user says so at once rather than failing its first batch.
// Objects that do not exist are skipped: CheckSchema reports those.
func (s *Store) CheckWorkerPrivileges(ctx context.Context) error {
	shared := append([]need{{object: "tally.", privileges: []string{"USAGE"}}}, writerNeeds...)
	if err := s.checkPrivileges(ctx, shared); err != nil {
		return err
	}
	g, err := currentGeneration(ctx, s.pool)
	if errors.Is(err, errNoGeneration) || pgCode(err) == "42P01" || pgCode(err) == "3F000" {
		return nil
	}
	if err != nil {
		return err
	}
	return s.checkGeneration(ctx, Schema(g.Gen))
}

func (s *Store) checkGeneration(ctx context.Context, schema string) error {
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1`, schema)
	if err != nil {
		return fmt.Errorf("list tables of %s: %w", schema, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list tables of %s: %w", schema, err)
	}
	list := []need{{object: schema + ".", privileges: []string{"USAGE"}}}
	for _, t := range tables {
		list = append(list, need{object: schema + "." + t, privileges: []string{"SELECT", "INSERT", "UPDATE"}})
	}
	return s.checkPrivileges(ctx, list)
}

func (s *Store) checkPrivileges(ctx context.Context, list []need) error {
	var nsps, rels, privs []string
	for _, n := range list {
		for _, p := range n.privileges {
			nsps, rels, privs = append(nsps, n.schema()), append(rels, n.name()), append(privs, p)
		}
	}
	var obj, priv string
	err := s.pool.QueryRow(ctx, missingPrivilegeSQL, nsps, rels, privs).Scan(&obj, &priv)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check privileges: %w", err)
	}
	var user string
	if err := s.pool.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
		return fmt.Errorf("check privileges: %w", err)
	}
	return &PrivilegeError{User: user, Privilege: priv, Object: obj}
}
