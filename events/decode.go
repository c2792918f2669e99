package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the envelope.
const (
	// MaxIDBytes is the longest event id accepted.
	MaxIDBytes = 128
	// MaxTypeBytes is the longest event type accepted.
	MaxTypeBytes = 128
	// DefaultMaxEventBytes is the default limit of a whole message.
	DefaultMaxEventBytes = 65536
	// MaxAmountMinor is the largest amount accepted, 2^53-1, so that every
	// amount is exact in any JSON reader.
	MaxAmountMinor = 1<<53 - 1
)

// Code classifies why a message could not be used. The set is small and
// fixed so that it can label metrics and alerts.
type Code string

// Error codes, in the order validation checks for them.
const (
	CodeTooLarge        Code = "too_large"
	CodeInvalidJSON     Code = "invalid_json"
	CodeInvalidEnvelope Code = "invalid_envelope"
	CodeInvalidData     Code = "invalid_data"
	// CodeApplyFailed marks a valid event that kept failing to apply.
	CodeApplyFailed Code = "apply_failed"
)

// Codes lists every code, for metrics that must show zeros.
var Codes = []Code{CodeTooLarge, CodeInvalidJSON, CodeInvalidEnvelope, CodeInvalidData, CodeApplyFailed}

// Error is a validation failure: a code and a short human detail that never
// contains the payload itself.
type Error struct {
	Code   Code
	Detail string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Detail }

// CodeOf returns the code of a validation error, or "" when err is not one.
func CodeOf(err error) Code {
	var ve *Error
	if errors.As(err, &ve) {
		return ve.Code
	}
	return ""
}

