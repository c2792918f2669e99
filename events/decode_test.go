package events_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
)

func TestDecodeAcceptsEveryKnownType(t *testing.T) {
	t.Parallel()
	for _, typ := range events.KnownTypes {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			body := envelope(typ).String()
			ev := decodeOK(t, body)
			require.Equal(t, "evt-1", ev.ID)
			require.Equal(t, typ, ev.Type)
			require.True(t, ev.Known())
			require.Equal(t, time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC), ev.OccurredAt)
			require.Zero(t, ev.Seq)
			require.Equal(t, "paris", ev.City)
			require.Equal(t, []byte(body), ev.Body)
		})
	}
}

func TestDecodePayloads(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time { return time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Add(mustDuration(t, s)) }
	tests := []struct {
		typ  events.Type
		want events.Event
	}{
		{events.CarStatusChanged, events.Event{CarID: "car-1", City: "paris", Status: "active"}},
		{events.BookingConfirmed, events.Event{
			BookingID: "bk-1", CarID: "car-1", City: "paris", StartAt: at("10h"), EndAt: at("12h"),
		}},
		{events.BookingStarted, events.Event{BookingID: "bk-1", CarID: "car-1", City: "paris"}},
		{events.BookingEnded, events.Event{BookingID: "bk-1", CarID: "car-1", City: "paris"}},
		{events.BookingCancelled, events.Event{BookingID: "bk-1", CarID: "car-1", City: "paris"}},
		{events.PaymentCaptured, events.Event{
			PaymentID: "pay-1", BookingID: "bk-1", City: "paris", AmountMinor: 1250, Currency: "EUR",
		}},
		{events.PaymentRefunded, events.Event{PaymentID: "pay-1", City: "paris", AmountMinor: 250, Currency: "EUR"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			t.Parallel()
			body := envelope(tt.typ).String()
			want := tt.want
			want.ID, want.Type, want.OccurredAt, want.Body = "evt-1", tt.typ, at("9h30m"), []byte(body)
			require.Equal(t, want, decodeOK(t, body))
		})
	}
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	require.NoError(t, err)
	return d
}

func TestDecodeSize(t *testing.T) {
	t.Parallel()
	body := carMsg().String()
	_, err := events.Decode([]byte(body), len(body))
	require.NoError(t, err, "exactly the limit is accepted")
	requireCodeMax(t, body, len(body)-1, events.CodeTooLarge)

	// The default limit applies when maxBytes <= 0.
	pad := strings.Repeat(" ", events.DefaultMaxEventBytes-len(body))
	_, err = events.Decode([]byte(body+pad), 0)
	require.NoError(t, err)
	requireCodeMax(t, body+pad+" ", 0, events.CodeTooLarge)
	requireCodeMax(t, body+pad+" ", -1, events.CodeTooLarge)
}

func requireCodeMax(t *testing.T, body string, maxBytes int, code events.Code) {
	t.Helper()
	_, err := events.Decode([]byte(body), maxBytes)
	require.Equal(t, code, events.CodeOf(err), "%v", err)
}

func TestDecodeValidationOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		max    int
		code   events.Code
		detail string
	}{
		{"size before JSON", `{"id":` + strings.Repeat(" ", 100), 50, events.CodeTooLarge, "message is 106 bytes"},
		{"size before UTF-8", "\xff" + strings.Repeat(" ", 100), 50, events.CodeTooLarge, ""},
		{"UTF-8 before envelope", `{"id":"` + "\xc3\x28" + `"}`, 0, events.CodeInvalidJSON, "message is not valid UTF-8"},
		{"JSON before envelope", `{"id":1,}`, 0, events.CodeInvalidJSON, ""},
		{"id before type", carMsg().with("id", `1`).with("type", `1`).String(), 0, events.CodeInvalidEnvelope, "id "},
		{"type before occurred_at", carMsg().with("type", `1`).with("occurred_at", `1`).String(), 0,
			events.CodeInvalidEnvelope, "type "},
		{"occurred_at before seq", carMsg().with("occurred_at", `1`).with("seq", `0`).String(), 0,
			events.CodeInvalidEnvelope, "occurred_at "},
		{"seq before data", carMsg().with("seq", `0`).with("data", `[]`).String(), 0,
			events.CodeInvalidEnvelope, "seq "},
		{"envelope before data", carMsg().with("id", `""`).with("data", `{}`).String(), 0,
			events.CodeInvalidEnvelope, "id "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := events.Decode([]byte(tt.body), tt.max)
			require.Equal(t, tt.code, events.CodeOf(err), "%v", err)
			var ve *events.Error
			require.ErrorAs(t, err, &ve)
			require.True(t, strings.HasPrefix(ve.Detail, tt.detail), "%v", err)
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		code events.Code
	}{
		{"empty", ``, events.CodeInvalidJSON},
		{"blank", `   `, events.CodeInvalidJSON},
		{"truncated", `{"id":"evt-1"`, events.CodeInvalidJSON},
		{"trailing data", carMsg().String() + ` {}`, events.CodeInvalidJSON},
		{"single quotes", `{'id':'evt-1'}`, events.CodeInvalidJSON},
		{"invalid UTF-8 in a value", carMsg().with("note", "\"\xff\"").String(), events.CodeInvalidJSON},
		{"invalid UTF-8 in an extra name", `{"` + "\xfe" + `":1}`, events.CodeInvalidJSON},
		{"truncated UTF-8", carMsg().with("note", "\"\xe2\x82\"").String(), events.CodeInvalidJSON},
		{"UTF-16 surrogate bytes", carMsg().with("note", "\"\xed\xa0\x80\"").String(), events.CodeInvalidJSON},
		{"raw NUL byte", carMsg().with("note", "\"a\x00b\"").String(), events.CodeInvalidJSON},
		{"null", `null`, events.CodeInvalidEnvelope},
		{"array", `[` + carMsg().String() + `]`, events.CodeInvalidEnvelope},
		{"string", `"evt-1"`, events.CodeInvalidEnvelope},
		{"number", `12`, events.CodeInvalidEnvelope},
		{"empty object", `{}`, events.CodeInvalidEnvelope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireCode(t, tt.body, tt.code)
		})
	}
}

