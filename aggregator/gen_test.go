package aggregator_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
)

// gen draws random scenarios: a few cars, bookings, cities and currencies,
// times near daylight-saving changes and local midnights, keys that tie.
type gen struct{ pick chooser }

var (
	genCities     = []string{"paris", "lyon", "nyc", "jakarta"}
	genCurrencies = []string{"EUR", "USD", "IDR"}
	genIDPrefixes = []string{"e", "E", "ev-", "é", "e-1"}
	genAmounts    = []int64{1, 99, 1250, 1 << 40}
	genZones      = [][2]string{
		{"Europe/Paris", "nyc=America/New_York,jakarta=Asia/Jakarta"},
		{"UTC", "paris=Europe/Paris,lyon=Europe/Paris,nyc=America/New_York"},
		{"America/New_York", ""},
	}
	// Instants where a local day starts or a clock jumps, in UTC.
	genAnchors = []string{
		"2026-03-29T01:00:00Z", // Paris springs forward: a 23-hour day
		"2026-10-25T01:00:00Z", // Paris falls back: a 25-hour day
		"2026-03-28T23:00:00Z", // midnight in Paris
		"2026-03-29T22:00:00Z", // midnight in Paris, after the change
		"2026-10-25T23:00:00Z", // midnight in Paris, after the change
		"2026-03-08T07:00:00Z", // New York springs forward
		"2026-11-01T06:00:00Z", // New York falls back
		"2026-03-09T04:00:00Z", // midnight in New York
		"2026-11-02T05:00:00Z", // midnight in New York
		"2026-03-28T17:00:00Z", // midnight in Jakarta
		"2026-03-29T00:00:00Z", // midnight in UTC
	}
	genOffsets = []time.Duration{
		0, 0, time.Microsecond, -time.Microsecond, time.Second, -time.Second,
		30 * time.Minute, -30 * time.Minute, time.Hour, -time.Hour, 2 * time.Hour, 23 * time.Hour, -25 * time.Hour,
	}
)

func (g gen) one(xs []string) string { return xs[g.pick(len(xs))] }

func (g gen) zones(t *testing.T) aggregator.Zones {
	z := genZones[g.pick(len(genZones))]
	zones, err := aggregator.ParseZones(z[0], z[1])
	require.NoError(t, err)
	return zones
}

func (g gen) time() time.Time {
	at, err := time.Parse(time.RFC3339, g.one(genAnchors))
	if err != nil {
		panic(err)
	}
	return at.Add(genOffsets[g.pick(len(genOffsets))]).UTC()
}

// event draws an event with the given id.
func (g gen) event(id string) events.Event {
	e := events.Event{ID: id, OccurredAt: g.time(), Seq: int64(g.pick(4)), City: g.one(genCities)}
	switch k := g.pick(10); {
	case k < 3:
		e.Type = events.CarStatusChanged
		e.CarID = "car-" + strconv.Itoa(g.pick(4))
		e.Status = []string{events.CarActive, events.CarActive, events.CarMaintenance, events.CarRetired}[g.pick(4)]
	case k < 7:
		e.Type = events.KnownTypes[1+g.pick(4)]
		e.BookingID, e.CarID = "bk-"+strconv.Itoa(g.pick(5)), "car-"+strconv.Itoa(g.pick(4))
		if e.Type == events.BookingConfirmed {
			e.StartAt = g.time()
			e.EndAt = e.StartAt.Add(time.Hour)
		}
	case k < 9:
		e.Type = []events.Type{events.PaymentCaptured, events.PaymentRefunded}[k-7]
		e.PaymentID, e.Currency = "pay-"+strconv.Itoa(g.pick(3)), g.one(genCurrencies)
		e.AmountMinor = genAmounts[g.pick(len(genAmounts))]
	default:
		// Unknown types may carry anything; they must change nothing.
		e.Type = "car.renamed"
		e.CarID, e.BookingID, e.Status = "car-0", "bk-0", events.CarActive
	}
	return e
}

// stream draws up to 40 distinct events and returns them shuffled, some
// delivered up to three times, some of those copies with other content (a
// conflicting duplicate: the first delivered copy counts).
func (g gen) stream() []events.Event {
	var out []events.Event
	for i := range g.pick(40) + 1 {
		id := g.one(genIDPrefixes) + strconv.Itoa(i)
		e := g.event(id)
		out = append(out, e)
		for range g.pick(3) {
			if g.pick(3) == 0 {
				e = g.event(id)
			}
			out = append(out, e)
		}
	}
	for i := len(out) - 1; i > 0; i-- {
		j := g.pick(i + 1)
		out[i], out[j] = out[j], out[i]
	}
	return out
}
