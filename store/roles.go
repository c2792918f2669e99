package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Roles are the four group roles tally migrate --roles creates. They are
// NOLOGIN: people and services log in as their own users, members of one.
type Roles struct {
	// Owner owns schema tally and every generation: run tally migrate and
	// tally rebuild as a member of it (or a superuser).
	Owner string
	// Writer is the worker: only what tally run needs.
	Writer string
	// Reader is dashboards and analysts: the contract's views and the
	// tally.X_at functions, nothing else.
	Reader string
	// Support is the reader plus the ledger and dead letters, for the
	// playbook.
	Support string
}

// RoleNames returns the roles with prefix, such as tally_owner.
func RoleNames(prefix string) Roles {
	return Roles{Owner: prefix + "owner", Writer: prefix + "writer", Reader: prefix + "reader", Support: prefix + "support"}
}

func (r Roles) all() []string { return []string{r.Owner, r.Writer, r.Reader, r.Support} }

// String lists the role names.
func (r Roles) String() string { return strings.Join(r.all(), ", ") }

// rolePrefixPattern keeps role names plain identifiers: lower case, so
// that people can type them unquoted in psql.
var rolePrefixPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

// ValidRolePrefix reports whether prefix makes valid role names.
func ValidRolePrefix(prefix string) bool { return rolePrefixPattern.MatchString(prefix) }

// rolePrefixSetting is where tally.settings remembers the roles, so that a
// later tally migrate or a new generation grants them too.
const rolePrefixSetting = "role_prefix"

