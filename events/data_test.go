package events_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
)

// withData returns the valid envelope of typ with its data changed by edit.
func withData(typ events.Type, edit func(object) object) string {
	return envelope(typ).with("data", edit(validData[typ]).String()).String()
}

func TestDecodeDataRequiredFields(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"empty":  `""`,
		"null":   `null`,
		"number": `5`,
		"bool":   `true`,
		"object": `{}`,
		"array":  `["x"]`,
		"NUL":    `"a\u0000b"`,
	}
	for _, typ := range events.KnownTypes {
		for _, field := range validData[typ] {
			name := field[0]
			t.Run(string(typ)+"/"+name+"/missing", func(t *testing.T) {
				t.Parallel()
				body := withData(typ, func(o object) object { return o.without(name) })
				ve := requireCode(t, body, events.CodeInvalidData)
				require.Contains(t, ve.Detail, name)
			})
			for how, raw := range bad {
				if name == "amount_minor" && (how == "NUL" || how == "number") {
					continue // a number is what amount_minor must be; see TestDecodeAmount
				}
				t.Run(string(typ)+"/"+name+"/"+how, func(t *testing.T) {
					t.Parallel()
					body := withData(typ, func(o object) object { return o.with(name, raw) })
					ve := requireCode(t, body, events.CodeInvalidData)
					require.True(t, strings.HasPrefix(ve.Detail, string(typ)+": "+name+" "), ve.Detail)
				})
			}
		}
	}
}

func TestDecodeDataIsNotCaseFolded(t *testing.T) {
	t.Parallel()
	for _, typ := range events.KnownTypes {
		for _, field := range validData[typ] {
			upper := strings.ToUpper(field[0])
			body := withData(typ, func(o object) object { return o.without(field[0]).with(upper, field[1]) })
			requireCode(t, body, events.CodeInvalidData)
		}
	}
}

func TestDecodeDataExtraFields(t *testing.T) {
	t.Parallel()
	for _, typ := range events.KnownTypes {
		body := withData(typ, func(o object) object {
			return o.with("note", `"x"`).with("tags", `[1,{"a":null}]`).with("car_id_v2", `5`)
		})
		want := decodeOK(t, envelope(typ).String())
		got := decodeOK(t, body)
		got.Body = want.Body
		require.Equal(t, want, got, typ)
	}
}

func TestDecodeCarStatus(t *testing.T) {
	t.Parallel()
	for _, status := range []string{events.CarActive, events.CarMaintenance, events.CarRetired} {
		body := withData(events.CarStatusChanged, func(o object) object { return o.with("status", `"`+status+`"`) })
		require.Equal(t, status, decodeOK(t, body).Status)
	}
	for _, status := range []string{"Active", "ACTIVE", " active", "active ", "inactive", "ongoing", "confirmed"} {
		body := withData(events.CarStatusChanged, func(o object) object { return o.with("status", `"`+status+`"`) })
		ve := requireCode(t, body, events.CodeInvalidData)
		require.Contains(t, ve.Detail, "status")
	}
}

func TestDecodeBookingTimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		start, end string
		ok         bool
	}{
		{"end after start", `"2026-05-01T10:00:00Z"`, `"2026-05-01T10:00:00.000001Z"`, true},
		{"offsets compared as instants", `"2026-05-01T12:00:00+02:00"`, `"2026-05-01T10:30:00Z"`, true},
		{"equal", `"2026-05-01T10:00:00Z"`, `"2026-05-01T10:00:00Z"`, false},
		{"equal instants in other offsets", `"2026-05-01T12:00:00+02:00"`, `"2026-05-01T10:00:00Z"`, false},
		{"equal at microsecond precision", `"2026-05-01T10:00:00.0000001Z"`, `"2026-05-01T10:00:00.0000009Z"`, false},
		{"end before start", `"2026-05-01T12:00:00Z"`, `"2026-05-01T10:00:00Z"`, false},
		{"start without offset", `"2026-05-01T10:00:00"`, `"2026-05-01T12:00:00Z"`, false},
		{"end without offset", `"2026-05-01T10:00:00Z"`, `"2026-05-01T12:00:00"`, false},
		{"start bad month", `"2026-13-01T10:00:00Z"`, `"2026-05-01T12:00:00Z"`, false},
		{"end lower-case", `"2026-05-01T10:00:00Z"`, `"2026-05-01t12:00:00z"`, false},
		{"start number", `1777629600`, `"2026-05-01T12:00:00Z"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := withData(events.BookingConfirmed, func(o object) object {
				return o.with("start_at", tt.start).with("end_at", tt.end)
			})
			if !tt.ok {
				requireCode(t, body, events.CodeInvalidData)
				return
			}
			ev := decodeOK(t, body)
			require.True(t, ev.EndAt.After(ev.StartAt))
			require.Equal(t, "UTC", ev.StartAt.Location().String())
		})
	}
}

func TestDecodeAmount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want int64 // 0: rejected
	}{
		{`1`, 1},
		{`100`, 100},
		{`9007199254740991`, events.MaxAmountMinor},
		{`9007199254740992`, 0},
		{`99999999999999999999`, 0},
		{`0`, 0},
		{`-1`, 0},
		{`-100`, 0},
		{`1.0`, 0},
		{`100.5`, 0},
		{`1e2`, 0},
		{`1E2`, 0},
		{`"100"`, 0},
		{`null`, 0},
		{`true`, 0},
		{`[100]`, 0},
	}
	for _, typ := range []events.Type{events.PaymentCaptured, events.PaymentRefunded} {
		for _, tt := range tests {
			t.Run(string(typ)+"/"+tt.raw, func(t *testing.T) {
				t.Parallel()
				body := withData(typ, func(o object) object { return o.with("amount_minor", tt.raw) })
				if tt.want == 0 {
					ve := requireCode(t, body, events.CodeInvalidData)
					require.Contains(t, ve.Detail, "amount_minor")
					return
				}
				require.Equal(t, tt.want, decodeOK(t, body).AmountMinor)
			})
		}
	}
}

func TestDecodeCurrency(t *testing.T) {
	t.Parallel()
	good := []string{"EUR", "USD", "IDR", "AAA", "ZZZ"}
	bad := []string{"eur", "Eur", "EU", "EURO", "E1R", "€UR", "ÉUR", " EU", "EU ", "E-R", `EU\u0000`}
	for _, typ := range []events.Type{events.PaymentCaptured, events.PaymentRefunded} {
		for _, c := range good {
			body := withData(typ, func(o object) object { return o.with("currency", `"`+c+`"`) })
			require.Equal(t, c, decodeOK(t, body).Currency)
		}
		for _, c := range bad {
			body := withData(typ, func(o object) object { return o.with("currency", `"`+c+`"`) })
			ve := requireCode(t, body, events.CodeInvalidData)
			require.Contains(t, ve.Detail, "currency", c)
		}
	}
}

func TestDecodeStringsKeepTheirBytes(t *testing.T) {
	t.Parallel()
	// Escapes are decoded; spaces and case are kept: city names match exactly.
	body := withData(events.BookingStarted, func(o object) object {
		return o.with("city", `" Paris\u00e9 "`).with("booking_id", `"b\"1"`).with("car_id", `"🚗"`)
	})
	ev := decodeOK(t, body)
	require.Equal(t, " Parisé ", ev.City)
	require.Equal(t, `b"1`, ev.BookingID)
	require.Equal(t, "🚗", ev.CarID)
	require.Equal(t, "b\"1", ev.EntityID())
}

func TestDecodeRefundHasNoBooking(t *testing.T) {
	t.Parallel()
	ev := decodeOK(t, withData(events.PaymentRefunded, func(o object) object { return o.with("booking_id", `5`) }))
	require.Empty(t, ev.BookingID, "booking_id is not a field of a refund")
}
