package fleetsim

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/tallyhq/tally/events"
)

// Message is one message of a simulation, ready to publish. The fields
// after MsgID say what tally must make of it.
type Message struct {
	// Subject is the suffix of the subject to publish on: the event type,
	// such as "booking.started", or "garbage" for a message that has none.
	// The caller prepends the stream's subject prefix and a dot.
	Subject string
	// Body is the message. Copies of an event share it: do not modify it.
	Body []byte
	// MsgID is the Nats-Msg-Id header to set, or "" for none.
	MsgID string

	// Bad marks an invalid message: events.Decode, given the Config's
	// MaxEventBytes, fails with ExpectCode. BadKind names the defect (see
	// BadKinds).
	Bad        bool
	ExpectCode events.Code
	BadKind    string
	// Duplicate marks a byte-identical copy of an earlier message.
	Duplicate bool
	// Conflict marks a copy of an earlier event with the same id and a
	// different occurred_at: tally must keep the first.
	Conflict bool
	// Reordered marks an event emitted after an event of its entity with a
	// greater key.
	Reordered bool
	// Unknown marks a valid event of a type tally does not know.
	Unknown bool
}

// Sim is a simulation: a Config with its defaults applied. It is immutable
// and safe for concurrent use; each iteration of Messages generates the
// same messages afresh.
type Sim struct {
	cfg     Config
	end     time.Time
	overdue int
}

// New returns the simulation of cfg, or an error naming the first invalid
// setting.
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Start = cfg.Start.UTC()
	cfg.Cities = slices.Clone(cfg.Cities)
	cfg.Currencies = maps.Clone(cfg.Currencies)
	s := &Sim{cfg: cfg, end: cfg.Start.Add(time.Duration(cfg.Days) * 24 * time.Hour)}
	s.overdue = int(math.Round(cfg.OverdueRate * s.expectedBookings()))
	return s, nil
}

// Config returns the simulation's configuration, defaults applied.
func (s *Sim) Config() Config {
	c := s.cfg
	c.Cities, c.Currencies = slices.Clone(c.Cities), maps.Clone(c.Currencies)
	return c
}

// End returns the end of the simulated period: no event occurs at or after
// it, though late copies of events may be emitted after the last event.
func (s *Sim) End() time.Time { return s.end }

// OverdueBookings returns the number of bookings that are confirmed and
// never started, with start_at 30 minutes to 4 hours before End.
func (s *Sim) OverdueBookings() int { return s.overdue }

// expectedBookings estimates the number of bookings the simulation
// confirms, overdue bookings aside.
func (s *Sim) expectedBookings() float64 {
	cars := float64(len(s.cfg.Cities) * s.cfg.CarsPerCity)
	return cars * s.cfg.BookingsPerCarPerDay * float64(s.cfg.Days)
}

// Messages yields the simulation's messages in emission order, generating
// them as it goes. It is an iter.Seq[Message].
func (s *Sim) Messages(yield func(Message) bool) {
	g := newGen(s)
	g.setup()
	for g.queue.len() > 0 {
		if !g.step(g.queue.pop(), yield) {
			return
		}
	}
}

// All returns every message of the simulation.
func (s *Sim) All() []Message {
	var all []Message
	for m := range s.Messages {
		all = append(all, m)
	}
	return all
}
