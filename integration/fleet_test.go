package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/app"
	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/internal/testnats"
	"github.com/tallyhq/tally/store"
)

// fleet is one test's world: its own database, streams and subjects.
type fleet struct {
	t       testing.TB
	dbURL   string
	natsURL string
	names   testnats.Names
	nc      *nats.Conn
	js      jetstream.JetStream
	store   *store.Store
	// env is the base settings of every worker of this fleet.
	env map[string]string
}

// newFleet creates a migrated database and fresh stream names on the
// NATS server at natsURL.
func newFleet(t testing.TB, natsURL string, opts ...testdb.Options) *fleet {
	t.Helper()
	f := &fleet{t: t, dbURL: testdb.New(t, opts...), natsURL: natsURL}
	f.names = testnats.NewNames(t, natsURL)
	f.nc, f.js = testnats.Connect(t, natsURL)
	t.Cleanup(f.nc.Close)
	// The test's own connections are not tally's: fault tests cut tally's.
	s, err := store.Open(context.Background(), withParam(f.dbURL, "application_name", "tally_test"), nil)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	f.store = s
	f.env = map[string]string{
		"TALLY_DATABASE_URL": f.dbURL, "TALLY_NATS_URL": natsURL, "TALLY_HTTP_ADDR": "127.0.0.1:0",
		"TALLY_ACK_WAIT": "4s", "TALLY_APPLY_TIMEOUT": "3s", "TALLY_PENDING_INTERVAL": "200ms",
		"TALLY_BATCH_WAIT": "50ms", "TALLY_SHUTDOWN_TIMEOUT": "10s",
	}
	maps.Copy(f.env, f.names.Env())
	return f
}

// settings returns the fleet's settings with extra ones on top.
func (f *fleet) settings(extra map[string]string) map[string]string {
	vars := maps.Clone(f.env)
	maps.Copy(vars, extra)
	return vars
}

func (f *fleet) config(extra map[string]string) config.Config {
	cfg, err := config.Load(f.settings(extra))
	require.NoError(f.t, err)
	return cfg
}

// worker is an in-process tally worker.
type worker struct {
	main   *app.Main
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startWorker opens and runs a worker; it stops with the test.
func (f *fleet) startWorker(extra map[string]string) *worker {
	f.t.Helper()
	m := app.New(f.config(extra), testLogger())
	require.NoError(f.t, m.Open(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{main: m, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- m.Run(ctx) }()
	f.t.Cleanup(func() { w.stop(f.t) })
	return w
}

// stop shuts the worker down gracefully and requires a clean exit.
func (w *worker) stop(t testing.TB) {
	w.once.Do(func() {
		w.cancel()
		select {
		case err := <-w.done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop within 30s")
		}
		w.main.Close()
	})
}

// testLogger discards logs unless TALLY_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("TALLY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// proc is the tally binary running as a child process. done closes when
// it exits; err is then its exit error.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startProc runs `tally args...` with the fleet's settings.
func (f *fleet) startProc(extra map[string]string, args ...string) *proc {
	f.t.Helper()
	cmd := exec.Command(tallyBin, args...)
	cmd.Env = environ(f.settings(extra))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(f.t, cmd.Start())
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	f.t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	return p
}

// runTally runs `tally args...` to completion and returns its exit status
// and output.
func (f *fleet) runTally(extra map[string]string, args ...string) (int, string) {
	f.t.Helper()
	cmd := exec.Command(tallyBin, args...)
	cmd.Env = environ(f.settings(extra))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	require.NoError(f.t, err)
	return 0, string(out)
}

func environ(vars map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if v, ok := os.LookupEnv("GORACE"); ok { // where a race-built binary reports (see testMain)
		env = append(env, "GORACE="+v)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// syncBuffer is a bytes.Buffer safe for a process's stdout and stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ io.Writer = (*syncBuffer)(nil)

// publish publishes the messages on the fleet's subjects.
func (f *fleet) publish(msgs []fleetsim.Message) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := fleetsim.Publish(ctx, f.js, f.names.Prefix, func(yield func(fleetsim.Message) bool) {
		for _, m := range msgs {
			if !yield(m) {
				return
			}
		}
	}, nil)
	require.NoError(f.t, err)
}

// waitIdle waits until the consumer has nothing pending or awaiting ack:
// every message was committed and acknowledged.
func (f *fleet) waitIdle(timeout time.Duration) {
	f.t.Helper()
	ctx := context.Background()
	var last string
	require.Eventually(f.t, func() bool {
		c, err := f.js.Consumer(ctx, f.names.Stream, f.names.Consumer)
		if err != nil {
			last = err.Error()
			return false
		}
		info, err := c.Info(ctx)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		return info.NumPending == 0 && info.NumAckPending == 0
	}, timeout, 50*time.Millisecond, "consumer never drained: %s", last)
}

// adminQueryRow runs a query on the fleet's database through a fresh
// connection that is not tally's (application_name differs).
func (f *fleet) adminQueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	f.t.Helper()
	conn, err := pgx.Connect(ctx, withParam(f.dbURL, "application_name", "tally_test"))
	require.NoError(f.t, err)
	f.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn.QueryRow(ctx, sql, args...)
}

func testnatsMachine() string { return testnats.MachineURL() }

// withParam sets a query parameter of a URL.
func withParam(raw, key, value string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