func TestDecodeEnvelopeFields(t *testing.T) {
	t.Parallel()
	id128 := strings.Repeat("x", 128)
	tests := []struct {
		name string
		msg  object
		ok   bool
	}{
		{"id 1 byte", carMsg().with("id", `"x"`), true},
		{"id 128 bytes", carMsg().with("id", `"`+id128+`"`), true},
		{"id 128 bytes of multi-byte runes", carMsg().with("id", `"`+strings.Repeat("é", 64)+`"`), true},
		{"id 129 bytes", carMsg().with("id", `"`+id128+`x"`), false},
		{"id 130 bytes of multi-byte runes", carMsg().with("id", `"`+strings.Repeat("é", 65)+`"`), false},
		{"id empty", carMsg().with("id", `""`), false},
		{"id missing", carMsg().without("id"), false},
		{"id null", carMsg().with("id", `null`), false},
		{"id number", carMsg().with("id", `12`), false},
		{"id object", carMsg().with("id", `{"id":"x"}`), false},
		{"id NUL", carMsg().with("id", `"a\u0000b"`), false},
		{"id in upper case only", carMsg().without("id").with("ID", `"evt-1"`), false},
		{"type missing", carMsg().without("type"), false},
		{"type empty", carMsg().with("type", `""`), false},
		{"type null", carMsg().with("type", `null`), false},
		{"type number", carMsg().with("type", `7`), false},
		{"type array", carMsg().with("type", `["car.status_changed"]`), false},
		{"type NUL", carMsg().with("type", `"car\u0000"`), false},
		{"type in upper case only", carMsg().without("type").with("Type", `"car.status_changed"`), false},
		{"occurred_at missing", carMsg().without("occurred_at"), false},
		{"occurred_at null", carMsg().with("occurred_at", `null`), false},
		{"occurred_at number", carMsg().with("occurred_at", `1777627800`), false},
		{"occurred_at in upper case only", carMsg().without("occurred_at").with("OCCURRED_AT", `"2026-05-01T09:30:00Z"`), false},
		{"data missing", carMsg().without("data"), false},
		{"data null", carMsg().with("data", `null`), false},
		{"data array", carMsg().with("data", `[]`), false},
		{"data string", carMsg().with("data", `"{}"`), false},
		{"data number", carMsg().with("data", `1`), false},
		{"data in upper case only", carMsg().without("data").with("Data", validData[events.CarStatusChanged].String()), false},
		{"extra fields", carMsg().with("source", `"monolith"`).with("meta", `{"a":[1,2.5,null]}`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.ok {
				decodeOK(t, tt.msg.String())
				return
			}
			requireCode(t, tt.msg.String(), events.CodeInvalidEnvelope)
		})
	}
}

