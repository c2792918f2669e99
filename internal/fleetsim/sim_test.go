package fleetsim_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
)

func TestMessagesAreDeterministic(t *testing.T) {
	t.Parallel()

	s := newSim(t, fleetsim.Troubled(42))
	first := s.All()
	require.Equal(t, first, newSim(t, fleetsim.Troubled(42)).All(), "same config, new Sim")
	require.Equal(t, first, s.All(), "same Sim, second iteration")
	require.NotEqual(t, first, newSim(t, fleetsim.Troubled(43)).All(), "another seed")
}

func TestMessagesStopsWhenAsked(t *testing.T) {
	t.Parallel()

	n := 0
	for range newSim(t, fleetsim.Troubled(1)).Messages {
		n++
		if n == 10 {
			break
		}
	}
	require.Equal(t, 10, n)
}

func TestBadMessagesFailWithTheirCode(t *testing.T) {
	t.Parallel()

	small := fleetsim.Troubled(2)
	small.MaxEventBytes = 2000
	small.BadRate = 0.5
	heavy := fleetsim.Troubled(1)
	heavy.BadRate = 0.3
	for _, cfg := range []fleetsim.Config{heavy, small, fleetsim.DemoDay(3, time.Now())} {
		s := newSim(t, cfg)
		kinds := map[string]int{}
		for m := range s.Messages {
			ev, err := events.Decode(m.Body, s.Config().MaxEventBytes)
			if !m.Bad {
				require.NoError(t, err, "%s", short(m.Body))
				require.Equal(t, m.Subject, string(ev.Type))
				require.Equal(t, m.Unknown, !ev.Known())
				require.Contains(t, []string{"", ev.ID}, m.MsgID)
				continue
			}
			require.Equal(t, m.ExpectCode, events.CodeOf(err), "kind %s: %s", m.BadKind, short(m.Body))
			require.NotEmpty(t, m.Subject)
			require.Empty(t, m.MsgID)
			kinds[m.BadKind]++
		}
		if cfg.BadRate >= 0.3 {
			require.ElementsMatch(t, fleetsim.BadKinds(), slices.Collect(maps.Keys(kinds)))
		}
	}
}

