package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/app"
	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/testnats"
	"github.com/tallyhq/tally/store"
)

// opsLoad is a small load with every outcome: applied, exact duplicates,
// a conflicting duplicate, an unknown type, dead letters of two codes, and
// one booking confirmed an hour ago that never started (overdue).
type opsLoad struct {
	msgs        []fleetsim.Message
	applied     int
	duplicates  int
	conflicts   int
	ignored     int
	deadLetters map[events.Code]int
	newest      time.Time // the newest occurred_at applied
}

func newOpsLoad(t testing.TB, now time.Time) opsLoad {
	t.Helper()
	l := opsLoad{deadLetters: map[events.Code]int{}}
	add := func(d events.Draft) []byte {
		body, err := d.Encode()
		require.NoError(t, err)
		l.msgs = append(l.msgs, fleetsim.Message{Subject: string(d.Type), Body: body})
		return body
	}
	base := now.Add(-2 * time.Hour)
	cities := []string{"paris", "berlin", "lisbon"}
	for i := range 12 {
		add(events.Draft{ID: fmt.Sprintf("car-%d", i), Type: events.CarStatusChanged, OccurredAt: base.Add(time.Duration(i) * time.Minute),
			Data: events.CarStatus{CarID: fmt.Sprintf("c%d", i), City: cities[i%3], Status: events.CarActive}})
		l.applied++
	}
	l.newest = now.Add(-90 * time.Minute)
	overdue := add(events.Draft{ID: "booking-late", Type: events.BookingConfirmed, OccurredAt: l.newest,
		Data: events.BookingConfirmation{BookingID: "b1", CarID: "c0", City: "paris", StartAt: now.Add(-time.Hour), EndAt: now.Add(time.Hour)}})
	l.applied++
	for range 3 { // exact copies without Nats-Msg-Id reach tally
		l.msgs = append(l.msgs, fleetsim.Message{Subject: string(events.BookingConfirmed), Body: overdue})
		l.duplicates++
	}
	add(events.Draft{ID: "car-0", Type: events.CarStatusChanged, OccurredAt: base,
		Data: events.CarStatus{CarID: "c0", City: "paris", Status: events.CarRetired}})
	l.conflicts++
	add(events.Draft{ID: "scooter-1", Type: "scooter.parked", OccurredAt: base, Data: map[string]string{"scooter_id": "s1"}})
	l.ignored++
	for _, bad := range []struct {
		body string
		code events.Code
	}{{`{"id":`, events.CodeInvalidJSON}, {`not json`, events.CodeInvalidJSON}, {`{"id":"x","type":"car.status_changed"}`, events.CodeInvalidEnvelope}} {
		l.msgs = append(l.msgs, fleetsim.Message{Subject: "garbage", Body: []byte(bad.body), Bad: true, ExpectCode: bad.code})
		l.deadLetters[bad.code]++
	}
	return l
}

// scrape reads /metrics from a worker's HTTP server.
func scrape(t testing.TB, addr net.Addr) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return mfs
}

// value returns the value of the series of family name whose labels
// include the given name=value pairs; -1 when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf, ok := mfs[name]
	if !ok {
		return -1
	}
	for _, m := range mf.GetMetric() {
		if hasLabels(m, labels) {
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}

func TestMetricsMoveUnderLoad(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	w := f.startWorker(nil)
	now := time.Now()
	load := newOpsLoad(t, now)
	f.publish(load.msgs)
	f.waitIdle(time.Minute)

	// The sampler and the pending gauge catch up on their own intervals
	// (the gauge every TALLY_PENDING_INTERVAL): wait for both.
	var mfs map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		mfs = scrape(t, w.main.Addr())
		return value(mfs, "tally_overdue_bookings", "city", "paris") == 1 &&
			value(mfs, "tally_consumer_pending_messages") == 0
	}, 20*time.Second, 100*time.Millisecond, "the sampler exports the overdue booking, the pending gauge reaches 0")

	require.EqualValues(t, load.applied, value(mfs, "tally_events_total", "outcome", "applied"))
	require.EqualValues(t, load.duplicates, value(mfs, "tally_events_total", "outcome", "duplicate"))
	require.EqualValues(t, load.conflicts, value(mfs, "tally_events_total", "outcome", "conflicting_duplicate"))
	require.EqualValues(t, load.ignored, value(mfs, "tally_events_total", "outcome", "ignored_unknown_type"))
	var dead int
	for code, n := range load.deadLetters {
		require.EqualValues(t, n, value(mfs, "tally_dead_letters_total", "code", string(code)), code)
		dead += n
	}
	require.EqualValues(t, dead, value(mfs, "tally_events_total", "outcome", "dead_lettered"))
	require.Positive(t, value(mfs, "tally_batch_size"), "batches observed")
	require.Positive(t, value(mfs, "tally_apply_duration_seconds"))
	require.EqualValues(t, 900, value(mfs, "tally_overdue_grace_seconds"))

	// The lag is now minus the newest applied event: 90 minutes and the
	// few seconds this test took.
	lag := value(mfs, "tally_event_lag_seconds")
	took := time.Since(now).Seconds()
	require.GreaterOrEqual(t, lag, 90*60.0-1)
	require.LessOrEqual(t, lag, 90*60+took+1)
	require.Less(t, value(mfs, "tally_last_commit_age_seconds"), took+1)
	require.Positive(t, value(mfs, "tally_db_pool_connections", "state", "idle")+value(mfs, "tally_db_pool_connections", "state", "acquired"))
	require.EqualValues(t, 1, value(mfs, "tally_build_info"))

	require.Zero(t, value(mfs, "tally_redeliveries_total"), "nothing was redelivered")
	require.EqualValues(t, -1, value(mfs, "tally_verify_differences"), "absent until a verify ran")

	problems, err := testutil.GatherAndLint(w.main.Registry)
	require.NoError(t, err)
	require.Empty(t, problems)

	// A verify that found drift shows on every worker.
	require.NoError(t, f.store.RecordVerifyRun(context.Background(), store.VerifyRun{StartedAt: now, FinishedAt: time.Now(), Differences: 2}))
	require.Eventually(t, func() bool {
		return value(scrape(t, w.main.Addr()), "tally_verify_differences") == 2
	}, 20*time.Second, 100*time.Millisecond)
}

