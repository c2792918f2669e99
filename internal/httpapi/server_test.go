package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/httpapi"
	"github.com/tallyhq/tally/store"
)

// fakeReader stands in for the database: these tests are about HTTP
// (auth, caching, status codes, rendering), the reads are tested in store.
type fakeReader struct {
	status  store.Status
	err     error
	counter store.CounterFilter // the filter of the last ReadCounter
}

func (f *fakeReader) ReadViews(context.Context) (store.Views, error) { return f.status.Views, f.err }
func (f *fakeReader) ReadStatus(context.Context) (store.Status, error) {
	return f.status, f.err
}
func (f *fakeReader) ReadFreshness(context.Context) (store.Freshness, error) {
	return f.status.Freshness, f.err
}
func (f *fakeReader) ReadCounter(_ context.Context, name string, filter store.CounterFilter) (store.Counter, error) {
	f.counter = filter
	if f.err != nil {
		return store.Counter{}, f.err
	}
	if name != "active_cars" {
		return store.Counter{}, store.ErrUnknownCounter
	}
	return store.Counter{Name: name, Rows: f.status.ActiveCars, UpdatedAt: store.LastUpdated(f.status.ActiveCars)}, nil
}

var t0 = time.Date(2026, 3, 29, 12, 3, 5, 0, time.UTC)

func populated() store.Status {
	pending, observed, applied, last := int64(0), t0, t0, t0.Add(-2*time.Second)
	return store.Status{
		Views: store.Views{
			ActiveCars:       []store.ActiveCarsRow{{City: "paris", Cars: 1234, UpdatedAt: t0.Add(-time.Minute)}, {City: "berlin", Cars: 7, UpdatedAt: t0}},
			BookingsByStatus: []store.BookingsByStatusRow{{City: "paris", Status: "ongoing", Bookings: 3, UpdatedAt: t0}},
			DailyBookings:    []store.DailyBookingsRow{{Day: t0.Truncate(24 * time.Hour), City: "paris", Confirmed: 41, UpdatedAt: t0}},
			OverdueBookings:  []store.OverdueRow{{City: "paris", Bookings: 2, OldestStartAt: t0.Add(-40 * time.Minute)}},
			Freshness:        store.Freshness{LastEventAt: &last, AppliedAt: &applied, Pending: &pending, ObservedAt: &observed},
		},
		DeadLetters: []store.DeadLetterCount{{Code: "invalid_json", Total: 5, Outstanding: 4, LastAt: t0}},
		Conflicts:   1,
		Workers: []store.WorkerRow{
			{WorkerInfo: store.WorkerInfo{ID: "a", Hostname: "host-a", PID: 42, Version: "v1.2.3", StartedAt: t0.Add(-time.Hour)}, LastSeenAt: t0},
			{WorkerInfo: store.WorkerInfo{ID: "b", Hostname: "host-b", PID: 43, Version: "v1.2.2", StartedAt: t0.Add(-time.Hour)}, LastSeenAt: t0.Add(-time.Hour)},
		},
		DBNow: t0,
	}
}

type testBundle struct {
	reader *fakeReader
	srv    *httptest.Server
}

func setup(t *testing.T, token string) *testBundle {
	t.Helper()
	tb := &testBundle{reader: &fakeReader{status: populated()}}
	s := &httpapi.Server{
		Live:     func() error { return nil },
		Gatherer: prometheus.NewRegistry(),
		Reader:   tb.reader,
		Token:    token,
	}
	tb.srv = httptest.NewServer(s.Handler())
	t.Cleanup(tb.srv.Close)
	return tb
}

