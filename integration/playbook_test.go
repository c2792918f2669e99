package integration

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/oracle"
	"github.com/tallyhq/tally/internal/testdb"
)

// playbookFleet is a database the troubled fleet populated, and what was
// published to it.
type playbookFleet struct {
	*fleet
	msgs   []fleetsim.Message
	ledger []events.Event
	zones  aggregator.Zones
	start  time.Time
}

func newPlaybookFleet(t *testing.T) *playbookFleet {
	t.Helper()
	z := dstZones(t)
	f := newFleet(t, testnatsMachine(), testdb.Options{Zones: &z})
	msgs := troubled(t, 23)
	w := f.startWorker(map[string]string{"TALLY_TIMEZONE": "Europe/Paris", "TALLY_CITY_TIMEZONES": "new_york=America/New_York"})
	f.publish(msgs)
	f.waitIdle(2 * time.Minute)
	w.stop(t)
	f.requireExact(msgs)
	return &playbookFleet{fleet: f, msgs: msgs, ledger: f.ledger(), zones: z, start: time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)}
}

// playbook runs `tally playbook run NAME --format json` with params and
// decodes its rows.
func (f *playbookFleet) playbook(t *testing.T, name string, params ...string) []map[string]any {
	t.Helper()
	code, stdout, stderr := f.tallySplit(nil, append([]string{"playbook", "run", name, "--format", "json"}, playbookParams(params)...)...)
	require.Equal(t, 0, code, stderr)
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.UseNumber()
	var rows []map[string]any
	require.NoError(t, dec.Decode(&rows), stdout)
	return rows
}

func playbookParams(params []string) []string {
	var args []string
	for _, p := range params {
		args = append(args, "--param", p)
	}
	return args
}

// tallySplit runs the tally binary and returns its exit status, stdout
// and stderr apart.
func (f *fleet) tallySplit(extra map[string]string, args ...string) (int, string, string) {
	f.t.Helper()
	cmd := exec.Command(tallyBin, args...)
	cmd.Env = environ(f.settings(extra))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	require.NoError(f.t, err)
	return 0, stdout.String(), stderr.String()
}

// rowsColumn returns one column of the rows, as text.
func rowsColumn(rows []map[string]any, name string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		if r[name] != nil {
			out[i] = fmt.Sprint(r[name])
		}
	}
	return out
}

func utcText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func TestPlaybook(t *testing.T) {
	t.Parallel()
	f := newPlaybookFleet(t)
	t.Run("stuck-bookings", f.testStuckBookings)
	t.Run("bookings-and-payments", f.testBookingsAndPayments)
	t.Run("revenue-by-hour", f.testRevenueByHour)
	t.Run("entity-events", f.testEntityEvents)
	t.Run("dead-letters", f.testDeadLetters)
	t.Run("duplicates-and-conflicts", f.testDuplicatesAndConflicts)
	t.Run("errors", f.testErrors)
	t.Run("limits", f.testLimits)
}

// confirmationEnd returns the end_at of each booking's deciding
// confirmation.
func confirmationEnd(ledger []events.Event) map[string]time.Time {
	best := map[string]events.Event{}
	for _, e := range ledger {
		if b, ok := best[e.BookingID]; e.Type == events.BookingConfirmed && (!ok || b.Key().Less(e.Key())) {
			best[e.BookingID] = e
		}
	}
	out := map[string]time.Time{}
	for id, e := range best {
		out[id] = e.EndAt
	}
	return out
}

func (f *playbookFleet) testStuckBookings(t *testing.T) {
	t.Parallel()
	_, bookings := oracle.Entities(f.ledger)
	ends := confirmationEnd(f.ledger)
	cutoff := time.Now().Add(-15 * time.Minute)
	var want []string
	for id, b := range bookings {
		switch {
		case b.Status == events.StatusConfirmed && b.StartAt.Before(cutoff):
			want = append(want, fmt.Sprintf("%s %s %s %s %s due %s", b.Status, b.City, id, b.CarID, utcText(b.StartAt), utcText(b.StartAt)))
		case b.Status == events.StatusOngoing && ends[id].Before(cutoff):
			want = append(want, fmt.Sprintf("%s %s %s %s %s due %s", b.Status, b.City, id, b.CarID, utcText(b.StartAt), utcText(ends[id])))
		}
	}
	rows := f.playbook(t, "stuck-bookings")
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s %s %s %s %s due %s", r["status"], r["city"], r["booking_id"], r["car_id"], r["start_at"], r["due_at"]))
	}
	require.NotEmpty(t, want)
	require.ElementsMatch(t, want, got)
	require.True(t, slices.IsSortedFunc(rowsColumn(rows, "due_at"), strings.Compare), "oldest first")
	require.Contains(t, rowsColumn(rows, "status"), "confirmed", "the silent Confirmed->Ongoing failure")
	require.Contains(t, rowsColumn(rows, "status"), "ongoing", "bookings never ended")

	paris := f.playbook(t, "stuck-bookings", "city=paris", "status=confirmed")
	for _, r := range paris {
		require.Equal(t, "paris", r["city"])
		require.Equal(t, "confirmed", r["status"])
	}
	require.Len(t, paris, countMatching(want, "confirmed paris "))
}

