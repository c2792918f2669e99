package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Draft is an event as a publisher builds it. Data is one of the payload
// types below, or any JSON object for a type tally does not know yet.
type Draft struct {
	ID         string    `json:"id"`
	Type       Type      `json:"type"`
	OccurredAt time.Time `json:"occurred_at"`
	Seq        int64     `json:"seq,omitempty"`
	Data       any       `json:"data"`
}

// Payloads of the known types, for publishers.
type (
	// CarStatus is the data of car.status_changed.
	CarStatus struct {
		CarID  string `json:"car_id"`
		City   string `json:"city"`
		Status string `json:"status"`
	}
	// BookingConfirmation is the data of booking.confirmed.
	BookingConfirmation struct {
		BookingID string    `json:"booking_id"`
		CarID     string    `json:"car_id"`
		City      string    `json:"city"`
		StartAt   time.Time `json:"start_at"`
		EndAt     time.Time `json:"end_at"`
	}
	// BookingChange is the data of booking.started, .ended and .cancelled.
	BookingChange struct {
		BookingID string `json:"booking_id"`
		CarID     string `json:"car_id"`
		City      string `json:"city"`
	}
	// PaymentCapture is the data of payment.captured.
	PaymentCapture struct {
		PaymentID   string `json:"payment_id"`
		BookingID   string `json:"booking_id"`
		City        string `json:"city"`
		AmountMinor int64  `json:"amount_minor"`
		Currency    string `json:"currency"`
	}
	// PaymentRefund is the data of payment.refunded.
	PaymentRefund struct {
		PaymentID   string `json:"payment_id"`
		City        string `json:"city"`
		AmountMinor int64  `json:"amount_minor"`
		Currency    string `json:"currency"`
	}
)

// Encode returns the message body of a draft.
func (d Draft) Encode() ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.ID, err)
	}
	return b, nil
}

// Publisher publishes events to JetStream on "<prefix>.<type>" with the
// Nats-Msg-Id header set to the event id, so that the stream's duplicate
// window drops a second publish of the same event.
type Publisher struct {
	js     jetstream.JetStream
	prefix string
}

// NewPublisher returns a Publisher for subjects under prefix (such as
// "fleet").
func NewPublisher(js jetstream.JetStream, prefix string) *Publisher {
	return &Publisher{js: js, prefix: prefix}
}

// Msg returns the NATS message that publishes d.
func (p *Publisher) Msg(d Draft) (*nats.Msg, error) {
	body, err := d.Encode()
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(p.prefix + "." + string(d.Type))
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, d.ID)
	return m, nil
}

// Publish publishes d and waits for the stream's acknowledgement.
func (p *Publisher) Publish(ctx context.Context, d Draft) (*jetstream.PubAck, error) {
	m, err := p.Msg(d)
	if err != nil {
		return nil, err
	}
	ack, err := p.js.PublishMsg(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("publish event %q: %w", d.ID, err)
	}
	return ack, nil
}

// PublishAsync publishes d without waiting; the future reports the
// stream's acknowledgement. Use jetstream.JetStream.PublishAsyncComplete
// to wait for all of them.
func (p *Publisher) PublishAsync(d Draft) (jetstream.PubAckFuture, error) {
	m, err := p.Msg(d)
	if err != nil {
		return nil, err
	}
	f, err := p.js.PublishMsgAsync(m)
	if err != nil {
		return nil, fmt.Errorf("publish event %q: %w", d.ID, err)
	}
	return f, nil
}
