package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tallyhq/tally/internal/httpapi"
)

// stuckAfter is how long the loop may show no sign of life before /livez
// fails (TALLY_LIVENESS_TIMEOUT).
func (m *Main) stuckAfter() time.Duration {
	return m.Config.StuckAfter()
}

func (m *Main) httpHandler() http.Handler {
	if m.Config.HTTPToken == "" && !isLoopback(m.Config.HTTPAddr) {
		m.Log.Warn("the HTTP server listens beyond loopback without TALLY_HTTP_TOKEN: anyone who reaches it reads the counters",
			"http_addr", m.Config.HTTPAddr)
	}
	s := &httpapi.Server{
		Gatherer: m.Registry,
		Reader:   m.Store,
		Token:    m.Config.HTTPToken,
		Location: m.Config.Zones().Location(""),
		// A worker that missed three heartbeats is gone.
		StaleAfter: 3 * max(m.Config.PendingInterval, time.Second),
		Log:        m.Log,
		Now:        m.Now,
		Live: func() error {
			if since := m.Now().Sub(m.Worker.LastBeat()); since > m.stuckAfter() {
				return fmt.Errorf("worker loop has not moved for %s", since.Round(time.Second))
			}
			return nil
		},
		Checks: []httpapi.Check{
			{Name: "worker", Run: func(context.Context) error {
				if !m.ready.Load() {
					return errors.New("not running")
				}
				return nil
			}},
			{Name: "database", Run: func(ctx context.Context) error { return m.Store.CheckSchema(ctx) }},
			{Name: "nats", Run: func(context.Context) error {
				if s := m.NC.Status(); s != nats.CONNECTED {
					return fmt.Errorf("NATS connection is %s", s)
				}
				return nil
			}},
			{Name: "consumer", Run: func(ctx context.Context) error {
				_, err := m.JS.Consumer(ctx, m.Config.Stream, m.Config.Consumer)
				return err
			}},
		},
	}
	return s.Handler()
}

// describeNATSError explains the usual setup failures in one line.
func describeNATSError(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return "JetStream is not enabled on the server (start nats-server with -js)"
	case strings.Contains(strings.ToLower(msg), "permission"), errors.Is(err, nats.ErrNoResponders):
		return "the NATS user lacks permissions tally needs (JetStream API on the stream, the consumer and the dead-letter stream): " + msg
	case strings.Contains(msg, "subset"):
		return "the stream does not carry TALLY_SUBJECTS: " + msg
	}
	return msg
}
