// Package testdb gives each test its own PostgreSQL database, cloned from a
// migrated template so that it is fast, and dropped when the test ends.
// The server is the machine's (TALLY_TEST_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/postgres); a missing server fails the
// test loudly.
package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/store"
)

// templateLockKey serialises template creation across test processes.
const templateLockKey = 7_241_099

// AdminURL returns the URL of the server's maintenance database.
func AdminURL() string {
	if u := os.Getenv("TALLY_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// URLFor returns the URL of database name on the test server.
func URLFor(name string) string {
	u, err := url.Parse(AdminURL())
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Options change what a test database holds.
type Options struct {
	// Zones, when set, replace the default UTC zones (the ledger is empty, so
	// migrate applies them).
	Zones *aggregator.Zones
	// Empty skips the template: the database exists but is not migrated.
	Empty bool
}

// New creates a fresh migrated database for the test and returns its URL.
func New(t testing.TB, opts ...Options) string {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	require.NoError(t, err, "PostgreSQL must be running at %s (see README)", store.Describe(AdminURL()))
	defer admin.Close(context.Background())

	name := "tally_test_" + randomHex(6)
	create := "CREATE DATABASE " + name
	if !o.Empty {
		tpl := ensureTemplate(t, ctx, admin)
		create += " TEMPLATE " + tpl
	}
	_, err = admin.Exec(ctx, create)
	require.NoError(t, err)
	t.Cleanup(func() { drop(t, name) })
	u := URLFor(name)
	if o.Zones != nil {
		_, err := store.Migrate(ctx, u, store.Settings{Zones: *o.Zones}, nil)
		require.NoError(t, err)
	}
	return u
}

// NewName returns a fresh database name that does not exist yet, dropped
// at the end of the test if something created it.
func NewName(t testing.TB) string {
	name := "tally_test_" + randomHex(6)
	t.Cleanup(func() { drop(t, name) })
	return name
}

func drop(t testing.TB, name string) {
	if os.Getenv("TALLY_TEST_KEEP") != "" && t.Failed() {
		t.Logf("kept database %s", name)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Errorf("drop database %s: %v", name, err)
		return
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("drop database %s: %v", name, err)
	}
}

// ensureTemplate returns the name of a migrated template database for the
// current schema, creating it under a lock the first time.
func ensureTemplate(t testing.TB, ctx context.Context, admin *pgx.Conn) string {
	t.Helper()
	name := "tally_tpl_" + schemaHash()
	_, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey)
	require.NoError(t, err)
	defer func() { _, _ = admin.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", templateLockKey) }()
	var exists bool
	require.NoError(t, admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	if exists {
		return name
	}
	build := name + "_build"
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+build+" WITH (FORCE)")
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+build)
	require.NoError(t, err)
	_, err = store.Migrate(ctx, URLFor(build), store.Settings{Zones: aggregator.UTC}, nil)
	require.NoError(t, err, "migrate the template database")
	_, err = admin.Exec(ctx, "ALTER DATABASE "+build+" RENAME TO "+name)
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "ALTER DATABASE "+name+" WITH IS_TEMPLATE true")
	require.NoError(t, err)
	return name
}

// schemaHash identifies the schema this binary migrates to, so a changed
// migration gets a new template.
func schemaHash() string {
	h := sha256.New()
	for _, part := range store.SchemaSources() {
		h.Write([]byte(part))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("random: %v", err))
	}
	return hex.EncodeToString(b)
}
