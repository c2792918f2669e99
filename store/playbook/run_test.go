package playbook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/store/playbook"
)

type testBundle struct {
	url  string
	book *playbook.Book
	dir  string
}

// setup gives the test a migrated database and a playbook with extra
// entries written to a directory: name -> file text.
func setup(t *testing.T, entries map[string]string) *testBundle {
	t.Helper()
	dir := t.TempDir()
	for name, text := range entries {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".sql"), []byte(text), 0o600))
	}
	book, err := playbook.Load(dir)
	require.NoError(t, err)
	return &testBundle{url: testdb.New(t), book: book, dir: dir}
}

func (tb *testBundle) run(t *testing.T, name string, values map[string]string, o playbook.Options) (playbook.Result, error) {
	t.Helper()
	e, err := tb.book.Get(name)
	require.NoError(t, err)
	q, err := e.Bind(values, playbook.Clock{Now: time.Now(), Zone: time.UTC})
	require.NoError(t, err)
	return playbook.Run(context.Background(), tb.url, q, o)
}

func settingsCount(t *testing.T, url string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM tally.settings").Scan(&n))
	return n
}

func TestEntryThatWritesFails(t *testing.T) {
	t.Parallel()
	tb := setup(t, map[string]string{
		"wipe":     "-- description: Tries to delete.\nDELETE FROM tally.settings RETURNING name",
		"wipe-cte": "-- description: Tries to delete in a CTE.\nWITH d AS (DELETE FROM tally.settings RETURNING 1) SELECT count(*) FROM d",
		"create":   "-- description: Tries to create a table.\nCREATE TABLE tally.evil (x int)",
	})
	before := settingsCount(t, tb.url)
	require.Positive(t, before)
	for _, name := range []string{"wipe", "wipe-cte", "create"} {
		_, err := tb.run(t, name, nil, playbook.Options{})
		require.ErrorIs(t, err, playbook.ErrWrite, name)
		require.ErrorContains(t, err, name+" tried to write: the playbook is read-only (cannot execute")
	}
	require.Equal(t, before, settingsCount(t, tb.url))
}

func TestParameterWithSQLIsJustAValue(t *testing.T) {
	t.Parallel()
	tb := setup(t, map[string]string{
		"echo": "-- description: Echoes a value.\n-- param: v text A value.\nSELECT :v AS v, length(:v) AS n",
	})
	evil := `x'; DELETE FROM tally.settings; --`
	res, err := tb.run(t, "echo", map[string]string{"v": evil}, playbook.Options{})
	require.NoError(t, err)
	require.Equal(t, [][]any{{evil, int32(len(evil))}}, res.Rows)

	res, err = tb.run(t, "entity-events", map[string]string{"id": `' OR '1'='1`}, playbook.Options{})
	require.NoError(t, err)
	require.Empty(t, res.Rows)
	require.Positive(t, settingsCount(t, tb.url))
}

func TestBuiltInLimitsRefuseANegativeCount(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	for name, params := range map[string]map[string]string{
		"entity-events": {"id": "car-1", "limit": "-1"},
		"dead-letters":  {"limit": "-1"},
	} {
		e, err := tb.book.Get(name)
		require.NoError(t, err)
		_, err = e.Bind(params, playbook.Clock{Now: time.Now(), Zone: time.UTC})
		require.ErrorIs(t, err, playbook.ErrParam, name)
		require.ErrorContains(t, err, `limit: "-1" is not a count`, name)
		params["limit"] = "0"
		res, err := tb.run(t, name, params, playbook.Options{})
		require.NoError(t, err, name)
		require.Empty(t, res.Rows, name)
	}
}

func TestSlowQueryIsStoppedByTheTimeout(t *testing.T) {
	t.Parallel()
	tb := setup(t, map[string]string{
		"slow": "-- description: Sleeps.\n-- param: s int default=30 Seconds.\nSELECT pg_sleep(:s)",
	})
	start := time.Now()
	_, err := tb.run(t, "slow", nil, playbook.Options{Timeout: 300 * time.Millisecond})
	require.ErrorIs(t, err, playbook.ErrTimeout)
	require.EqualError(t, err, "slow stopped after 300ms: the statement timeout; narrow the bracket or raise --timeout")
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestRowCapStopsTheStatement(t *testing.T) {
	t.Parallel()
	tb := setup(t, map[string]string{
		"many": "-- description: Many rows.\nSELECT generate_series(1, 100000000) AS g",
	})
	start := time.Now()
	res, err := tb.run(t, "many", nil, playbook.Options{MaxRows: 10, Timeout: time.Minute})
	require.NoError(t, err)
	require.True(t, res.Truncated)
	require.Len(t, res.Rows, 10)
	require.Equal(t, "stopped at 10 rows, the row cap: there are more; narrow the bracket or raise --max-rows", res.Note())
	require.Less(t, time.Since(start), 20*time.Second, "the rest was not read")
}

func TestDirectoryOverridesABuiltInEntry(t *testing.T) {
	t.Parallel()
	tb := setup(t, map[string]string{
		"duplicates": "-- description: Ours.\nSELECT 1 AS one",
	})
	e, err := tb.book.Get("duplicates")
	require.NoError(t, err)
	require.Equal(t, "Ours.", e.Description)
	require.Equal(t, filepath.Join(tb.dir, "duplicates.sql"), e.Source)

	_, err = tb.book.Get("nope")
	require.ErrorIs(t, err, playbook.ErrUnknownEntry)
	require.ErrorContains(t, err, `unknown playbook entry "nope"; tally playbook list shows them`)
}

func TestResultFormats(t *testing.T) {
	t.Parallel()
	tb := setup(t, map[string]string{
		"kinds": "-- description: One of each kind.\n" +
			"SELECT 7::bigint AS n, 'a,b'::text AS s, NULL::text AS nothing, DATE '2026-05-01' AS day,\n" +
			"TIMESTAMPTZ '2026-05-01 10:00:00+02' AS at, '{\"k\": [1]}'::json AS j, 1.5::numeric AS x,\n" +
			"interval '90 minutes' AS d, true AS ok",
	})
	res, err := tb.run(t, "kinds", nil, playbook.Options{})
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, res.Write(&out, "json"))
	var rows []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows))
	require.Equal(t, []map[string]any{{"n": 7.0, "s": "a,b", "nothing": nil, "day": "2026-05-01",
		"at": "2026-05-01T08:00:00Z", "j": map[string]any{"k": []any{1.0}}, "x": 1.5, "d": "1h30m0s", "ok": true}}, rows)
	require.Regexp(t, `^\[\n  \{"n": 7, "s": "a,b", "nothing": null, "day"`, out.String(), "keys keep the columns' order")

	out.Reset()
	require.NoError(t, res.Write(&out, "csv"))
	require.Equal(t, "n,s,nothing,day,at,j,x,d,ok\n7,\"a,b\",,2026-05-01,2026-05-01T08:00:00Z,\"{\"\"k\"\":[1]}\",1.5,1h30m0s,true\n", out.String())

	out.Reset()
	require.NoError(t, res.Write(&out, "table"))
	require.Equal(t, "n  s    nothing  day         at                    j          x    d        ok\n"+
		"7  a,b           2026-05-01  2026-05-01T08:00:00Z  {\"k\":[1]}  1.5  1h30m0s  true\n(1 rows)\n", out.String())
}
