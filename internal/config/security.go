package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/tallyhq/tally/store"
)

// minTokenLen keeps HTTP tokens out of guessing range.
const minTokenLen = 16

func (c *Config) validateSecurity() error {
	if err := c.validateNATSAuth(); err != nil {
		return err
	}
	files := []struct{ name, path string }{
		{"TALLY_NATS_NKEY_SEED_FILE", c.NATSNKeySeedFile}, {"TALLY_NATS_CREDS_FILE", c.NATSCredsFile},
		{"TALLY_NATS_TLS_CA", c.NATSTLSCA}, {"TALLY_NATS_TLS_CERT", c.NATSTLSCert}, {"TALLY_NATS_TLS_KEY", c.NATSTLSKey},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return bad(f.name, "cannot read %s: %v", f.path, errors.Unwrap(err))
		}
	}
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		return bad("TALLY_NATS_TLS_CERT", "set both TALLY_NATS_TLS_CERT and TALLY_NATS_TLS_KEY for a client certificate, or neither")
	}
	if c.HTTPToken != "" && (len(c.HTTPToken) < minTokenLen || strings.ContainsAny(c.HTTPToken, " \t\r\n")) {
		return bad("TALLY_HTTP_TOKEN", "must be at least %d characters without spaces", minTokenLen)
	}
	if !store.ValidRolePrefix(c.RolePrefix) {
		return bad("TALLY_ROLE_PREFIX", "%q: use lower-case letters, digits and _, starting with a letter or _", c.RolePrefix)
	}
	if c.LivenessTimeout != 0 && c.LivenessTimeout <= c.BatchWait+c.ApplyTimeout {
		return bad("TALLY_LIVENESS_TIMEOUT", "must be longer than TALLY_BATCH_WAIT + TALLY_APPLY_TIMEOUT (%s), or 0 for the default",
			c.BatchWait+c.ApplyTimeout)
	}
	return nil
}

// validateNATSAuth allows one way to authenticate: a server takes one.
func (c *Config) validateNATSAuth() error {
	if (c.NATSUser == "") != (c.NATSPassword == "") {
		return bad("TALLY_NATS_USER", "set both TALLY_NATS_USER and TALLY_NATS_PASSWORD, or neither")
	}
	var set []string
	for name, v := range map[string]string{"TALLY_NATS_USER": c.NATSUser, "TALLY_NATS_TOKEN": c.NATSToken,
		"TALLY_NATS_NKEY_SEED_FILE": c.NATSNKeySeedFile, "TALLY_NATS_CREDS_FILE": c.NATSCredsFile} {
		if v != "" {
			set = append(set, name)
		}
	}
	if len(set) > 1 {
		slices.Sort(set)
		return bad(set[1], "set one way to authenticate to NATS, not %s", strings.Join(set, " and "))
	}
	return nil
}

// StuckAfter is how long the worker loop may show no sign of life before
// /livez fails: TALLY_LIVENESS_TIMEOUT, or by default longer than any
// fetch wait plus apply timeout plus backoff.
func (c *Config) StuckAfter() time.Duration {
	if c.LivenessTimeout > 0 {
		return c.LivenessTimeout
	}
	return c.BatchWait + c.ApplyTimeout + 30*time.Second
}

// LogValue renders the settings for logs with every secret hidden:
// secret fields as "***" and passwords in URLs masked.
func (c Config) LogValue() slog.Value {
	v, t := reflect.ValueOf(c), reflect.TypeFor[Config]()
	attrs := make([]slog.Attr, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("env"), ",")[0]
		if name == "" {
			continue
		}
		val := fmt.Sprint(v.Field(i).Interface())
		switch {
		case f.Tag.Get("secret") == "true" && val != "":
			val = "***"
		case strings.Contains(val, "://"):
			val = RedactURL(val)
		}
		attrs = append(attrs, slog.String(name, val))
	}
	return slog.GroupValue(attrs...)
}

// String is LogValue as text, so that printing a Config shows no secret.
func (c Config) String() string { return c.LogValue().String() }

// RedactURL hides the password (or a lone user, which NATS takes as a
// token) of a URL; a value that does not parse is hidden whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable url)"
	}
	if u.User == nil {
		if u.RawQuery != "" && strings.Contains(strings.ToLower(u.RawQuery), "password") {
			u.RawQuery = "***"
		}
		return u.String()
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "***")
	} else if strings.HasPrefix(u.Scheme, "nats") || strings.HasPrefix(u.Scheme, "tls") {
		u.User = url.User("***")
	}
	if strings.Contains(strings.ToLower(u.RawQuery), "password") {
		u.RawQuery = "***"
	}
	return u.String()
}
