package aggregator_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/oracle"
)

var (
	seedFlag = flag.Uint64("seed", 0, "seed of TestFoldMatchesOracle (default: $TALLY_TEST_SEED, else random)")
	runsFlag = flag.Int("runs", 300, "iterations of TestFoldMatchesOracle")
)

// propertySeed returns the seed to use: -seed, then $TALLY_TEST_SEED, then
// the clock.
func propertySeed(t *testing.T) uint64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	if s := os.Getenv("TALLY_TEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "TALLY_TEST_SEED")
		return n
	}
	return uint64(time.Now().UnixNano())
}

// TestFoldMatchesOracle folds random streams of events, duplicated and
// shuffled, in random batches, each onto the states the previous ones left,
// and requires the summed deltas and final states to equal what the oracle
// recomputes from scratch.
func TestFoldMatchesOracle(t *testing.T) {
	t.Parallel()
	seed := propertySeed(t)
	t.Logf("seed %d (rerun with -seed=%d or TALLY_TEST_SEED=%d)", seed, seed, seed)
	for i := range *runsFlag {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			checkScenario(t, func(n int) int { return rng.IntN(n) })
		})
	}
}

// FuzzFold runs the same check on scenarios drawn from the fuzzer's bytes.
func FuzzFold(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("tally fold: order, duplicates and batches do not matter"))
	f.Add([]byte{39, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 255, 254, 253})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkScenario(t, func(n int) int {
			if len(b) == 0 {
				return 0
			}
			v := int(b[0])
			b = b[1:]
			return v % n
		})
	})
}

// chooser returns a number in [0, n): the source of every random choice.
type chooser func(n int) int

func checkScenario(t *testing.T, pick chooser) {
	g := gen{pick: pick}
	zones := g.zones(t)
	stream := g.stream()
	now, grace := g.time(), 15*time.Minute

	s := newFakeStore()
	for len(stream) > 0 {
		n := min(len(stream), pick(8)+1)
		s.apply(t, stream[:n], zones, pick(2) == 0)
		stream = stream[n:]
	}

	want := oracle.Recompute(s.received, zones, now, grace)
	got := s.counters
	got.Overdue = s.overdue(now.Add(-grace))
	require.Empty(t, got.Diff(want), "scenario:\n%s", describe(s.received))
	requireStatesMatch(t, s, s.received)
	require.Equal(t, pendingStarts(s.bookings), s.starts,
		"summed ConfirmedStarts deltas must count the confirmed bookings by start day; scenario:\n%s", describe(s.received))
}

type startKey struct {
	day  string
	city string
}

// pendingStarts counts the bookings still confirmed by UTC start day and
// city, from their states.
func pendingStarts(bookings map[string]aggregator.BookingState) map[startKey]int64 {
	out := map[startKey]int64{}
	for _, b := range bookings {
		if b.Status == events.StatusConfirmed && !b.StartAt.IsZero() {
			out[startKey{b.StartAt.UTC().Format(time.DateOnly), b.City}]++
		}
	}
	return out
}

// fakeStore does what the store does around Fold: it drops the copies of
// ids already recorded, folds the rest onto the prior states, saves the
// changed states and adds the deltas to the views.
type fakeStore struct {
	received []events.Event // every message, in order, copies included
	seen     map[string]bool
	cars     map[string]aggregator.CarState
	bookings map[string]aggregator.BookingState
	counters oracle.Counters
	starts   map[startKey]int64 // the summed ConfirmedStarts deltas, zero rows dropped
	folded   int
	last     time.Time
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		seen:     map[string]bool{},
		cars:     map[string]aggregator.CarState{},
		bookings: map[string]aggregator.BookingState{},
		counters: oracle.New(),
		starts:   map[startKey]int64{},
	}
}

func (s *fakeStore) apply(t *testing.T, batch []events.Event, zones aggregator.Zones, wholePrior bool) {
	s.received = append(s.received, batch...)
	var fresh []events.Event
	for _, e := range batch {
		if !s.seen[e.ID] {
			s.seen[e.ID] = true
			fresh = append(fresh, e)
		}
	}
	prior := s.prior(fresh, wholePrior)
	res, err := aggregator.Fold(prior, fresh, zones)
	require.NoError(t, err)
	require.Equal(t, len(fresh), res.Applied+res.Ignored)
	requireWellFormed(t, prior, res)
	for _, c := range res.Cars {
		s.cars[c.ID] = c
	}
	for _, b := range res.Bookings {
		s.bookings[b.ID] = b
	}
	s.counters.AddDeltas(res.Deltas)
	for _, r := range res.Deltas.ConfirmedStarts {
		k := startKey{r.Day.Format(time.DateOnly), r.City}
		require.Equal(t, r.Day, r.Day.UTC().Truncate(24*time.Hour), "a start day is a UTC midnight")
		if s.starts[k] += r.Bookings; s.starts[k] == 0 {
			delete(s.starts, k)
		}
	}
	s.folded += len(fresh)
	if res.LastEventAt.After(s.last) {
		s.last = res.LastEventAt
	}
}