// TestBodiesAreWhatPublishersWrite checks that every valid body of a known
// type is byte for byte what events.Draft.Encode writes for its event.
func TestBodiesAreWhatPublishersWrite(t *testing.T) {
	t.Parallel()

	for _, d := range decodeValid(t, newSim(t, fleetsim.Troubled(3))) {
		if d.Unknown {
			continue
		}
		var times struct {
			OccurredAt time.Time `json:"occurred_at"` // keeps the offset
			Data       struct {
				StartAt time.Time `json:"start_at"`
				EndAt   time.Time `json:"end_at"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(d.Body, &times))
		e := d.ev
		draft := events.Draft{ID: e.ID, Type: e.Type, OccurredAt: times.OccurredAt, Seq: e.Seq}
		switch e.Type {
		case events.CarStatusChanged:
			draft.Data = events.CarStatus{CarID: e.CarID, City: e.City, Status: e.Status}
		case events.BookingConfirmed:
			draft.Data = events.BookingConfirmation{BookingID: e.BookingID, CarID: e.CarID, City: e.City,
				StartAt: times.Data.StartAt, EndAt: times.Data.EndAt}
		case events.PaymentCaptured:
			draft.Data = events.PaymentCapture{PaymentID: e.PaymentID, BookingID: e.BookingID, City: e.City,
				AmountMinor: e.AmountMinor, Currency: e.Currency}
		case events.PaymentRefunded:
			draft.Data = events.PaymentRefund{PaymentID: e.PaymentID, City: e.City, AmountMinor: e.AmountMinor, Currency: e.Currency}
		default:
			draft.Data = events.BookingChange{BookingID: e.BookingID, CarID: e.CarID, City: e.City}
		}
		body, err := draft.Encode()
		require.NoError(t, err)
		require.Equal(t, string(body), string(d.Body))
	}
}

func TestIDsAreUniqueButForCopies(t *testing.T) {
	t.Parallel()

	first := map[string]decoded{}
	last := ""
	for _, d := range decodeValid(t, newSim(t, fleetsim.Troubled(4))) {
		prior, seen := first[d.ev.ID]
		switch {
		case d.Duplicate:
			require.True(t, seen, "duplicate of an event not yet emitted: %s", d.Body)
			require.Equal(t, prior.Body, d.Body)
		case d.Conflict:
			require.True(t, seen, "conflicting copy of an event not yet emitted: %s", d.Body)
			require.False(t, events.SameContent(&prior.ev, &d.ev), "conflict with the same content: %s", d.Body)
		default:
			require.False(t, seen, "id %s repeats", d.ev.ID)
			require.Greater(t, d.ev.ID, last, "ids follow emission order")
			require.True(t, strings.HasPrefix(d.ev.ID, "s4-"))
			first[d.ev.ID], last = d, d.ev.ID
		}
	}
}

func TestRunPrefixSeparatesRuns(t *testing.T) {
	t.Parallel()

	ids := func(prefix string) map[string]bool {
		cfg := fleetsim.DefaultConfig(5)
		cfg.RunPrefix = prefix
		out := map[string]bool{}
		for _, e := range originals(decodeValid(t, newSim(t, cfg))) {
			for _, id := range []string{e.ID, e.CarID, e.BookingID, e.PaymentID} {
				require.True(t, id == "" || strings.HasPrefix(id, prefix+"-"), id)
				out[id] = id != ""
			}
		}
		return out
	}
	a, b := ids("run-a"), ids("run-b")
	for id, ok := range a {
		require.False(t, ok && b[id], "runs share id %s", id)
	}
	require.Equal(t, a, ids("run-a"))
}

func TestReorderedEventsFollowAGreaterKey(t *testing.T) {
	t.Parallel()

	greatest := map[string]events.Key{}
	reordered := 0
	for _, d := range decodeValid(t, newSim(t, fleetsim.Troubled(6))) {
		id := string(d.ev.Type.Entity()) + "/" + d.ev.EntityID()
		if d.ev.Type.Entity() == events.NoEntity || d.Duplicate || d.Conflict {
			require.False(t, d.Reordered)
			continue
		}
		k, seen := greatest[id]
		late := seen && d.ev.Key().Less(k)
		require.Equal(t, late, d.Reordered, "%s", d.Body)
		if !late {
			greatest[id] = d.ev.Key()
		} else {
			reordered++
		}
	}
	require.Positive(t, reordered)
}

func TestRatesRoughlyHold(t *testing.T) {
	t.Parallel()

	cfg := fleetsim.Troubled(7)
	cfg.Days, cfg.CarsPerCity = 5, 25
	cfg.DuplicateRate, cfg.ConflictRate, cfg.BadRate, cfg.UnknownTypeRate = 0.1, 0.05, 0.05, 0.05
	cfg.ReorderRate, cfg.NoMsgIDRate, cfg.NoSeqRate, cfg.CancelRate = 0.1, 0.2, 0.2, 0.1
	s := newSim(t, cfg)
	st := fleetsim.Summarize(s.Messages)
	base := float64(st.Events() - st.Unknown) // business events, each may bring trouble
	requireNear(t, cfg.DuplicateRate*base, float64(st.Duplicates), 0.2, "duplicates")
	requireNear(t, cfg.ConflictRate*base, float64(st.Conflicts), 0.25, "conflicts")
	requireNear(t, cfg.BadRate*base, float64(st.Bad), 0.25, "bad")
	requireNear(t, cfg.UnknownTypeRate*base, float64(st.Unknown), 0.25, "unknown")
	requireNear(t, cfg.CancelRate*float64(st.Originals[events.BookingConfirmed]),
		float64(st.Originals[events.BookingCancelled]), 0.25, "cancelled")
	expected := float64(len(fleetsim.DefaultCities)*cfg.CarsPerCity*cfg.Days) * fleetsim.DefaultBookingsPerCarPerDay
	requireNear(t, expected, float64(st.Originals[events.BookingConfirmed]), 0.2, "bookings")

	ds := decodeValid(t, s)
	withoutID := 0
	for _, d := range ds {
		if !d.Duplicate && !d.Conflict && d.MsgID == "" {
			withoutID++
		}
	}
	requireNear(t, cfg.NoMsgIDRate*float64(st.Events()), float64(withoutID), 0.2, "events without Nats-Msg-Id")
	noSeq, entityEvents := 0, 0
	for _, e := range originals(ds) {
		if e.Type == events.BookingConfirmed && e.Seq == 0 {
			noSeq++
		}
		if e.Type.Entity() != events.NoEntity {
			entityEvents++
		}
	}
	requireNear(t, cfg.NoSeqRate*float64(st.Originals[events.BookingConfirmed]), float64(noSeq), 0.25, "bookings without seq")
	// Only events with a successor can be reordered: about two in three.
	requireNear(t, cfg.ReorderRate*float64(entityEvents)*0.6, float64(st.Reordered), 0.35, "reordered")
}

func TestFleetStory(t *testing.T) {
	t.Parallel()

	s := newSim(t, fleetsim.Troubled(8))
	ds := decodeValid(t, s)
	evs := originals(ds)
	types := map[events.Type]bool{}
	for _, e := range evs {
		types[e.Type] = true
		require.False(t, e.OccurredAt.Before(s.Config().Start), "%s before the start", e.ID)
		require.True(t, e.OccurredAt.Before(s.End()), "%s after the end", e.ID)
	}
	require.ElementsMatch(t, events.KnownTypes, slices.Collect(maps.Keys(types)))
	requireCarStories(t, byEntity(evs, events.Car))
	requireBookingStories(t, byEntity(evs, events.Booking))
	requirePayments(t, evs)

	offsets := 0
	for _, d := range ds {
		if strings.Contains(string(d.Body), `+07:00"`) {
			offsets++
		}
	}
	require.Positive(t, offsets, "Jakarta's bookings are written with their offset")
}

// requireCarStories checks that cars start active, that some are retired
// and re-activated, and that some publishers omit seq.
func requireCarStories(t *testing.T, cars map[string][]events.Event) {
	t.Helper()
	reactivated, withSeq, withoutSeq := 0, 0, 0
	for id, evs := range cars {
		require.Equal(t, events.CarActive, evs[0].Status, "car %s starts active", id)
		for i := 1; i < len(evs); i++ {
			require.True(t, evs[i].OccurredAt.After(evs[i-1].OccurredAt), "car %s: seq and time agree", id)
			if evs[i-1].Status == events.CarRetired && evs[i].Status == events.CarActive {
				reactivated++
			}
		}
		if evs[0].Seq == 0 {
			withoutSeq++
		} else {
			withSeq++
		}
	}
	require.Positive(t, reactivated)
	require.Positive(t, withSeq)
	require.Positive(t, withoutSeq)
}

// requireBookingStories checks each booking's lifecycle, in key order.
func requireBookingStories(t *testing.T, bookings map[string][]events.Event) {
	t.Helper()
	lifecycles := [][]events.Type{
		{events.BookingConfirmed, events.BookingStarted, events.BookingEnded},
		{events.BookingConfirmed, events.BookingCancelled},
	}
	for id, evs := range bookings {
		types := make([]events.Type, len(evs))
		for i, e := range evs {
			types[i] = e.Type
		}
		ok := false
		for _, l := range lifecycles {
			ok = ok || len(types) <= len(l) && slices.Equal(types, l[:len(types)])
		}
		require.True(t, ok, "booking %s: %v", id, types)
		require.True(t, evs[0].EndAt.After(evs[0].StartAt))
		require.True(t, evs[0].StartAt.After(evs[0].OccurredAt))
	}
}

// requirePayments checks that payments follow ended bookings in the city's
// currency and that refunds never exceed the payment.
func requirePayments(t *testing.T, evs []events.Event) {
	t.Helper()
	ended := map[string]bool{}
	left := map[string]int64{}
	partial, full := 0, 0
	for _, e := range evs {
		switch e.Type {
		case events.BookingEnded:
			ended[e.BookingID] = true
		case events.PaymentCaptured:
			require.True(t, ended[e.BookingID], "payment %s before its booking ended", e.PaymentID)
			require.Equal(t, fleetsim.DefaultCurrencies[e.City], e.Currency)
			left[e.PaymentID] = e.AmountMinor
		case events.PaymentRefunded:
			require.LessOrEqual(t, e.AmountMinor, left[e.PaymentID], "refund %s", e.ID)
			if e.AmountMinor == left[e.PaymentID] {
				full++
			} else {
				partial++
			}
			left[e.PaymentID] -= e.AmountMinor
		}
	}
	require.Positive(t, partial)
	require.Positive(t, full)
}

func TestOverdueBookings(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 5, 4, 15, 30, 0, 0, time.UTC)
	for _, cfg := range []fleetsim.Config{fleetsim.Troubled(9), fleetsim.DemoDay(9, now)} {
		s := newSim(t, cfg)
		require.Positive(t, s.OverdueBookings())
		overdue := 0
		for id, evs := range byEntity(originals(decodeValid(t, s)), events.Booking) {
			latest := evs[len(evs)-1]
			if latest.Type != events.BookingConfirmed || latest.StartAt.After(s.End().Add(-15*time.Minute)) {
				continue
			}
			overdue++
			require.False(t, latest.StartAt.Before(s.End().Add(-4*time.Hour)), "booking %s", id)
			require.False(t, latest.StartAt.After(s.End().Add(-30*time.Minute)), "booking %s", id)
		}
		require.Equal(t, s.OverdueBookings(), overdue)
	}
}

