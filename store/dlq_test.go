package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/store"
)

func TestReplayCountsOnceAndKeepsTheStillBad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	valid, err := car("c1", "paris", events.CarActive, 1, t0).Encode()
	require.NoError(t, err)
	dls := []store.DeadLetter{
		// Over a 64-byte limit then, valid under today's.
		{Stream: "FLEET", Seq: 7, Subject: "fleet.car.status_changed", Code: events.CodeTooLarge, Detail: "too large", Body: valid},
		{Stream: "FLEET", Seq: 8, Subject: "fleet.x", Code: events.CodeInvalidJSON, Detail: "old detail", Body: []byte("not json")},
	}
	_, err = tb.store.Apply(ctx, store.Batch{DeadLetters: dls})
	require.NoError(t, err)

	list, err := tb.store.ListDeadLetters(ctx, store.DeadLetterFilter{Code: "too_large"}, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, valid[:10], list[0].Body)
	require.Equal(t, len(valid), list[0].Size)

	res, err := tb.store.ReplayDeadLetters(ctx, store.DeadLetterFilter{}, 0)
	require.NoError(t, err)
	require.Equal(t, store.ReplayResult{Selected: 2, Applied: 1, StillBad: map[events.Code]int{events.CodeInvalidJSON: 1}}, res)
	bad, err := tb.store.DeadLetter(ctx, "FLEET", 8)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(bad.Detail, "not valid JSON"), bad.Detail)
	require.Nil(t, bad.ReplayedAt)

	res, err = tb.store.ReplayDeadLetters(ctx, store.DeadLetterFilter{}, 0)
	require.NoError(t, err)
	require.Equal(t, 0, res.Replayed())
	res, err = tb.store.ReplayDeadLetters(ctx, store.DeadLetterFilter{State: store.DeadLettersAll}, 0)
	require.NoError(t, err)
	require.Equal(t, 1, res.Duplicates, "replayed twice, counted once")

	v, err := tb.store.ReadViews(ctx)
	require.NoError(t, err)
	require.Len(t, v.ActiveCars, 1)
	require.EqualValues(t, 1, v.ActiveCars[0].Cars)

	n, err := tb.store.CountDeadLetters(ctx, store.DeadLetterFilter{State: store.DeadLettersReplayed})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	n, err = tb.store.PurgeDeadLetters(ctx, store.DeadLetterFilter{State: store.DeadLettersReplayed})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	_, err = tb.store.DeadLetter(ctx, "FLEET", 7)
	require.ErrorIs(t, err, store.ErrNoDeadLetter)
}

// TestDeadLetterTextIsStorable records a dead letter whose subject, detail
// and id hold bytes PostgreSQL text cannot (NUL, not UTF-8), beside a
// valid event: the batch applies, and the dead letter is kept with its
// text made storable, its id left out rather than mangled, and its body
// as it came.
func TestDeadLetterTextIsStorable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	body := []byte("{\"id\":\"a\xffb\",\"type\":\"x\"}")
	out, err := tb.store.Apply(ctx, store.Batch{
		Events: incoming(mustEvent(t, car("c1", "paris", events.CarActive, 1, t0))),
		DeadLetters: []store.DeadLetter{{Stream: "FLEET", Seq: 9, Subject: "fleet.\xff", Code: events.CodeInvalidJSON,
			Detail: "bad\x00 detail \xfe", EventID: "a\xffb", Body: body}},
	})
	require.NoError(t, err)
	require.Equal(t, 1, out.Applied)
	require.Equal(t, map[events.Code]int{events.CodeInvalidJSON: 1}, out.DeadLetteredByCode)

	d, err := tb.store.DeadLetter(ctx, "FLEET", 9)
	require.NoError(t, err)
	require.Equal(t, "fleet.\uFFFD", d.Subject)
	require.Equal(t, "bad detail \uFFFD", d.Detail)
	require.Empty(t, d.EventID)
	require.Equal(t, body[:len(d.Body)], d.Body)
	require.Equal(t, len(body), d.Size)
}
