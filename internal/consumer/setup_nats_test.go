package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/testnats"
)

func TestSetupNamesTheStreamThatHoldsTheSubjects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := testnats.MachineURL()
	n := testnats.NewNames(t, url)
	nc, js := testnats.Connect(t, url)
	t.Cleanup(nc.Close) // registered first, so it runs after the stream is deleted
	// Another deployment's dead-letter stream already holds a wildcard.
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: n.DLQStream + "_OTHER", Subjects: []string{n.Prefix + "dlq.>"},
		Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), n.DLQStream+"_OTHER") })

	cfg := Config{Stream: n.Stream, Subjects: n.Subjects, Consumer: n.Consumer, DLQStream: n.DLQStream,
		DLQSubject: n.Prefix + "dlq.dead", BatchSize: 10, AckWait: 5 * time.Second}
	_, err = Setup(ctx, js, cfg)
	require.ErrorContains(t, err, `already taken by stream "`+n.DLQStream+`_OTHER"`)

	// With its own subject, the dead-letter stream takes exactly that one.
	cfg.DLQSubject = n.Prefix + "own.dead"
	_, err = Setup(ctx, js, cfg)
	require.NoError(t, err)
	s, err := js.Stream(ctx, n.DLQStream)
	require.NoError(t, err)
	require.Equal(t, []string{cfg.DLQSubject}, s.CachedInfo().Config.Subjects)
}

// TestSetupFiltersOnlyASharedStream: NATS 2.9 serves a filtered consumer
// slowly while its state is read, so a stream of tally's own gets an
// unfiltered consumer and only a stream shared with other subjects a
// filtered one.
func TestSetupFiltersOnlyASharedStream(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := testnats.MachineURL()
	nc, js := testnats.Connect(t, url)
	t.Cleanup(nc.Close)

	own := testnats.NewNames(t, url)
	cfg := Config{Stream: own.Stream, Subjects: own.Subjects, Consumer: own.Consumer, DLQStream: own.DLQStream,
		DLQSubject: own.Prefix + "dead", BatchSize: 10, AckWait: 5 * time.Second}
	cons, err := Setup(ctx, js, cfg)
	require.NoError(t, err)
	require.Empty(t, cons.CachedInfo().Config.FilterSubject, "tally created the stream: it holds nothing else")
	require.False(t, Filtered(cons))
	// A second worker finds the same consumer and leaves it so.
	cons, err = Setup(ctx, js, cfg)
	require.NoError(t, err)
	require.False(t, Filtered(cons))

	// A consumer an earlier tally made with the filter loses it (2.9.10
	// allows the change; were it refused, Setup would keep the filter).
	old := testnats.NewNames(t, url)
	cfg = Config{Stream: old.Stream, Subjects: old.Subjects, Consumer: old.Consumer, DLQStream: old.DLQStream,
		DLQSubject: old.Prefix + "dead", BatchSize: 10, AckWait: 5 * time.Second}
	_, err = js.CreateStream(ctx, StreamConfig(cfg))
	require.NoError(t, err)
	_, err = js.CreateOrUpdateConsumer(ctx, old.Stream, ConsumerConfig(cfg))
	require.NoError(t, err)
	cons, err = Setup(ctx, js, cfg)
	require.NoError(t, err)
	require.False(t, Filtered(cons), "server %s", nc.ConnectedServerVersion())

	shared := testnats.NewNames(t, url)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: shared.Stream,
		Subjects: []string{shared.Subjects, shared.Prefix + "billing"}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	cfg = Config{Stream: shared.Stream, Subjects: shared.Subjects, Consumer: shared.Consumer, DLQStream: shared.DLQStream,
		DLQSubject: shared.Prefix + "dead", BatchSize: 10, AckWait: 5 * time.Second}
	cons, err = Setup(ctx, js, cfg)
	require.NoError(t, err)
	require.Equal(t, shared.Subjects, cons.CachedInfo().Config.FilterSubject, "the stream holds other subjects")
	require.True(t, Filtered(cons))
}
