package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/app"
	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/testdb"
	"github.com/tallyhq/tally/internal/testnats"
	"github.com/tallyhq/tally/store"
)

func randomID(t testing.TB, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// rolePrefix returns a random role prefix; its four roles and the login
// users prefix+login are dropped when the test ends. Call it before
// creating the database: cleanups run last first, so the database (and
// the grants in it) is gone before its roles.
func rolePrefix(t *testing.T, logins ...string) string {
	t.Helper()
	prefix := "t" + randomID(t, 4) + "_"
	r := store.RoleNames(prefix)
	names := []string{r.Support, r.Reader, r.Writer, r.Owner}
	for _, l := range logins {
		names = append([]string{prefix + l}, names...)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testdb.AdminURL())
		if err != nil {
			t.Errorf("drop roles: %v", err)
			return
		}
		defer conn.Close(ctx)
		for _, name := range names {
			if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
				t.Errorf("drop role %s: %v", name, err)
			}
		}
	})
	return prefix
}

// loginURL creates a login user in role and returns dbURL for that user.
func loginURL(t *testing.T, dbURL, role, user string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), "CREATE ROLE "+pgx.Identifier{user}.Sanitize()+" LOGIN IN ROLE "+pgx.Identifier{role}.Sanitize())
	require.NoError(t, err)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = url.User(user)
	return u.String()
}

func TestSecurityRolesForTheWorker(t *testing.T) {
	t.Parallel()
	prefix := rolePrefix(t, "reader_login", "writer_login")
	f := newFleet(t, testnats.MachineURL())
	code, out := f.runTally(map[string]string{"TALLY_ROLE_PREFIX": prefix}, "migrate", "--roles")
	require.Equal(t, 0, code, out)
	roles := store.RoleNames(prefix)
	require.Contains(t, out, "roles granted: "+roles.String())

	// A worker logging in with the reader role refuses to start, in one
	// line naming the setting and the privilege.
	readerURL := loginURL(t, f.dbURL, roles.Reader, prefix+"reader_login")
	code, out = f.runTally(map[string]string{"TALLY_DATABASE_URL": readerURL}, "run")
	require.Equal(t, 2, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1, out)
	require.Contains(t, lines[0], "TALLY_DATABASE_URL")
	require.Contains(t, lines[0], `"`+prefix+`reader_login" lacks SELECT on tally.settings`)

	// With the writer role it counts.
	writerURL := loginURL(t, f.dbURL, roles.Writer, prefix+"writer_login")
	f.startWorker(map[string]string{"TALLY_DATABASE_URL": writerURL})
	load := newOpsLoad(t, time.Now())
	f.publish(load.msgs)
	f.waitIdle(time.Minute)
	v, err := f.store.ReadViews(context.Background())
	require.NoError(t, err)
	require.Len(t, v.ActiveCars, 3)
}

// TestSecurityWriterSurvivesARebuild runs a worker logged in with the
// writer role through a rebuild (run by the owner's side, here the
// superuser): the new generation is granted as it is created, so the
// worker keeps counting into it.
func TestSecurityWriterSurvivesARebuild(t *testing.T) {
	t.Parallel()
	prefix := rolePrefix(t, "writer_login")
	f := newFleet(t, testnats.MachineURL())
	code, out := f.runTally(map[string]string{"TALLY_ROLE_PREFIX": prefix}, "migrate", "--roles")
	require.Equal(t, 0, code, out)
	writerURL := loginURL(t, f.dbURL, store.RoleNames(prefix).Writer, prefix+"writer_login")
	f.startWorker(map[string]string{"TALLY_DATABASE_URL": writerURL})
	msgs := troubled(t, 11)
	f.publish(msgs[:len(msgs)/2])
	f.waitIdle(time.Minute)

	code, out = f.runTally(nil, "rebuild")
	require.Equal(t, 0, code, out)
	g, err := f.store.CurrentGeneration(context.Background())
	require.NoError(t, err)
	require.Equal(t, 2, g.Gen, out)

	f.publish(msgs[len(msgs)/2:])
	f.waitIdle(time.Minute)
	f.requireExact(msgs)
}

