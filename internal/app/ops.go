package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/store"
)

// newWorkerInfo identifies this process in tally.workers.
func newWorkerInfo(now time.Time) store.WorkerInfo {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return store.WorkerInfo{ID: host + "-" + hex.EncodeToString(b), Hostname: host, PID: os.Getpid(),
		Version: telemetry.Version(), StartedAt: now}
}

// runOps records this worker's heartbeat and samples the database-wide
// state for metrics (freshness, overdue bookings, the latest verify) on
// the pending interval, until ctx is cancelled. It returns nil then.
func (m *Main) runOps(ctx context.Context) error {
	t := time.NewTicker(m.Config.PendingInterval)
	defer t.Stop()
	failing := false
	for {
		err := m.opsOnce(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			m.Log.Warn("cannot record the heartbeat or sample the database", "err", err)
			failing = true
		case err == nil && failing:
			m.Log.Info("recording the heartbeat again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (m *Main) opsOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(m.Config.PendingInterval, time.Second))
	defer cancel()
	if err := m.Store.Heartbeat(ctx, m.workerInfo, m.Now()); err != nil {
		return err
	}
	o, err := m.Store.ReadOpsSample(ctx)
	if err != nil {
		return err
	}
	m.export(o)
	return nil
}

// export sets the gauges of a database sample.
func (m *Main) export(o store.OpsSample) {
	met := m.Metrics
	met.ObserveFreshness(o.Freshness.LastEventAt, o.Freshness.AppliedAt)
	rows := make([]telemetry.CityCount, len(o.Overdue))
	for i, r := range o.Overdue {
		rows[i] = telemetry.CityCount{City: r.City, Bookings: r.Bookings, OldestStartAt: r.OldestStartAt}
	}
	met.SetOverdue(rows)
	met.OverdueGrace.Set(o.OverdueGrace.Seconds())
	if v := o.LastVerify; v != nil {
		met.ObserveVerify(v.FinishedAt, v.Differences)
	}
}

// isLoopback reports whether addr listens on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// poolStat returns the database pool's statistics, nil before Open.
func (m *Main) poolStat() *pgxpool.Stat {
	if m.Store == nil {
		return nil
	}
	return m.Store.Pool().Stat()
}
