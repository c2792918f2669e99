package events_test

import (
	"testing"

	"github.com/tallyhq/tally/events"
)

func FuzzDecode(f *testing.F) {
	for _, typ := range events.KnownTypes {
		f.Add([]byte(envelope(typ).with("seq", `3`).String()))
	}
	f.Add([]byte(unknownMsg(`{"a":[1,{"b":null}]}`)))
	f.Add([]byte(carMsg().with("occurred_at", `"2026-03-29T02:30:00.1234567+01:00"`).String()))
	f.Add([]byte(carMsg().with("ID", `"x"`).String()))
	f.Add([]byte(`{"id":"a","type":"x","occurred_at":"0001-01-01T00:00:00Z","data":{}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := events.Decode(body, 0)
		if err != nil {
			if events.CodeOf(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		if ev.ID == "" || ev.Type == "" || ev.OccurredAt.Location().String() != "UTC" || ev.Seq < 0 {
			t.Fatalf("accepted a bad envelope: %+v", ev)
		}
		if !events.SameContent(&ev, &ev) {
			t.Fatalf("event differs from itself: %s", body)
		}
		requireRoundTrip(t, ev)
	})
}