// natsWorld is a database and stream names for a worker on a NATS server
// of its own (which the shared fleet helpers cannot reach without
// credentials).
func natsWorld(t *testing.T, natsURL string, extra map[string]string) config.Config {
	t.Helper()
	id := strings.ToUpper(randomID(t, 4))
	vars := map[string]string{
		"TALLY_DATABASE_URL": testdb.New(t), "TALLY_NATS_URL": natsURL, "TALLY_HTTP_ADDR": "127.0.0.1:0",
		"TALLY_STREAM": "S" + id, "TALLY_SUBJECTS": "s" + strings.ToLower(id) + ".>", "TALLY_DLQ_STREAM": "S" + id + "_DLQ",
		"TALLY_DLQ_SUBJECT": "s" + strings.ToLower(id) + "dlq.dead", "TALLY_ACK_WAIT": "4s", "TALLY_APPLY_TIMEOUT": "3s",
	}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := config.Load(vars)
	require.NoError(t, err)
	return cfg
}

// openWorker opens a worker and returns its error; it closes with the test.
func openWorker(t *testing.T, cfg config.Config, log *slog.Logger) (*app.Main, error) {
	t.Helper()
	m := app.New(cfg, log)
	t.Cleanup(m.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return m, m.Open(ctx)
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

func TestSecurityNATSUserAndPassword(t *testing.T) {
	t.Parallel()
	srv := testnats.StartWith(t, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "tally", Password: "tally-pw-1"},
			// May publish fleet events but not use the JetStream API.
			{Username: "nojs", Password: "nojs-pw-2", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"s*.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
		}
	})
	t.Run("ok", func(t *testing.T) {
		t.Parallel()
		cfg := natsWorld(t, srv.URL(), map[string]string{"TALLY_NATS_USER": "tally", "TALLY_NATS_PASSWORD_FILE": writeFile(t, "pw", []byte("tally-pw-1\n"))})
		_, err := openWorker(t, cfg, testLogger())
		require.NoError(t, err)
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		cfg := natsWorld(t, srv.URL(), map[string]string{"TALLY_NATS_USER": "tally", "TALLY_NATS_PASSWORD": "wrong-pw-3"})
		_, err := openWorker(t, cfg, testLogger())
		requireSettingError(t, err, "TALLY_NATS_USER", "refused the credentials")
		require.NotContains(t, err.Error(), "wrong-pw-3")
	})
	t.Run("no JetStream permissions", func(t *testing.T) {
		t.Parallel()
		cfg := natsWorld(t, srv.URL(), map[string]string{"TALLY_NATS_USER": "nojs", "TALLY_NATS_PASSWORD": "nojs-pw-2"})
		start := time.Now()
		_, err := openWorker(t, cfg, testLogger())
		requireSettingError(t, err, "TALLY_NATS_URL", "lacks permissions")
		require.Less(t, time.Since(start), 5*time.Second, "a permissions violation fails at once, not at a timeout")
	})
}

// requireSettingError checks err is one line naming setting.
func requireSettingError(t *testing.T, err error, setting, contains string) {
	t.Helper()
	var ce *config.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, setting, ce.Name, err.Error())
	require.Contains(t, err.Error(), contains)
	require.NotContains(t, err.Error(), "\n")
}

func TestSecurityNATSTokenNKeyAndCreds(t *testing.T) {
	t.Parallel()
	t.Run("token", func(t *testing.T) {
		t.Parallel()
		srv := testnats.StartWith(t, func(o *server.Options) { o.Authorization = "nats-token-4" })
		cfg := natsWorld(t, srv.URL(), map[string]string{"TALLY_NATS_TOKEN_FILE": writeFile(t, "token", []byte("nats-token-4"))})
		_, err := openWorker(t, cfg, testLogger())
		require.NoError(t, err)
	})
	t.Run("nkey", func(t *testing.T) {
		t.Parallel()
		kp, err := nkeys.CreateUser()
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		seed, err := kp.Seed()
		require.NoError(t, err)
		srv := testnats.StartWith(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} })
		cfg := natsWorld(t, srv.URL(), map[string]string{"TALLY_NATS_NKEY_SEED_FILE": writeFile(t, "user.nk", seed)})
		_, err = openWorker(t, cfg, testLogger())
		require.NoError(t, err)
	})
	t.Run("creds", func(t *testing.T) {
		t.Parallel()
		configure, creds := operatorMode(t)
		srv := testnats.StartWith(t, configure)
		cfg := natsWorld(t, srv.URL(), map[string]string{"TALLY_NATS_CREDS_FILE": writeFile(t, "tally.creds", creds)})
		_, err := openWorker(t, cfg, testLogger())
		require.NoError(t, err)

		bad := natsWorld(t, srv.URL(), map[string]string{"TALLY_NATS_CREDS_FILE": writeFile(t, "bad.creds", []byte("not creds"))})
		_, err = openWorker(t, bad, testLogger())
		requireSettingError(t, err, "TALLY_NATS_CREDS_FILE", "no user JWT")
	})
}

