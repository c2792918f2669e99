package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/store"
)

func TestProgressLine(t *testing.T) {
	t.Parallel()
	require.Equal(t, "rebuild: scan 0 of 1,000 events (0%)", progressLine("rebuild", "scan", "events", 0, 1000, 0))
	require.Equal(t, "rebuild: scan 250,000 of 1,000,000 events (25%), 125,000 events/s, about 6s left",
		progressLine("rebuild", "scan", "events", 250_000, 1_000_000, 2*time.Second))
	require.Equal(t, "restore: read 1,247 messages, 623 messages/s", progressLine("restore", "read", "messages", 1247, 0, 2*time.Second))
	require.Equal(t, "-1,234,567", count(-1234567))
	require.Equal(t, "999", count(999))
}

func TestPlainProgressWritesAtPhasesAndEveryFewSeconds(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	p := newProgress(&out, "rebuild", "events")
	p.now = func() time.Time { return now }
	p.start = now
	p.update("scan", 0, 100)
	p.update("scan", 10, 100) // too soon
	now = now.Add(progressEvery)
	p.update("scan", 50, 100)
	p.update("write", 100, 100) // a new phase
	require.Equal(t, []string{
		"rebuild: scan 0 of 100 events (0%)",
		"rebuild: scan 50 of 100 events (50%), 25 events/s, about 2s left",
		"rebuild: write 100 of 100 events (100%), 50 events/s",
	}, strings.Split(strings.TrimSpace(out.String()), "\n"))
}

func TestPreviewShowsOneSafeLine(t *testing.T) {
	t.Parallel()
	require.Equal(t, `{"id":"a"}`, preview([]byte(`{"id":"a"}`), 10))
	require.Equal(t, `ab\x0a\xffc…`, preview([]byte("ab\n\xffc"), 500))
	require.Equal(t, "héllo", clip("héllo", 5))
	require.Equal(t, "hé…", clip("héllo", 3))
}

func TestDLQFilterFlags(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f := dlqFlags{code: "too_large", since: "24h", until: "2026-05-01", limit: 5, all: true}
	df, err := f.filter(now)
	require.NoError(t, err)
	require.Equal(t, store.DeadLetterFilter{Code: "too_large", Since: now.Add(-24 * time.Hour),
		Until: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), State: store.DeadLettersAll, Limit: 5}, df)
	require.Equal(t, "all, code too_large, since 2026-04-30T12:00:00Z, until 2026-05-01T00:00:00Z, at most 5", describeFilter(df))
	for _, bad := range []dlqFlags{{code: "nope"}, {since: "last week"}, {replayed: true, all: true}, {limit: -1}} {
		_, err := bad.filter(now)
		var ue usageError
		require.ErrorAs(t, err, &ue, "%+v", bad)
	}
}

func TestOpsCommandsRefuseBadUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"verify", "--since", "yesterday"},
		{"rebuild", "--allow-partial"},
		{"rebuild", "--max-rate", "-1"},
		{"dlq", "show", "x"},
		{"dlq", "list", "--code", "nope"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr, map[string]string{})
		require.Equal(t, exitUsage, code, "%v: %s", args, stderr.String())
	}
}

func TestOneLineJoinsAnErrorOfSeveralLines(t *testing.T) {
	t.Parallel()
	// pgx's connect error lists each address tried on an indented line.
	pgx := "connect to database postgres://u@127.0.0.1:5999/x: failed to connect to `user=u database=x`:\n\t127.0.0.1:5999 (127.0.0.1): dial error: connection refused\n\t[::1]:5999 (::1): dial error: connection refused\n"
	require.Equal(t, "connect to database postgres://u@127.0.0.1:5999/x: failed to connect to `user=u database=x`: "+
		"127.0.0.1:5999 (127.0.0.1): dial error: connection refused; [::1]:5999 (::1): dial error: connection refused", oneLine(pgx))
	require.Equal(t, "first; second", oneLine("first\n\n  second  "))
	require.Equal(t, "plain", oneLine(" plain\n"))
}
