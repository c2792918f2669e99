// Package httpapi serves tally's HTTP side on its own mux: liveness,
// readiness and Prometheus metrics. Errors map to HTTP status here and
// nowhere else.
package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check: nil when ready.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Server holds what the handlers report on.
type Server struct {
	// Live reports whether the worker loop is moving.
	Live     func() error
	Checks   []Check
	Gatherer prometheus.Gatherer
}

// Handler returns the mux.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", s.livez)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{}))
	return mux
}

// NewHTTPServer returns an http.Server with read, header and write
// timeouts set, so a slow client cannot hold connections open.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}

func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	if err := s.Live(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "stuck", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, checks := http.StatusOK, map[string]string{}
	for _, c := range s.Checks {
		if err := c.Run(ctx); err != nil {
			status, checks[c.Name] = http.StatusServiceUnavailable, err.Error()
			continue
		}
		checks[c.Name] = "ok"
	}
	writeJSON(w, status, checks)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
