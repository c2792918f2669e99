package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/config"
)

func TestSecuritySettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seed := filepath.Join(dir, "user.nk")
	require.NoError(t, os.WriteFile(seed, []byte("SUA..."), 0o600))
	cases := []struct {
		name string
		env  map[string]string
		bad  string // the setting named, "" when valid
	}{
		{"defaults", nil, ""},
		{"user and password", map[string]string{"TALLY_NATS_USER": "tally", "TALLY_NATS_PASSWORD": "pw"}, ""},
		{"user without password", map[string]string{"TALLY_NATS_USER": "tally"}, "TALLY_NATS_USER"},
		{"two ways", map[string]string{"TALLY_NATS_TOKEN": "tok", "TALLY_NATS_NKEY_SEED_FILE": seed}, "TALLY_NATS_TOKEN"},
		{"missing creds file", map[string]string{"TALLY_NATS_CREDS_FILE": filepath.Join(dir, "none.creds")}, "TALLY_NATS_CREDS_FILE"},
		{"cert without key", map[string]string{"TALLY_NATS_TLS_CERT": seed}, "TALLY_NATS_TLS_CERT"},
		{"short http token", map[string]string{"TALLY_HTTP_TOKEN": "short"}, "TALLY_HTTP_TOKEN"},
		{"role prefix", map[string]string{"TALLY_ROLE_PREFIX": "Tally-"}, "TALLY_ROLE_PREFIX"},
		{"liveness too short", map[string]string{"TALLY_LIVENESS_TIMEOUT": "1s"}, "TALLY_LIVENESS_TIMEOUT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(c.env)
			if c.bad == "" {
				require.NoError(t, err)
				return
			}
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, c.bad, ce.Name, err.Error())
		})
	}
}

func TestSecretsFromFilesNeverPrinted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(v+"\n"), 0o600))
		return p
	}
	cfg, err := config.Load(map[string]string{
		"TALLY_DATABASE_URL":       "postgres://tally:db-secret-1@db:5432/tally",
		"TALLY_NATS_URL":           "nats://nats-secret-2@nats:4222",
		"TALLY_NATS_TOKEN_FILE":    write("token", "nats-secret-3"),
		"TALLY_HTTP_TOKEN_FILE":    write("http", "http-secret-4-0123456789"),
		"TALLY_NATS_PASSWORD_FILE": write("pw", "unused"),
		"TALLY_NATS_USER":          "",
	})
	// The password without a user is refused, naming the setting only.
	require.Error(t, err)
	require.NotContains(t, err.Error(), "unused")

	cfg, err = config.Load(map[string]string{
		"TALLY_DATABASE_URL":    "postgres://tally:db-secret-1@db:5432/tally",
		"TALLY_NATS_URL":        "nats://nats-secret-2@nats:4222",
		"TALLY_NATS_TOKEN_FILE": write("token", "nats-secret-3"),
		"TALLY_HTTP_TOKEN_FILE": write("http", "http-secret-4-0123456789"),
	})
	require.NoError(t, err)
	require.Equal(t, "nats-secret-3", cfg.NATSToken)
	require.Equal(t, "http-secret-4-0123456789", cfg.HTTPToken)

	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("settings", "config", cfg)
	printed := logs.String() + fmt.Sprint(cfg) + fmt.Sprintf("%v %+v %s", cfg, cfg, cfg)
	for _, secret := range []string{"db-secret-1", "nats-secret-2", "nats-secret-3", "http-secret-4"} {
		require.NotContains(t, printed, secret)
	}
	require.Contains(t, logs.String(), "TALLY_DATABASE_URL")
}
