package fleetsim_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/fleetsim"
)

func newSim(t testing.TB, cfg fleetsim.Config) *fleetsim.Sim {
	t.Helper()
	s, err := fleetsim.New(cfg)
	require.NoError(t, err)
	return s
}

// decoded is a valid message with its event.
type decoded struct {
	fleetsim.Message
	ev events.Event
}

// decodeValid decodes every message that is not Bad, failing the test on
// any that does not decode.
func decodeValid(t *testing.T, s *fleetsim.Sim) []decoded {
	t.Helper()
	var out []decoded
	for m := range s.Messages {
		if m.Bad {
			continue
		}
		ev, err := events.Decode(m.Body, s.Config().MaxEventBytes)
		require.NoError(t, err, "%s", short(m.Body))
		out = append(out, decoded{m, ev})
	}
	return out
}

// originals keeps the first copy of each business event of a known type:
// what tally counts.
func originals(ds []decoded) []events.Event {
	var out []events.Event
	for _, d := range ds {
		if !d.Duplicate && !d.Conflict && !d.Unknown {
			out = append(out, d.ev)
		}
	}
	return out
}

// byEntity groups the events of entities by entity id, each group sorted
// by key.
func byEntity(evs []events.Event, kind events.EntityKind) map[string][]events.Event {
	out := map[string][]events.Event{}
	for _, e := range evs {
		if e.Type.Entity() == kind {
			out[e.EntityID()] = append(out[e.EntityID()], e)
		}
	}
	for _, g := range out {
		slices.SortFunc(g, func(a, b events.Event) int { return a.Key().Compare(b.Key()) })
	}
	return out
}

func short(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// requireNear checks that got is within a relative tolerance of want.
func requireNear(t *testing.T, want, got, tolerance float64, what string) {
	t.Helper()
	require.InDelta(t, want, got, want*tolerance, "%s: want about %.1f, got %.1f", what, want, got)
}
