package fleetsim

import (
	"time"

	"github.com/tallyhq/tally/events"
)

func (g *gen) carEvent(c *car, at time.Time, status string) *event {
	return &event{typ: events.CarStatusChanged, at: at, car: c, status: status}
}

func (g *gen) bookingEvent(typ events.Type, at time.Time, c *car, id string) *event {
	return &event{typ: typ, at: at, car: c, bookingID: id}
}

// bookingTick books a car at t, starting 15 minutes to 6 hours later and
// not before its previous booking ends, and schedules the next tick. A car
// booked more than a day ahead is not booked again.
func (g *gen) bookingTick(c *car, t time.Time) {
	if c.gone {
		return
	}
	g.schedule(actBook, c, t.Add(g.exp(g.bookingGap)))
	start := t.Add(g.uniform(15*time.Minute, 6*time.Hour))
	if free := c.freeAt.Add(g.uniform(5*time.Minute, 30*time.Minute)); free.After(start) {
		start = free
	}
	if start.Sub(t) > 24*time.Hour {
		return
	}
	g.book(c, t, start)
}

// book queues a booking confirmed at t: cancelled before it starts
// (CancelRate), or started within minutes of start, ended around its
// planned end, and paid for.
func (g *gen) book(c *car, t, start time.Time) {
	id := g.nextID("bk", &g.nBooking)
	var seq int64
	seqs := &seq
	if g.chance(g.cfg.NoSeqRate) {
		seqs = nil
	}
	planned := g.uniform(30*time.Minute, 4*time.Hour)
	confirmed := g.bookingEvent(events.BookingConfirmed, t, c, id)
	confirmed.startAt, confirmed.endAt = start, start.Add(planned)
	if g.chance(g.cfg.CancelRate) {
		at := t.Add(g.uniform(time.Minute, start.Sub(t)))
		g.entity(seqs, confirmed, g.bookingEvent(events.BookingCancelled, at, c, id))
		return
	}
	startedAt := start.Add(g.uniform(-3*time.Minute, 5*time.Minute))
	endedAt := startedAt.Add(planned + g.uniform(-10*time.Minute, 20*time.Minute))
	c.freeAt = endedAt
	g.entity(seqs, confirmed,
		g.bookingEvent(events.BookingStarted, startedAt, c, id),
		g.bookingEvent(events.BookingEnded, endedAt, c, id))
	g.payment(c, id, endedAt, planned)
}

// payment queues the capture of a booking's price a few seconds to minutes
// after it ended and, at RefundRate, its refunds.
func (g *gen) payment(c *car, bookingID string, ended time.Time, planned time.Duration) {
	at := ended.Add(g.uniform(5*time.Second, 5*time.Minute))
	if !at.Before(g.end) {
		return
	}
	amount := int64(float64(pricePerMinute(c.currency)) * planned.Minutes() * (0.8 + 0.4*g.rnd.Float64()))
	p := &event{
		typ: events.PaymentCaptured, at: at, car: c, bookingID: bookingID,
		paymentID: g.nextID("pay", &g.nPayment), amount: max(amount, 1),
	}
	g.push(at, p)
	if g.chance(g.cfg.RefundRate) {
		g.refunds(p)
	}
}

// refunds queues a full refund of a payment, or a partial one that a
// second partial refund sometimes follows.
func (g *gen) refunds(p *event) {
	full := g.chance(0.5)
	amount := p.amount
	if !full {
		amount = max(1, int64(float64(p.amount)*(0.1+0.5*g.rnd.Float64())))
	}
	at := p.at.Add(g.uniform(10*time.Minute, 48*time.Hour))
	g.refund(p, at, amount)
	if rest := p.amount - amount; !full && rest > 0 && g.chance(0.25) {
		g.refund(p, at.Add(g.uniform(10*time.Minute, 24*time.Hour)), 1+g.rnd.Int64N(rest))
	}
}

func (g *gen) refund(p *event, at time.Time, amount int64) {
	if at.Before(g.end) {
		g.push(at, &event{typ: events.PaymentRefunded, at: at, car: p.car, paymentID: p.paymentID, amount: amount})
	}
}

// statusTick sends a free car to maintenance for 2 to 30 hours, or retires
// it (at RetireRate's share), half the time for good and otherwise for one
// to three days. A car that is booked waits until it is free.
func (g *gen) statusTick(c *car, t time.Time) {
	if c.gone {
		return
	}
	if c.freeAt.After(t) {
		g.schedule(actStatus, c, c.freeAt.Add(g.uniform(time.Minute, 30*time.Minute)))
		return
	}
	status, back := events.CarMaintenance, t.Add(g.uniform(2*time.Hour, 30*time.Hour))
	if g.rnd.Float64()*(g.cfg.MaintenanceRate+g.cfg.RetireRate) < g.cfg.RetireRate {
		status, back = events.CarRetired, t.Add(g.uniform(24*time.Hour, 72*time.Hour))
		c.gone = g.chance(0.5)
	}
	if c.gone {
		g.entity(c.seqs(), g.carEvent(c, t, status))
		return
	}
	c.freeAt = back
	g.entity(c.seqs(), g.carEvent(c, t, status), g.carEvent(c, back, events.CarActive))
	g.schedule(actStatus, c, back.Add(g.exp(g.statusGap)))
}

// overdueBooking queues a booking of a random car, confirmed and never
// started, whose start_at lies 30 minutes to 4 hours before the end.
func (g *gen) overdueBooking() {
	c := g.cars[g.rnd.IntN(len(g.cars))]
	start := g.end.Add(-g.uniform(30*time.Minute, 4*time.Hour))
	at := start.Add(-g.uniform(10*time.Minute, 3*time.Hour))
	if at.Before(g.start) {
		at = g.start
	}
	e := g.bookingEvent(events.BookingConfirmed, at, c, g.nextID("bk", &g.nBooking))
	e.startAt, e.endAt = start, start.Add(g.uniform(30*time.Minute, 4*time.Hour))
	if !g.chance(g.cfg.NoSeqRate) {
		e.seq = 1
	}
	g.push(at, e)
}

// pricePerMinute is a plausible price in minor units of the currency.
func pricePerMinute(currency string) int64 {
	switch currency {
	case "IDR":
		return 250000 // 2,500 rupiah
	case "JPY":
		return 40
	case "USD":
		return 45
	case "SGD", "AUD":
		return 60
	}
	return 35
}

// cityOffsets are the UTC offsets, in hours, that publishers in some cities
// write their bookings' timestamps with (fixed, as a publisher formatting
// local time would); other cities and other events use UTC.
var cityOffsets = map[string]int{
	"jakarta": 7, "paris": 1, "berlin": 1, "madrid": 1, "amsterdam": 1,
	"new_york": -5, "san_francisco": -8, "tokyo": 9, "singapore": 8, "sydney": 10,
}

func cityZone(city string) *time.Location {
	if h, ok := cityOffsets[city]; ok {
		return time.FixedZone(city, h*3600)
	}
	return time.UTC
}
