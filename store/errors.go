package store

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tallyhq/tally/aggregator"
)

// IsTransient reports whether err is a failure of the database or the
// connection rather than of the data: worth retrying the same work later.
// Anything else (a constraint, a value out of range, a raised exception)
// fails the same way again.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientCode(pgErr.Code)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	// A connection that died mid-query surfaces as one of these.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "failed to deallocate cached statement")
}

func transientCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"),    // insufficient resources
		strings.HasPrefix(code, "57"),    // operator intervention: shutdown, cancel, terminate
		strings.HasPrefix(code, "58"),    // system error
		code == "40001", code == "40P01", // serialization failure, deadlock
		code == "55P03",                  // lock not available
		code == "25006", code == "25P02", // read-only transaction (failover), aborted transaction
		code == "25P03": // idle_in_transaction_session_timeout: the worker stalled mid-batch
		return true
	}
	return false
}

// IsDataError reports whether err may be the fault of the data being
// applied, so that isolating the event at fault is the right answer: a data
// exception (class 22), an integrity violation (23), an exception raised by
// a trigger or function (P0, 2F, 39), a program limit such as an index row
// too large for a huge city name (54), or a counter overflow. Other
// failures (privileges, a missing table, the server's state) are the
// system's: retrying helps once they are fixed, dead-lettering never does.
func IsDataError(err error) bool {
	if err == nil || IsTransient(err) {
		return false
	}
	if errors.Is(err, aggregator.ErrOverflow) {
		return true
	}
	code := pgCode(err)
	if code == "" {
		// Not from the server and not the connection: pgx could not encode
		// a value of this batch.
		return true
	}
	switch code[:2] {
	case "22", "23", "P0", "2F", "39", "54":
		return true
	}
	return false
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Describe returns a database URL fit for logs and messages: host, port
// and database, never the password.
func Describe(raw string) string {
	cfg, err := pgconn.ParseConfig(raw)
	if err != nil {
		return "(unparseable database url)"
	}
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), Path: "/" + cfg.Database}
	if cfg.User != "" {
		u.User = url.User(cfg.User)
	}
	return u.String()
}

// redact removes anything that looks like a password from an error message:
// pgx may quote the connection string when it cannot parse it.
func redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !strings.Contains(msg, "password") && !strings.Contains(msg, "@") {
		return err
	}
	return redactedError{msg: scrub(msg), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

func scrub(s string) string {
	// postgres://user:secret@host -> postgres://user:***@host
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.Index(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				s = s[:i+3] + rest[:colon] + ":***" + rest[at:]
			}
		}
	}
	if i := strings.Index(s, "password="); i >= 0 {
		end := strings.IndexAny(s[i:], " &'\"")
		if end < 0 {
			end = len(s) - i
		}
		s = s[:i] + "password=***" + s[i+end:]
	}
	return s
}