func (tb *testBundle) get(t *testing.T, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, tb.srv.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

const token = "s3cret-token-0123456789"

func TestTokenGuardsAllButHealth(t *testing.T) {
	t.Parallel()
	tb := setup(t, token)
	for _, p := range []string{"/livez", "/readyz"} {
		resp, _ := tb.get(t, p)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
	for _, p := range []string{"/", "/metrics", "/v1/counters", "/v1/counters/active_cars", "/v1/freshness"} {
		resp, body := tb.get(t, p)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
		require.Contains(t, resp.Header.Values("WWW-Authenticate"), `Bearer realm="tally"`)
		require.NotContains(t, body, token)

		resp, _ = tb.get(t, p, "Authorization", "Bearer wrong-token-0123456789")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)

		resp, _ = tb.get(t, p, "Authorization", "Bearer "+token)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
	req, err := http.NewRequest(http.MethodGet, tb.srv.URL+"/", nil)
	require.NoError(t, err)
	req.SetBasicAuth("anyone", token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "browsers send the token as a basic-auth password")
}

func TestCountersCachingHeaders(t *testing.T) {
	t.Parallel()
	tb := setup(t, "")
	resp, body := tb.get(t, "/v1/counters")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, "max-age=2", resp.Header.Get("Cache-Control"))
	require.Equal(t, t0.Format(http.TimeFormat), resp.Header.Get("Last-Modified"))
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	var v store.Views
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	require.EqualValues(t, 1234, v.ActiveCars[0].Cars)

	resp, body = tb.get(t, "/v1/counters", "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
	require.Empty(t, body)
	resp, _ = tb.get(t, "/v1/counters", "If-Modified-Since", t0.Format(http.TimeFormat))
	require.Equal(t, http.StatusNotModified, resp.StatusCode)

	tb.reader.status.ActiveCars[0].Cars++
	resp, _ = tb.get(t, "/v1/counters", "If-None-Match", etag)
	require.Equal(t, http.StatusOK, resp.StatusCode, "a changed counter changes the ETag")
	require.NotEqual(t, etag, resp.Header.Get("ETag"))
}

func TestCounterFiltersAndErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t, "")
	resp, body := tb.get(t, "/v1/counters/active_cars?day=2026-03-29&city=paris")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, store.CounterFilter{Day: time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), City: "paris"}, tb.reader.counter)
	require.Equal(t, t0.Format(http.TimeFormat), resp.Header.Get("Last-Modified"))

	cases := []struct {
		path   string
		status int
		msg    string
	}{
		{"/v1/counters/nope", http.StatusNotFound, "counters: active_cars, bookings_by_status"},
		{"/v1/counters/active_cars?day=29/03/2026", http.StatusBadRequest, "day:"},
		{"/v1/nothing", http.StatusNotFound, ""},
	}
	for _, c := range cases {
		resp, body := tb.get(t, c.path)
		require.Equal(t, c.status, resp.StatusCode, c.path)
		require.Contains(t, body, c.msg, c.path)
	}
}

func TestServerFaultsHideTheirDetails(t *testing.T) {
	t.Parallel()
	tb := setup(t, "")
	tb.reader.err = errors.New("connect to postgres://tally:hunter2@db: refused")
	for _, p := range []string{"/", "/v1/counters", "/v1/freshness"} {
		resp, body := tb.get(t, p)
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode, p)
		require.NotContains(t, body, "hunter2", p)
	}
	tb.reader.err = store.ErrNotMigrated
	resp, _ := tb.get(t, "/v1/freshness")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

func TestStatusPageShowsEverything(t *testing.T) {
	t.Parallel()
	tb := setup(t, "")
	resp, body := tb.get(t, "/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	for _, want := range []string{
		`<meta http-equiv="refresh" content="10">`,
		"as of 12:03:05, 0 events pending",
		"1\u202f234", "berlin", // active cars
		"ongoing", "41", // bookings by status and daily bookings
		"paris", "40m", // overdue bookings, late by
		"invalid_json",                                  // dead letters by code
		"host-a", "v1.2.3", "running", "host-b", "gone", // workers
	} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, `id="stale"`)
	require.NotContains(t, body, "<script")

	old := t0.Add(-time.Hour)
	tb.reader.status.Freshness.ObservedAt = &old
	_, body = tb.get(t, "/")
	require.Contains(t, body, `id="stale"`, "an old backlog measurement means no worker is measuring")
}
