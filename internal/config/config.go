// Package config is tally's settings: one Config parsed from environment
// variables (each with a _FILE variant for secrets), then validated so that
// a bad setting fails at start with one line naming it.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tallyhq/tally/aggregator"
)

// Config is every setting of tally. Defaults are in the env tags.
type Config struct {
	DatabaseURL string `env:"TALLY_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/tally"`
	NATSURL     string `env:"TALLY_NATS_URL" envDefault:"nats://127.0.0.1:4222"`

	Stream       string        `env:"TALLY_STREAM" envDefault:"FLEET"`
	Subjects     string        `env:"TALLY_SUBJECTS" envDefault:"fleet.>"`
	StreamMaxAge time.Duration `env:"TALLY_STREAM_MAX_AGE" envDefault:"0s"`
	Consumer     string        `env:"TALLY_CONSUMER" envDefault:"tally"`
	DLQStream    string        `env:"TALLY_DLQ_STREAM" envDefault:"TALLY_DLQ"`
	// DLQSubject defaults to tally.dlq.<stream>.
	DLQSubject string `env:"TALLY_DLQ_SUBJECT"`

	Timezone      string        `env:"TALLY_TIMEZONE" envDefault:"UTC"`
	CityTimezones string        `env:"TALLY_CITY_TIMEZONES"`
	OverdueGrace  time.Duration `env:"TALLY_OVERDUE_GRACE" envDefault:"15m"`
	MaxEventBytes int           `env:"TALLY_MAX_EVENT_BYTES" envDefault:"65536"`

	HTTPAddr string `env:"TALLY_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	// HTTPToken, when set, must come as a bearer token (or a basic-auth
	// password, for browsers) on every request but /livez and /readyz.
	HTTPToken string `env:"TALLY_HTTP_TOKEN" secret:"true"`
	// DebugAddr, when set, serves Go's profiler (net/http/pprof) there, for
	// finding where a worker spends its time; off by default.
	DebugAddr string `env:"TALLY_DEBUG_ADDR"`
	// LivenessTimeout is how long the worker loop may show no sign of life
	// before /livez fails; 0 means TALLY_BATCH_WAIT + TALLY_APPLY_TIMEOUT + 30s.
	LivenessTimeout time.Duration `env:"TALLY_LIVENESS_TIMEOUT" envDefault:"0s"`

	// NATS authentication (at most one way) and TLS; see security.go.
	NATSUser          string `env:"TALLY_NATS_USER"`
	NATSPassword      string `env:"TALLY_NATS_PASSWORD" secret:"true"`
	NATSToken         string `env:"TALLY_NATS_TOKEN" secret:"true"`
	NATSNKeySeedFile  string `env:"TALLY_NATS_NKEY_SEED_FILE"`
	NATSCredsFile     string `env:"TALLY_NATS_CREDS_FILE"`
	NATSTLSCA         string `env:"TALLY_NATS_TLS_CA"`
	NATSTLSCert       string `env:"TALLY_NATS_TLS_CERT"`
	NATSTLSKey        string `env:"TALLY_NATS_TLS_KEY"`
	NATSTLSServerName string `env:"TALLY_NATS_TLS_SERVER_NAME"`

	// RolePrefix names the roles tally migrate --roles creates (owner,
	// writer, reader, support): roles are shared by a PostgreSQL server.
	RolePrefix string `env:"TALLY_ROLE_PREFIX" envDefault:"tally_"`

	// Tuning.
	BatchSize       int           `env:"TALLY_BATCH_SIZE" envDefault:"5000"`
	BatchWait       time.Duration `env:"TALLY_BATCH_WAIT" envDefault:"100ms"`
	AckWait         time.Duration `env:"TALLY_ACK_WAIT" envDefault:"30s"`
	ApplyTimeout    time.Duration `env:"TALLY_APPLY_TIMEOUT" envDefault:"20s"`
	ApplyAttempts   int           `env:"TALLY_APPLY_ATTEMPTS" envDefault:"3"`
	ShutdownTimeout time.Duration `env:"TALLY_SHUTDOWN_TIMEOUT" envDefault:"30s"`
	PendingInterval time.Duration `env:"TALLY_PENDING_INTERVAL" envDefault:"2s"`

	// ApplyConcurrency is how many batches a worker applies at once, each
	// in its own transaction on its own connection, as that many workers
	// would. Above 1, batches may commit out of stream order, so of two
	// copies of an id with other content the later one may be recorded
	// first (the contract allows it; one worker applying one batch at a
	// time never does it).
	ApplyConcurrency int `env:"TALLY_APPLY_CONCURRENCY" envDefault:"1"`

	LogLevel  string `env:"TALLY_LOG_LEVEL" envDefault:"info"`
	LogFormat string `env:"TALLY_LOG_FORMAT" envDefault:"text"`

	// History and the crisis playbook; see history.go.
	SnapshotInterval    time.Duration `env:"TALLY_SNAPSHOT_INTERVAL" envDefault:"1h"`
	SnapshotRetention   time.Duration `env:"TALLY_SNAPSHOT_RETENTION" envDefault:"9600h"`
	PlaybookDir         string        `env:"TALLY_PLAYBOOK_DIR"`
	PlaybookDatabaseURL string        `env:"TALLY_PLAYBOOK_DATABASE_URL"`
	PlaybookTimeout     time.Duration `env:"TALLY_PLAYBOOK_TIMEOUT" envDefault:"30s"`
	PlaybookMaxRows     int           `env:"TALLY_PLAYBOOK_MAX_ROWS" envDefault:"10000"`
}

// Error is a bad setting: its variable name and what is wrong, in one line.
type Error struct {
	Name string
	Msg  string
}

func (e *Error) Error() string { return e.Name + ": " + e.Msg }

// ErrSetting matches every *Error with errors.Is.
var ErrSetting = errors.New("bad setting")

// Is lets errors.Is(err, ErrSetting) find setting errors.
func (e *Error) Is(target error) bool { return target == ErrSetting }

func bad(name, format string, args ...any) *Error {
	return &Error{Name: name, Msg: fmt.Sprintf(format, args...)}
}

// FromEnviron parses the process environment.
func FromEnviron() (Config, error) { return Load(Environ()) }

// Environ returns the process environment as a map.
func Environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Load parses settings from a map of environment variables: NAME_FILE
// reads NAME from a file. It then validates them.
func Load(environ map[string]string) (Config, error) {
	var c Config
	vars, err := resolveFiles(environ)
	if err != nil {
		return c, err
	}
	if err := env.ParseWithOptions(&c, env.Options{Environment: vars}); err != nil {
		return c, parseError(err)
	}
	return c, c.Validate()
}

// Names returns every variable tally reads, in declaration order.
func Names() []string {
	t := reflect.TypeFor[Config]()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("env"); tag != "" {
			names = append(names, strings.Split(tag, ",")[0])
		}
	}
	return names
}

// resolveFiles replaces each NAME_FILE with NAME read from that file.
func resolveFiles(environ map[string]string) (map[string]string, error) {
	vars := make(map[string]string, len(environ))
	for k, v := range environ {
		vars[k] = v
	}
	for _, name := range Names() {
		path, ok := environ[name+"_FILE"]
		if !ok || path == "" {
			continue
		}
		if _, both := environ[name]; both {
			return nil, bad(name+"_FILE", "set %s or %s_FILE, not both", name, name)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, bad(name+"_FILE", "cannot read %s: %v", path, errors.Unwrap(err))
		}
		vars[name] = strings.TrimRight(string(b), "\r\n")
	}
	return vars, nil
}

// parseError turns caarlos0/env's error into one naming the variable.
func parseError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) || len(agg.Errors) == 0 {
		return err
	}
	var pe env.ParseError
	if errors.As(agg.Errors[0], &pe) {
		f, _ := reflect.TypeFor[Config]().FieldByName(pe.Name)
		name := strings.Split(f.Tag.Get("env"), ",")[0]
		return bad(name, "not a valid %s", kindName(pe.Type))
	}
	return agg.Errors[0]
}

func kindName(t reflect.Type) string {
	if t == reflect.TypeFor[time.Duration]() {
		return "duration (such as 30s or 15m)"
	}
	if t.Kind() == reflect.Int {
		return "whole number"
	}
	return t.String()
}

// Validate checks every setting and returns the first bad one.
func (c *Config) Validate() error {
	checks := []func() error{c.validateConnections, c.validateStream, c.validateZones, c.validateLimits, c.validateTuning, c.validateLogging, c.validateSecurity, c.validateHistory}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateConnections() error {
	if _, err := pgconn.ParseConfig(c.DatabaseURL); err != nil {
		return bad("TALLY_DATABASE_URL", "not a valid PostgreSQL URL")
	}
	if !strings.Contains(c.NATSURL, "://") && !strings.Contains(c.NATSURL, ":") {
		return bad("TALLY_NATS_URL", "not a valid NATS URL such as nats://127.0.0.1:4222")
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return bad("TALLY_HTTP_ADDR", "must be host:port, such as 127.0.0.1:8080")
		}
	}
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			return bad("TALLY_DEBUG_ADDR", "must be host:port, such as 127.0.0.1:6060")
		}
	}
	return nil
}

func (c *Config) validateStream() error {
	for name, v := range map[string]string{"TALLY_STREAM": c.Stream, "TALLY_CONSUMER": c.Consumer, "TALLY_DLQ_STREAM": c.DLQStream} {
		if v == "" || strings.ContainsAny(v, " \t.*>/\\") {
			return bad(name, "%q is not a valid name: no spaces, dots, * or >", v)
		}
	}
	if c.Subjects == "" || strings.ContainsAny(c.Subjects, " ,\t") {
		return bad("TALLY_SUBJECTS", "must be one subject filter such as fleet.>")
	}
	if c.DLQSubject != "" && strings.ContainsAny(c.DLQSubject, " \t*>") {
		return bad("TALLY_DLQ_SUBJECT", "must be a plain subject without wildcards")
	}
	if c.StreamMaxAge < 0 {
		return bad("TALLY_STREAM_MAX_AGE", "must not be negative (0 means unlimited)")
	}
	return nil
}

func (c *Config) validateZones() error {
	if _, err := aggregator.ParseZones(c.Timezone, ""); err != nil {
		return bad("TALLY_TIMEZONE", "%v", err)
	}
	if _, err := aggregator.ParseZones(c.Timezone, c.CityTimezones); err != nil {
		return bad("TALLY_CITY_TIMEZONES", "%v", err)
	}
	if c.OverdueGrace < 0 {
		return bad("TALLY_OVERDUE_GRACE", "must not be negative")
	}
	return nil
}

func (c *Config) validateLimits() error {
	if c.MaxEventBytes < 256 || c.MaxEventBytes > 1<<20 {
		return bad("TALLY_MAX_EVENT_BYTES", "must be from 256 to 1048576 (the stream's limit)")
	}
	return nil
}

func (c *Config) validateTuning() error {
	switch {
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return bad("TALLY_BATCH_SIZE", "must be from 1 to 10000")
	case c.ApplyConcurrency < 1 || c.ApplyConcurrency > 8:
		return bad("TALLY_APPLY_CONCURRENCY", "must be from 1 to 8")
	case c.BatchWait < time.Millisecond || c.BatchWait > 30*time.Second:
		return bad("TALLY_BATCH_WAIT", "must be from 1ms to 30s")
	case c.AckWait < time.Second:
		return bad("TALLY_ACK_WAIT", "must be at least 1s")
	case c.ApplyTimeout <= 0 || c.ApplyTimeout >= c.AckWait:
		return bad("TALLY_APPLY_TIMEOUT", "must be positive and shorter than TALLY_ACK_WAIT (%s)", c.AckWait)
	case c.ApplyAttempts < 1:
		return bad("TALLY_APPLY_ATTEMPTS", "must be at least 1")
	case c.ShutdownTimeout <= 0:
		return bad("TALLY_SHUTDOWN_TIMEOUT", "must be positive")
	case c.PendingInterval < 100*time.Millisecond:
		return bad("TALLY_PENDING_INTERVAL", "must be at least 100ms")
	}
	return nil
}

func (c *Config) validateLogging() error {
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return bad("TALLY_LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return bad("TALLY_LOG_FORMAT", "must be text or json")
	}
	return nil
}

// Zones returns the configured zones (valid after Validate).
func (c *Config) Zones() aggregator.Zones {
	z, _ := aggregator.ParseZones(c.Timezone, c.CityTimezones)
	return z
}

// DeadLetterSubject returns the subject dead letters are published on.
func (c *Config) DeadLetterSubject() string {
	if c.DLQSubject != "" {
		return c.DLQSubject
	}
	return "tally.dlq." + c.Stream
}
