package fleetsim

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/tallyhq/tally/events"
)

// car is a simulated car. Its events carry seq from its own counter.
type car struct {
	id, city, currency string
	zone               *time.Location // of its bookings' timestamps
	seq                int64          // last seq given
	noSeq              bool
	freeAt             time.Time // when its last booking or status episode ends
	gone               bool      // retired for good
}

// seqs returns the counter of the car's seq, or nil when its publisher
// omits seq.
func (c *car) seqs() *int64 {
	if c.noSeq {
		return nil
	}
	return &c.seq
}

// event is a business event waiting in the queue; its id is given when it
// is emitted, so that ids follow emission order.
type event struct {
	typ            events.Type
	at             time.Time
	seq            int64
	car            *car
	status         string // car.status_changed
	bookingID      string
	startAt, endAt time.Time // booking.confirmed
	paymentID      string
	amount         int64
	reordered      bool
}

// gen is one run of a simulation. All randomness comes from one seeded
// source, drawn in a fixed order.
type gen struct {
	cfg        *Config
	rnd        *rand.Rand
	start, end time.Time
	overdue    int
	bookingGap time.Duration // mean time between bookings of a car
	statusGap  time.Duration // mean time between status episodes of a car
	queue      queue
	cars       []*car

	nEvent, nBooking, nPayment int64
	nBad, nUnknown             int
	scratch                    []byte
}

func newGen(s *Sim) *gen {
	g := &gen{
		cfg:        &s.cfg,
		rnd:        rand.New(rand.NewPCG(uint64(s.cfg.Seed), 0x7a11f1ee7)),
		start:      s.cfg.Start,
		end:        s.end,
		overdue:    s.overdue,
		bookingGap: time.Duration(float64(24*time.Hour) / s.cfg.BookingsPerCarPerDay),
	}
	if r := s.cfg.MaintenanceRate + s.cfg.RetireRate; r > 0 {
		g.statusGap = time.Duration(float64(24*time.Hour) / r)
	}
	return g
}

// setup creates the fleet, each car activated in the first half hour, and
// the overdue bookings.
func (g *gen) setup() {
	for _, city := range g.cfg.Cities {
		for i := range g.cfg.CarsPerCity {
			c := g.newCar(city, i+1)
			g.cars = append(g.cars, c)
			at := g.start.Add(g.uniform(0, 30*time.Minute))
			c.freeAt = at
			g.entity(c.seqs(), g.carEvent(c, at, events.CarActive))
			g.schedule(actBook, c, at.Add(g.exp(g.bookingGap)))
			if g.statusGap > 0 {
				g.schedule(actStatus, c, at.Add(g.exp(g.statusGap)))
			}
		}
	}
	for range g.overdue {
		g.overdueBooking()
	}
}

func (g *gen) newCar(city string, n int) *car {
	b := append([]byte(g.cfg.RunPrefix), "-car-"...)
	b = append(b, city...)
	b = appendPadded(append(b, '-'), int64(n), 5)
	return &car{
		id: string(b), city: city, currency: g.cfg.currency(city),
		zone: cityZone(city), noSeq: g.chance(g.cfg.NoSeqRate),
	}
}

// step does what an item asks and reports whether to go on.
func (g *gen) step(it item, yield func(Message) bool) bool {
	switch it.what {
	case actBook:
		g.bookingTick(it.car, time.Unix(0, it.at).UTC())
	case actStatus:
		g.statusTick(it.car, time.Unix(0, it.at).UTC())
	case actCopy:
		return yield(*it.msg)
	case actEmit:
		return g.emit(it.at, it.ev, yield)
	}
	return true
}

// schedule queues an action for a car, unless it falls after the period.
func (g *gen) schedule(what action, c *car, at time.Time) {
	if at.Before(g.end) {
		g.queue.push(item{at: at.UnixNano(), what: what, car: c})
	}
}

// push queues an event for emission at a time, its occurred_at or later.
func (g *gen) push(at time.Time, e *event) {
	g.queue.push(item{at: at.UnixNano(), what: actEmit, ev: e})
}

