package consumer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSubjectMatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		filter, subject string
		want            bool
	}{
		{"tally.dlq.>", "tally.dlq.FLEET", true},
		{"tally.dlq.>", "tally.dlq", false},
		{"tally.*.FLEET", "tally.dlq.FLEET", true},
		{"tally.*", "tally.dlq.FLEET", false},
		{"t1dlq.dead", "t1dlq.dead", true},
		{"t1dlq.dead", "t1dlq.other", false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, subjectMatches(c.filter, c.subject), "%s ~ %s", c.filter, c.subject)
	}
}

func TestBackoffGrowsWithJitterAndCaps(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 20; n++ {
		d := backoff(n)
		full := min(100*time.Millisecond<<min(n-1, 7), 10*time.Second)
		require.GreaterOrEqual(t, d, full/2, "attempt %d", n)
		require.LessOrEqual(t, d, full, "attempt %d", n)
	}
}

func TestStreamConfigFollowsTheContract(t *testing.T) {
	t.Parallel()
	sc := StreamConfig(Config{Stream: "FLEET", Subjects: "fleet.>"})
	require.Equal(t, []string{"fleet.>"}, sc.Subjects)
	require.Equal(t, 2*time.Minute, sc.Duplicates)
	require.EqualValues(t, 1<<20, sc.MaxMsgSize)
	require.Zero(t, sc.MaxAge)
	cc := ConsumerConfig(Config{Consumer: "tally", Subjects: "fleet.>", BatchSize: 5000, AckWait: time.Minute})
	require.Equal(t, -1, cc.MaxDeliver, "never give up on an event")
	require.Equal(t, 50000, cc.MaxAckPending)
}

func TestForStreamDropsAFilterThatTakesTheWholeStream(t *testing.T) {
	t.Parallel()
	cc := ConsumerConfig(Config{Consumer: "tally", Subjects: "fleet.>", BatchSize: 10, AckWait: time.Minute})
	require.Equal(t, "fleet.>", cc.FilterSubject)
	require.Empty(t, ForStream(cc, []string{"fleet.>"}).FilterSubject, "the stream holds only tally's subjects")
	require.Equal(t, "fleet.>", ForStream(cc, []string{"fleet.>", "billing.>"}).FilterSubject)
	require.Equal(t, "fleet.>", ForStream(cc, []string{">"}).FilterSubject)
}

func TestSlowWhenFiltered(t *testing.T) {
	t.Parallel()
	for v, slow := range map[string]bool{"2.9.10": true, "2.9.25": true, "1.4.0": true, "2.10.0": false,
		"2.15.2": false, "3.0.1": false, "": false, "dev": false} {
		require.Equal(t, slow, SlowWhenFiltered(v), v)
	}
}
