package consumer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfig is the configuration tally gives a stream it creates.
func StreamConfig(cfg Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "Fleet events counted by tally",
		Subjects:    []string{cfg.Subjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      cfg.StreamMaxAge,
		Duplicates:  2 * time.Minute,
		// Over-size events still reach tally, to be dead-lettered.
		MaxMsgSize: 1 << 20,
	}
}

// Setup makes sure the stream, the dead-letter stream and the durable
// consumer exist. An existing stream is used as it is, never changed.
func Setup(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Consumer, error) {
	s, err := ensureStream(ctx, js, StreamConfig(cfg))
	if err != nil {
		return nil, err
	}
	if err := ensureDLQ(ctx, js, cfg); err != nil {
		return nil, err
	}
	cc := ForStream(ConsumerConfig(cfg), s.CachedInfo().Config.Subjects)
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
	if err != nil && cc.FilterSubject == "" {
		// A consumer made by an earlier tally keeps its filter if the
		// server refuses to change it.
		cc.FilterSubject = cfg.Subjects
		cons, err = js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
	}
	if err != nil {
		return nil, fmt.Errorf("create consumer %q on stream %q for %q: %w", cfg.Consumer, cfg.Stream, cfg.Subjects, err)
	}
	return cons, nil
}

// ForStream drops the consumer's subject filter when the stream holds
// nothing else: the consumer gets the same messages, and on NATS 2.9 a
// filtered pull consumer nearly stops delivering once anyone asks for its
// state (consumer info: tally's pending gauge, the bench, nats consumer
// info, an exporter). With a request every 100 ms, a fetch of 5,000
// waiting messages took 7 to 9 s instead of 50 ms on 2.9.10; unfiltered,
// or on 2.15.2, never.
func ForStream(cc jetstream.ConsumerConfig, streamSubjects []string) jetstream.ConsumerConfig {
	if len(streamSubjects) == 1 && streamSubjects[0] == cc.FilterSubject {
		cc.FilterSubject = ""
	}
	return cc
}

// SlowWhenFiltered reports whether a NATS server of this version ("2.9.10")
// may serve filtered consumers slowly while their state is read: 2.9.10
// does, 2.15.2 does not (measured); which release fixed it was not
// determined, so every version before 2.10 counts.
func SlowWhenFiltered(version string) bool {
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major < 2 || (major == 2 && minor < 10)
}

// Filtered reports whether the worker's consumer has a subject filter,
// which NATS 2.9 serves slowly while its state is being read.
func Filtered(cons jetstream.Consumer) bool {
	return cons.CachedInfo().Config.FilterSubject != "" || len(cons.CachedInfo().Config.FilterSubjects) > 0
}

// ConsumerConfig is the shared durable pull consumer all workers use, on
// the subjects of the settings; Setup drops the filter when the stream
// holds only those (ForStream).
func ConsumerConfig(cfg Config) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       cfg.Consumer,
		Description:   "tally workers",
		FilterSubject: cfg.Subjects,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1, // never give up on an event: nothing is lost
		MaxAckPending: max(1000, cfg.BatchSize*10),
	}
}

// ensureStream returns the stream named in sc, created with sc when missing.
func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, sc.Name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("look up stream %q: %w", sc.Name, err)
	}
	s, err = js.CreateStream(ctx, sc)
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
		// Another worker created it first.
		s, err = js.Stream(ctx, sc.Name)
		return s, wrap(err, "look up stream %q", sc.Name)
	case errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeSubjectOverlap:
		return nil, overlapError(ctx, js, sc)
	}
	return s, wrap(err, "create stream %q", sc.Name)
}

// errCodeSubjectOverlap is nats-server's JSStreamSubjectOverlapErr, which
// nats.go does not name.
const errCodeSubjectOverlap jetstream.ErrorCode = 10065

// overlapError names the stream that already takes the subjects a new
// stream wanted: NATS lets one stream only have a subject.
func overlapError(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	for _, subject := range sc.Subjects {
		probe := strings.ReplaceAll(strings.ReplaceAll(subject, ">", "x"), "*", "x")
		if other, err := js.StreamNameBySubject(ctx, probe); err == nil {
			return fmt.Errorf("cannot create stream %q: its subjects %v are already taken by stream %q; use that stream's name, or other subjects",
				sc.Name, sc.Subjects, other)
		}
	}
	return fmt.Errorf("cannot create stream %q: its subjects %v overlap an existing stream's", sc.Name, sc.Subjects)
}

// ensureDLQ creates the dead-letter stream when missing, on exactly the
// dead-letter subject (a wildcard would collide with the dead-letter stream
// of another deployment), and checks that an existing one takes it.
func ensureDLQ(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	subject := cfg.DLQSubject
	s, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        cfg.DLQStream,
		Description: "Messages tally could not use, with the reason in the Tally-Error header",
		Subjects:    []string{subject},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return err
	}
	for _, f := range s.CachedInfo().Config.Subjects {
		if subjectMatches(f, subject) {
			return nil
		}
	}
	return fmt.Errorf("dead-letter stream %q does not take subject %q (its subjects: %v)",
		cfg.DLQStream, subject, s.CachedInfo().Config.Subjects)
}

// subjectMatches reports whether a NATS subject filter matches a subject.
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
