package store

import (
	"fmt"
	"strings"
)

// historyView is a contract counter view whose history snapshots keep in
// tally.snapshot_<name>: the columns that identify a row, and the columns
// stored for it (net_minor is derived, so not stored).
type historyView struct {
	name   string
	keys   []string
	values []string
}

// historyViews are the counter views snapshots cover, in the order they
// are written (every writer of history tables follows it).
var historyViews = []historyView{
	{"active_cars", []string{"city"}, []string{"cars", "updated_at"}},
	{"bookings_by_status", []string{"city", "status"}, []string{"bookings", "updated_at"}},
	{"daily_revenue", []string{"day", "city", "currency"},
		[]string{"gross_minor", "refunded_minor", "payments", "refunds", "updated_at"}},
	{"daily_bookings", []string{"day", "city"}, []string{"confirmed", "started", "ended", "cancelled", "updated_at"}},
	{"overdue_bookings", []string{"city"}, []string{"bookings", "oldest_start_at"}},
}

// historyQueries are the statements of one view. Names come from
// historyViews, never from input; values are bound parameters.
type historyQueries struct {
	close string // $1: snapshot id; returns (closed, removed)
	open  string // $1: snapshot id
	prune string // $1: the oldest snapshot id kept
}

var historySQL = buildHistorySQL()

func buildHistorySQL() []historyQueries {
	out := make([]historyQueries, len(historyViews))
	for i, v := range historyViews {
		out[i] = v.queries()
	}
	return out
}

func (v historyView) queries() historyQueries {
	hist, view := "tally.snapshot_"+v.name, "tally."+v.name
	cols := strings.Join(append(append([]string{}, v.keys...), v.values...), ", ")
	return historyQueries{
		// Close the open versions the view no longer has as they are: the
		// row changed or disappeared (the closed range is its tombstone).
		close: fmt.Sprintf(`WITH closed AS (
	UPDATE %[1]s AS o SET valid = int8range(lower(o.valid), $1)
	WHERE upper_inf(o.valid)
	  AND NOT EXISTS (SELECT 1 FROM %[2]s AS v WHERE %[3]s AND %[4]s)
	RETURNING %[5]s)
SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM %[2]s AS v WHERE %[6]s)) FROM closed AS o`,
			hist, view, match(v.keys, "v", "o", "="), match(v.values, "v", "o", "IS NOT DISTINCT FROM"),
			prefixed(v.keys, "o"), match(v.keys, "v", "o", "=")),
		// Open a version for every row without one: new or just closed.
		open: fmt.Sprintf(`INSERT INTO %[1]s (valid, %[2]s)
SELECT int8range($1, NULL), %[3]s FROM %[4]s AS v
WHERE NOT EXISTS (SELECT 1 FROM %[1]s AS o WHERE upper_inf(o.valid) AND %[5]s)`,
			hist, cols, prefixed(append(append([]string{}, v.keys...), v.values...), "v"), view,
			match(v.keys, "v", "o", "=")),
		// Versions that ended at or before the oldest kept snapshot are seen
		// by none; those still valid then stay, folded into it.
		prune: fmt.Sprintf(`DELETE FROM %s WHERE valid << int8range($1, NULL)`, hist),
	}
}

// match compares the columns of two aliases: "a.c1 op b.c1 AND ...".
func match(cols []string, a, b, op string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprintf("%s.%s %s %s.%s", a, c, op, b, c)
	}
	return strings.Join(parts, " AND ")
}

func prefixed(cols []string, alias string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = alias + "." + c
	}
	return strings.Join(parts, ", ")
}