func TestDecodeSeq(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string // "" leaves seq out
		want int64
		ok   bool
	}{
		{"", 0, true},
		{`null`, 0, true},
		{`1`, 1, true},
		{`42`, 42, true},
		{`9223372036854775807`, 1<<63 - 1, true},
		{`9223372036854775808`, 0, false},
		{`0`, 0, false},
		{`-1`, 0, false},
		{`-0`, 0, false},
		{`1.0`, 0, false},
		{`1.5`, 0, false},
		{`1e3`, 0, false},
		{`1E3`, 0, false},
		{`"1"`, 0, false},
		{`true`, 0, false},
		{`[1]`, 0, false},
		{`{}`, 0, false},
	}
	for _, tt := range tests {
		t.Run("seq="+tt.raw, func(t *testing.T) {
			t.Parallel()
			msg := carMsg()
			if tt.raw != "" {
				msg = msg.with("seq", tt.raw)
			}
			if !tt.ok {
				requireCode(t, msg.String(), events.CodeInvalidEnvelope)
				return
			}
			require.Equal(t, tt.want, decodeOK(t, msg.String()).Seq)
		})
	}
}

func TestDecodeOccurredAt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want time.Time // zero: rejected
	}{
		{"2026-05-01T09:30:00Z", time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)},
		{"2026-05-01T11:30:00+02:00", time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)},
		{"2026-05-01T04:00:00-05:30", time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)},
		{"2026-05-01T09:30:00+00:00", time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)},
		{"2026-05-01T09:30:00-00:00", time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)},
		{"2026-05-01T00:30:00+23:59", time.Date(2026, 4, 30, 0, 31, 0, 0, time.UTC)},
		{"2026-05-02T00:30:00+01:00", time.Date(2026, 5, 1, 23, 30, 0, 0, time.UTC)},
		{"2026-12-31T23:30:00-01:00", time.Date(2027, 1, 1, 0, 30, 0, 0, time.UTC)},
		{"2028-02-29T12:00:00Z", time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC)},
		{"2026-05-01T09:30:00.5Z", time.Date(2026, 5, 1, 9, 30, 0, 500_000_000, time.UTC)},
		{"2026-05-01T09:30:00.123456Z", time.Date(2026, 5, 1, 9, 30, 0, 123_456_000, time.UTC)},
		{"2026-05-01T09:30:00.1234569Z", time.Date(2026, 5, 1, 9, 30, 0, 123_456_000, time.UTC)},
		{"2026-05-01T09:30:00.999999999Z", time.Date(2026, 5, 1, 9, 30, 0, 999_999_000, time.UTC)},
		{"2026-05-01T09:30:00.123456789123Z", time.Date(2026, 5, 1, 9, 30, 0, 123_456_000, time.UTC)},
		{"2026-05-01T11:30:00.0000019+02:00", time.Date(2026, 5, 1, 9, 30, 0, 1_000, time.UTC)},
		{"0001-01-01T00:00:00Z", time.Time{}.Add(0)},
		{"0001-01-01T01:00:00+01:00", time.Time{}.Add(0)},
		{"9999-12-31T23:59:59.9999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999_999_000, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			ev := decodeOK(t, carMsg().with("occurred_at", `"`+tt.raw+`"`).String())
			require.Equal(t, tt.want, ev.OccurredAt)
			require.Equal(t, time.UTC, ev.OccurredAt.Location())
		})
	}
}

func TestDecodeOccurredAtRejected(t *testing.T) {
	t.Parallel()
	for _, raw := range badTimes {
		t.Run(raw, func(t *testing.T) {
			t.Parallel()
			requireCode(t, carMsg().with("occurred_at", `"`+raw+`"`).String(), events.CodeInvalidEnvelope)
		})
	}
}

// badTimes are strings that are not RFC 3339 timestamps with an offset, or
// that name no instant tally can store.
var badTimes = []string{
	"",
	"2026-05-01T09:30:00",        // no offset
	"2026-05-01T09:30:00.5",      // no offset
	"2026-05-01t09:30:00Z",       // lower-case t
	"2026-05-01T09:30:00z",       // lower-case z
	"2026-05-01 09:30:00Z",       // space for T
	"2026-05-01_09:30:00Z",       // other separator
	"2026-13-01T09:30:00Z",       // bad month
	"2026-00-01T09:30:00Z",       // bad month
	"2026-02-30T09:30:00Z",       // bad day
	"2026-02-29T09:30:00Z",       // not a leap year
	"2026-05-32T09:30:00Z",       // bad day
	"2026-05-01T24:00:00Z",       // bad hour
	"2026-05-01T09:60:00Z",       // bad minute
	"2026-05-01T09:30:60Z",       // leap second: Go cannot represent it
	"2026-05-01T09:30:00+0200",   // offset without colon
	"2026-05-01T09:30:00+02",     // short offset
	"2026-05-01T09:30:00+2:00",   // short offset hour
	"2026-05-01T09:30:00+24:00",  // offset hour out of range
	"2026-05-01T09:30:00+23:60",  // offset minute out of range
	"2026-05-01T09:30:00 +02:00", // space before offset
	"2026-05-01T09:30:00UTC",     // zone name
	"2026-05-01T09:30:00GMT+2",   // zone name
	"2026-05-01T09:30:00.Z",      // empty fraction
	"2026-05-01T09:30:00,5Z",     // comma fraction
	"2026-05-01T09:30Z",          // no seconds
	"2026-5-01T09:30:00Z",        // one-digit month
	"2026-05-01T9:30:00Z",        // one-digit hour
	"26-05-01T09:30:00Z",         // two-digit year
	"+2026-05-01T09:30:00Z",      // signed year
	"2026-05-01",                 // date only
	"09:30:00Z",                  // time only
	"2026-05-01T09:30:00Z ",      // trailing space
	" 2026-05-01T09:30:00Z",      // leading space
	"2026-05-01T09:30:00ZZ",      // trailing garbage
	"Fri, 01 May 2026 09:30:00 GMT",
	"1777627800",
	"0000-12-31T23:59:59Z",      // year 0
	"0001-01-01T00:30:00+01:00", // year 0 in UTC
	"9999-12-31T23:30:00-01:00", // year 10000 in UTC
}

