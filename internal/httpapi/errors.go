package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/tallyhq/tally/store"
)

var errUnauthorized = errors.New("a valid token is required: send Authorization: Bearer <TALLY_HTTP_TOKEN>")

// badRequest is a request the client must change.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func badParam(name, format string, args ...any) error {
	return badRequest{msg: name + ": " + fmt.Sprintf(format, args...)}
}

// statusOf maps an error to its HTTP status and the message the client
// may see. Server faults get a generic message: details go to the log,
// never to the client.
func statusOf(err error) (int, string) {
	var br badRequest
	switch {
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized, err.Error()
	case errors.As(err, &br):
		return http.StatusBadRequest, br.msg
	case errors.Is(err, store.ErrUnknownCounter):
		return http.StatusNotFound, "no such counter; counters: " + strings.Join(store.CounterNames(), ", ")
	case errors.Is(err, store.ErrBadFilter):
		return http.StatusBadRequest, "day: only daily_revenue and daily_bookings have days"
	case errors.Is(err, store.ErrNotMigrated):
		return http.StatusServiceUnavailable, store.ErrNotMigrated.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "the database did not answer in time"
	}
	return http.StatusInternalServerError, "cannot read the counters now; the worker's log says why"
}

// fail answers a request with the error's status, as JSON for the API and
// as a small page for the status page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := statusOf(err)
	if status >= 500 {
		s.log().Error("HTTP request failed", "path", r.URL.Path, "status", status, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Add("WWW-Authenticate", `Bearer realm="tally"`)
		w.Header().Add("WWW-Authenticate", `Basic realm="tally"`)
	}
	if strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/metrics" {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, map[string]any{"Status": status, "Text": http.StatusText(status), "Msg": msg})
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10"><title>tally: {{.Text}}</title></head>
<body><h1>{{.Status}} {{.Text}}</h1><p>{{.Msg}}</p></body></html>
`))

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