func countMatching(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// moneyAndBookings resolves, as the entry does, the booking and car of
// each booking or payment event in [since, until): a refund through its
// payment captured from 7 days before since.
func (f *playbookFleet) moneyAndBookings(since, until time.Time) []map[string]string {
	carOf, bookingOfPayment := map[string]string{}, map[string]string{}
	for _, e := range f.ledger {
		if e.Type.Entity() == events.Booking {
			carOf[e.BookingID] = e.CarID
		}
		if e.Type == events.PaymentCaptured && !e.OccurredAt.Before(since.Add(-7*24*time.Hour)) && e.OccurredAt.Before(until) {
			bookingOfPayment[e.PaymentID] = e.BookingID
		}
	}
	var out []map[string]string
	for _, e := range f.ledger {
		if e.OccurredAt.Before(since) || !e.OccurredAt.Before(until) || (e.Type.Entity() != events.Booking &&
			e.Type != events.PaymentCaptured && e.Type != events.PaymentRefunded) {
			continue
		}
		booking := cmp.Or(e.BookingID, bookingOfPayment[e.PaymentID])
		out = append(out, map[string]string{"event_id": e.ID, "type": string(e.Type), "at": utcText(e.OccurredAt), "city": e.City,
			"booking_id": booking, "car_id": cmp.Or(e.CarID, carOf[booking])})
	}
	slices.SortFunc(out, func(a, b map[string]string) int {
		return cmp.Or(strings.Compare(a["at"], b["at"]), strings.Compare(a["event_id"], b["event_id"]))
	})
	return out
}

func (f *playbookFleet) testBookingsAndPayments(t *testing.T) {
	t.Parallel()
	since, until := f.start.Add(6*time.Hour), f.start.Add(30*time.Hour)
	all := f.moneyAndBookings(since, until)
	bracket := []string{"since=" + utcText(since), "until=" + utcText(until)}

	check := func(keep func(map[string]string) bool, params ...string) {
		t.Helper()
		var want []string
		for _, e := range all {
			if keep(e) {
				want = append(want, e["event_id"]+" "+e["booking_id"]+" "+e["car_id"])
			}
		}
		rows := f.playbook(t, "bookings-and-payments", append(bracket, params...)...)
		var got []string
		for _, r := range rows {
			got = append(got, fmt.Sprintf("%s %s %s", r["event_id"], r["booking_id"], r["car_id"]))
		}
		require.NotEmpty(t, want)
		require.Equal(t, want, got)
	}
	check(func(e map[string]string) bool { return e["city"] == "paris" }, "city=paris")
	// A car with a payment in the bracket: its payments and refunds are
	// found through its bookings.
	var car string
	for _, e := range all {
		if car == "" && e["type"] == string(events.PaymentCaptured) && e["city"] == "berlin" {
			car = e["car_id"]
		}
	}
	check(func(e map[string]string) bool { return e["car_id"] == car }, "car="+car)
}

func (f *playbookFleet) testRevenueByHour(t *testing.T) {
	t.Parallel()
	const day = "2026-03-29" // Paris moves to summer time: 23 hours
	type key struct{ hour, city, currency string }
	want := map[key]*oracle.Revenue{}
	for _, e := range f.ledger {
		loc := f.zones.Location(e.City)
		local := e.OccurredAt.In(loc)
		if (e.Type != events.PaymentCaptured && e.Type != events.PaymentRefunded) || local.Format(time.DateOnly) != day {
			continue
		}
		hour := time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), 0, 0, 0, loc)
		k := key{utcText(hour), e.City, e.Currency}
		if want[k] == nil {
			want[k] = &oracle.Revenue{}
		}
		if e.Type == events.PaymentCaptured {
			want[k].Gross += e.AmountMinor
			want[k].Payments++
		} else {
			want[k].Refunded += e.AmountMinor
			want[k].Refunds++
		}
	}
	rows := f.playbook(t, "revenue-by-hour", "day="+day)
	got := map[key]*oracle.Revenue{}
	perDay := map[oracle.RevenueKey]oracle.Revenue{}
	for _, r := range rows {
		k := key{fmt.Sprint(r["hour"]), fmt.Sprint(r["city"]), fmt.Sprint(r["currency"])}
		rev := oracle.Revenue{Gross: jsonInt64(t, r["gross_minor"]), Refunded: jsonInt64(t, r["refunded_minor"]),
			Payments: jsonInt64(t, r["payments"]), Refunds: jsonInt64(t, r["refunds"])}
		require.Equal(t, rev.Gross-rev.Refunded, jsonInt64(t, r["net_minor"]))
		require.Equal(t, f.zones.Location(k.city).String(), r["zone"])
		got[k] = &rev
		dk := oracle.RevenueKey{Day: day, City: k.city, Currency: k.currency}
		perDay[dk] = oracle.Revenue{Gross: perDay[dk].Gross + rev.Gross, Refunded: perDay[dk].Refunded + rev.Refunded,
			Payments: perDay[dk].Payments + rev.Payments, Refunds: perDay[dk].Refunds + rev.Refunds}
	}
	require.NotEmpty(t, want)
	require.Equal(t, want, got)
	require.True(t, slices.IsSortedFunc(rowsColumn(rows, "hour"), strings.Compare))

	// The hours add up to the day tally counted.
	views, _, _ := f.readViews()
	for k, rev := range views.DailyRevenue {
		if k.Day == day {
			require.Equal(t, rev, perDay[k], "%v", k)
		}
	}
	require.Len(t, perDay, revenueRowsOn(views, day))
}

