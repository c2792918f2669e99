package playbook

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var clock = Clock{Now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), Zone: time.UTC}

func TestBuiltInEntriesLoad(t *testing.T) {
	t.Parallel()
	b, err := Load("")
	require.NoError(t, err)
	var names []string
	for _, e := range b.Entries() {
		names = append(names, e.Name)
		require.Equal(t, BuiltIn, e.Source)
		require.NotEmpty(t, e.Description)
		_, err := e.Bind(requiredValues(e), clock)
		require.NoError(t, err, e.Name)
	}
	require.Equal(t, []string{"bookings-and-payments", "conflicts", "dead-letters", "dead-letters-by-code",
		"duplicates", "entity-events", "revenue-by-hour", "stuck-bookings"}, names)
}

// requiredValues gives every required parameter a value of its type.
func requiredValues(e *Entry) map[string]string {
	v := map[string]string{}
	for _, p := range e.Params {
		if p.Required {
			v[p.Name] = map[string]string{"text": "x", "int": "1", "time": "1h", "date": "today"}[p.Type]
		}
	}
	return v
}

func TestPositional(t *testing.T) {
	t.Parallel()
	types := map[string]string{"since": "timestamptz", "city": "text"}
	lookup := func(n string) (string, bool) { v, ok := types[n]; return v, ok }
	sql, names, err := positional(`SELECT ':city', ":city", $$:city$$, $q$ :city $q$, x::text, E'\':city' -- :city
/* :city /* :since */ :city */ FROM t WHERE a >= :since AND c = :city AND d < :since`, lookup)
	require.NoError(t, err)
	require.Equal(t, []string{"since", "city"}, names)
	require.Equal(t, `SELECT ':city', ":city", $$:city$$, $q$ :city $q$, x::text, E'\':city' -- :city
/* :city /* :since */ :city */ FROM t WHERE a >= $1::timestamptz AND c = $2::text AND d < $1::timestamptz`, sql)

	_, _, err = positional("SELECT :nope", lookup)
	require.ErrorContains(t, err, ":nope is used but not declared")
}

func TestParseEntryErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"-- name: other\n-- description: d\nSELECT 1":      `name "other" must be the file's name`,
		"-- description: d\n-- param: a widget\nSELECT :a": `unknown type "widget"`,
		"SELECT 1":            "has no description",
		"-- description: d\n": "has no statement",
		"-- description: d\n-- param: a int\nSELECT 1":                   "param a is declared but not used",
		"-- description: d\nSELECT :a":                                   ":a is used but not declared",
		"-- description: d\n-- param: a int default=x\nSELECT :a":        `default of a: "x" is not a whole number`,
		"-- description: d\n-- param: a int\n-- param: a int\nSELECT :a": `param "a" is declared twice`,
		"-- description: d\n-- param: a status default=gone\nSELECT :a":  `"gone" is not one of confirmed`,
		"-- description: d\n-- param: a text default=\"x y\nSELECT :a":   "unterminated quoted value",
		"-- description: d\n-- param: a-b int\nSELECT 1":                 `param name "a-b"`,
	}
	for text, want := range tests {
		_, err := parseEntry("entry", "test.sql", text)
		require.ErrorContains(t, err, want, text)
	}
}

func TestParseParam(t *testing.T) {
	t.Parallel()
	e, err := parseEntry("e", "e.sql", "-- description: d\n"+
		"-- param: a text default=\"two words\" The first.\n"+
		"-- param: b\ttext default= Empty default.\n"+
		"-- param: c int Required.\n"+
		"SELECT :a, :b, :c")
	require.NoError(t, err)
	require.Equal(t, []Param{
		{Name: "a", Type: "text", Default: "two words", Description: "The first."},
		{Name: "b", Type: "text", Default: "", Description: "Empty default."},
		{Name: "c", Type: "int", Required: true, Description: "Required."},
	}, e.Params)
}

func TestBind(t *testing.T) {
	t.Parallel()
	e, err := parseEntry("e", "e.sql", "-- description: d\n"+
		"-- param: since time default=2h\n-- param: d date default=today\n-- param: n int\n"+
		"-- param: s status[] default=confirmed,ongoing\n-- param: g duration default=1d12h\n"+
		"SELECT :since, :d, :n, :s, :g")
	require.NoError(t, err)
	q, err := e.Bind(map[string]string{"n": "7"}, clock)
	require.NoError(t, err)
	require.Equal(t, "SELECT $1::timestamptz, $2::date, $3::bigint, $4::text[], $5::interval", q.SQL)
	require.Equal(t, []any{clock.Now.Add(-2 * time.Hour), time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), int64(7),
		[]string{"confirmed", "ongoing"}, 36 * time.Hour}, q.Args)

	q, err = e.Bind(map[string]string{"n": "1", "since": "2026-04-30T10:00:00+02:00", "d": "yesterday", "s": ""}, clock)
	require.NoError(t, err)
	require.True(t, time.Date(2026, 4, 30, 8, 0, 0, 0, time.UTC).Equal(q.Args[0].(time.Time)))
	require.Equal(t, time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC), q.Args[1])
	require.Equal(t, []string{}, q.Args[3])

	bad := []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"n": "1", "x": "2"}, `e has no parameter "x" (it has: since, d, n, s, g)`},
		{map[string]string{}, "e needs --param n=<int>"},
		{map[string]string{"n": "1.5"}, `n: "1.5" is not a whole number`},
		{map[string]string{"n": "1", "since": "soon"}, `since: "soon" is neither a duration`},
		{map[string]string{"n": "1", "s": "confirmed,lost"}, `s: "lost" is not one of`},
		{map[string]string{"n": "1", "d": "2026-13-01"}, `d: "2026-13-01" is not a date`},
	}
	for _, tt := range bad {
		_, err := e.Bind(tt.values, clock)
		require.True(t, errors.Is(err, ErrParam), "%v", err)
		require.ErrorContains(t, err, tt.want)
	}
}

func TestBindCount(t *testing.T) {
	t.Parallel()
	e, err := parseEntry("e", "e.sql", "-- description: d\n-- param: limit count default=50\n-- param: some count[] default=\nSELECT :limit, :some")
	require.NoError(t, err)
	q, err := e.Bind(map[string]string{}, clock)
	require.NoError(t, err)
	require.Equal(t, "SELECT $1::bigint, $2::bigint[]", q.SQL)
	require.Equal(t, []any{int64(50), []int64{}}, q.Args)
	q, err = e.Bind(map[string]string{"limit": "0", "some": "1,2"}, clock)
	require.NoError(t, err)
	require.Equal(t, []any{int64(0), []int64{1, 2}}, q.Args)
	for v, want := range map[string]string{"-1": `limit: "-1" is not a count (a whole number, 0 or more)`, "x": `limit: "x" is not a count`} {
		_, err := e.Bind(map[string]string{"limit": v}, clock)
		require.True(t, errors.Is(err, ErrParam), "%v", err)
		require.ErrorContains(t, err, want)
	}
	_, err = parseEntry("e", "e.sql", "-- description: d\n-- param: limit count default=-5\nSELECT :limit")
	require.ErrorContains(t, err, `default of limit: "-5" is not a count`)
}