// httpGet returns the status and body of a GET on a worker.
func httpGet(t testing.TB, addr net.Addr, path string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr.String() + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readyChecks returns /readyz's status and its checks.
func readyChecks(t testing.TB, addr net.Addr) (int, map[string]string) {
	t.Helper()
	status, body := httpGet(t, addr, "/readyz")
	checks := map[string]string{}
	_ = json.Unmarshal([]byte(body), &checks)
	return status, checks
}

// blockingApplier freezes the worker's loop inside Apply, ignoring its
// context the way a stuck driver call would, until released.
type blockingApplier struct {
	store   *store.Store
	blocked chan struct{} // closed when an Apply is stuck
	release chan struct{}
	once    sync.Once
}

func (b *blockingApplier) Apply(ctx context.Context, batch store.Batch) (store.Outcome, error) {
	b.once.Do(func() { close(b.blocked) })
	<-b.release
	return b.store.Apply(context.WithoutCancel(ctx), batch)
}

func TestHealthLivezCatchesAStuckLoop(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	cfg := f.config(map[string]string{"TALLY_LIVENESS_TIMEOUT": "3s", "TALLY_APPLY_TIMEOUT": "1s"})
	ba := &blockingApplier{store: f.store, blocked: make(chan struct{}), release: make(chan struct{})}
	w := f.startWorkerWith(cfg, func(m *app.Main) { m.Applier = ba })

	// Idle, the loop keeps beating: alive well past the timeout.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		status, body := httpGet(t, w.main.Addr(), "/livez")
		require.Equal(t, http.StatusOK, status, body)
		time.Sleep(250 * time.Millisecond)
	}

	f.publish(newOpsLoad(t, time.Now()).msgs[:1])
	<-ba.blocked
	var body string
	require.Eventually(t, func() bool {
		var status int
		status, body = httpGet(t, w.main.Addr(), "/livez")
		return status == http.StatusServiceUnavailable
	}, 10*time.Second, 100*time.Millisecond, "a stuck loop fails /livez")
	require.Contains(t, body, "worker loop has not moved")
	status, _ := httpGet(t, w.main.Addr(), "/readyz")
	require.Equal(t, http.StatusOK, status, "the process itself looks up: only liveness can tell")

	close(ba.release)
	f.waitIdle(time.Minute)
	require.Eventually(t, func() bool {
		status, _ := httpGet(t, w.main.Addr(), "/livez")
		return status == http.StatusOK
	}, 10*time.Second, 100*time.Millisecond, "the loop moves again")
}

func TestHealthReadyzFollowsNATS(t *testing.T) {
	t.Parallel()
	srv := testnats.Start(t)
	f := newFleet(t, srv.URL())
	w := f.startWorker(nil)
	requireReady(t, w, true, "")

	srv.Shutdown()
	requireReady(t, w, false, "nats")
	status, _ := httpGet(t, w.main.Addr(), "/livez")
	require.Equal(t, http.StatusOK, status, "waiting for NATS is not being stuck")

	require.NoError(t, srv.Restart())
	requireReady(t, w, true, "")
}

func TestHealthReadyzFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	proxy := startProxy(t, "127.0.0.1:5432")
	w := f.startWorker(map[string]string{"TALLY_DATABASE_URL": strings.Replace(f.dbURL, "127.0.0.1:5432", proxy.addr, 1)})
	requireReady(t, w, true, "")

	proxy.cut()
	requireReady(t, w, false, "database")
	status, _ := httpGet(t, w.main.Addr(), "/livez")
	require.Equal(t, http.StatusOK, status, "retrying the database is not being stuck")

	proxy.restore(t)
	requireReady(t, w, true, "")
	f.publish(newOpsLoad(t, time.Now()).msgs[:3])
	f.waitIdle(time.Minute)
}

// requireReady waits until /readyz answers ready (or not ready with the
// named check failing).
func requireReady(t *testing.T, w *worker, ready bool, failing string) {
	t.Helper()
	var last map[string]string
	require.Eventually(t, func() bool {
		status, checks := readyChecks(t, w.main.Addr())
		last = checks
		if ready {
			return status == http.StatusOK
		}
		return status == http.StatusServiceUnavailable && checks[failing] != "" && checks[failing] != "ok"
	}, 30*time.Second, 100*time.Millisecond, "readyz: want ready=%v (failing %q), last %v", ready, failing, last)
}

// proxy is a TCP proxy to cut a worker off its database and back.
type proxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// track records a connection pair, or closes it when the proxy was cut.
func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// cut stops listening and closes every open connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// restore listens again on the same address.
func (p *proxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.serve(ln)
}

// startWorkerWith opens and runs a worker of cfg after adjust changed its
// Main (such as its Applier); it stops with the test.
func (f *fleet) startWorkerWith(cfg config.Config, adjust func(*app.Main)) *worker {
	f.t.Helper()
	m := app.New(cfg, testLogger())
	adjust(m)
	require.NoError(f.t, m.Open(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{main: m, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- m.Run(ctx) }()
	f.t.Cleanup(func() { w.stop(f.t) })
	return w
}
