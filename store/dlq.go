package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tallyhq/tally/events"
)

// Which dead letters a filter selects by replay state.
const (
	DeadLettersOutstanding = "outstanding" // not replayed successfully yet (the default)
	DeadLettersReplayed    = "replayed"    // replayed and counted
	DeadLettersAll         = "all"
)

// ErrNoDeadLetter is returned when no dead letter has the sequence asked.
var ErrNoDeadLetter = errors.New("no such dead letter")

// DeadLetterFilter selects dead letters; zero fields select all.
type DeadLetterFilter struct {
	Code  string
	Since time.Time // received at or after
	Until time.Time // received before
	// State is DeadLettersOutstanding ("" too), DeadLettersReplayed or
	// DeadLettersAll.
	State string
	Limit int // 0: no limit
}

// where returns the filter as a WHERE clause over tally.dead_letters with
// its arguments, numbered from $1.
func (f DeadLetterFilter) where() (string, []any) {
	sql := `($1 = '' OR code = $1) AND ($2::timestamptz IS NULL OR received_at >= $2)
		AND ($3::timestamptz IS NULL OR received_at < $3)`
	switch f.State {
	case DeadLettersReplayed:
		sql += " AND replayed_at IS NOT NULL"
	case DeadLettersAll:
	default:
		sql += " AND replayed_at IS NULL"
	}
	return sql, []any{f.Code, nullTime(f.Since), nullTime(f.Until)}
}

func (f DeadLetterFilter) limit() string {
	if f.Limit > 0 {
		return fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return ""
}

// DeadLetterRow is a recorded dead letter. Body is the whole message, or
// its first bytes in a list (Size is the whole length).
type DeadLetterRow struct {
	ID         int64      `db:"dl_id" json:"id"`
	Stream     string     `db:"source_stream" json:"source_stream"`
	Seq        int64      `db:"source_seq" json:"source_seq"`
	Subject    string     `db:"subject" json:"subject"`
	Code       string     `db:"code" json:"code"`
	Detail     string     `db:"detail" json:"detail"`
	EventID    string     `db:"event_id" json:"event_id,omitempty"`
	Body       []byte     `db:"body" json:"-"`
	Size       int        `db:"size" json:"size"`
	ReceivedAt time.Time  `db:"received_at" json:"received_at"`
	ReplayedAt *time.Time `db:"replayed_at" json:"replayed_at,omitempty"`
}

// deadLetterColumns selects a DeadLetterRow with the first $n bytes of
// the body.
const deadLetterColumns = `dl_id, source_stream, source_seq, subject, code, detail, COALESCE(event_id, '') AS event_id,
	substring(body FROM 1 FOR %s) AS body, length(body) AS size, received_at, replayed_at`

// ListDeadLetters returns the dead letters f selects, oldest first, each
// with the first previewBytes of its body.
func (s *Store) ListDeadLetters(ctx context.Context, f DeadLetterFilter, previewBytes int) ([]DeadLetterRow, error) {
	where, args := f.where()
	sql := "SELECT " + fmt.Sprintf(deadLetterColumns, "$4") + " FROM tally.dead_letters WHERE " + where +
		" ORDER BY dl_id" + f.limit()
	rows, err := s.pool.Query(ctx, sql, append(args, previewBytes)...)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[DeadLetterRow])
	return out, wrap(err, "list dead letters")
}

// DeadLetter returns the whole dead letter of stream's message seq.
func (s *Store) DeadLetter(ctx context.Context, stream string, seq int64) (DeadLetterRow, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+fmt.Sprintf(deadLetterColumns, "length(body)")+
		" FROM tally.dead_letters WHERE source_stream = $1 AND source_seq = $2", stream, seq)
	if err != nil {
		return DeadLetterRow{}, fmt.Errorf("read dead letter: %w", err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[DeadLetterRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("%w: stream %s has none at sequence %d", ErrNoDeadLetter, stream, seq)
	}
	return d, wrap(err, "read dead letter")
}

// CountDeadLetters counts the dead letters f selects.
func (s *Store) CountDeadLetters(ctx context.Context, f DeadLetterFilter) (int64, error) {
	where, args := f.where()
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM tally.dead_letters WHERE "+where+f.limit()+") AS d",
		args...).Scan(&n)
	return n, wrap(err, "count dead letters")
}

