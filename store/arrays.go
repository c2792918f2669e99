package store

import (
	"encoding/binary"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// pgx encodes an array parameter element by element through interfaces: it
// boxes each element, looks up its plan and often allocates. Every apply
// sends arrays of thousands of strings and times (ids to look up, entity
// states to write), on its transaction's path, and that encoding was about
// a tenth of the worker's CPU in a catch-up. fastArrayCodec writes the same
// bytes for []string as text[] and for []time.Time and []*time.Time as
// timestamptz[] directly; every other value, and decoding, is pgx's own.

// registerArrayEncoders makes m encode those slices with fastArrayCodec.
func registerArrayEncoders(m *pgtype.Map) {
	for _, oid := range []uint32{pgtype.TextArrayOID, pgtype.TimestamptzArrayOID} {
		t, ok := m.TypeForOID(oid)
		if !ok {
			continue
		}
		ac, ok := t.Codec.(*pgtype.ArrayCodec)
		if !ok {
			continue
		}
		m.RegisterType(&pgtype.Type{Name: t.Name, OID: oid, Codec: fastArrayCodec{ac}})
	}
}

type fastArrayCodec struct{ *pgtype.ArrayCodec }

func (c fastArrayCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if format == pgtype.BinaryFormatCode {
		switch c.ElementType.OID {
		case pgtype.TextOID:
			if _, ok := value.([]string); ok {
				return textArrayPlan
			}
		case pgtype.TimestamptzOID:
			switch value.(type) {
			case []time.Time:
				return timeArrayPlan
			case []*time.Time:
				return nullTimeArrayPlan
			}
		}
	}
	return c.ArrayCodec.PlanEncode(m, oid, format, value)
}

// Array elements and the fields of COPY's binary format are written
// alike: a 32-bit length, -1 for NULL, then the value's bytes.

// appendNull appends a NULL element or field.
func appendNull(buf []byte) []byte { return binary.BigEndian.AppendUint32(buf, 0xFFFFFFFF) }

// appendValue appends an element or field of the bytes of v.
func appendValue[T string | []byte](buf []byte, v T) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(v)))
	return append(buf, v...)
}

// arrayHeader appends the binary header of a one-dimensional array of n
// elements of type elem, as pgx writes it (a nil slice is NULL and has no
// header), and returns where its has-null flag is.
func arrayHeader(buf []byte, elem uint32, n int) ([]byte, int) {
	buf = binary.BigEndian.AppendUint32(buf, 1) // dimensions
	hasNull := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, 0)
	buf = binary.BigEndian.AppendUint32(buf, elem)
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	return binary.BigEndian.AppendUint32(buf, 1), hasNull // lower bound
}

// arrayPlan encodes a []T as a one-dimensional array of elem; add appends
// one element and reports whether it was NULL.
type arrayPlan[T any] struct {
	elem uint32
	add  func([]byte, T) ([]byte, bool)
}

func (p arrayPlan[T]) Encode(value any, buf []byte) ([]byte, error) {
	vs := value.([]T)
	if vs == nil {
		return nil, nil
	}
	buf, hasNull := arrayHeader(buf, p.elem, len(vs))
	for _, v := range vs {
		var null bool
		if buf, null = p.add(buf, v); null {
			binary.BigEndian.PutUint32(buf[hasNull:], 1)
		}
	}
	return buf, nil
}

var (
	textArrayPlan = arrayPlan[string]{pgtype.TextOID, func(buf []byte, s string) ([]byte, bool) {
		return appendValue(buf, s), false
	}}
	timeArrayPlan = arrayPlan[time.Time]{pgtype.TimestamptzOID, func(buf []byte, t time.Time) ([]byte, bool) {
		return appendTimestamptz(buf, t), false
	}}
	nullTimeArrayPlan = arrayPlan[*time.Time]{pgtype.TimestamptzOID, func(buf []byte, t *time.Time) ([]byte, bool) {
		if t == nil {
			return appendNull(buf), true
		}
		return appendTimestamptz(buf, *t), false
	}}
)

// microsecondsFromUnixToY2K is PostgreSQL's epoch, 2000-01-01 UTC, in
// microseconds since the Unix epoch.
const microsecondsFromUnixToY2K = 946_684_800 * 1_000_000

func appendTimestamptz(buf []byte, t time.Time) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 8)
	us := t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - microsecondsFromUnixToY2K
	return binary.BigEndian.AppendUint64(buf, uint64(us))
}