func invalid(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Decode validates one message in the contract's order (size and
// encoding, envelope, then data of a known type) and returns the event.
// An unknown type with a valid envelope is returned without error; check
// Event.Known. maxBytes <= 0 means DefaultMaxEventBytes. Every failure is an
// *Error.
func Decode(body []byte, maxBytes int) (Event, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxEventBytes
	}
	if len(body) > maxBytes {
		return Event{}, invalid(CodeTooLarge, "message is %d bytes, the limit is %d", len(body), maxBytes)
	}
	if !utf8.Valid(body) {
		return Event{}, invalid(CodeInvalidJSON, "message is not valid UTF-8")
	}
	// A validator of our own (what json.Valid accepts, in two fifths of
	// its time), then a walk of members by exact name: decoding into a
	// struct would match names case-insensitively, so an extra "ID" or
	// "City" field, which the contract says to ignore, would replace "id"
	// or "city"; decoding into maps costs three times as much.
	if !valid(body) {
		return Event{}, syntaxError(body)
	}
	var buf [maxStackMembers]member
	env, err := members(body, buf[:0])
	if err != nil {
		return Event{}, invalid(CodeInvalidEnvelope, "the message must be a JSON object")
	}
	ev, err := decodeEnvelope(env)
	if err != nil {
		return Event{}, err
	}
	ev.Body = body
	if !ev.Type.Known() {
		return ev, nil
	}
	if err := decodeData(&ev, lookup(env, "data")); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// syntaxError says where body stops being JSON, as encoding/json finds it.
func syntaxError(body []byte) *Error {
	var v any
	var syntax *json.SyntaxError
	if err := json.Unmarshal(body, &v); errors.As(err, &syntax) {
		return invalid(CodeInvalidJSON, "not valid JSON at byte %d", syntax.Offset)
	}
	return invalid(CodeInvalidJSON, "not valid JSON")
}

func decodeEnvelope(env []member) (Event, error) {
	var ev Event
	id, err := jsonString(lookup(env, "id"))
	if err != nil || id == "" || len(id) > MaxIDBytes || strings.IndexByte(id, 0) >= 0 {
		return ev, invalid(CodeInvalidEnvelope, "id must be a string of 1 to %d bytes", MaxIDBytes)
	}
	typ, err := jsonString(lookup(env, "type"))
	if err != nil || typ == "" || len(typ) > MaxTypeBytes || strings.IndexByte(typ, 0) >= 0 {
		return ev, invalid(CodeInvalidEnvelope, "type must be a string of 1 to %d bytes", MaxTypeBytes)
	}
	at, err := jsonTime(lookup(env, "occurred_at"))
	if err != nil {
		return ev, invalid(CodeInvalidEnvelope, "occurred_at %v", err)
	}
	var seq int64
	if raw := lookup(env, "seq"); len(raw) > 0 && string(raw) != "null" {
		if seq, err = jsonInt(raw, 1, 1<<63-1); err != nil {
			return ev, invalid(CodeInvalidEnvelope, "seq must be an integer >= 1")
		}
	}
	if data := lookup(env, "data"); len(data) == 0 || data[0] != '{' {
		return ev, invalid(CodeInvalidEnvelope, "data must be a JSON object")
	}
	ev.ID, ev.Type, ev.OccurredAt, ev.Seq = id, Type(typ), at, seq
	return ev, nil
}

// jsonString decodes a JSON string literal; anything else is an error.
// The message is valid JSON and valid UTF-8, so a string without escapes
// is its bytes between the quotes.
func jsonString(raw json.RawMessage) (string, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", errors.New("not a string")
	}
	if bytes.IndexByte(raw, '\\') < 0 && raw[len(raw)-1] == '"' {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// jsonTime decodes an RFC 3339 timestamp with an explicit offset and
// returns it in UTC at microsecond precision.
func jsonTime(raw json.RawMessage) (time.Time, error) {
	s, err := jsonString(raw)
	if err != nil {
		return time.Time{}, errors.New("must be an RFC 3339 string")
	}
	return ParseTime(s)
}

// ParseTime parses an RFC 3339 timestamp with a "Z" or ±hh:mm offset and
// returns it in UTC, truncated to the microsecond. The instant must fall in
// the years 0001 to 9999 in UTC: earlier ones would sort before the zero
// Key, and neither can be written back as RFC 3339 in UTC.
func ParseTime(s string) (time.Time, error) {
	if !rfc3339Shape(s) {
		return time.Time{}, fmt.Errorf("must be RFC 3339 with an offset, such as 2026-05-01T09:30:00Z")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("is not a valid time: %s", strings.TrimPrefix(err.Error(), "parsing time "))
	}
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("must fall in the years 0001 to 9999 in UTC")
	}
	return t.Truncate(time.Microsecond), nil
}

// rfc3339Shape checks the exact form YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)
// with an offset of at most 23:59, which time.Parse alone accepts too
// loosely (it takes +24:00 and +23:60). The fraction may have any number of
// digits, as RFC 3339 allows; ParseTime keeps six.
func rfc3339Shape(s string) bool {
	const head = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(head)+1 {
		return false
	}
	for i := range len(head) {
		if !shapeByte(head[i], s[i]) {
			return false
		}
	}
	rest := s[len(head):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	if rest == "Z" {
		return true
	}
	return len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		twoDigits(rest[1:3], 23) && twoDigits(rest[4:6], 59)
}

// twoDigits reports whether s is two decimal digits of a number <= hi.
func twoDigits(s string, hi int) bool {
	return shapeByte('d', s[0]) && shapeByte('d', s[1]) && int(s[0]-'0')*10+int(s[1]-'0') <= hi
}

func shapeByte(want, got byte) bool {
	if want == 'd' {
		return got >= '0' && got <= '9'
	}
	return want == got
}

// jsonInt decodes a JSON integer literal (digits only: no sign, fraction
// or exponent) within [lo, hi].
func jsonInt(raw json.RawMessage, lo, hi int64) (int64, error) {
	if len(raw) == 0 {
		return 0, errors.New("missing")
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, errors.New("not an integer literal")
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// canonicalData returns the "data" object of a message re-encoded with
// sorted keys and no white space, for comparing two copies of an event.
func canonicalData(body []byte) ([]byte, error) {
	if !valid(body) {
		return nil, errors.New("not valid JSON")
	}
	var buf [maxStackMembers]member
	env, err := members(body, buf[:0])
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(lookup(env, "data")))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