// prior returns the states of the entities evs touch, as the store reads
// them, or every state when whole is set: Fold must not care.
func (s *fakeStore) prior(evs []events.Event, whole bool) aggregator.Prior {
	p := aggregator.Prior{Cars: map[string]aggregator.CarState{}, Bookings: map[string]aggregator.BookingState{}}
	if whole {
		for id, c := range s.cars {
			p.Cars[id] = c
		}
		for id, b := range s.bookings {
			p.Bookings[id] = b
		}
		return p
	}
	for _, e := range evs {
		if c, ok := s.cars[e.CarID]; ok && e.Type == events.CarStatusChanged {
			p.Cars[e.CarID] = c
		}
		if b, ok := s.bookings[e.BookingID]; ok && e.Type.Entity() == events.Booking {
			p.Bookings[e.BookingID] = b
		}
	}
	return p
}

// overdue computes overdue_bookings from the saved states, as the view does.
func (s *fakeStore) overdue(cutoff time.Time) map[string]oracle.Overdue {
	out := map[string]oracle.Overdue{}
	for _, b := range s.bookings {
		if b.Status != events.StatusConfirmed || !b.StartAt.Before(cutoff) {
			continue
		}
		o := out[b.City]
		if o.Bookings == 0 || b.StartAt.Before(o.Oldest) {
			o.Oldest = b.StartAt
		}
		o.Bookings++
		out[b.City] = o
	}
	return out
}

func requireStatesMatch(t *testing.T, s *fakeStore, received []events.Event) {
	cars, bookings := oracle.Entities(received)
	require.Len(t, s.cars, len(cars))
	for id, want := range cars {
		got := s.cars[id]
		require.Equal(t, want, oracle.Car{City: got.City, Status: got.Status}, "car %s", id)
	}
	require.Len(t, s.bookings, len(bookings))
	for id, want := range bookings {
		got := s.bookings[id]
		require.Equal(t, want, oracle.Booking{CarID: got.CarID, City: got.City, Status: got.Status, StartAt: got.StartAt},
			"booking %s", id)
	}
	require.Len(t, s.seen, s.folded)
}

// requireWellFormed checks what writers rely on: states and delta rows in
// strictly increasing key order, no zero rows, only changed states.
func requireWellFormed(t *testing.T, prior aggregator.Prior, res aggregator.Result) {
	var keys []string
	for _, c := range res.Cars {
		require.NotEqual(t, prior.Cars[c.ID], c, "unchanged car returned")
		keys = append(keys, c.ID)
	}
	requireIncreasing(t, keys)
	keys = nil
	for _, b := range res.Bookings {
		require.NotEqual(t, prior.Bookings[b.ID], b, "unchanged booking returned")
		keys = append(keys, b.ID)
	}
	requireIncreasing(t, keys)
	requireDeltasWellFormed(t, res.Deltas)
}

func requireDeltasWellFormed(t *testing.T, d aggregator.Deltas) {
	var keys []string
	for _, r := range d.ActiveCars {
		require.NotZero(t, r.Cars)
		keys = append(keys, r.City)
	}
	requireIncreasing(t, keys)
	keys = nil
	for _, r := range d.BookingsByStatus {
		require.NotZero(t, r.Bookings)
		keys = append(keys, r.City+"\x00"+r.Status)
	}
	requireIncreasing(t, keys)
	keys = nil
	for _, r := range d.DailyRevenue {
		require.NotZero(t, r.Payments+r.Refunds)
		keys = append(keys, r.Day.Format(time.DateOnly)+"\x00"+r.City+"\x00"+r.Currency)
	}
	requireIncreasing(t, keys)
	keys = nil
	for _, r := range d.DailyBookings {
		require.NotZero(t, r.Confirmed+r.Started+r.Ended+r.Cancelled)
		keys = append(keys, r.Day.Format(time.DateOnly)+"\x00"+r.City)
	}
	requireIncreasing(t, keys)
	keys = nil
	for _, r := range d.ConfirmedStarts {
		require.NotZero(t, r.Bookings)
		keys = append(keys, r.Day.Format(time.DateOnly)+"\x00"+r.City)
	}
	requireIncreasing(t, keys)
}

func requireIncreasing(t *testing.T, keys []string) {
	for i := 1; i < len(keys); i++ {
		require.Less(t, keys[i-1], keys[i], "rows out of order or repeated")
	}
}

// describe lists a scenario's events, one per line, for failure messages.
func describe(evs []events.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%-6s %-18s seq=%d at=%s car=%s booking=%s city=%s status=%s start=%s %d %s\n",
			e.ID, e.Type, e.Seq, e.OccurredAt.Format(time.RFC3339Nano), e.CarID, e.BookingID, e.City,
			e.Status, e.StartAt.Format(time.RFC3339), e.AmountMinor, e.Currency)
	}
	return b.String()
}