// ensureRoles creates the roles that are missing, hands tally's objects to
// the owner and grants the others what they need. Everything it does is
// idempotent; the caller holds the migration lock.
func ensureRoles(ctx context.Context, conn *pgx.Conn, prefix string) (Roles, error) {
	r := RoleNames(prefix)
	err := withTx(ctx, conn, func(tx pgx.Tx) error {
		steps := []func(context.Context, pgx.Tx, Roles) error{createRoles, ownTally, grantDatabase, grantWriter, grantReader, grantSupport}
		for _, step := range steps {
			if err := step(ctx, tx, r); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO tally.settings (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now()
			WHERE tally.settings.value IS DISTINCT FROM excluded.value`, rolePrefixSetting, prefix)
		return wrap(err, "store role prefix")
	})
	return r, err
}

// storedRolePrefix returns the prefix of the roles migrate --roles made,
// "" when it never ran.
func storedRolePrefix(ctx context.Context, q querier) (string, error) {
	var prefix string
	err := q.QueryRow(ctx, "SELECT value FROM tally.settings WHERE name = $1", rolePrefixSetting).Scan(&prefix)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return prefix, wrap(err, "read role prefix")
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func exec(ctx context.Context, tx pgx.Tx, sql string, args ...any) error {
	_, err := tx.Exec(ctx, sql, args...)
	return wrap(err, "%s", sql)
}

func createRoles(ctx context.Context, tx pgx.Tx, r Roles) error {
	for _, name := range r.all() {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
			return fmt.Errorf("look up role %s: %w", name, err)
		}
		if exists {
			continue
		}
		if err := exec(ctx, tx, "CREATE ROLE "+ident(name)+" NOLOGIN"); err != nil {
			return fmt.Errorf("create role %s (the migrating user needs CREATEROLE): %w", name, err)
		}
	}
	// Granting a membership takes CREATEROLE even when it exists: check
	// first, so that a later migrate by a member of the owner passes.
	var member bool
	if err := tx.QueryRow(ctx, "SELECT pg_has_role($1, $2, 'MEMBER')", r.Support, r.Reader).Scan(&member); err != nil || member {
		return wrap(err, "check role membership")
	}
	return exec(ctx, tx, "GRANT "+ident(r.Reader)+" TO "+ident(r.Support))
}

// ownedObjectsSQL lists what the owner must own: schema tally, the
// generation schemas, and their tables, views and functions. Sequences go
// with their tables.
const ownedObjectsSQL = `SELECT 'SCHEMA', quote_ident(nspname) FROM pg_namespace
WHERE nspname = 'tally' OR nspname ~ '^tally_g[0-9]+$'
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname = 'tally' OR n.nspname ~ '^tally_g[0-9]+$') AND c.relkind IN ('r', 'p', 'v', 'm', 'c')
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'tally' AND p.prokind IN ('f', 'p')`

// ownTally hands schema tally, the generations and everything in them to
// the owner, so that members of it can migrate and rebuild.
func ownTally(ctx context.Context, tx pgx.Tx, r Roles) error {
	rows, err := tx.Query(ctx, ownedObjectsSQL)
	if err != nil {
		return fmt.Errorf("list tally's objects: %w", err)
	}
	type object struct{ kind, name string }
	objects, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (object, error) {
		var o object
		return o, row.Scan(&o.kind, &o.name)
	})
	if err != nil {
		return fmt.Errorf("list tally's objects: %w", err)
	}
	for _, o := range objects {
		// The names come quoted from the catalog, never from input.
		if err := exec(ctx, tx, "ALTER "+o.kind+" "+o.name+" OWNER TO "+ident(r.Owner)); err != nil {
			return fmt.Errorf("hand %s to %s (the migrating user must be a superuser or a member of it): %w", o.name, r.Owner, err)
		}
	}
	return nil
}

func grantDatabase(ctx context.Context, tx pgx.Tx, r Roles) error {
	var db string
	if err := tx.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		return fmt.Errorf("read database name: %w", err)
	}
	// CREATE lets the owner's members create generation schemas.
	if err := exec(ctx, tx, "GRANT CONNECT, TEMPORARY, CREATE ON DATABASE "+ident(db)+" TO "+ident(r.Owner)); err != nil {
		return err
	}
	return exec(ctx, tx, "GRANT CONNECT ON DATABASE "+ident(db)+" TO "+ident(r.Writer)+", "+ident(r.Reader))
}

func grantWriter(ctx context.Context, tx pgx.Tx, r Roles) error {
	if err := exec(ctx, tx, "GRANT USAGE ON SCHEMA tally TO "+ident(r.Writer)); err != nil {
		return err
	}
	if err := grantTables(ctx, tx, r.Writer, writerNeeds); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname ~ '^tally_g[0-9]+$' ORDER BY nspname`)
	if err != nil {
		return fmt.Errorf("list generations: %w", err)
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list generations: %w", err)
	}
	for _, s := range schemas {
		if err := grantGenerationTo(ctx, tx, s, r.Writer); err != nil {
			return err
		}
	}
	return nil
}

func grantReader(ctx context.Context, tx pgx.Tx, r Roles) error {
	if err := exec(ctx, tx, "GRANT USAGE ON SCHEMA tally TO "+ident(r.Reader)); err != nil {
		return err
	}
	if err := grantTables(ctx, tx, r.Reader, readerNeeds); err != nil {
		return err
	}
	return grantFunctions(ctx, tx, r.Reader, readerFunctions())
}

func grantSupport(ctx context.Context, tx pgx.Tx, r Roles) error {
	if err := grantTables(ctx, tx, r.Support, supportNeeds); err != nil {
		return err
	}
	return grantFunctions(ctx, tx, r.Support, supportFunctions)
}

// grantTables grants each need whose object exists: the tables of later
// migrations are granted by the migrate that creates them.
func grantTables(ctx context.Context, tx pgx.Tx, role string, needs []need) error {
	for _, n := range needs {
		var exists bool
		if err := tx.QueryRow(ctx, relationExistsSQL, n.schema(), n.name()).Scan(&exists); err != nil {
			return fmt.Errorf("look up %s: %w", n.object, err)
		}
		if !exists {
			continue
		}
		obj := pgx.Identifier{n.schema(), n.name()}.Sanitize()
		if err := exec(ctx, tx, "GRANT "+strings.Join(n.privileges, ", ")+" ON "+obj+" TO "+ident(role)); err != nil {
			return err
		}
	}
	return nil
}

const relationExistsSQL = `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2)`

// grantFunctions grants EXECUTE on the functions of schema tally with
// these names (every overload) that exist.
func grantFunctions(ctx context.Context, tx pgx.Tx, role string, names []string) error {
	rows, err := tx.Query(ctx, `SELECT p.oid::regprocedure::text FROM pg_proc p
		WHERE p.pronamespace = 'tally'::regnamespace AND p.proname = ANY($1) ORDER BY 1`, names)
	if err != nil {
		return fmt.Errorf("list functions: %w", err)
	}
	funcs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list functions: %w", err)
	}
	for _, f := range funcs {
		// The signature comes quoted from the catalog, never from input.
		if err := exec(ctx, tx, "GRANT EXECUTE ON FUNCTION "+f+" TO "+ident(role)); err != nil {
			return err
		}
	}
	return nil
}

// grantGenerationTo lets the writer read and write generation schema s.
func grantGenerationTo(ctx context.Context, tx pgx.Tx, schema, writer string) error {
	s := ident(schema)
	if err := exec(ctx, tx, "GRANT USAGE ON SCHEMA "+s+" TO "+ident(writer)); err != nil {
		return err
	}
	return exec(ctx, tx, "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA "+s+" TO "+ident(writer))
}

// grantGeneration hands a new generation to the owner and grants it to
// the writer, when migrate --roles made roles: a rebuilt generation must
// keep working for the same workers the moment it is swapped in.
func grantGeneration(ctx context.Context, tx pgx.Tx, gen int) error {
	prefix, err := storedRolePrefix(ctx, tx)
	if err != nil || prefix == "" {
		return err
	}
	r := RoleNames(prefix)
	schema := Schema(gen)
	if err := exec(ctx, tx, "ALTER SCHEMA "+ident(schema)+" OWNER TO "+ident(r.Owner)); err != nil {
		return fmt.Errorf("hand generation %d to %s: %w", gen, r.Owner, err)
	}
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c WHERE c.relnamespace = $1::regnamespace
		AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1`, schema)
	if err != nil {
		return fmt.Errorf("list tables of generation %d: %w", gen, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list tables of generation %d: %w", gen, err)
	}
	for _, t := range tables {
		if err := exec(ctx, tx, "ALTER TABLE "+pgx.Identifier{schema, t}.Sanitize()+" OWNER TO "+ident(r.Owner)); err != nil {
			return fmt.Errorf("hand generation %d to %s: %w", gen, r.Owner, err)
		}
	}
	return grantGenerationTo(ctx, tx, schema, r.Writer)
}

// maintainRoles creates the roles when asked, and otherwise grants the
// roles an earlier migrate --roles made on what newer migrations added.
func maintainRoles(ctx context.Context, conn *pgx.Conn, s Settings) (*Roles, error) {
	prefix := s.RolePrefix
	if !s.CreateRoles {
		var err error
		if prefix, err = storedRolePrefix(ctx, conn); err != nil || prefix == "" {
			return nil, err
		}
	}
	if !ValidRolePrefix(prefix) {
		return nil, fmt.Errorf("role prefix %q: use lower-case letters, digits and _", prefix)
	}
	r, err := ensureRoles(ctx, conn, prefix)
	if err != nil {
		return nil, err
	}
	return &r, nil
}