// operatorMode returns server options trusting a fresh operator whose
// account has JetStream, and a .creds file of a user of that account.
func operatorMode(t *testing.T) (func(*server.Options), []byte) {
	t.Helper()
	okp, err := nkeys.CreateOperator()
	require.NoError(t, err)
	opub, err := okp.PublicKey()
	require.NoError(t, err)
	oc := jwt.NewOperatorClaims(opub)
	_, err = oc.Encode(okp)
	require.NoError(t, err)
	resolver := &server.MemAccResolver{}
	account := func(js bool) (nkeys.KeyPair, string) {
		akp, err := nkeys.CreateAccount()
		require.NoError(t, err)
		apub, err := akp.PublicKey()
		require.NoError(t, err)
		ac := jwt.NewAccountClaims(apub)
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		ajwt, err := ac.Encode(okp)
		require.NoError(t, err)
		require.NoError(t, resolver.Store(apub, ajwt))
		return akp, apub
	}
	_, sysPub := account(false)
	akp, _ := account(true)
	ukp, err := nkeys.CreateUser()
	require.NoError(t, err)
	upub, err := ukp.PublicKey()
	require.NoError(t, err)
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	require.NoError(t, err)
	seed, err := ukp.Seed()
	require.NoError(t, err)
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	require.NoError(t, err)
	return func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{oc}
		o.AccountResolver = resolver
		o.SystemAccount = sysPub
	}, creds
}

func TestSecurityNATSTLS(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	srv := testnats.StartWith(t, func(o *server.Options) {
		o.TLSConfig = pki.serverTLS(t)
		o.TLSVerify = true
		o.TLSTimeout = 5
	})
	cfg := natsWorld(t, srv.URL(), map[string]string{"TALLY_NATS_TLS_CA": pki.caFile,
		"TALLY_NATS_TLS_CERT": pki.clientCert, "TALLY_NATS_TLS_KEY": pki.clientKey})
	_, err := openWorker(t, cfg, testLogger())
	require.NoError(t, err)

	noCert := natsWorld(t, srv.URL(), map[string]string{"TALLY_NATS_TLS_CA": pki.caFile})
	_, err = openWorker(t, noCert, testLogger())
	var ce *config.Error
	require.ErrorAs(t, err, &ce, "a client without its certificate is refused")
	require.NotContains(t, err.Error(), "\n")
}

// pki is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, as PEM files.
type pki struct {
	caFile, clientCert, clientKey string
	ca                            *x509.Certificate
	caKey                         *ecdsa.PrivateKey
	server                        tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{}
	p.caKey = newKey(t)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tally test CA"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &p.caKey.PublicKey, p.caKey)
	require.NoError(t, err)
	p.ca, err = x509.ParseCertificate(der)
	require.NoError(t, err)
	p.caFile = writeFile(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	certPEM, keyPEM := p.issue(t, 2, "nats", x509.ExtKeyUsageServerAuth)
	p.server, err = tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	certPEM, keyPEM = p.issue(t, 3, "tally", x509.ExtKeyUsageClientAuth)
	p.clientCert, p.clientKey = writeFile(t, "client.pem", certPEM), writeFile(t, "client.key", keyPEM)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func (p *pki) issue(t *testing.T, serial int64, name string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	k := newKey(t)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, p.ca, &k.PublicKey, p.caKey)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func (p *pki) serverTLS(t *testing.T) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
}

// secrets used by TestSecuritySecretsNeverLeak; none may appear in any
// output or error.
const (
	dbSecret   = "db-pw-5e3c"
	natsSecret = "nats-tok-9a1f"
	httpSecret = "http-tok-77d2-0123456789"
)

func requireNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{dbSecret, natsSecret, httpSecret} {
		require.NotContains(t, text, s, "%s leaks a secret:\n%s", what, text)
	}
}