func revenueRowsOn(c oracle.Counters, day string) int {
	n := 0
	for k := range c.DailyRevenue {
		if k.Day == day {
			n++
		}
	}
	return n
}

func jsonInt64(t *testing.T, v any) int64 {
	t.Helper()
	n, err := v.(json.Number).Int64()
	require.NoError(t, err)
	return n
}

func (f *playbookFleet) testEntityEvents(t *testing.T) {
	t.Parallel()
	byBooking := map[string][]events.Event{}
	for _, e := range f.ledger {
		if e.Type.Entity() == events.Booking {
			byBooking[e.BookingID] = append(byBooking[e.BookingID], e)
		}
	}
	var id string
	for b, evs := range byBooking {
		if len(evs) >= 3 && (id == "" || b < id) {
			id = b
		}
	}
	evs := byBooking[id]
	slices.SortFunc(evs, func(a, b events.Event) int { return b.Key().Compare(a.Key()) })
	var want []string
	for _, e := range evs {
		want = append(want, e.ID)
	}
	require.Equal(t, want, rowsColumn(f.playbook(t, "entity-events", "id="+id), "event_id"))
	require.Equal(t, want[:2], rowsColumn(f.playbook(t, "entity-events", "id="+id, "limit=2"), "event_id"))
}

func (f *playbookFleet) testDeadLetters(t *testing.T) {
	t.Parallel()
	want := map[string]int64{}
	for code, n := range expect(t, f.msgs).deadLetters {
		if n > 0 {
			want[string(code)] = int64(n)
		}
	}
	got := map[string]int64{}
	for _, r := range f.playbook(t, "dead-letters-by-code", "since=1h") {
		got[r["code"].(string)] = jsonInt64(t, r["dead_letters"])
	}
	require.Equal(t, want, got)

	rows := f.playbook(t, "dead-letters", "since=1h", "code=invalid_json,too_large", "limit=10000")
	require.Len(t, rows, int(want["invalid_json"]+want["too_large"]))
	for _, r := range rows {
		require.Contains(t, []string{"invalid_json", "too_large"}, r["code"])
	}
	require.Empty(t, f.playbook(t, "dead-letters", "until=1h"), "nothing received before the test")
}

func (f *playbookFleet) testDuplicatesAndConflicts(t *testing.T) {
	t.Parallel()
	recorded := map[string]events.Event{}
	for _, e := range f.ledger {
		recorded[e.ID] = e
	}
	wantDups, wantConflicts := map[string]int64{}, map[string]int64{}
	var wantKept []string
	for id, copies := range expect(t, f.msgs).bodies {
		kept := map[string]bool{}
		for _, body := range copies[1:] {
			ev, err := events.Decode(body, 0)
			require.NoError(t, err)
			rec := recorded[id]
			if events.SameContent(&ev, &rec) {
				wantDups[string(ev.Type)]++
				continue
			}
			wantConflicts[string(ev.Type)]++
			if !kept[string(body)] {
				kept[string(body)] = true
				wantKept = append(wantKept, id+" "+string(body))
			}
		}
	}
	gotDups, gotConflicts := map[string]int64{}, map[string]int64{}
	for _, r := range f.playbook(t, "duplicates", "since=1h") {
		if n := jsonInt64(t, r["duplicates"]); n > 0 {
			gotDups[r["type"].(string)] += n
		}
		if n := jsonInt64(t, r["conflicts"]); n > 0 {
			gotConflicts[r["type"].(string)] += n
		}
	}
	require.NotEmpty(t, wantDups)
	require.NotEmpty(t, wantConflicts)
	require.Equal(t, wantDups, gotDups)
	require.Equal(t, wantConflicts, gotConflicts)

	var gotKept []string
	for _, r := range f.playbook(t, "conflicts", "since=1h") {
		require.Equal(t, string(recorded[r["event_id"].(string)].Body), r["counted_body"])
		gotKept = append(gotKept, fmt.Sprintf("%s %s", r["event_id"], r["other_body"]))
	}
	require.ElementsMatch(t, wantKept, gotKept)
}

