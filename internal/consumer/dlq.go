package consumer

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a dead-letter copy.
const (
	HeaderError         = "Tally-Error"
	HeaderSourceStream  = "Tally-Source-Stream"
	HeaderSourceSeq     = "Tally-Source-Seq"
	HeaderSourceSubject = "Tally-Source-Subject"
	HeaderSourceMsgID   = "Tally-Source-Msg-Id"
	HeaderTruncated     = "Tally-Truncated"
)

// dlqPublishTimeout bounds the wait for the dead-letter stream's acks.
const dlqPublishTimeout = 10 * time.Second

// publishDeadLetters copies each dead letter of the batch, whole, to the
// dead-letter stream. A copy that fails is marked so its message is
// redelivered: the database keeps one row, the stream one copy (by
// Nats-Msg-Id).
func (w *Worker) publishDeadLetters(ctx context.Context, items []*item) {
	type pending struct {
		it *item
		f  jetstream.PubAckFuture
	}
	var sent []pending
	for _, it := range items {
		if it.dl == nil {
			continue
		}
		f, err := w.js.PublishMsgAsync(w.dlqMsg(it))
		if err != nil {
			w.log.Error("copy to dead-letter stream failed", "stream_seq", it.seq, "err", err)
			it.failed = true
			continue
		}
		sent = append(sent, pending{it, f})
	}
	timeout := time.NewTimer(dlqPublishTimeout)
	defer timeout.Stop()
	for _, p := range sent {
		select {
		case <-p.f.Ok():
		case err := <-p.f.Err():
			w.log.Error("copy to dead-letter stream failed", "stream_seq", p.it.seq, "err", err)
			p.it.failed = true
		case <-timeout.C:
			p.it.failed = true
		case <-ctx.Done():
			p.it.failed = true
		}
	}
}

// dlqMsg builds the copy: the original body and headers (less NATS's own,
// which could make the publish fail) plus tally's.
func (w *Worker) dlqMsg(it *item) *nats.Msg {
	m := nats.NewMsg(w.cfg.DLQSubject)
	for k, vs := range it.msg.Headers() {
		if strings.HasPrefix(k, "Nats-") {
			if k == jetstream.MsgIDHeader && len(vs) > 0 {
				m.Header.Set(HeaderSourceMsgID, vs[0])
			}
			continue
		}
		for _, v := range vs {
			m.Header.Add(k, v)
		}
	}
	m.Header.Set(HeaderError, string(it.dl.Code)+": "+oneLine(it.dl.Detail))
	m.Header.Set(HeaderSourceStream, w.cfg.Stream)
	m.Header.Set(HeaderSourceSeq, strconv.FormatUint(it.seq, 10))
	m.Header.Set(HeaderSourceSubject, it.msg.Subject())
	m.Header.Set(jetstream.MsgIDHeader, w.cfg.Stream+":"+strconv.FormatUint(it.seq, 10))
	m.Data = it.msg.Data()
	// A message near the server's payload limit cannot grow by our headers:
	// the database keeps it whole, the stream a marked prefix.
	if limit := int(w.nc.MaxPayload()) - 4096; limit > 0 && len(m.Data) > limit {
		m.Header.Set(HeaderTruncated, strconv.Itoa(len(m.Data)))
		m.Data = m.Data[:limit]
	}
	return m
}

func oneLine(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}
