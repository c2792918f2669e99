package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/tallyhq/tally/internal/config"
)

// natsAuthOptions turns the NATS authentication and TLS settings into
// options. Files are read and checked here, so that a bad one fails at
// start naming its setting rather than as a vague connection error.
func (m *Main) natsAuthOptions() ([]nats.Option, error) {
	c := m.Config
	var opts []nats.Option
	switch {
	case c.NATSUser != "":
		opts = append(opts, nats.UserInfo(c.NATSUser, c.NATSPassword))
	case c.NATSToken != "":
		opts = append(opts, nats.Token(c.NATSToken))
	case c.NATSNKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NATSNKeySeedFile)
		if err != nil {
			return nil, &config.Error{Name: "TALLY_NATS_NKEY_SEED_FILE", Msg: "not a usable NKey seed file: " + errorKind(err)}
		}
		opts = append(opts, o)
	case c.NATSCredsFile != "":
		if err := checkCreds(c.NATSCredsFile); err != nil {
			return nil, &config.Error{Name: "TALLY_NATS_CREDS_FILE", Msg: err.Error()}
		}
		opts = append(opts, nats.UserCredentials(c.NATSCredsFile))
	}
	tlsOpt, err := m.natsTLS()
	if err != nil || tlsOpt == nil {
		return opts, err
	}
	return append(opts, tlsOpt), nil
}

// errorKind keeps the first clause of an error from reading a secret
// file, never what the file holds.
func errorKind(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

// checkCreds checks that a .creds file holds a user JWT and an NKey seed.
func checkCreds(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	token, err := jwt.ParseDecoratedJWT(b)
	if err == nil {
		_, err = jwt.DecodeUserClaims(token)
	}
	if err != nil {
		return fmt.Errorf("%s holds no user JWT: %v", path, errorKind(err))
	}
	if _, err := nkeys.ParseDecoratedNKey(b); err != nil {
		return fmt.Errorf("%s holds no NKey seed: %v", path, errorKind(err))
	}
	return nil
}

// natsTLS builds the TLS configuration: a CA to trust, a client
// certificate, a server name; nil when none is set (a tls:// URL then
// uses the system's roots).
func (m *Main) natsTLS() (nats.Option, error) {
	c := m.Config
	if c.NATSTLSCA == "" && c.NATSTLSCert == "" && c.NATSTLSServerName == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.NATSTLSServerName}
	if c.NATSTLSCA != "" {
		pem, err := os.ReadFile(c.NATSTLSCA)
		if err != nil {
			return nil, &config.Error{Name: "TALLY_NATS_TLS_CA", Msg: fmt.Sprintf("cannot read %s: %v", c.NATSTLSCA, errors.Unwrap(err))}
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &config.Error{Name: "TALLY_NATS_TLS_CA", Msg: c.NATSTLSCA + " holds no PEM certificate"}
		}
	}
	if c.NATSTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.NATSTLSCert, c.NATSTLSKey)
		if err != nil {
			return nil, &config.Error{Name: "TALLY_NATS_TLS_CERT", Msg: "cannot load the client certificate and key: " + errorKind(err)}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return nats.Secure(tc), nil
}

// natsConnectError names the setting at fault when the connection fails:
// the credentials when the server refused them, else the URL.
func (m *Main) natsConnectError(err error) error {
	name := "TALLY_NATS_URL"
	msg := fmt.Sprintf("cannot connect to %s: %v", config.RedactURL(m.Config.NATSURL), err)
	low := strings.ToLower(err.Error())
	if strings.Contains(low, "authorization") || strings.Contains(low, "authentication") {
		name, msg = m.natsAuthSetting(), "NATS refused the credentials: "+err.Error()
	}
	if strings.Contains(low, "tls") || strings.Contains(low, "x509") || strings.Contains(low, "certificate") {
		name, msg = "TALLY_NATS_TLS_CA", "TLS with NATS failed: "+err.Error()
	}
	return &config.Error{Name: name, Msg: msg}
}

// natsAuthSetting is the variable holding the credentials in use.
func (m *Main) natsAuthSetting() string {
	c := m.Config
	switch {
	case c.NATSUser != "":
		return "TALLY_NATS_USER"
	case c.NATSToken != "":
		return "TALLY_NATS_TOKEN"
	case c.NATSNKeySeedFile != "":
		return "TALLY_NATS_NKEY_SEED_FILE"
	case c.NATSCredsFile != "":
		return "TALLY_NATS_CREDS_FILE"
	}
	return "TALLY_NATS_URL"
}

// failFastOnPermissions cancels the setup when the server reports a
// permissions violation: a JetStream API request the user may not send
// gets no answer, only an asynchronous error, and would otherwise wait for
// the timeout. The returned function gives that error, nil when none.
func (m *Main) failFastOnPermissions(nc *nats.Conn, cancel context.CancelFunc) func() error {
	var perm atomic.Pointer[error]
	log := m.Log
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		log.Error("NATS error", "err", err)
		if errors.Is(err, nats.ErrPermissionViolation) && perm.CompareAndSwap(nil, &err) {
			cancel()
		}
	})
	return func() error {
		if p := perm.Load(); p != nil {
			return *p
		}
		return nil
	}
}
