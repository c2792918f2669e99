package fleetsim

import (
	"context"
	"fmt"
	"iter"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishWindow is the most messages Publish leaves awaiting their
// acknowledgement: below the jetstream package's default limit of 4,000
// pending asynchronous publishes, so that a publish never stalls on it.
const PublishWindow = 2048

// Publish publishes messages on subjectPrefix + "." + Subject (Subject
// alone when the prefix is ""), setting Nats-Msg-Id when MsgID is set. It
// publishes asynchronously, waits for the acknowledgements every
// PublishWindow messages and at the end, and calls progress (when not nil)
// with the number acknowledged so far after each window. It returns the
// number of messages acknowledged, counting those the stream's duplicate
// window dropped, and stops at the first error or when ctx is done.
func Publish(ctx context.Context, js jetstream.JetStream, subjectPrefix string,
	msgs iter.Seq[Message], progress func(n int),
) (int, error) {
	p := &publisher{js: js, prefix: subjectPrefix, progress: progress}
	for m := range msgs {
		if err := p.add(ctx, m); err != nil {
			return p.acked, err
		}
	}
	err := p.flush(ctx)
	return p.acked, err
}

// publisher is one Publish call: its window of futures and its count.
type publisher struct {
	js       jetstream.JetStream
	prefix   string
	progress func(int)
	pending  []jetstream.PubAckFuture
	acked    int
}

func (p *publisher) add(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish message %d: %w", p.acked+len(p.pending)+1, context.Cause(ctx))
	}
	f, err := p.js.PublishMsgAsync(p.msg(m))
	if err != nil {
		return fmt.Errorf("publish message %d on %q: %w", p.acked+len(p.pending)+1, m.Subject, err)
	}
	p.pending = append(p.pending, f)
	if len(p.pending) < PublishWindow {
		return nil
	}
	return p.flush(ctx)
}

func (p *publisher) msg(m Message) *nats.Msg {
	subject := m.Subject
	if p.prefix != "" {
		subject = p.prefix + "." + subject
	}
	nm := &nats.Msg{Subject: subject, Data: m.Body}
	if m.MsgID != "" {
		nm.Header = nats.Header{jetstream.MsgIDHeader: []string{m.MsgID}}
	}
	return nm
}

// flush waits for the window's acknowledgements and reports the first
// failed publish.
func (p *publisher) flush(ctx context.Context) error {
	if len(p.pending) == 0 {
		return nil
	}
	select {
	case <-p.js.PublishAsyncComplete():
	case <-ctx.Done():
		return fmt.Errorf("wait for %d acknowledgements: %w", len(p.pending), context.Cause(ctx))
	}
	for i, f := range p.pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish message %d on %q: %w", p.acked+i+1, f.Msg().Subject, err)
		case <-ctx.Done():
			return fmt.Errorf("wait for acknowledgement %d: %w", p.acked+i+1, context.Cause(ctx))
		}
	}
	p.acked += len(p.pending)
	clear(p.pending)
	p.pending = p.pending[:0]
	if p.progress != nil {
		p.progress(p.acked)
	}
	return nil
}
