package fleetsim

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally/events"
)

// parts are the raw JSON values of an envelope's fields; "" leaves a field
// out.
type parts struct{ id, typ, at, seq, data string }

func (p parts) body() []byte {
	var b []byte
	sep := byte('{')
	for _, f := range [...]struct{ k, v string }{
		{"id", p.id}, {"type", p.typ}, {"occurred_at", p.at}, {"seq", p.seq}, {"data", p.data},
	} {
		if f.v != "" {
			b = append(append(b, sep, '"'), f.k...)
			b = append(append(b, `":`...), f.v...)
			sep = ','
		}
	}
	if sep == '{' {
		b = append(b, '{')
	}
	return append(b, '}')
}

// badCtx is what an invalid message is made from: the event it follows,
// with a fresh id.
type badCtx struct {
	g     *gen
	e     *event
	id    string
	parts parts // the valid envelope of e under id
}

// valid returns the valid body of the event under the fresh id.
func (c *badCtx) valid() []byte { return c.parts.body() }

// with returns the valid envelope with one change.
func (c *badCtx) with(change func(p *parts)) []byte {
	p := c.parts
	change(&p)
	return p.body()
}

// data returns an envelope of type typ whose data object is tmpl with $car,
// $city, $bk, $pay, $cur, $start, $end and $naive (a time without offset)
// filled in from the event.
func (c *badCtx) data(typ events.Type, tmpl string) []byte {
	bk := c.e.bookingID
	if bk == "" {
		bk = c.e.car.id + "-bk"
	}
	pay := c.e.paymentID
	if pay == "" {
		pay = c.e.car.id + "-pay"
	}
	start := c.e.at.Add(time.Hour)
	r := strings.NewReplacer(
		"$car", quote(c.e.car.id), "$city", quote(c.e.car.city), "$bk", quote(bk),
		"$pay", quote(pay), "$cur", quote(c.e.car.currency),
		"$start", quoteTime(start), "$end", quoteTime(start.Add(time.Hour)),
		"$naive", quote(start.Format("2006-01-02T15:04:05")),
	)
	p := c.parts
	p.typ, p.seq, p.data = quote(string(typ)), "", r.Replace(tmpl)
	return p.body()
}

func quote(s string) string { return string(appendString(nil, s)) }

func quoteTime(t time.Time) string { return string(appendTime(nil, t)) }

// badKind is one way a message can be invalid. subject is the subject
// suffix: the kind's data type, or the event's type when it is "".
type badKind struct {
	name    string
	code    events.Code
	subject events.Type
	build   func(c *badCtx) []byte
}

// BadKinds returns the names of the kinds of invalid message a simulation
// emits, in the order it takes them in turn.
func BadKinds() []string {
	names := make([]string, len(badKinds))
	for i := range badKinds {
		names[i] = badKinds[badIndex(i)].name
	}
	return names
}