func (f *playbookFleet) testErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".sql"), []byte(text), 0o600))
	}
	write("wipe", "-- description: Tries to write.\nDELETE FROM tally.events RETURNING id")
	write("slow", "-- description: Sleeps.\n-- param: s int default=60 Seconds.\nSELECT pg_sleep(:s)")
	env := map[string]string{"TALLY_PLAYBOOK_DIR": dir}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nope"}, 2, `unknown playbook entry "nope"; tally playbook list shows them`},
		{[]string{"entity-events"}, 2, "entity-events needs --param id=<text>"},
		{[]string{"entity-events", "--param", "id=x", "--param", "limit=ten"}, 2, `limit: "ten" is not a count (a whole number, 0 or more)`},
		{[]string{"entity-events", "--param", "id=x", "--param", "limit=-1"}, 2, `limit: "-1" is not a count (a whole number, 0 or more)`},
		{[]string{"entity-events", "--param", "id=x", "--param", "colour=red"}, 2, `entity-events has no parameter "colour"`},
		{[]string{"stuck-bookings", "--param", "status=lost"}, 2, `status: "lost" is not one of confirmed, ongoing, ended, cancelled`},
		{[]string{"duplicates", "--format", "xml"}, 2, `--format "xml": use table, csv, json`},
		{[]string{"wipe"}, 1, "wipe tried to write: the playbook is read-only (cannot execute DELETE in a read-only transaction)"},
		{[]string{"slow", "--timeout", "500ms"}, 1, "slow stopped after 500ms: the statement timeout; narrow the bracket or raise --timeout"},
	} {
		code, _, stderr := f.tallySplit(env, append([]string{"playbook", "run"}, tt.args...)...)
		require.Equal(t, tt.code, code, stderr)
		require.Contains(t, stderr, tt.want)
	}
	require.Len(t, f.ledger, len(f.fleet.ledger()), "nothing was deleted")

	code, stdout, stderr := f.tallySplit(nil, "playbook", "run", "entity-events", "--format", "json", "--param", "id=x' OR '1'='1")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "[\n]\n", stdout, "SQL in a parameter is only a value")
}

func (f *playbookFleet) testLimits(t *testing.T) {
	t.Parallel()
	bracket := []string{"--param", "since=" + utcText(f.start), "--param", "until=" + utcText(f.start.Add(48*time.Hour))}
	code, stdout, stderr := f.tallySplit(nil, append([]string{"playbook", "run", "bookings-and-payments", "--format", "csv", "--max-rows", "5"}, bracket...)...)
	require.Equal(t, 0, code, stderr)
	require.Len(t, strings.Split(strings.TrimSpace(stdout), "\n"), 6, "a header and 5 rows")
	require.Contains(t, stderr, "stopped at 5 rows, the row cap: there are more; narrow the bracket or raise --max-rows")

	// --database-url points the playbook at another database than tally's.
	other := map[string]string{"TALLY_DATABASE_URL": testdb.URLFor("tally_no_such_database")}
	code, stdout, stderr = f.tallySplit(other, "playbook", "run", "dead-letters-by-code", "--database-url", f.dbURL, "--param", "since=1h")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "invalid_json")
	require.Regexp(t, `\(\d+ rows\)\n$`, stdout)

	code, stdout, _ = f.tallySplit(nil, "playbook", "list")
	require.Equal(t, 0, code)
	for _, name := range []string{"stuck-bookings", "bookings-and-payments", "revenue-by-hour", "entity-events",
		"dead-letters-by-code", "dead-letters", "duplicates", "conflicts"} {
		require.Contains(t, stdout, name+"  (built-in)")
	}
	require.Regexp(t, `--param grace=<duration>\s+default "15m"\s+How late`, stdout)
}
