package integration

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDemoRunsEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnatsMachine())
	code, out := f.runTally(nil, "demo", "--dir", t.TempDir())
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "Every message is counted.")
	require.Contains(t, out, "tally.overdue_bookings")
	require.Regexp(t, `Dead letters .*invalid`, out)
	f.waitIdle(30e9)
}

func TestDemoStartsEmbeddedNATSWhenNoneAnswers(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnatsMachine())
	code, out := f.runTally(map[string]string{"TALLY_NATS_URL": "nats://127.0.0.1:1"}, "demo", "--dir", t.TempDir())
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "started an embedded nats-server with JetStream")
	require.Contains(t, out, "Every message is counted.")
}

func TestDemoSaysHowToStartPostgres(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnatsMachine())
	code, out := f.runTally(map[string]string{"TALLY_DATABASE_URL": "postgres://postgres@127.0.0.1:1/tally"}, "demo")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "PostgreSQL is not answering at 127.0.0.1:1")
	require.Contains(t, out, "pg_ctlcluster")
}
