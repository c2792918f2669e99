package bench

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	name, cpu, err := parseStat([]byte("4242 (tally (run) x) S 1 4242 4242 0 -1 4194560 2531 0 0 0 250 31 0 0 20 0 9 0 123 0 0\n"))
	require.NoError(t, err)
	require.Equal(t, "tally (run) x", name)
	require.Equal(t, 2810*time.Millisecond, cpu, "utime 250 + stime 31 ticks of 10 ms")

	for _, bad := range []string{"", "4242 tally S 1", "4242 (postgres) S 1 2 3", "4242 (postgres) S 1 4242 4242 0 -1 4194560 2531 0 0 0 x 31 0"} {
		_, _, err := parseStat([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
}

// TestPIDCPUReadsTheProcessCPUTime spins until this process has used
// 300 ms more CPU, by getrusage, and compares /proc's figure with it.
func TestPIDCPUReadsTheProcessCPUTime(t *testing.T) {
	rusage := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := rusage()
	for x := 0; rusage()-start < 300*time.Millisecond; x++ {
		for i := range 1_000_000 {
			x ^= i
		}
	}
	got, err := pidCPU(os.Getpid())
	want := rusage()
	require.NoError(t, err)
	require.InDelta(t, want.Seconds(), got.Seconds(), 0.05, "/proc says %s, getrusage %s", got, want)

	_, err = pidCPU(1 << 30)
	require.ErrorIs(t, err, errNoProc)
}

func TestPerMessage(t *testing.T) {
	c := drainCPU{workers: 12 * time.Second, postgres: 19 * time.Second, postgresLocal: true, elapsed: 40 * time.Second}
	s := c.perMessage(1_000_000)
	require.Contains(t, s, "worker 12.0 µs, PostgreSQL 19.0 µs, NATS not on this machine")
	require.Regexp(t, `; \d+% of \d+ cores busy$`, s)
}
