package integration

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/bench"
	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/internal/testnats"
)

// benchEnv points tally bench at the test servers: it creates its own
// databases and streams there.
func benchEnv() []string {
	return environ(map[string]string{"TALLY_DATABASE_URL": testdb.AdminURL(), "TALLY_NATS_URL": testnats.MachineURL(),
		"TALLY_CITY_TIMEZONES": "jakarta=Asia/Jakarta,new_york=America/New_York"})
}

// TestBenchQuick runs tally bench --quick on the machine's NATS (2.9):
// every scenario runs, every counters check passes, and the run leaves
// no database or stream behind.
func TestBenchQuick(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(tallyBin, "bench", "--quick")
	cmd.Env = benchEnv()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, check := range []string{"catchup: counters = recomputation", "baseline: counters = recomputation",
		"freshness500: counters", "freshness2000: counters", "reads: counters", "reads: aggregates over the raw tables = the views",
		"rebuild: counters", "soak: counters"} {
		require.Contains(t, string(out), check)
	}
	for _, s := range bench.AllScenarios {
		require.Regexp(t, "(?m)^"+s, string(out), "a row of scenario %s", s)
	}
	require.Regexp(t, `(?m)^catchup +CPU time per message in the median drain +worker \d+\.\d µs, PostgreSQL (\d+\.\d µs|not on this machine), NATS (\d+\.\d µs|not on this machine); \d+% of \d+ cores busy`,
		string(out))
	requireNoLeftovers(t, runID(t, string(out)))
}

// TestBenchCleansUpWhenInterrupted stops tally bench with SIGINT in the
// middle of its first scenario: it exits 1, saying so, and leaves nothing
// behind.
func TestBenchCleansUpWhenInterrupted(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(tallyBin, "bench", "--quick", "--scenarios", "catchup", "--events", "200000")
	cmd.Env = benchEnv()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "published") }, time.Minute, 20*time.Millisecond,
		"the catch-up never published: %s", out)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s", out)
		require.Equal(t, 1, ee.ExitCode(), "%s", out)
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("tally bench did not stop within 2 minutes of SIGINT: %s", out)
	}
	require.Contains(t, out.String(), "interrupted")
	requireNoLeftovers(t, runID(t, out.String()))
}

// runID finds the run's id in tally bench's report.
func runID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`databases tally_bench_([0-9a-f]+)_\*`).FindStringSubmatch(out)
	if m == nil {
		m = regexp.MustCompile(`tally_bench_([0-9a-f]{8})_`).FindStringSubmatch(out)
	}
	require.NotNil(t, m, "no run id in the output: %s", out)
	return m[1]
}

// requireNoLeftovers checks that no database or stream of run id exists.
func requireNoLeftovers(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.AdminURL())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var dbs []string
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", "tally_bench_"+id+"%")
	require.NoError(t, err)
	dbs, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, dbs, "databases left behind")
	nc, js := testnats.Connect(t, testnats.MachineURL())
	defer nc.Close()
	var streams []string
	names := js.StreamNames(ctx)
	for n := range names.Name() {
		if strings.HasPrefix(n, "TALLY_BENCH_"+strings.ToUpper(id)) {
			streams = append(streams, n)
		}
	}
	require.Empty(t, streams, "streams left behind")
}
