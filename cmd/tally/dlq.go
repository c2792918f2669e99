package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/store"
)

// stdin is where purge reads its confirmation.
var stdin io.Reader = os.Stdin

// previewBytes is how much of a body dlq list shows.
const previewBytes = 60

// dlqFlags are the filters list, replay and purge share.
type dlqFlags struct {
	code, since, until string
	limit              int
	replayed, all      bool
}

func (f *dlqFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.code, "code", "", "only this error code ("+codeList()+")")
	c.Flags().StringVar(&f.since, "since", "", "only those received at or after: RFC 3339, a date (UTC), or a duration ago such as 24h")
	c.Flags().StringVar(&f.until, "until", "", "only those received before (same forms as --since)")
	c.Flags().IntVar(&f.limit, "limit", 0, "at most this many, oldest first (0: no limit)")
	c.Flags().BoolVar(&f.replayed, "replayed", false, "only those already replayed and counted")
	c.Flags().BoolVar(&f.all, "all", false, "outstanding and replayed ones alike")
}

func codeList() string {
	names := make([]string, len(events.Codes))
	for i, c := range events.Codes {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// filter turns the flags into a store filter; now anchors durations.
func (f *dlqFlags) filter(now time.Time) (store.DeadLetterFilter, error) {
	var df store.DeadLetterFilter
	if f.code != "" && !knownCode(f.code) {
		return df, usageError{fmt.Errorf("--code %q: want one of %s", f.code, codeList())}
	}
	if f.replayed && f.all {
		return df, usageError{errors.New("--replayed and --all do not go together")}
	}
	if f.limit < 0 {
		return df, usageError{errors.New("--limit must not be negative")}
	}
	var err error
	if df.Since, err = parseWhen("--since", f.since, now); err != nil {
		return df, err
	}
	if df.Until, err = parseWhen("--until", f.until, now); err != nil {
		return df, err
	}
	df.Code, df.Limit = f.code, f.limit
	switch {
	case f.replayed:
		df.State = store.DeadLettersReplayed
	case f.all:
		df.State = store.DeadLettersAll
	}
	return df, nil
}

func knownCode(c string) bool {
	for _, k := range events.Codes {
		if string(k) == c {
			return true
		}
	}
	return false
}

// parseWhen reads a point in time: RFC 3339, a date (midnight UTC), or a
// duration before now.
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageError{fmt.Errorf("%s %q: want RFC 3339, a date such as 2026-03-28, or a duration such as 24h", flag, s)}
}

func (e *env) dlqCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect dead letters, replay them after a fix, purge them",
		Long: `Dead letters are the messages tally could not use, recorded in
tally.dead_letters (and copied to the dead-letter stream). By default the
commands see the outstanding ones: not yet replayed successfully.`,
	}
	c.AddCommand(e.dlqListCommand(), e.dlqShowCommand(), e.dlqReplayCommand(), e.dlqPurgeCommand())
	return c
}

func (e *env) dlqListCommand() *cobra.Command {
	var f dlqFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List dead letters: code, reason, source sequence, time, the start of the body",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			df, err := f.filter(time.Now())
			if err != nil {
				return err
			}
			return e.withStore(cmd.Context(), func(st *store.Store) error {
				rows, err := st.ListDeadLetters(cmd.Context(), df, previewBytes)
				if err != nil {
					return err
				}
				printDeadLetters(e.stdout, rows)
				return nil
			})
		},
	}
	f.add(c)
	return c
}

func printDeadLetters(w io.Writer, rows []store.DeadLetterRow) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tSEQ\tCODE\tRECEIVED\tREPLAYED\tREASON\tBODY")
	for _, d := range rows {
		replayed := "-"
		if d.ReplayedAt != nil {
			replayed = d.ReplayedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", d.Stream, d.Seq, d.Code, d.ReceivedAt.UTC().Format(time.RFC3339),
			replayed, clip(d.Detail, 50), preview(d.Body, d.Size))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d dead letters\n", len(rows))
}

// preview shows the start of a body on one line: control characters and
// invalid UTF-8 as escapes, "…" when there is more.
func preview(body []byte, size int) string {
	var b strings.Builder
	for len(body) > 0 {
		r, n := utf8.DecodeRune(body)
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, body[0])
		case r < ' ' || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
		body = body[n:]
	}
	if size > previewBytes {
		b.WriteString("…")
	}
	return b.String()
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func (e *env) dlqShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show SEQ",
		Short: "Show one dead letter whole, by its sequence in the stream (TALLY_STREAM)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || seq < 1 {
				return usageError{fmt.Errorf("SEQ %q: want a stream sequence number", args[0])}
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			return e.withStore(cmd.Context(), func(st *store.Store) error {
				d, err := st.DeadLetter(cmd.Context(), cfg.Stream, seq)
				if err != nil {
					return err
				}
				printDeadLetter(e.stdout, d)
				return nil
			})
		},
	}
}