func TestDecodeOccurredAtTypes(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`1777627800`, `true`, `{}`, `["2026-05-01T09:30:00Z"]`} {
		requireCode(t, carMsg().with("occurred_at", raw).String(), events.CodeInvalidEnvelope)
	}
	// A JSON escape is decoded before the time is parsed.
	ev := decodeOK(t, carMsg().with("occurred_at", `"2026-05-01T09:30:00\u005a"`).String())
	require.Equal(t, time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC), ev.OccurredAt)
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	got, err := events.ParseTime("2026-03-29T03:30:00.1234567+02:00")
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 3, 29, 1, 30, 0, 123_456_000, time.UTC), got)
	for _, s := range badTimes {
		_, err := events.ParseTime(s)
		require.Error(t, err, s)
	}
}

func TestDecodeUnknownType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  object
	}{
		{"future type", carMsg().with("type", `"car.renamed"`)},
		{"odd data", carMsg().with("type", `"car.renamed"`).with("data", `{"car_id":5,"status":"flying"}`)},
		{"empty data", carMsg().with("type", `"fleet.reset"`).with("data", `{}`)},
		{"NUL in data", carMsg().with("type", `"x"`).with("data", `{"a":"\u0000"}`)},
		{"known type in another case", carMsg().with("type", `"Car.Status_Changed"`).with("data", `{}`)},
		{"known type with spaces", carMsg().with("type", `" car.status_changed"`).with("data", `{}`)},
		{"with seq", carMsg().with("type", `"x.y"`).with("seq", `7`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := decodeOK(t, tt.msg.String())
			require.False(t, ev.Known())
			require.False(t, ev.Type.Known())
			require.Equal(t, events.NoEntity, ev.Type.Entity())
			require.Empty(t, ev.EntityID())
			require.Empty(t, ev.City, "the data of an unknown type is not read")
			require.Equal(t, []byte(tt.msg.String()), ev.Body)
		})
	}
	// The envelope of an unknown type is still checked.
	requireCode(t, carMsg().with("type", `"x.y"`).with("data", `[]`).String(), events.CodeInvalidEnvelope)
	requireCode(t, carMsg().with("type", `"x.y"`).with("seq", `0`).String(), events.CodeInvalidEnvelope)
}

func TestDecodeIgnoresCaseVariantNames(t *testing.T) {
	t.Parallel()
	// encoding/json matches struct fields case-insensitively; the contract's
	// names are exact, and other names are extra fields to ignore.
	msg := carMsg().with("ID", `"evt-other"`).with("Type", `"booking.started"`).
		with("Seq", `"x"`).with("DATA", `[]`).
		with("data", validData[events.CarStatusChanged].with("CITY", `"berlin"`).with("Status", `"retired"`).String())
	ev := decodeOK(t, msg.String())
	require.Equal(t, "evt-1", ev.ID)
	require.Equal(t, events.CarStatusChanged, ev.Type)
	require.Equal(t, "paris", ev.City)
	require.Equal(t, events.CarActive, ev.Status)

	missing := carMsg().with("data", validData[events.CarStatusChanged].without("city").with("City", `"paris"`).String())
	requireCode(t, missing.String(), events.CodeInvalidData)
}

func TestDecodeRepeatedNameKeepsTheLast(t *testing.T) {
	t.Parallel()
	ev := decodeOK(t, `{"id":"a","id":"b","type":"x","occurred_at":"2026-05-01T09:30:00Z","data":{}}`)
	require.Equal(t, "b", ev.ID)
}
