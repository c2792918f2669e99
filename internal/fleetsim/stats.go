package fleetsim

import (
	"iter"

	"github.com/tallyhq/tally/events"
)

// Stats counts the messages of a stream by what tally must make of them.
type Stats struct {
	Messages int // every message
	// Originals counts the first copy of each business event of a known
	// type, by type: what tally.daily_* views count.
	Originals map[events.Type]int
	Unknown   int // events of unknown types
	Bad       int // invalid messages
	// BadByCode counts the invalid messages by the code tally gives them.
	BadByCode  map[events.Code]int
	Duplicates int // byte-identical copies
	Conflicts  int // same id, different content
	Reordered  int // events emitted after a later event of their entity
	NoMsgID    int // messages published without Nats-Msg-Id
	// WindowDrops counts the messages whose Nats-Msg-Id an earlier message
	// carried: a stream's duplicate window drops them when they are
	// published within it, so the stream stores Messages - WindowDrops.
	WindowDrops int
}

// Summarize counts a stream's messages. It remembers every Nats-Msg-Id, so
// its memory grows with the stream.
func Summarize(msgs iter.Seq[Message]) Stats {
	s := Stats{Originals: map[events.Type]int{}, BadByCode: map[events.Code]int{}}
	seen := map[string]struct{}{}
	for m := range msgs {
		s.add(m, seen)
	}
	return s
}

func (s *Stats) add(m Message, seen map[string]struct{}) {
	s.Messages++
	switch {
	case m.Bad:
		s.Bad++
		s.BadByCode[m.ExpectCode]++
	case m.Duplicate:
		s.Duplicates++
	case m.Conflict:
		s.Conflicts++
	case m.Unknown:
		s.Unknown++
	default:
		s.Originals[events.Type(m.Subject)]++
	}
	if m.Reordered {
		s.Reordered++
	}
	if m.MsgID == "" {
		s.NoMsgID++
		return
	}
	if _, ok := seen[m.MsgID]; ok {
		s.WindowDrops++
	}
	seen[m.MsgID] = struct{}{}
}

// Events returns the number of distinct valid events: the originals of
// known types and the events of unknown types.
func (s *Stats) Events() int {
	n := s.Unknown
	for _, c := range s.Originals {
		n += c
	}
	return n
}
