package events

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// decodeData fills the payload of a known type from its data object, which
// the envelope check has already found to be a JSON object. Fields are
// matched by exact name; others are ignored.
func decodeData(ev *Event, data json.RawMessage) error {
	var buf [maxStackMembers]member
	m, err := members(data, buf[:0])
	// The failure lives apart from the members: escape analysis does not
	// tell a struct's fields apart, and an error returned through the
	// struct would move buf to the heap, a kilobyte per event.
	f := fields{m: m, err: &err}
	switch ev.Type {
	case CarStatusChanged:
		ev.CarID, ev.City, ev.Status = f.str("car_id"), f.str("city"), f.carStatus("status")
	case BookingConfirmed:
		ev.BookingID, ev.CarID, ev.City = f.str("booking_id"), f.str("car_id"), f.str("city")
		ev.StartAt, ev.EndAt = f.time("start_at"), f.time("end_at")
		if err == nil && !ev.EndAt.After(ev.StartAt) {
			err = errors.New("end_at must be after start_at")
		}
	case BookingStarted, BookingEnded, BookingCancelled:
		ev.BookingID, ev.CarID, ev.City = f.str("booking_id"), f.str("car_id"), f.str("city")
	case PaymentCaptured:
		ev.PaymentID, ev.BookingID, ev.City = f.str("payment_id"), f.str("booking_id"), f.str("city")
		ev.AmountMinor, ev.Currency = f.amount("amount_minor"), f.currency("currency")
	case PaymentRefunded:
		ev.PaymentID, ev.City = f.str("payment_id"), f.str("city")
		ev.AmountMinor, ev.Currency = f.amount("amount_minor"), f.currency("currency")
	}
	if err != nil {
		return invalid(CodeInvalidData, "%s: %v", ev.Type, err)
	}
	return nil
}

// fields reads the required fields of a data object. The first failure
// sticks and later reads return zero values, so that a payload decodes in
// a few straight lines.
type fields struct {
	m   []member
	err *error
}

func (f *fields) fail(name, why string) {
	if *f.err == nil {
		*f.err = errors.New(name + " " + why)
	}
}

// raw returns a field's JSON value, or nil after recording a failure when
// the field is missing or null.
func (f *fields) raw(name string) json.RawMessage {
	if *f.err != nil {
		return nil
	}
	raw := lookup(f.m, name)
	if len(raw) == 0 || string(raw) == "null" {
		f.fail(name, "is missing")
		return nil
	}
	return raw
}

// str reads a non-empty string without NUL characters, which PostgreSQL
// text cannot hold.
func (f *fields) str(name string) string {
	raw := f.raw(name)
	if raw == nil {
		return ""
	}
	s, err := jsonString(raw)
	switch {
	case err != nil:
		f.fail(name, "must be a JSON string")
	case s == "":
		f.fail(name, "is empty")
	case strings.IndexByte(s, 0) >= 0:
		f.fail(name, "contains a NUL character")
	default:
		return s
	}
	return ""
}

func (f *fields) carStatus(name string) string {
	s := f.str(name)
	switch s {
	case CarActive, CarMaintenance, CarRetired, "":
	default:
		f.fail(name, "must be active, maintenance or retired")
	}
	return s
}

func (f *fields) time(name string) time.Time {
	raw := f.raw(name)
	if raw == nil {
		return time.Time{}
	}
	t, err := jsonTime(raw)
	if err != nil {
		f.fail(name, err.Error())
	}
	return t
}

func (f *fields) amount(name string) int64 {
	raw := f.raw(name)
	if raw == nil {
		return 0
	}
	n, err := jsonInt(raw, 1, MaxAmountMinor)
	if err != nil {
		f.fail(name, "must be an integer literal from 1 to 2^53-1")
	}
	return n
}

func (f *fields) currency(name string) string {
	s := f.str(name)
	if s != "" && !isCurrency(s) {
		f.fail(name, "must be 3 upper-case ASCII letters")
	}
	return s
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