// TestSecuritySecretsNeverLeak starts tally with a password in the
// database URL and a NATS token, makes everything fail, and reads every
// log line and error for the secrets.
func TestSecuritySecretsNeverLeak(t *testing.T) {
	t.Parallel()
	srv := testnats.StartWith(t, func(o *server.Options) { o.Authorization = natsSecret })
	dbURL := testdb.New(t)
	withPassword := func(raw string) string {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		u.User = url.UserPassword(u.User.Username(), dbSecret)
		return u.String()
	}
	debug := map[string]string{"TALLY_LOG_LEVEL": "debug", "TALLY_HTTP_TOKEN": httpSecret}
	cases := map[string]map[string]string{
		"database unreachable": {"TALLY_DATABASE_URL": "postgres://tally:" + dbSecret + "@127.0.0.1:1/tally"},
		"database malformed":   {"TALLY_DATABASE_URL": "postgres://tally:" + dbSecret + "@127.0.0.1:nope/tally"},
		"database missing":     {"TALLY_DATABASE_URL": withPassword(testdb.URLFor(testdb.NewName(t)))},
		"wrong NATS token":     {"TALLY_DATABASE_URL": withPassword(dbURL), "TALLY_NATS_URL": srv.URL(), "TALLY_NATS_TOKEN": natsSecret + "x"},
		"NATS token in URL":    {"TALLY_DATABASE_URL": withPassword(dbURL), "TALLY_NATS_URL": "nats://" + natsSecret + "x@" + strings.TrimPrefix(srv.URL(), "nats://")},
		"NATS unreachable":     {"TALLY_DATABASE_URL": withPassword(dbURL), "TALLY_NATS_URL": "nats://127.0.0.1:1", "TALLY_NATS_TOKEN": natsSecret},
	}
	for name, vars := range cases {
		for _, cmd := range []string{"run", "migrate"} {
			env := map[string]string{"TALLY_HTTP_ADDR": "127.0.0.1:0"}
			for k, v := range debug {
				env[k] = v
			}
			for k, v := range vars {
				env[k] = v
			}
			ex := execTally(t, env, cmd)
			if cmd == "run" { // migrate creates a missing database
				require.NotEqual(t, 0, ex.code, "%s %s: %s", name, cmd, ex.out)
			}
			requireNoSecret(t, name+" "+cmd, ex.out)
		}
	}
	t.Run("running worker losing both", func(t *testing.T) { secretsWhileFailing(t, srv, withPassword(dbURL)) })
}

type execResult struct {
	code int
	out  string
}

func execTally(t *testing.T, vars map[string]string, args ...string) execResult {
	t.Helper()
	f := &fleet{t: t, env: vars}
	code, out := f.runTally(nil, args...)
	return execResult{code, out}
}

// secretsWhileFailing runs a worker with the secrets, cuts its database
// and stops NATS, and checks its logs and health answers.
func secretsWhileFailing(t *testing.T, srv *testnats.Server, dbURL string) {
	proxy := startProxy(t, "127.0.0.1:5432")
	logs := &syncBuffer{}
	cfg := natsWorld(t, srv.URL(), map[string]string{"TALLY_NATS_TOKEN": natsSecret, "TALLY_HTTP_TOKEN": httpSecret,
		"TALLY_HTTP_ADDR": "127.0.0.1:0", "TALLY_PENDING_INTERVAL": "200ms",
		"TALLY_DATABASE_URL": strings.Replace(dbURL, "127.0.0.1:5432", proxy.addr, 1)})
	m, err := openWorker(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	w := &worker{main: m}
	requireReady(t, w, true, "")

	proxy.cut()
	srv.Shutdown()
	requireReady(t, w, false, "database")
	requireReady(t, w, false, "nats")
	_, body := httpGet(t, m.Addr(), "/readyz")
	requireNoSecret(t, "/readyz", body)
	_, body = httpGet(t, m.Addr(), "/metrics")
	requireNoSecret(t, "/metrics without a token", body)
	time.Sleep(time.Second) // let the retries log
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop")
	}
	requireNoSecret(t, "the worker's log", logs.String())
	require.Contains(t, logs.String(), "level=WARN", "the failures were logged")
	require.NoError(t, srv.Restart())
}
