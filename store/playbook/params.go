package playbook

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally/events"
)

// ErrParam marks a parameter that is unknown, missing or ill-typed: a
// mistake on the command line.
var ErrParam = errors.New("bad parameter")

// Clock is what relative values are resolved against: "2h" is 2 hours
// before Now, "today" is Now's date in Zone.
type Clock struct {
	Now  time.Time
	Zone *time.Location
}

// paramType is a parameter type: its PostgreSQL type, how a value is
// parsed, and how it is described to people.
type paramType struct {
	pgType string
	parse  func(s string, c Clock) (any, error)
	help   string
}

// Types are the parameter types an entry may declare; each also exists as
// a comma-separated list, "<type>[]" (an empty value is an empty list).
var Types = map[string]paramType{
	"time": {"timestamptz", parseTime,
		"a time: a duration such as 2h or 7d (that long before now), now, or an RFC 3339 time"},
	"duration": {"interval", func(s string, _ Clock) (any, error) { return parseDuration(s) },
		"a duration such as 15m, 2h or 7d"},
	"date": {"date", parseDate, "a date: YYYY-MM-DD, today or yesterday"},
	"int":  {"bigint", parseInt, "a whole number"},
	// count is for how many rows to return (LIMIT) and the like, which a
	// negative number would fail in PostgreSQL, not on the command line.
	"count": {"bigint", parseCount, "a count: a whole number, 0 or more"},
	"text":  {"text", func(s string, _ Clock) (any, error) { return s, nil }, "text"},
	"status": {"text", oneOf(events.BookingStatuses),
		"a booking status: " + strings.Join(events.BookingStatuses, ", ")},
	"code": {"text", oneOf(codeNames()), "a dead-letter code: " + strings.Join(codeNames(), ", ")},
}

func codeNames() []string {
	out := make([]string, len(events.Codes))
	for i, c := range events.Codes {
		out[i] = string(c)
	}
	return out
}

// Help describes values of the type for people.
func (t paramType) Help() string { return t.help }

// lookupType resolves a declared type name, lists included.
func lookupType(name string) (paramType, bool) {
	base, list := strings.CutSuffix(name, "[]")
	t, ok := Types[base]
	if !ok || !list {
		return t, ok
	}
	return paramType{pgType: t.pgType + "[]", parse: listOf(base, t.parse), help: "a comma-separated list of " + t.help}, true
}

// listOf parses a comma-separated list into a typed slice (pgx needs the
// element type to encode an array).
func listOf(base string, parse func(string, Clock) (any, error)) func(string, Clock) (any, error) {
	return func(s string, c Clock) (any, error) {
		var items []any
		if strings.TrimSpace(s) != "" {
			for item := range strings.SplitSeq(s, ",") {
				v, err := parse(strings.TrimSpace(item), c)
				if err != nil {
					return nil, err
				}
				items = append(items, v)
			}
		}
		switch base {
		case "int", "count":
			return typed[int64](items), nil
		case "time", "date":
			return typed[time.Time](items), nil
		case "duration":
			return typed[time.Duration](items), nil
		}
		return typed[string](items), nil
	}
}

func typed[T any](items []any) []T {
	out := make([]T, 0, len(items))
	for _, v := range items {
		out = append(out, v.(T))
	}
	return out
}

func oneOf(allowed []string) func(string, Clock) (any, error) {
	return func(s string, _ Clock) (any, error) {
		if !slices.Contains(allowed, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", "))
		}
		return s, nil
	}
}

func parseTime(s string, c Clock) (any, error) {
	if s == "now" {
		return c.Now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a duration such as 2h (that long before now) nor an RFC 3339 time", s)
	}
	return c.Now.Add(-d), nil
}

// parseDuration parses a Go duration, with days allowed in front: 7d, 1d12h.
func parseDuration(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a duration such as 15m, 2h or 7d", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 15m, 2h or 7d", s)
	}
	return days + d, nil
}

// parseDate returns the date as midnight UTC, the form pgx sends as a date.
func parseDate(s string, c Clock) (any, error) {
	zone := c.Zone
	if zone == nil {
		zone = time.UTC
	}
	var t time.Time
	switch s {
	case "today":
		t = c.Now.In(zone)
	case "yesterday":
		t = c.Now.In(zone).AddDate(0, 0, -1)
	default:
		var err error
		if t, err = time.Parse(time.DateOnly, s); err != nil {
			return nil, fmt.Errorf("%q is not a date: YYYY-MM-DD, today or yesterday", s)
		}
	}
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}

func parseInt(s string, _ Clock) (any, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

func parseCount(s string, _ Clock) (any, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%q is not a count (a whole number, 0 or more)", s)
	}
	return n, nil
}

// ParseTime parses a time as a parameter of type time does: a duration
// such as 2h or 7d (that long before now), now, or an RFC 3339 time.
func ParseTime(s string, now time.Time) (time.Time, error) {
	v, err := parseTime(s, Clock{Now: now})
	if err != nil {
		return time.Time{}, err
	}
	return v.(time.Time), nil
}
