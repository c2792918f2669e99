package app

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/telemetry"
)

// rebuildSample reads the latest rebuild for the rebuild gauges.
func (m *Main) rebuildSample(ctx context.Context) (telemetry.RebuildSample, bool, error) {
	if m.Store == nil {
		return telemetry.RebuildSample{}, false, nil
	}
	st, found, err := m.Store.LatestRebuild(ctx)
	if err != nil || !found {
		return telemetry.RebuildSample{}, found, err
	}
	return telemetry.RebuildSample{Gen: st.Gen, Running: st.State == "running", Swapped: st.State == "swapped",
		Done: st.Done, Total: st.Total}, true, nil
}

// ConnectNATS connects to NATS with the authentication and TLS settings of
// cfg, for the commands that read the stream besides the worker (tally
// rebuild --from-stream). A bad setting fails naming it.
func ConnectNATS(cfg config.Config, log *slog.Logger, name string) (*nats.Conn, error) {
	m := &Main{Config: cfg, Log: log}
	auth, err := m.natsAuthOptions()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.NATSURL, append([]nats.Option{nats.Name(name)}, auth...)...)
	if err != nil {
		return nil, m.natsConnectError(err)
	}
	return nc, nil
}
