// Package demo runs a working fleet on this machine in one command: it
// migrates the database, starts a worker, publishes a simulated day of a
// fleet (with a few duplicates, bad events and overdue bookings), waits
// until every event is counted, and prints the counters and where to look.
// When no NATS answers it starts an embedded nats-server with JetStream.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/tallyhq/tally/internal/app"
	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/store"
)

// Options change the demo.
type Options struct {
	// Seed drives the simulation.
	Seed int64
	// Dir holds the embedded NATS server's data when one is needed.
	Dir string
	// KeepRunning keeps the worker (and its HTTP server) running after the
	// report, until ctx is cancelled.
	KeepRunning bool
	// Now is the end of the simulated day; zero means time.Now().
	Now time.Time
}

// Run runs the demo, writing what it does to out and logs to log.
func Run(ctx context.Context, cfg config.Config, opts Options, out io.Writer, log *slog.Logger) error {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if err := checkPostgres(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	stopNATS, err := ensureNATS(&cfg, opts.Dir, out)
	if err != nil {
		return err
	}
	defer stopNATS()
	if err := migrate(ctx, cfg, out, log); err != nil {
		return err
	}
	m, err := startWorker(ctx, &cfg, out, log)
	if err != nil {
		return err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(wctx) }()
	defer func() { stopWorker(); <-done; m.Close() }()

	sim, err := fleetsim.New(fleetsim.DemoDay(opts.Seed, opts.Now))
	if err != nil {
		return err
	}
	if err := publish(ctx, m, cfg, sim, out); err != nil {
		return err
	}
	if err := waitCounted(ctx, m, out); err != nil {
		return err
	}
	if err := report(ctx, m.Store, sim, out); err != nil {
		return err
	}
	whereToLook(out, cfg, m)
	if opts.KeepRunning {
		fmt.Fprintln(out, "\nThe worker keeps running; press Ctrl-C to stop it.")
		<-ctx.Done()
	}
	return nil
}

// checkPostgres says exactly how to start PostgreSQL when it is missing.
func checkPostgres(ctx context.Context, dbURL string) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	host := hostPort(dbURL, "5432")
	conn, err := (&net.Dialer{}).DialContext(cctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("PostgreSQL is not answering at %s (TALLY_DATABASE_URL). Start it with:\n"+
			"  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start   # Debian/Ubuntu\n"+
			"  docker compose up -d postgres                                              # with Docker\n"+
			"or point TALLY_DATABASE_URL at a running server", host)
	}
	return conn.Close()
}

func hostPort(raw, defPort string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "127.0.0.1:" + defPort
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), defPort)
	}
	return u.Host
}

// ensureNATS starts an embedded nats-server with JetStream when nothing
// answers at the configured URL, and points cfg at it.
func ensureNATS(cfg *config.Config, dir string, out io.Writer) (func(), error) {
	nc, err := nats.Connect(cfg.NATSURL, nats.Timeout(2*time.Second))
	if err == nil {
		nc.Close()
		return func() {}, nil
	}
	if dir == "" {
		dir = ".tally-demo"
	}
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true, MaxPayload: 1 << 20}
	if p := portOf(cfg.NATSURL); p != 0 && portFree(p) {
		opts.Port = p
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start an embedded nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("the embedded nats-server did not start")
	}
	fmt.Fprintf(out, "No NATS answered at %s: started an embedded nats-server with JetStream at %s (data in %s).\n",
		displayURL(cfg.NATSURL), srv.ClientURL(), opts.StoreDir)
	cfg.NATSURL = srv.ClientURL()
	return func() { srv.Shutdown(); srv.WaitForShutdown() }, nil
}

// displayURL hides credentials in a URL.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		u.User = url.User("***")
	}
	return u.String()
}

func portOf(raw string) int {
	u, err := url.Parse(raw)
	if err != nil {
		return 0
	}
	var p int
	_, _ = fmt.Sscanf(u.Port(), "%d", &p)
	return p
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func migrate(ctx context.Context, cfg config.Config, out io.Writer, log *slog.Logger) error {
	res, err := store.Migrate(ctx, cfg.DatabaseURL, store.Settings{Zones: cfg.Zones(), OverdueGrace: cfg.OverdueGrace}, log)
	if err != nil {
		return err
	}
	if res.CreatedDatabase {
		fmt.Fprintf(out, "Created database %s.\n", store.Describe(cfg.DatabaseURL))
	}
	fmt.Fprintf(out, "Schema tally is at version %d.\n", res.Version)
	return nil
}

// startWorker opens a worker; when the HTTP port is taken (another tally
// running), it serves on a free port instead.
func startWorker(ctx context.Context, cfg *config.Config, out io.Writer, log *slog.Logger) (*app.Main, error) {
	m := app.New(*cfg, log)
	err := m.Open(ctx)
	var se *config.Error
	if errors.As(err, &se) && se.Name == "TALLY_HTTP_ADDR" {
		m.Close()
		fmt.Fprintf(out, "%s is taken; serving HTTP on a free port instead.\n", cfg.HTTPAddr)
		cfg.HTTPAddr = "127.0.0.1:0"
		m = app.New(*cfg, log)
		err = m.Open(ctx)
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}
