package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tallyhq/tally/internal/app"
	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/store"
)

func publish(ctx context.Context, m *app.Main, cfg config.Config, sim *fleetsim.Sim, out io.Writer) error {
	prefix := strings.TrimSuffix(strings.TrimSuffix(cfg.Subjects, ">"), ".")
	st := fleetsim.Summarize(sim.Messages)
	fmt.Fprintf(out, "Publishing a simulated day of %d cars in %s: %d messages on %s.* "+
		"(%d duplicates, %d conflicting copies, %d invalid, %d of unknown types).\n",
		sim.Config().CarsPerCity*len(sim.Config().Cities), strings.Join(sim.Config().Cities, ", "),
		st.Messages, prefix, st.Duplicates, st.Conflicts, st.Bad, st.Unknown)
	n, err := fleetsim.Publish(ctx, m.JS, prefix, sim.Messages, nil)
	if err != nil {
		return fmt.Errorf("publish the demo day (%d published): %w", n, err)
	}
	return nil
}

// waitCounted waits until the consumer has nothing pending or awaiting
// ack, showing progress every second.
func waitCounted(ctx context.Context, m *app.Main, out io.Writer) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		c, err := m.JS.Consumer(ctx, m.Config.Stream, m.Config.Consumer)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		left := info.NumPending + uint64(info.NumAckPending)
		if left == 0 {
			fmt.Fprintln(out, "Every message is counted.")
			return waitObserved(ctx, m, time.Now())
		}
		fmt.Fprintf(out, "  %d messages still pending...\n", left)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("the worker did not count the demo day within 2 minutes: see its log above")
}

func report(ctx context.Context, s *store.Store, sim *fleetsim.Sim, out io.Writer) error {
	v, err := s.ReadViews(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	section(w, "tally.active_cars", "city\tcars")
	for _, r := range v.ActiveCars {
		fmt.Fprintf(w, "%s\t%d\n", r.City, r.Cars)
	}
	section(w, "tally.bookings_by_status", "city\tstatus\tbookings")
	for _, r := range v.BookingsByStatus {
		fmt.Fprintf(w, "%s\t%s\t%d\n", r.City, r.Status, r.Bookings)
	}
	section(w, "tally.daily_revenue (amounts in minor units)", "day\tcity\tcurrency\tgross_minor\trefunded_minor\tnet_minor\tpayments\trefunds")
	for _, r := range v.DailyRevenue {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", r.Day.Format(time.DateOnly), r.City, r.Currency,
			r.GrossMinor, r.RefundedMinor, r.NetMinor, r.Payments, r.Refunds)
	}
	section(w, "tally.daily_bookings", "day\tcity\tconfirmed\tstarted\tended\tcancelled")
	for _, r := range v.DailyBookings {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\n", r.Day.Format(time.DateOnly), r.City, r.Confirmed, r.Started, r.Ended, r.Cancelled)
	}
	section(w, "tally.overdue_bookings (confirmed, never started, past the grace period)", "city\tbookings\toldest start")
	for _, r := range v.OverdueBookings {
		fmt.Fprintf(w, "%s\t%d\t%s\n", r.City, r.Bookings, r.OldestStartAt.Format(time.RFC3339))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	freshness(out, v.Freshness)
	return deadLetters(ctx, s, out)
}

func section(w io.Writer, title, header string) {
	fmt.Fprintf(w, "\n%s\n%s\n", title, header)
}

func freshness(out io.Writer, f store.Freshness) {
	if f.AppliedAt == nil {
		return
	}
	pending := int64(0)
	if f.Pending != nil {
		pending = *f.Pending
	}
	fmt.Fprintf(out, "\ntally.freshness: last commit %s, newest event %s, %d messages pending.\n",
		f.AppliedAt.Local().Format(time.TimeOnly), f.LastEventAt.Local().Format(time.TimeOnly), pending)
}

func deadLetters(ctx context.Context, s *store.Store, out io.Writer) error {
	counts, err := s.DeadLettersByCode(ctx)
	if err != nil {
		return err
	}
	var parts []string
	for _, c := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", c.Count, c.Code))
	}
	fmt.Fprintf(out, "Dead letters (kept in tally.dead_letters and the dead-letter stream): %s.\n", strings.Join(parts, ", "))
	return nil
}

func whereToLook(out io.Writer, cfg config.Config, m *app.Main) {
	db := store.Describe(cfg.DatabaseURL)
	fmt.Fprintf(out, "\nWhere to look:\n")
	fmt.Fprintf(out, "  psql %s -c 'SELECT * FROM tally.active_cars'     # and the other tally.* views\n", db)
	fmt.Fprintf(out, "  psql %s -c 'SELECT code, detail FROM tally.dead_letters'\n", db)
	if a := m.Addr(); a != nil {
		fmt.Fprintf(out, "  http://%s/metrics, /readyz, /livez                 (while the worker runs)\n", a)
	}
	fmt.Fprintf(out, "  tally run                                            # keep counting; or: tally demo --keep-running\n")
}

// waitObserved waits until tally.freshness holds a backlog measured after
// since, so the report does not show a stale pending count.
func waitObserved(ctx context.Context, m *app.Main, since time.Time) error {
	deadline := since.Add(4*m.Config.PendingInterval + time.Second)
	for time.Now().Before(deadline) {
		f, err := m.Store.ReadFreshness(ctx)
		if err != nil {
			return err
		}
		if f.ObservedAt != nil && f.ObservedAt.After(since) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