// PurgeDeadLetters deletes the dead letters f selects and returns how many.
// Their copies in the dead-letter stream are left to its limits.
func (s *Store) PurgeDeadLetters(ctx context.Context, f DeadLetterFilter) (int64, error) {
	where, args := f.where()
	tag, err := s.pool.Exec(ctx, "DELETE FROM tally.dead_letters WHERE dl_id IN (SELECT dl_id FROM tally.dead_letters WHERE "+
		where+" ORDER BY dl_id"+f.limit()+")", args...)
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ReplayResult says what a replay did.
type ReplayResult struct {
	Selected int
	// Of the dead letters now valid: Applied counted now, Ignored of an
	// unknown type recorded now, Duplicates already recorded (counted
	// once, before), Conflicts already recorded with other content.
	Applied, Ignored, Duplicates, Conflicts int
	// StillBad counts those that are still invalid, by their new code.
	StillBad map[events.Code]int
}

// Replayed returns how many dead letters were replayed successfully.
func (r ReplayResult) Replayed() int { return r.Applied + r.Ignored + r.Duplicates + r.Conflicts }

// replayPage is how many dead letters one replay step reads and applies.
const replayPage = 500

// ReplayDeadLetters sends the dead letters f selects back through
// validation with the current code and maxBytes. Those now valid are
// applied through Apply, so an event counts once however often it is
// replayed, and are marked replayed; those still invalid stay, with their
// code and detail brought up to date.
func (s *Store) ReplayDeadLetters(ctx context.Context, f DeadLetterFilter, maxBytes int) (ReplayResult, error) {
	res := ReplayResult{StillBad: map[events.Code]int{}}
	where, args := f.where()
	sql := "SELECT " + fmt.Sprintf(deadLetterColumns, "length(body)") + " FROM tally.dead_letters WHERE " + where +
		" AND dl_id > $4 ORDER BY dl_id LIMIT $5"
	var after int64
	for f.Limit <= 0 || res.Selected < f.Limit {
		n := replayPage
		if f.Limit > 0 {
			n = min(n, f.Limit-res.Selected)
		}
		rows, err := s.pool.Query(ctx, sql, append(args, after, n)...)
		if err != nil {
			return res, fmt.Errorf("read dead letters: %w", err)
		}
		page, err := pgx.CollectRows(rows, pgx.RowToStructByName[DeadLetterRow])
		if err != nil {
			return res, fmt.Errorf("read dead letters: %w", err)
		}
		if len(page) == 0 {
			return res, nil
		}
		if err := s.replayPage(ctx, page, maxBytes, &res); err != nil {
			return res, err
		}
		res.Selected += len(page)
		after = page[len(page)-1].ID
	}
	return res, nil
}

// badLetter is a dead letter still invalid, with its new reason.
type badLetter struct {
	id     int64
	code   events.Code
	detail string
}

func (s *Store) replayPage(ctx context.Context, page []DeadLetterRow, maxBytes int, res *ReplayResult) error {
	var good []replayed
	var bad []badLetter
	for _, d := range page {
		ev, err := events.Decode(d.Body, maxBytes)
		if err != nil {
			bad = append(bad, badLetter{d.ID, events.CodeOf(err), detailOf(err)})
			continue
		}
		good = append(good, replayed{id: d.ID, in: Incoming{Event: ev, StreamSeq: uint64(d.Seq)}})
	}
	failed, err := s.applyReplayed(ctx, good, res)
	if err != nil {
		return err
	}
	bad = append(bad, failed...)
	for _, b := range bad {
		res.StillBad[b.code]++
	}
	return s.updateBad(ctx, bad)
}

// replayed is a dead letter that is now a valid event.
type replayed struct {
	id int64
	in Incoming
}

// applyReplayed applies the events in one batch, or one by one when the
// batch fails for a reason of its data: an event that fails alone stays a
// dead letter, as apply_failed.
func (s *Store) applyReplayed(ctx context.Context, good []replayed, res *ReplayResult) ([]badLetter, error) {
	if len(good) == 0 {
		return nil, nil
	}
	err := s.applyGroup(ctx, good, res)
	if err == nil || IsTransient(err) {
		return nil, err
	}
	var bad []badLetter
	for _, g := range good {
		if err := s.applyGroup(ctx, []replayed{g}, res); err != nil {
			if IsTransient(err) {
				return bad, err
			}
			bad = append(bad, badLetter{g.id, events.CodeApplyFailed, err.Error()})
		}
	}
	return bad, nil
}

// applyGroup applies events and then marks their dead letters replayed:
// should the mark fail, a second replay finds them recorded (duplicates).
func (s *Store) applyGroup(ctx context.Context, group []replayed, res *ReplayResult) error {
	b := Batch{}
	ids := make([]int64, len(group))
	for i, g := range group {
		b.Events, ids[i] = append(b.Events, g.in), g.id
	}
	out, err := s.Apply(ctx, b)
	if err != nil {
		return err
	}
	res.Applied += out.Applied
	res.Ignored += out.Ignored
	res.Duplicates += out.Duplicates
	res.Conflicts += out.Conflicts
	_, err = s.pool.Exec(ctx, "UPDATE tally.dead_letters SET replayed_at = now() WHERE dl_id = ANY($1)", ids)
	return wrap(err, "mark dead letters replayed")
}

// updateBad brings the code and detail of dead letters still invalid up
// to date.
func (s *Store) updateBad(ctx context.Context, bad []badLetter) error {
	if len(bad) == 0 {
		return nil
	}
	ids, codes, details := make([]int64, len(bad)), make([]string, len(bad)), make([]string, len(bad))
	for i, b := range bad {
		ids[i], codes[i], details[i] = b.id, string(b.code), b.detail
	}
	_, err := s.pool.Exec(ctx, `UPDATE tally.dead_letters AS d SET code = u.code, detail = u.detail
		FROM unnest($1::int8[], $2::text[], $3::text[]) AS u(id, code, detail)
		WHERE d.dl_id = u.id AND (d.code, d.detail) IS DISTINCT FROM (u.code, u.detail)`, ids, codes, details)
	return wrap(err, "update dead letters")
}

func detailOf(err error) string {
	var ve *events.Error
	if errors.As(err, &ve) {
		return ve.Detail
	}
	return err.Error()
}
