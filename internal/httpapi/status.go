package httpapi

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tallyhq/tally/store"
)

//go:embed status.html
var statusHTML string

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"num": formatInt,
}).Parse(statusHTML))

// dailyDaysShown is how many recent days of the daily views the page
// shows; older days are one click away in the JSON API.
const dailyDaysShown = 14

// statusView is what the page template renders: the status read in one
// snapshot plus the formatting decided here rather than in the template.
type statusView struct {
	store.Status
	Refresh        int
	Zone           string
	Now            string
	AsOf           string
	NewestEvent    string
	Pending        string
	MeasuredAt     string
	Stale          bool
	Statuses       []string
	ByStatus       []statusRow
	Revenue        []store.DailyRevenueRow
	Bookings       []store.DailyBookingsRow
	OlderRevenue   int
	OlderBookings  int
	Overdue        []overdueRow
	Workers        []workerView
	DeadLetterRows []deadLetterView
	DeadLetterSum  int64
	OutstandingSum int64
}

type statusRow struct {
	City   string
	Counts []int64
}

type overdueRow struct {
	store.OverdueRow
	OldestStart string
	Late        string
}

type deadLetterView struct {
	store.DeadLetterCount
	Last string
}

type workerView struct {
	store.WorkerRow
	Started  string
	LastSeen string
	Alive    bool
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	st, err := s.Reader.ReadStatus(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, s.view(st)); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The page needs no script, style or frame from anywhere: forbid them.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) view(st store.Status) statusView {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	v := statusView{Status: st, Refresh: int(s.refresh().Seconds()), Zone: loc.String(),
		Now: st.DBNow.In(loc).Format("2006-01-02 15:04:05 MST")}
	s.freshnessView(&v, loc)
	v.Statuses, v.ByStatus = pivotStatuses(st.BookingsByStatus)
	v.Revenue, v.OlderRevenue = recentDays(st.DailyRevenue, func(r store.DailyRevenueRow) time.Time { return r.Day })
	v.Bookings, v.OlderBookings = recentDays(st.DailyBookings, func(r store.DailyBookingsRow) time.Time { return r.Day })
	for _, o := range st.OverdueBookings {
		v.Overdue = append(v.Overdue, overdueRow{OverdueRow: o, OldestStart: o.OldestStartAt.In(loc).Format("2006-01-02 15:04"),
			Late: formatLate(st.DBNow.Sub(o.OldestStartAt))})
	}
	for _, d := range st.DeadLetters {
		v.DeadLetterRows = append(v.DeadLetterRows, deadLetterView{DeadLetterCount: d, Last: d.LastAt.In(loc).Format("2006-01-02 15:04:05")})
		v.DeadLetterSum += d.Total
		v.OutstandingSum += d.Outstanding
	}
	for _, wr := range st.Workers {
		v.Workers = append(v.Workers, workerView{WorkerRow: wr, Started: wr.StartedAt.In(loc).Format("2006-01-02 15:04:05"),
			LastSeen: wr.LastSeenAt.In(loc).Format("15:04:05"), Alive: st.DBNow.Sub(wr.LastSeenAt) <= s.staleAfter()})
	}
	return v
}

// freshnessView words freshness as "as of 12:03:05, 0 events pending" and
// flags a backlog measurement too old to trust: a frozen worker.
func (s *Server) freshnessView(v *statusView, loc *time.Location) {
	f := v.Freshness
	clock := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.In(loc).Format("15:04:05")
	}
	v.AsOf, v.NewestEvent, v.MeasuredAt = clock(f.AppliedAt), clock(f.LastEventAt), clock(f.ObservedAt)
	v.Pending = "unknown"
	if f.Pending != nil {
		v.Pending = formatInt(*f.Pending)
	}
	v.Stale = f.ObservedAt == nil || v.DBNow.Sub(*f.ObservedAt) > s.staleAfter()
}

// bookingStatuses is the order of the status columns.
var bookingStatuses = []string{"confirmed", "ongoing", "ended", "cancelled"}

// pivotStatuses turns (city, status, bookings) rows into a row per city
// with a column per status.
func pivotStatuses(rows []store.BookingsByStatusRow) ([]string, []statusRow) {
	statuses := slices.Clone(bookingStatuses)
	for _, r := range rows {
		if !slices.Contains(statuses, r.Status) {
			statuses = append(statuses, r.Status)
		}
	}
	var out []statusRow
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].City != r.City {
			out = append(out, statusRow{City: r.City, Counts: make([]int64, len(statuses))})
		}
		out[len(out)-1].Counts[slices.Index(statuses, r.Status)] = r.Bookings
	}
	return statuses, out
}

// recentDays keeps the rows of the newest dailyDaysShown days, newest
// first, and counts the rows left out.
func recentDays[T any](rows []T, day func(T) time.Time) ([]T, int) {
	var days []time.Time
	for _, r := range rows {
		if d := day(r); !slices.ContainsFunc(days, d.Equal) {
			days = append(days, d)
		}
	}
	slices.SortFunc(days, func(a, b time.Time) int { return b.Compare(a) })
	if len(days) > dailyDaysShown {
		days = days[:dailyDaysShown]
	}
	var kept []T
	for _, r := range rows {
		if slices.ContainsFunc(days, day(r).Equal) {
			kept = append(kept, r)
		}
	}
	slices.SortStableFunc(kept, func(a, b T) int { return day(b).Compare(day(a)) })
	return kept, len(rows) - len(kept)
}

func (s *Server) refresh() time.Duration {
	if s.Refresh > 0 {
		return s.Refresh
	}
	return 10 * time.Second
}

func (s *Server) staleAfter() time.Duration {
	if s.StaleAfter > 0 {
		return s.StaleAfter
	}
	return 30 * time.Second
}

// formatInt writes n with thin thousands separators: 1 234 567.
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, "\u202f"...)
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// formatLate words how late a booking is: 25m, 3h05m, 12d 4h.
func formatLate(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}