func printDeadLetter(w io.Writer, d store.DeadLetterRow) {
	replayed := "no"
	if d.ReplayedAt != nil {
		replayed = d.ReplayedAt.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(w, "source:    stream %s, sequence %d, subject %s\n", d.Stream, d.Seq, d.Subject)
	fmt.Fprintf(w, "code:      %s\n", d.Code)
	fmt.Fprintf(w, "reason:    %s\n", d.Detail)
	if d.EventID != "" {
		fmt.Fprintf(w, "event id:  %s\n", d.EventID)
	}
	fmt.Fprintf(w, "received:  %s\n", d.ReceivedAt.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(w, "replayed:  %s\n", replayed)
	fmt.Fprintf(w, "size:      %d bytes\n", d.Size)
	if utf8.Valid(d.Body) {
		fmt.Fprintf(w, "body:\n%s\n", d.Body)
	} else {
		fmt.Fprintf(w, "body (not UTF-8, Go-quoted):\n%q\n", d.Body)
	}
}

func (e *env) dlqReplayCommand() *cobra.Command {
	var f dlqFlags
	c := &cobra.Command{
		Use:   "replay",
		Short: "Send dead letters back through validation; count those now valid, once",
		Long: `Validates the selected dead letters again with this tally and its settings
(TALLY_MAX_EVENT_BYTES included): after a fix of tally, of a setting, or of a
body in tally.dead_letters. Those now valid are applied like any event, so
each counts exactly once however often it is replayed, and are marked
replayed; those still invalid stay, with their reason brought up to date.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			df, err := f.filter(time.Now())
			if err != nil {
				return err
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			return e.withStore(cmd.Context(), func(st *store.Store) error {
				res, err := st.ReplayDeadLetters(cmd.Context(), df, cfg.MaxEventBytes)
				reportReplay(e.stdout, res)
				return err
			})
		},
	}
	f.add(c)
	return c
}

func reportReplay(w io.Writer, r store.ReplayResult) {
	fmt.Fprintf(w, "replayed %d dead letters: %d now valid, %d still invalid\n",
		r.Selected, r.Replayed(), r.Selected-r.Replayed())
	if r.Replayed() > 0 {
		fmt.Fprintf(w, "  now valid: %d counted, %d of unknown types recorded, %d already recorded (counted before), %d conflicting with a recorded copy\n",
			r.Applied, r.Ignored, r.Duplicates, r.Conflicts)
	}
	codes := make([]string, 0, len(r.StillBad))
	for c := range r.StillBad {
		codes = append(codes, string(c))
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "  still invalid: %d %s\n", r.StillBad[events.Code(c)], c)
	}
}

func (e *env) dlqPurgeCommand() *cobra.Command {
	var f dlqFlags
	var yes bool
	c := &cobra.Command{
		Use:   "purge",
		Short: "Delete dead letters from the database, after a confirmation",
		Long: `Deletes the selected dead letters from tally.dead_letters (outstanding ones by
default; --replayed or --all for others). Their copies in the dead-letter
stream are left to its limits. Asks for confirmation on a terminal; --yes
skips it, and is required when stdin is not a terminal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			df, err := f.filter(time.Now())
			if err != nil {
				return err
			}
			if !yes && !isTerminal(stdin) {
				return usageError{errors.New("stdin is not a terminal: pass --yes to purge without a confirmation")}
			}
			return e.withStore(cmd.Context(), func(st *store.Store) error { return e.purge(cmd.Context(), st, df, yes) })
		},
	}
	f.add(c)
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return c
}

func (e *env) purge(ctx context.Context, st *store.Store, df store.DeadLetterFilter, yes bool) error {
	n, err := st.CountDeadLetters(ctx, df)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(e.stdout, "no dead letters to purge")
		return nil
	}
	if !yes {
		fmt.Fprintf(e.stdout, "delete %d dead letters (%s) from the database? [y/N] ", n, describeFilter(df))
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(e.stdout, "nothing deleted")
			return nil
		}
	}
	deleted, err := st.PurgeDeadLetters(ctx, df)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "deleted %d dead letters\n", deleted)
	return nil
}

func describeFilter(f store.DeadLetterFilter) string {
	state := f.State
	if state == "" {
		state = store.DeadLettersOutstanding
	}
	parts := []string{state}
	if f.Code != "" {
		parts = append(parts, "code "+f.Code)
	}
	if !f.Since.IsZero() {
		parts = append(parts, "since "+f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "until "+f.Until.UTC().Format(time.RFC3339))
	}
	if f.Limit > 0 {
		parts = append(parts, fmt.Sprintf("at most %d", f.Limit))
	}
	return strings.Join(parts, ", ")
}
