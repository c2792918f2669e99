// Package app wires tally's worker: it opens the database and NATS, checks
// the schema and the zones, ensures the streams and the consumer, and runs
// the consumer loop, the pending observer and the HTTP server until
// stopped. cmd/tally and the integration tests both use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/consumer"
	"github.com/tallyhq/tally/internal/httpapi"
	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/store"
)

// Main is one worker process.
type Main struct {
	Config config.Config
	Log    *slog.Logger
	Now    func() time.Time

	Registry *prometheus.Registry
	Metrics  *telemetry.Metrics
	Store    *store.Store
	NC       *nats.Conn
	JS       jetstream.JetStream
	Worker   *consumer.Worker
	// Applier, when set before Open, replaces the store as what the
	// worker applies batches with: tests use it to freeze the loop.
	Applier consumer.Applier

	workerInfo store.WorkerInfo
	listener   net.Listener
	ready      atomic.Bool
}

// New returns a Main for cfg; Open connects it.
func New(cfg config.Config, log *slog.Logger) *Main {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Main{Config: cfg, Log: log, Now: time.Now, Registry: reg, Metrics: telemetry.NewMetrics(reg)}
	reg.MustRegister(telemetry.NewPoolCollector(m.poolStat))
	reg.MustRegister(telemetry.NewRebuildCollector(m.rebuildSample))
	return m
}

// Open connects to the database and NATS and prepares the consumer. Every
// failure names the setting at fault (config.ErrSetting) or the command to
// run.
func (m *Main) Open(ctx context.Context) error {
	if err := m.openStore(ctx); err != nil {
		return err
	}
	if err := m.openNATS(ctx); err != nil {
		return err
	}
	if m.Config.HTTPAddr != "" {
		ln, err := net.Listen("tcp", m.Config.HTTPAddr)
		if err != nil {
			return &config.Error{Name: "TALLY_HTTP_ADDR", Msg: fmt.Sprintf("cannot listen: %v", err)}
		}
		m.listener = ln
	}
	return nil
}

func (m *Main) openStore(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := store.Open(cctx, m.Config.DatabaseURL, m.Log)
	if err != nil {
		return &config.Error{Name: "TALLY_DATABASE_URL", Msg: err.Error()}
	}
	m.Store = s
	if err := s.CheckWorkerPrivileges(ctx); err != nil {
		return &config.Error{Name: "TALLY_DATABASE_URL", Msg: err.Error()}
	}
	if err := s.CheckSchema(ctx); err != nil {
		return &config.Error{Name: "TALLY_DATABASE_URL", Msg: err.Error()}
	}
	g, err := s.CurrentGeneration(ctx)
	if err != nil {
		return err
	}
	if want := m.Config.Zones(); !g.Zones.Equal(want) {
		return &config.Error{Name: "TALLY_TIMEZONE", Msg: fmt.Sprintf(
			"configured zones %s differ from the stored %s; run tally rebuild to apply them, or set the stored ones",
			want, g.Zones)}
	}
	return nil
}

func (m *Main) openNATS(ctx context.Context) error {
	auth, err := m.natsAuthOptions()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(m.Config.NATSURL, append(m.natsOptions(), auth...)...)
	if err != nil {
		return m.natsConnectError(err)
	}
	m.NC = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	m.JS = js
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	permissionErr := m.failFastOnPermissions(nc, cancel)
	cons, err := consumer.Setup(sctx, js, m.consumerConfig())
	if err != nil {
		if perr := permissionErr(); perr != nil {
			err = perr
		}
		return &config.Error{Name: "TALLY_NATS_URL", Msg: describeNATSError(err)}
	}
	if consumer.Filtered(cons) && consumer.SlowWhenFiltered(nc.ConnectedServerVersion()) {
		m.Log.Warn("the stream holds other subjects too, so the consumer filters them; NATS 2.9 "+
			"serves a filtered consumer slowly while its state is read (tally's pending gauge, nats consumer info, "+
			"exporters): expect catch-up far below the figures of docs/performance.md; upgrade NATS or give tally a stream of its own",
			"stream", m.Config.Stream, "subjects", m.Config.Subjects, "nats_server", nc.ConnectedServerVersion())
	}
	var ap consumer.Applier = m.Store
	if m.Applier != nil {
		ap = m.Applier
	}
	m.Worker = consumer.NewWorker(m.consumerConfig(), nc, js, cons, ap, m.Log, m.Metrics)
	return nil
}

func (m *Main) natsOptions() []nats.Option {
	log := m.Log
	return []nats.Option{
		nats.Name("tally"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Error("NATS error", "err", err) }),
	}
}

func (m *Main) consumerConfig() consumer.Config {
	c := m.Config
	return consumer.Config{
		Stream: c.Stream, Subjects: c.Subjects, Consumer: c.Consumer,
		DLQStream: c.DLQStream, DLQSubject: c.DeadLetterSubject(), StreamMaxAge: c.StreamMaxAge,
		BatchSize: c.BatchSize, ApplyConcurrency: c.ApplyConcurrency, BatchWait: c.BatchWait, AckWait: c.AckWait, ApplyTimeout: c.ApplyTimeout,
		ShutdownTimeout: c.ShutdownTimeout, ApplyAttempts: c.ApplyAttempts, MaxEventBytes: c.MaxEventBytes,
	}
}

// Addr returns the HTTP server's address, or nil when it is off.
func (m *Main) Addr() net.Addr {
	if m.listener == nil {
		return nil
	}
	return m.listener.Addr()
}

// Run runs the worker until ctx is cancelled, then shuts down in order:
// not ready, finish the batch in flight, stop the HTTP server. It returns
// nil after a clean stop.
func (m *Main) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	obs := &consumer.Observer{Consumer: m.consumer(), Store: m.Store, Interval: m.Config.PendingInterval,
		Metrics: m.Metrics, Log: m.Log, Now: m.Now}
	g.Go(func() error { return m.Worker.Run(gctx) })
	g.Go(func() error { return obs.Run(gctx) })
	m.workerInfo = newWorkerInfo(m.Now())
	g.Go(func() error { return m.runOps(gctx) })
	if sch := m.snapshotScheduler(); sch != nil {
		g.Go(func() error { return sch.Run(gctx) })
	}
	if m.listener != nil {
		srv := httpapi.NewHTTPServer(m.httpHandler())
		g.Go(func() error { return serve(gctx, srv, m.listener) })
	}
	if m.Config.DebugAddr != "" {
		g.Go(func() error { return m.serveDebug(gctx) })
	}
	m.ready.Store(true)
	m.Log.Info("tally is running", "stream", m.Config.Stream, "consumer", m.Config.Consumer, "http", m.Addr())
	<-gctx.Done()
	m.ready.Store(false)
	return g.Wait()
}

func (m *Main) consumer() jetstream.Consumer {
	c, _ := m.JS.Consumer(context.Background(), m.Config.Stream, m.Config.Consumer)
	return c
}

func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// Close drains NATS (flushing acks) and closes the database pool.
func (m *Main) Close() {
	if m.NC != nil {
		_ = m.NC.Drain()
		for i := 0; i < 50 && !m.NC.IsClosed(); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		m.NC.Close()
	}
	if m.Store != nil {
		m.Store.Close()
	}
	if m.listener != nil {
		_ = m.listener.Close()
	}
}