// entity queues the events of one entity, in occurred_at order, dropping
// those after the period, numbering them from seq when it is not nil, and
// emitting some (ReorderRate) after their successor.
func (g *gen) entity(seq *int64, evs ...*event) {
	for i, e := range evs {
		if !e.at.Before(g.end) {
			evs = evs[:i]
			break
		}
	}
	for _, e := range evs {
		if seq != nil {
			*seq++
			e.seq = *seq
		}
	}
	var next time.Time // emission time of the successor
	for i := len(evs) - 1; i >= 0; i-- {
		at := evs[i].at
		if i < len(evs)-1 && g.chance(g.cfg.ReorderRate) {
			at = next.Add(g.uniform(time.Second, 10*time.Minute))
			evs[i].reordered = true
		}
		g.push(at, evs[i])
		next = at
	}
}

// emit yields an original event, then the trouble that may follow it.
func (g *gen) emit(now int64, e *event, yield func(Message) bool) bool {
	id := g.nextID("ev", &g.nEvent)
	m := Message{Subject: string(e.typ), Body: g.encode(id, e), Reordered: e.reordered}
	if !g.chance(g.cfg.NoMsgIDRate) {
		m.MsgID = id
	}
	if !yield(m) {
		return false
	}
	g.copies(now, id, e, m.Body)
	if g.chance(g.cfg.BadRate) && !yield(g.bad(e)) {
		return false
	}
	if g.chance(g.cfg.UnknownTypeRate) && !yield(g.unknown(e)) {
		return false
	}
	return true
}

// copies queues a duplicate (soon or up to a day later) and a conflicting
// copy (up to two days later) of an event just emitted, at their rates.
func (g *gen) copies(now int64, id string, e *event, body []byte) {
	if g.chance(g.cfg.DuplicateRate) {
		d := &Message{Subject: string(e.typ), Body: body, Duplicate: true}
		if g.chance(0.5) {
			d.MsgID = id
		}
		delay := g.uniform(0, 2*time.Second)
		if g.chance(0.5) {
			delay = g.uniform(time.Minute, 24*time.Hour)
		}
		g.queue.push(item{at: now + int64(delay), what: actCopy, msg: d})
	}
	if g.chance(g.cfg.ConflictRate) {
		c := *e
		c.at = e.at.Add(g.uniform(time.Millisecond, time.Second))
		m := &Message{Subject: string(e.typ), Body: g.encode(id, &c), Conflict: true}
		delay := g.uniform(time.Minute, 48*time.Hour)
		g.queue.push(item{at: now + int64(delay), what: actCopy, msg: m})
	}
}

// encode returns the body of an event in one allocation of its exact size.
func (g *gen) encode(id string, e *event) []byte {
	g.scratch = appendEvent(g.scratch[:0], id, e)
	return bytes.Clone(g.scratch)
}

// nextID returns the next id of a kind: the run prefix, the kind and a
// zero-padded counter, so ids of a kind sort in the order they were given.
func (g *gen) nextID(kind string, counter *int64) string {
	*counter++
	b := append(g.scratch[:0], g.cfg.RunPrefix...)
	b = append(append(b, '-'), kind...)
	g.scratch = appendPadded(b, *counter, 10)
	return string(g.scratch)
}

func appendPadded(b []byte, n int64, width int) []byte {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for range width - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}

// uniform returns a duration from lo to hi at millisecond resolution.
func (g *gen) uniform(lo, hi time.Duration) time.Duration {
	span := int64((hi - lo) / time.Millisecond)
	return lo + time.Duration(g.rnd.Int64N(span+1))*time.Millisecond
}

// exp returns an exponentially distributed duration with the given mean.
func (g *gen) exp(mean time.Duration) time.Duration {
	return time.Duration(g.rnd.ExpFloat64() * float64(mean)).Truncate(time.Millisecond)
}

// chance reports true with probability p, drawing nothing when p is 0.
func (g *gen) chance(p float64) bool {
	return p > 0 && g.rnd.Float64() < p
}
