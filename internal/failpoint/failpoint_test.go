package failpoint

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// withKillCounter replaces killSelf for one test and restores the points.
func withKillCounter(t *testing.T) *int {
	kills := 0
	old := killSelf
	killSelf = func() { kills++ }
	t.Cleanup(func() { killSelf = old; _ = Enable("") })
	return &kills
}

// The tests below change package state, so they do not run in parallel.

func TestKillOnNthHitOnly(t *testing.T) {
	kills := withKillCounter(t)
	require.NoError(t, Enable("after_commit=kill@3"))
	for range 5 {
		Inject(AfterCommit)
		Inject(BeforeCommit)
	}
	require.Equal(t, 1, *kills)
	require.Equal(t, "after_commit=kill@3", Enabled())
}

func TestEveryHitWithoutCount(t *testing.T) {
	kills := withKillCounter(t)
	require.NoError(t, Enable(" before_commit=kill ; after_commit=sleep(1ms)"))
	start := time.Now()
	for range 4 {
		Inject(BeforeCommit)
		Inject(AfterCommit)
	}
	require.Equal(t, 4, *kills)
	require.GreaterOrEqual(t, time.Since(start), 4*time.Millisecond)
	require.Equal(t, "after_commit=sleep(1ms);before_commit=kill", Enabled())
}

func TestOffByDefaultAndWhenEmpty(t *testing.T) {
	kills := withKillCounter(t)
	Inject(AfterCommit)
	require.NoError(t, Enable("after_commit=kill"))
	require.NoError(t, Enable(""))
	Inject(AfterCommit)
	require.Zero(t, *kills)
	require.Empty(t, Enabled())
}

func TestBadSpecsAreRefused(t *testing.T) {
	_ = withKillCounter(t)
	for _, spec := range []string{
		"after_commit", "nowhere=kill", "after_commit=explode", "after_commit=kill@0",
		"after_commit=kill@x", "after_commit=sleep(soon)", "after_commit=sleep(-1s)",
	} {
		require.Error(t, Enable(spec), spec)
	}
}

func BenchmarkInjectOff(b *testing.B) {
	_ = Enable("")
	b.ReportAllocs()
	for b.Loop() {
		Inject(AfterCommit)
	}
}
