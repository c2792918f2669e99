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
