package bench

import (
	"fmt"
	"iter"
	"math"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
)

// cities of the benchmark's fleet; fleetsim gives each its currency.
var cities = []string{"jakarta", "paris", "berlin", "new_york", "london", "tokyo", "singapore", "sydney"}

// msgsPerCarDay is about how many messages the realistic mix yields per
// car and day (15.7 measured over 626,000 messages).
const msgsPerCarDay = 15.5

// fleet returns the realistic mix (fleetsim.DefaultConfig: cancellations,
// maintenance, refunds, publishers without seq or Nats-Msg-Id) with 3%
// duplicates and 2% of events emitted after their successor, sized to
// yield a little more than n messages over days.
func (o Options) fleet(n, days int) (*fleetsim.Sim, error) {
	cfg := fleetsim.DefaultConfig(o.Seed)
	cfg.Cities = cities[:o.Cities]
	cfg.Days = days
	cfg.DuplicateRate = 0.03
	cfg.ReorderRate = 0.02
	cfg.CarsPerCity = max(1, int(math.Ceil(1.05*float64(n)/(msgsPerCarDay*float64(days*o.Cities)))))
	sim, err := fleetsim.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("simulated fleet: %w", err)
	}
	return sim, nil
}

// expected is what the messages published so far must leave in the
// ledger: each valid event once, by type.
type expected struct {
	messages int
	byType   map[events.Type]int64
	unknown  int64
	bad      int64
}

func newExpected() *expected { return &expected{byType: map[events.Type]int64{}} }

// add counts one message as tally must: copies of an event count once,
// invalid messages never.
func (e *expected) add(m fleetsim.Message) {
	e.messages++
	switch {
	case m.Bad:
		e.bad++
	case m.Duplicate, m.Conflict:
	case m.Unknown:
		e.unknown++
	default:
		e.byType[events.Type(m.Subject)]++
	}
}

// events is the number of distinct valid events: the ledger's size.
func (e *expected) events() int64 {
	n := e.unknown
	for _, k := range e.byType {
		n += k
	}
	return n
}

// firstN yields the first n messages of sim, counting them in exp; it
// stops early when the simulation runs out, which the caller sees in
// exp.messages.
func firstN(sim *fleetsim.Sim, n int, exp *expected) iter.Seq[fleetsim.Message] {
	return func(yield func(fleetsim.Message) bool) {
		for m := range sim.Messages {
			if exp.messages >= n {
				return
			}
			exp.add(m)
			if !yield(m) {
				return
			}
		}
	}
}
