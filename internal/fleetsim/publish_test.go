package fleetsim_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/fleetsim"
)

// natsURL is the machine's NATS server, which these tests require.
const natsURL = "nats://127.0.0.1:4222"

// testStream returns a JetStream client and a new stream of its own, with
// its own subject prefix and tally's duplicate window, deleted when the
// test ends.
func testStream(t *testing.T) (jetstream.JetStream, jetstream.Stream, string) {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	require.NoError(t, err, "these tests need NATS with JetStream at %s", natsURL)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	name := "FLEETSIM_" + rand.Text()
	prefix := "fleetsim." + name
	stream, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name:       name,
		Subjects:   []string{prefix + ".>"},
		Storage:    jetstream.MemoryStorage,
		Duplicates: 2 * time.Minute,
	})
	require.NoError(t, err, "create stream %s on %s", name, natsURL)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, js.DeleteStream(ctx, name))
	})
	return js, stream, prefix
}

func TestPublish(t *testing.T) {
	t.Parallel()
	js, stream, prefix := testStream(t)

	s := newSim(t, fleetsim.Troubled(11))
	want := fleetsim.Summarize(s.Messages)
	require.Greater(t, want.Messages, fleetsim.PublishWindow, "at least two windows")
	require.Positive(t, want.WindowDrops)

	var progress []int
	n, err := fleetsim.Publish(t.Context(), js, prefix, s.Messages, func(n int) { progress = append(progress, n) })
	require.NoError(t, err)
	require.Equal(t, want.Messages, n)
	require.IsIncreasing(t, progress)
	require.Equal(t, n, progress[len(progress)-1])

	// The duplicate window drops the copies whose Nats-Msg-Id repeats.
	info, err := stream.Info(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, want.Messages-want.WindowDrops, info.State.Msgs)

	first := s.All()[0]
	got, err := stream.GetMsg(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, prefix+"."+first.Subject, got.Subject)
	require.Equal(t, first.Body, got.Data)
	require.Equal(t, first.MsgID, got.Header.Get(jetstream.MsgIDHeader))
}

func TestPublishStopsWhenContextIsDone(t *testing.T) {
	t.Parallel()
	js, stream, prefix := testStream(t)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	n, err := fleetsim.Publish(ctx, js, prefix, newSim(t, fleetsim.DefaultConfig(12)).Messages, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, n)

	info, err := stream.Info(t.Context())
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs)
}
