// Package httpapi serves tally's HTTP side on its own mux: liveness,
// readiness, Prometheus metrics, the status page and the JSON read API.
// Errors map to HTTP status here and nowhere else (errors.go).
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tallyhq/tally/store"
)

// Check is one readiness check: nil when ready.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Reader reads what the status page and the JSON API show; *store.Store
// is one.
type Reader interface {
	ReadViews(ctx context.Context) (store.Views, error)
	ReadStatus(ctx context.Context) (store.Status, error)
	ReadCounter(ctx context.Context, name string, f store.CounterFilter) (store.Counter, error)
	ReadFreshness(ctx context.Context) (store.Freshness, error)
}

// Server holds what the handlers report on.
type Server struct {
	// Live reports whether the worker loop is moving.
	Live     func() error
	Checks   []Check
	Gatherer prometheus.Gatherer
	// Reader serves / and /v1/; nil turns them off.
	Reader Reader
	// Token, when set, is required on every route but /livez and /readyz:
	// as a bearer token, or as the password of basic auth for browsers.
	Token string
	// Location is the zone of the times on the status page; nil is UTC.
	Location *time.Location
	// StaleAfter is how long a worker may go unseen before the status page
	// shows it as gone; 0 means 30s.
	StaleAfter time.Duration
	// Refresh is the status page's reload interval; 0 means 10s.
	Refresh time.Duration
	Log     *slog.Logger
	// Now is the clock of the status page; nil means time.Now.
	Now func() time.Time
}

// Handler returns the mux, behind the token check when a token is set.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", s.livez)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{}))
	if s.Reader != nil {
		mux.HandleFunc("GET /{$}", s.statusPage)
		mux.HandleFunc("GET /v1/counters", s.counters)
		mux.HandleFunc("GET /v1/counters/{name}", s.counter)
		mux.HandleFunc("GET /v1/freshness", s.freshness)
	}
	if s.Token == "" {
		return mux
	}
	return s.requireToken(mux)
}

// requireToken lets /livez and /readyz through (orchestrators probe them
// without secrets) and asks every other request for the token.
func (s *Server) requireToken(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(s.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Authorization")
		if r.URL.Path == "/livez" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		// Comparing digests keeps the comparison constant-time whatever
		// the lengths.
		got := sha256.Sum256([]byte(presentedToken(r)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			s.fail(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// presentedToken returns the bearer token, or the basic-auth password.
func presentedToken(r *http.Request) string {
	if _, pass, ok := r.BasicAuth(); ok {
		return pass
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
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
		MaxHeaderBytes:    64 << 10,
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

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}
