// Package testnats gives each test its own JetStream streams and subjects
// on a shared NATS server, and starts in-process servers (a current
// nats-server) for tests that must stop and restart the broker. A missing
// server fails the test loudly.
package testnats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// MachineURL is the machine's NATS (Debian's 2.9 here):
// TALLY_TEST_NATS_URL, default nats://127.0.0.1:4222.
func MachineURL() string {
	if u := os.Getenv("TALLY_TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// Names are one test's stream, subjects, dead-letter stream and consumer.
type Names struct {
	Stream     string // such as T3F9A
	Prefix     string // subject prefix, such as t3f9a
	Subjects   string // Prefix + ".>"
	DLQStream  string
	DLQSubject string
	Consumer   string
}

// Env returns the settings that point tally at these names.
func (n Names) Env() map[string]string {
	return map[string]string{
		"TALLY_STREAM": n.Stream, "TALLY_SUBJECTS": n.Subjects, "TALLY_DLQ_STREAM": n.DLQStream,
		"TALLY_DLQ_SUBJECT": n.DLQSubject, "TALLY_CONSUMER": n.Consumer,
	}
}

// NewNames returns fresh names on the server at url and deletes their
// streams when the test ends.
func NewNames(t testing.TB, url string) Names {
	t.Helper()
	id := randomHex(5)
	n := Names{
		Stream: "T" + strings.ToUpper(id), Prefix: "t" + id, Consumer: "tally",
		DLQStream: "T" + strings.ToUpper(id) + "_DLQ", DLQSubject: "t" + id + "dlq.dead",
	}
	n.Subjects = n.Prefix + ".>"
	t.Cleanup(func() {
		nc, js := Connect(t, url)
		defer nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, n.Stream)
		_ = js.DeleteStream(ctx, n.DLQStream)
	})
	return n
}

// Connect connects to url and fails the test when nothing answers.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err, "NATS with JetStream must be running at %s (see README)", url)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}

// Server is an in-process nats-server with JetStream and file storage in
// a directory, restartable on the same port and data.
type Server struct {
	opts *server.Options
	srv  *server.Server
}

// Start starts a server on a free loopback port; it stops with the test.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := NewServer(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(s.Shutdown)
	return s
}

// NewServer starts a server with its data in dir, for a TestMain that
// shares one server among tests. The caller shuts it down.
func NewServer(dir string) (*Server, error) {
	return newServer(dir, nil)
}

// StartWith starts a server as Start does, after configure changed its
// options (users, authorization, TLS); it stops with the test.
func StartWith(t testing.TB, configure func(*server.Options)) *Server {
	t.Helper()
	s, err := newServer(t.TempDir(), configure)
	require.NoError(t, err)
	t.Cleanup(s.Shutdown)
	return s
}

func newServer(dir string, configure func(*server.Options)) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: &server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true, MaxPayload: 1 << 20,
	}}
	if configure != nil {
		configure(s.opts)
	}
	return s, s.start()
}

func (s *Server) start() error {
	srv, err := server.NewServer(s.opts)
	if err != nil {
		return fmt.Errorf("nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("in-process nats-server did not start")
	}
	s.srv = srv
	return nil
}

// URL returns the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port) }

// Shutdown stops the server; Restart brings it back.
func (s *Server) Shutdown() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

// Restart stops the server if it runs and starts it again with its data.
func (s *Server) Restart() error {
	s.Shutdown()
	return s.start()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
