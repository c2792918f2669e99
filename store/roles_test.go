package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/store"
)

type rolesBundle struct {
	url    string
	prefix string
	roles  store.Roles
	admin  *store.Store
}

// setupRoles creates a database whose roles carry a random prefix; the
// roles are dropped after the database.
func setupRoles(t *testing.T) *rolesBundle {
	t.Helper()
	ctx := context.Background()
	prefix := "t" + randomHex(t, 4) + "_"
	b := &rolesBundle{prefix: prefix, roles: store.RoleNames(prefix)}
	t.Cleanup(func() {
		dropRoles(t, prefix+"login_reader", prefix+"login_writer", prefix+"login_support", b.roles.Support, b.roles.Reader, b.roles.Writer, b.roles.Owner)
	})
	b.url = testdb.New(t)
	res, err := store.Migrate(ctx, b.url, store.Settings{CreateRoles: true, RolePrefix: prefix}, nil)
	require.NoError(t, err)
	require.Equal(t, b.roles, *res.Roles)
	b.admin, err = store.Open(ctx, b.url, nil)
	require.NoError(t, err)
	t.Cleanup(b.admin.Close)
	return b
}

// login creates a login user in role and returns the database URL for it.
func (b *rolesBundle) login(t *testing.T, role, user string) string {
	t.Helper()
	_, err := b.admin.Pool().Exec(context.Background(), "CREATE ROLE "+pgx.Identifier{user}.Sanitize()+
		" LOGIN IN ROLE "+pgx.Identifier{role}.Sanitize())
	require.NoError(t, err)
	u, err := url.Parse(b.url)
	require.NoError(t, err)
	u.User = url.User(user)
	return u.String()
}

func dropRoles(t *testing.T, names ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testdb.AdminURL())
	if err != nil {
		t.Errorf("drop roles: %v", err)
		return
	}
	defer conn.Close(ctx)
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{n}.Sanitize()); err != nil {
			t.Errorf("drop role %s: %v", n, err)
		}
	}
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func requireDenied(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	_, err := conn.Exec(context.Background(), sql)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, sql)
	require.Equal(t, "42501", pgErr.Code, "%s: %v", sql, err) // insufficient_privilege
}

func requireAllowed(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	_, err := conn.Exec(context.Background(), sql)
	require.NoError(t, err, sql)
}

func TestRolesReaderReadsViewsOnly(t *testing.T) {
	t.Parallel()
	b := setupRoles(t)
	reader := connect(t, b.login(t, b.roles.Reader, b.prefix+"login_reader"))
	for _, v := range []string{"active_cars", "bookings_by_status", "daily_revenue", "daily_bookings", "overdue_bookings", "freshness"} {
		requireAllowed(t, reader, "SELECT * FROM tally."+v)
	}
	requireDenied(t, reader, "SELECT * FROM tally.events")
	requireDenied(t, reader, "SELECT * FROM tally.dead_letters")
	requireDenied(t, reader, "SELECT * FROM tally_g1.bookings")
	requireDenied(t, reader, "INSERT INTO tally.events (id, type, occurred_at, body) VALUES ('x', 'y', now(), '')")
	requireDenied(t, reader, "UPDATE tally.freshness_state SET pending = 0")
	requireDenied(t, reader, "DELETE FROM tally.settings")
	requireDenied(t, reader, "CREATE TABLE tally.mine (x int)")
}

func TestRolesSupportReadsTheLedgerButWritesNothing(t *testing.T) {
	t.Parallel()
	b := setupRoles(t)
	support := connect(t, b.login(t, b.roles.Support, b.prefix+"login_support"))
	requireAllowed(t, support, "SELECT * FROM tally.active_cars")
	requireAllowed(t, support, "SELECT * FROM tally.events")
	requireAllowed(t, support, "SELECT * FROM tally.dead_letters")
	requireDenied(t, support, "DELETE FROM tally.dead_letters")
	requireDenied(t, support, "INSERT INTO tally.events (id, type, occurred_at, body) VALUES ('x', 'y', now(), '')")
}

func TestRolesMigrateAgainIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setupRoles(t)
	prefix := b.prefix
	for range 2 {
		res, err := store.Migrate(context.Background(), b.url, store.Settings{CreateRoles: true, RolePrefix: prefix}, nil)
		require.NoError(t, err)
		require.Equal(t, b.roles, *res.Roles)
	}
	// A plain migrate keeps granting the roles made before.
	res, err := store.Migrate(context.Background(), b.url, store.Settings{}, nil)
	require.NoError(t, err)
	require.Equal(t, b.roles, *res.Roles)
}

func TestRolesWriterKeepsWorkingAfterANewGeneration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRoles(t)
	prefix := b.prefix
	w, err := store.Open(ctx, b.login(t, b.roles.Writer, prefix+"login_writer"), nil)
	require.NoError(t, err)
	t.Cleanup(w.Close)
	require.NoError(t, w.CheckWorkerPrivileges(ctx))

	at := time.Now().Add(-time.Hour)
	_, err = w.Apply(ctx, store.Batch{Events: incoming(mustEvent(t, car("c1", "paris", events.CarActive, 1, at)))})
	require.NoError(t, err)

	require.NoError(t, store.SwapInGeneration(ctx, b.admin, 2))
	require.NoError(t, w.CheckWorkerPrivileges(ctx))
	out, err := w.Apply(ctx, store.Batch{Events: incoming(mustEvent(t, car("c2", "paris", events.CarActive, 1, at)))})
	require.NoError(t, err)
	require.Equal(t, 2, out.Gen)
	require.Equal(t, 1, out.Applied)

	v, err := b.admin.ReadViews(ctx)
	require.NoError(t, err)
	require.Len(t, v.ActiveCars, 1)
	require.EqualValues(t, 1, v.ActiveCars[0].Cars, "generation 2 holds what was applied after the swap")
}

func TestCheckWorkerPrivilegesNamesTheMissingOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRoles(t)
	prefix := b.prefix
	r, err := store.Open(ctx, b.login(t, b.roles.Reader, prefix+"login_reader"), nil)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	err = r.CheckWorkerPrivileges(ctx)
	var pe *store.PrivilegeError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, prefix+"login_reader", pe.User)
	require.Equal(t, "SELECT", pe.Privilege)
	require.Equal(t, "tally.settings", pe.Object)
	require.NoError(t, b.admin.CheckWorkerPrivileges(ctx), "a superuser holds everything")
}

func TestRolesCoverHistoryAndThePlaybook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRoles(t)
	w, err := store.Open(ctx, b.login(t, b.roles.Writer, b.prefix+"login_writer"), nil)
	require.NoError(t, err)
	t.Cleanup(w.Close)
	_, taken, err := w.TakeSnapshot(ctx, store.SnapshotRequest{Kind: store.SnapshotManual})
	require.NoError(t, err, "the worker takes the periodic snapshots")
	require.True(t, taken)

	reader := connect(t, b.login(t, b.roles.Reader, b.prefix+"login_reader"))
	for _, v := range []string{"active_cars", "bookings_by_status", "daily_revenue", "daily_bookings", "overdue_bookings"} {
		requireAllowed(t, reader, "SELECT * FROM tally."+v+"_at(now())")
	}
	requireAllowed(t, reader, "SELECT * FROM tally.snapshots")
	requireAllowed(t, reader, "SELECT * FROM tally.active_cars_change(now() - interval '1 day', now())")
	requireDenied(t, reader, "SELECT * FROM tally.snapshot_active_cars")
	requireDenied(t, reader, "SELECT * FROM tally.bookings_in_status('confirmed', now())")

	support := connect(t, b.login(t, b.roles.Support, b.prefix+"login_support"))
	requireAllowed(t, support, "SELECT * FROM tally.bookings_in_status('confirmed', now())")
	requireAllowed(t, support, "SELECT * FROM tally.active_cars_at(now())")
	requireDenied(t, support, "DELETE FROM tally.snapshots")
}
