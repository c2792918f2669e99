package events

import (
	"bytes"
	"strings"
	"time"
)

// Type is an event type, the envelope's authoritative "type" field.
type Type string

// The event types tally counts. Any other type with a valid envelope is
// recorded and ignored.
const (
	CarStatusChanged Type = "car.status_changed"
	BookingConfirmed Type = "booking.confirmed"
	BookingStarted   Type = "booking.started"
	BookingEnded     Type = "booking.ended"
	BookingCancelled Type = "booking.cancelled"
	PaymentCaptured  Type = "payment.captured"
	PaymentRefunded  Type = "payment.refunded"
)

// KnownTypes lists every type tally counts, in a stable order.
var KnownTypes = []Type{
	CarStatusChanged, BookingConfirmed, BookingStarted, BookingEnded,
	BookingCancelled, PaymentCaptured, PaymentRefunded,
}

// Known reports whether tally counts events of this type.
func (t Type) Known() bool {
	switch t {
	case CarStatusChanged, BookingConfirmed, BookingStarted, BookingEnded,
		BookingCancelled, PaymentCaptured, PaymentRefunded:
		return true
	}
	return false
}

// EntityKind names the kind of entity whose state an event changes.
type EntityKind string

// Entity kinds. Payments and unknown types have no entity.
const (
	NoEntity EntityKind = ""
	Car      EntityKind = "car"
	Booking  EntityKind = "booking"
)

// Entity returns the kind of entity events of this type change.
func (t Type) Entity() EntityKind {
	switch t {
	case CarStatusChanged:
		return Car
	case BookingConfirmed, BookingStarted, BookingEnded, BookingCancelled:
		return Booking
	}
	return NoEntity
}

// Car statuses.
const (
	CarActive      = "active"
	CarMaintenance = "maintenance"
	CarRetired     = "retired"
)

// Booking statuses: a booking's status follows its latest event.
const (
	StatusConfirmed = "confirmed"
	StatusOngoing   = "ongoing"
	StatusEnded     = "ended"
	StatusCancelled = "cancelled"
)

// BookingStatuses lists the booking statuses in lifecycle order.
var BookingStatuses = []string{StatusConfirmed, StatusOngoing, StatusEnded, StatusCancelled}

// BookingStatus returns the status a booking event moves its booking to,
// or "" for other types.
func (t Type) BookingStatus() string {
	switch t {
	case BookingConfirmed:
		return StatusConfirmed
	case BookingStarted:
		return StatusOngoing
	case BookingEnded:
		return StatusEnded
	case BookingCancelled:
		return StatusCancelled
	}
	return ""
}

// Event is one decoded, validated event. The payload fields hold the data of
// a known type; which of them are set depends on Type. OccurredAt is in UTC
// and truncated to the microsecond, the precision of its ordering and of
// PostgreSQL.
type Event struct {
	ID         string
	Type       Type
	OccurredAt time.Time
	Seq        int64 // 0 when absent

	// Body is the whole message as received, kept for the ledger.
	Body []byte

	CarID     string
	BookingID string
	City      string
	Status    string // car.status_changed only

	StartAt time.Time // booking.confirmed only
	EndAt   time.Time // booking.confirmed only

	PaymentID   string
	AmountMinor int64
	Currency    string
}

// Known reports whether tally counts this event's type.
func (e *Event) Known() bool { return e.Type.Known() }

// EntityID returns the id of the entity the event changes, or "" when it
// has none.
func (e *Event) EntityID() string {
	switch e.Type.Entity() {
	case Car:
		return e.CarID
	case Booking:
		return e.BookingID
	}
	return ""
}

// Key returns the event's position in its entity's total order.
func (e *Event) Key() Key {
	return Key{Seq: e.Seq, At: e.OccurredAt, ID: e.ID}
}

// Key totally orders the events of one entity: by Seq (absent counts as
// 0), then by the instant OccurredAt at microsecond precision, then by ID
// compared as bytes. The zero Key sorts before every event's key.
type Key struct {
	Seq int64
	At  time.Time
	ID  string
}

// IsZero reports whether k is the zero Key, the key of no event.
func (k Key) IsZero() bool { return k.Seq == 0 && k.At.IsZero() && k.ID == "" }

// Compare returns -1, 0 or +1 as k sorts before, with or after o.
func (k Key) Compare(o Key) int {
	switch {
	case k.Seq < o.Seq:
		return -1
	case k.Seq > o.Seq:
		return 1
	}
	if c := k.At.Compare(o.At); c != 0 {
		return c
	}
	return strings.Compare(k.ID, o.ID)
}

// Less reports whether k sorts before o.
func (k Key) Less(o Key) bool { return k.Compare(o) < 0 }

// SameContent reports whether two events with the same id carry the same
// content, compared decoded: type, instant, seq and data. For a known type
// the data is its decoded payload, so formatting, key order, the offset a
// time is written with, and extra fields (in the envelope or in data) make
// no difference. For an unknown type, whose fields tally cannot know, the
// whole data object is compared as JSON values.
func SameContent(a, b *Event) bool {
	if a.Type != b.Type || !a.OccurredAt.Equal(b.OccurredAt) || a.Seq != b.Seq {
		return false
	}
	if a.Known() {
		return samePayload(a, b)
	}
	da, errA := canonicalData(a.Body)
	db, errB := canonicalData(b.Body)
	if errA != nil || errB != nil {
		return false
	}
	return bytes.Equal(da, db)
}

func samePayload(a, b *Event) bool {
	return a.CarID == b.CarID && a.BookingID == b.BookingID && a.City == b.City &&
		a.Status == b.Status && a.StartAt.Equal(b.StartAt) && a.EndAt.Equal(b.EndAt) &&
		a.PaymentID == b.PaymentID && a.AmountMinor == b.AmountMinor && a.Currency == b.Currency
}