func TestDemoDay(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 5, 4, 15, 30, 0, 0, time.UTC)
	s := newSim(t, fleetsim.DemoDay(1, now))
	require.Equal(t, now, s.End())
	require.Equal(t, 5, s.OverdueBookings())
	st := fleetsim.Summarize(s.Messages)
	require.GreaterOrEqual(t, st.Messages, 300)
	require.LessOrEqual(t, st.Messages, 5000)
	require.Positive(t, st.Duplicates)
	require.Positive(t, st.Bad)
	require.Positive(t, st.Unknown)
	for _, e := range originals(decodeValid(t, s)) {
		require.True(t, e.OccurredAt.Before(now), "%s occurs after now", e.ID)
	}
	later := newSim(t, fleetsim.DemoDay(1, now.Add(time.Hour))).Config()
	require.NotEqual(t, s.Config().RunPrefix, later.RunPrefix, "each demo publishes new ids")
}

func TestValidate(t *testing.T) {
	t.Parallel()

	require.NoError(t, fleetsim.Config{}.Validate())
	for name, change := range map[string]func(c *fleetsim.Config){
		"Start":                func(c *fleetsim.Config) { c.Start = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"Days":                 func(c *fleetsim.Config) { c.Days = -1 },
		"CarsPerCity":          func(c *fleetsim.Config) { c.CarsPerCity = 100000 },
		"BookingsPerCarPerDay": func(c *fleetsim.Config) { c.BookingsPerCarPerDay = -2 },
		"MaxEventBytes":        func(c *fleetsim.Config) { c.MaxEventBytes = 100 },
		"RunPrefix":            func(c *fleetsim.Config) { c.RunPrefix = strings.Repeat("p", 41) },
		`city "a b"`:           func(c *fleetsim.Config) { c.Cities = []string{"a b"} },
		`city "x" is listed`:   func(c *fleetsim.Config) { c.Cities = []string{"x", "x"} },
		`currency "eur"`:       func(c *fleetsim.Config) { c.Currencies = map[string]string{"paris": "eur"} },
		"DuplicateRate":        func(c *fleetsim.Config) { c.DuplicateRate = 1.5 },
		"ConflictRate":         func(c *fleetsim.Config) { c.ConflictRate = -0.1 },
	} {
		cfg := fleetsim.DefaultConfig(1)
		change(&cfg)
		_, err := fleetsim.New(cfg)
		require.ErrorContains(t, err, name)
	}
}
