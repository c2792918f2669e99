package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// serveDebug serves Go's profiler on TALLY_DEBUG_ADDR until ctx ends: go
// tool pprof http://ADDR/debug/pprof/profile?seconds=30 shows where a
// worker spends its time. It is off unless set, and should stay on
// loopback: profiles show the code's internals.
func (m *Main) serveDebug(ctx context.Context) error {
	ln, err := net.Listen("tcp", m.Config.DebugAddr)
	if err != nil {
		return fmt.Errorf("TALLY_DEBUG_ADDR: cannot listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.Log.Info("serving the profiler", "addr", ln.Addr())
	return serve(ctx, srv, ln)
}