// badIndex returns the index in badKinds of the n-th invalid message's
// kind. It strides through the table, which is in validation order, so
// that even a few invalid messages show every code; the stride is prime to
// the table's length, so every kind comes in turn.
func badIndex(n int) int {
	stride := len(badKinds)/4 + 1
	for gcd(stride, len(badKinds)) != 1 {
		stride++
	}
	return n * stride % len(badKinds)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// bad returns the next kind of invalid message, made from the event it
// follows. Invalid messages carry no Nats-Msg-Id.
func (g *gen) bad(e *event) Message {
	k := &badKinds[badIndex(g.nBad%len(badKinds))]
	g.nBad++
	c := &badCtx{g: g, e: e, id: g.nextID("ev", &g.nEvent)}
	c.parts = parts{
		id: quote(c.id), typ: quote(string(e.typ)), at: quoteTime(e.at),
		data: string(appendData(nil, e, time.UTC)),
	}
	if e.seq != 0 {
		c.parts.seq = strconv.FormatInt(e.seq, 10)
	}
	subject := k.subject
	if subject == "" {
		subject = e.typ
	}
	return Message{Subject: string(subject), Body: k.build(c), Bad: true, ExpectCode: k.code, BadKind: k.name}
}

// constant returns a builder of a fixed body.
func constant(body string) func(*badCtx) []byte {
	return func(*badCtx) []byte { return []byte(body) }
}

// field returns a builder that sets one envelope field to a raw value.
func field(set func(p *parts, v string), raw string) func(*badCtx) []byte {
	return func(c *badCtx) []byte { return c.with(func(p *parts) { set(p, raw) }) }
}

func setID(p *parts, v string)   { p.id = v }
func setType(p *parts, v string) { p.typ = v }
func setAt(p *parts, v string)   { p.at = v }
func setSeq(p *parts, v string)  { p.seq = v }
func setData(p *parts, v string) { p.data = v }

// dataKind returns a kind whose data object, of a known type, is invalid.
func dataKind(name string, typ events.Type, tmpl string) badKind {
	return badKind{name, events.CodeInvalidData, typ, func(c *badCtx) []byte { return c.data(typ, tmpl) }}
}

func paymentTmpl(amount, currency string) string {
	return `{"payment_id":$pay,"booking_id":$bk,"city":$city,"amount_minor":` + amount + `,"currency":` + currency + `}`
}

const garbage events.Type = "garbage"

// badKinds are the kinds of invalid message, in the order of validation.
var badKinds = []badKind{
	{"too_large", events.CodeTooLarge, "", tooLarge},
	{"not_json", events.CodeInvalidJSON, garbage, constant("this is not JSON")},
	{"truncated_json", events.CodeInvalidJSON, "", func(c *badCtx) []byte { b := c.valid(); return b[:len(b)/2] }},
	{"trailing_garbage", events.CodeInvalidJSON, "", func(c *badCtx) []byte { return append(c.valid(), "}"...) }},
	{"not_utf8", events.CodeInvalidJSON, "", notUTF8},
	{"array", events.CodeInvalidEnvelope, "", func(c *badCtx) []byte { return append(append([]byte("["), c.valid()...), ']') }},
	{"string", events.CodeInvalidEnvelope, garbage, constant(`"booking.started"`)},
	{"number", events.CodeInvalidEnvelope, garbage, constant(`42`)},
	{"null", events.CodeInvalidEnvelope, garbage, constant(`null`)},
	{"empty_object", events.CodeInvalidEnvelope, garbage, constant(`{}`)},
	{"id_missing", events.CodeInvalidEnvelope, "", field(setID, "")},
	{"id_empty", events.CodeInvalidEnvelope, "", field(setID, `""`)},
	{"id_too_long", events.CodeInvalidEnvelope, "", idTooLong},
	{"id_number", events.CodeInvalidEnvelope, "", field(setID, `12345`)},
	{"id_nul", events.CodeInvalidEnvelope, "", func(c *badCtx) []byte { return c.with(func(p *parts) { p.id = `"` + c.id + `\u0000"` }) }},
	{"type_missing", events.CodeInvalidEnvelope, "", field(setType, "")},
	{"type_empty", events.CodeInvalidEnvelope, "", field(setType, `""`)},
	{"type_number", events.CodeInvalidEnvelope, "", field(setType, `7`)},
	{"occurred_at_missing", events.CodeInvalidEnvelope, "", field(setAt, "")},
	{"occurred_at_no_offset", events.CodeInvalidEnvelope, "", atFormat("2006-01-02T15:04:05.000")},
	{"occurred_at_date_only", events.CodeInvalidEnvelope, "", atFormat("2006-01-02")},
	{"occurred_at_space", events.CodeInvalidEnvelope, "", atFormat("2006-01-02 15:04:05Z07:00")},
	{"occurred_at_unix", events.CodeInvalidEnvelope, "", func(c *badCtx) []byte { return c.with(func(p *parts) { p.at = strconv.FormatInt(c.e.at.Unix(), 10) }) }},
	{"occurred_at_impossible", events.CodeInvalidEnvelope, "", field(setAt, `"2026-02-30T10:00:00Z"`)},
	{"seq_zero", events.CodeInvalidEnvelope, "", field(setSeq, `0`)},
	{"seq_fraction", events.CodeInvalidEnvelope, "", field(setSeq, `1.5`)},
	{"seq_negative", events.CodeInvalidEnvelope, "", field(setSeq, `-1`)},
	{"seq_string", events.CodeInvalidEnvelope, "", field(setSeq, `"3"`)},
	{"seq_exponent", events.CodeInvalidEnvelope, "", field(setSeq, `1e2`)},
	{"data_missing", events.CodeInvalidEnvelope, "", field(setData, "")},
	{"data_array", events.CodeInvalidEnvelope, "", field(setData, `[1,2]`)},
	{"data_string", events.CodeInvalidEnvelope, "", field(setData, `"active"`)},
	{"data_null", events.CodeInvalidEnvelope, "", field(setData, `null`)},
	dataKind("car_status_missing", events.CarStatusChanged, `{"car_id":$car,"city":$city}`),
	dataKind("car_status_unknown", events.CarStatusChanged, `{"car_id":$car,"city":$city,"status":"parked"}`),
	dataKind("car_city_empty", events.CarStatusChanged, `{"car_id":$car,"city":"","status":"active"}`),
	dataKind("car_id_number", events.CarStatusChanged, `{"car_id":12,"city":$city,"status":"active"}`),
	dataKind("confirmed_start_missing", events.BookingConfirmed, `{"booking_id":$bk,"car_id":$car,"city":$city,"end_at":$end}`),
	dataKind("confirmed_end_equals_start", events.BookingConfirmed, `{"booking_id":$bk,"car_id":$car,"city":$city,"start_at":$start,"end_at":$start}`),
	dataKind("confirmed_end_before_start", events.BookingConfirmed, `{"booking_id":$bk,"car_id":$car,"city":$city,"start_at":$end,"end_at":$start}`),
	dataKind("confirmed_start_no_offset", events.BookingConfirmed, `{"booking_id":$bk,"car_id":$car,"city":$city,"start_at":$naive,"end_at":$end}`),
	dataKind("confirmed_booking_empty", events.BookingConfirmed, `{"booking_id":"","car_id":$car,"city":$city,"start_at":$start,"end_at":$end}`),
	dataKind("started_car_missing", events.BookingStarted, `{"booking_id":$bk,"city":$city}`),
	dataKind("ended_city_empty", events.BookingEnded, `{"booking_id":$bk,"car_id":$car,"city":""}`),
	dataKind("cancelled_booking_null", events.BookingCancelled, `{"booking_id":null,"car_id":$car,"city":$city}`),
	dataKind("amount_zero", events.PaymentCaptured, paymentTmpl(`0`, `$cur`)),
	dataKind("amount_fraction", events.PaymentCaptured, paymentTmpl(`1.5`, `$cur`)),
	dataKind("amount_2_53", events.PaymentCaptured, paymentTmpl(`9007199254740992`, `$cur`)),
	dataKind("amount_string", events.PaymentCaptured, paymentTmpl(`"1500"`, `$cur`)),
	dataKind("amount_negative", events.PaymentCaptured, paymentTmpl(`-5`, `$cur`)),
	dataKind("amount_exponent", events.PaymentCaptured, paymentTmpl(`1e3`, `$cur`)),
	dataKind("currency_lowercase", events.PaymentCaptured, paymentTmpl(`1500`, `"eur"`)),
	dataKind("currency_four_letters", events.PaymentCaptured, paymentTmpl(`1500`, `"EURO"`)),
	dataKind("captured_booking_missing", events.PaymentCaptured, `{"payment_id":$pay,"city":$city,"amount_minor":1500,"currency":$cur}`),
	dataKind("refund_amount_missing", events.PaymentRefunded, `{"payment_id":$pay,"city":$city,"currency":$cur}`),
	dataKind("refund_currency_empty", events.PaymentRefunded, `{"payment_id":$pay,"city":$city,"amount_minor":100,"currency":""}`),
	dataKind("refund_payment_empty", events.PaymentRefunded, `{"payment_id":"","city":$city,"amount_minor":100,"currency":$cur}`),
}

// atFormat returns a builder that writes occurred_at in a layout tally
// rejects.
func atFormat(layout string) func(*badCtx) []byte {
	return func(c *badCtx) []byte {
		return c.with(func(p *parts) { p.at = quote(c.e.at.Format(layout)) })
	}
}

// idTooLong pads the fresh id to one byte over the limit.
func idTooLong(c *badCtx) []byte {
	id := c.id + strings.Repeat("x", events.MaxIDBytes+1-len(c.id))
	return c.with(func(p *parts) { p.id = quote(id) })
}

// notUTF8 puts an invalid byte into the city.
func notUTF8(c *badCtx) []byte {
	return bytes.Replace(c.valid(), []byte(`"city":"`), []byte("\"city\":\"\xff"), 1)
}

// tooLarge pads a valid event with an extra field until it is 1 to 1,024
// bytes over MaxEventBytes.
func tooLarge(c *badCtx) []byte {
	valid := c.valid()
	b := append(valid[:len(valid)-1:len(valid)-1], `,"padding":"`...)
	target := c.g.cfg.MaxEventBytes + 1 + c.g.rnd.IntN(1024)
	b = append(b, strings.Repeat("x", max(0, target-len(b)-2))...)
	return append(b, `"}`...)
}

// unknownTypes are types tally does not know yet, with their data.
var unknownTypes = []struct {
	typ  string
	data func(g *gen, c *car) []byte
}{
	{"car.location_updated", func(g *gen, c *car) []byte {
		b := strconv.AppendFloat(append(carData(c), `,"lat":`...), -90+180*g.rnd.Float64(), 'f', 5, 64)
		return append(strconv.AppendFloat(append(b, `,"lon":`...), -180+360*g.rnd.Float64(), 'f', 5, 64), '}')
	}},
	{"car.fuel_reported", func(g *gen, c *car) []byte {
		return append(strconv.AppendInt(append(carData(c), `,"fuel_pct":`...), g.rnd.Int64N(101), 10), '}')
	}},
	{"car.door_unlocked", func(_ *gen, c *car) []byte {
		return append(carData(c), `,"by":"app"}`...)
	}},
}

func carData(c *car) []byte {
	return appendField(appendField(nil, '{', "car_id", c.id), ',', "city", c.city)
}

// unknown returns a valid event of the next unknown type about the car of
// the event it follows.
func (g *gen) unknown(e *event) Message {
	u := unknownTypes[g.nUnknown%len(unknownTypes)]
	g.nUnknown++
	id := g.nextID("ev", &g.nEvent)
	b := appendEnvelope(nil, id, u.typ, e.at, 0)
	b = append(append(b, u.data(g, e.car)...), '}')
	m := Message{Subject: u.typ, Body: b, Unknown: true}
	if !g.chance(g.cfg.NoMsgIDRate) {
		m.MsgID = id
	}
	return m
}
