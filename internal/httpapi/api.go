package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tallyhq/tally/store"
)

// apiMaxAge is how long a client may reuse an answer without asking: the
// counters move with every batch, and pending is measured every few
// seconds.
const apiMaxAge = 2 * time.Second

// counters serves every counter view and freshness, read in one snapshot.
func (s *Server) counters(w http.ResponseWriter, r *http.Request) {
	v, err := s.Reader.ReadViews(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	modified := latest(store.LastUpdated(v.ActiveCars), store.LastUpdated(v.BookingsByStatus),
		store.LastUpdated(v.DailyRevenue), store.LastUpdated(v.DailyBookings), freshnessModified(v.Freshness))
	s.serveJSON(w, r, v, modified)
}

// counter serves one counter view, filtered by ?day=YYYY-MM-DD and ?city=.
func (s *Server) counter(w http.ResponseWriter, r *http.Request) {
	var f store.CounterFilter
	q := r.URL.Query()
	if d := q.Get("day"); d != "" {
		day, err := time.Parse(time.DateOnly, d)
		if err != nil {
			s.fail(w, r, badParam("day", "%q is not a date such as 2026-03-29", d))
			return
		}
		f.Day = day
	}
	f.City = q.Get("city")
	c, err := s.Reader.ReadCounter(r.Context(), r.PathValue("name"), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveJSON(w, r, c, c.UpdatedAt)
}

func (s *Server) freshness(w http.ResponseWriter, r *http.Request) {
	f, err := s.Reader.ReadFreshness(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveJSON(w, r, f, freshnessModified(f))
}

// freshnessModified is when freshness last changed: a commit or a
// measurement of pending.
func freshnessModified(f store.Freshness) time.Time {
	var t time.Time
	if f.AppliedAt != nil {
		t = *f.AppliedAt
	}
	if f.ObservedAt != nil {
		t = latest(t, *f.ObservedAt)
	}
	return t
}

func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// serveJSON answers with v and its caching headers: a strong ETag from
// the body (it also changes when a row goes away, which no updated_at
// shows), Last-Modified from the newest updated_at, and a short max-age.
// http.ServeContent answers If-None-Match and If-Modified-Since with 304.
func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request, v any, modified time.Time) {
	body, err := json.Marshal(v)
	if err != nil {
		s.fail(w, r, fmt.Errorf("encode: %w", err))
		return
	}
	body = append(body, '\n')
	sum := sha256.Sum256(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	cache := fmt.Sprintf("max-age=%d", int(apiMaxAge.Seconds()))
	if s.Token != "" {
		cache = "private, " + cache
	}
	h.Set("Cache-Control", cache)
	http.ServeContent(w, r, "", modified, bytes.NewReader(body))
}
