package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/config"
)

func TestDefaultsMatchTheContract(t *testing.T) {
	t.Parallel()
	c, err := config.Load(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, "postgres://postgres@127.0.0.1:5432/tally", c.DatabaseURL)
	require.Equal(t, "nats://127.0.0.1:4222", c.NATSURL)
	require.Equal(t, "FLEET", c.Stream)
	require.Equal(t, "fleet.>", c.Subjects)
	require.Equal(t, "tally", c.Consumer)
	require.Equal(t, "TALLY_DLQ", c.DLQStream)
	require.Equal(t, "tally.dlq.FLEET", c.DeadLetterSubject())
	require.Equal(t, 15*time.Minute, c.OverdueGrace)
	require.Equal(t, 65536, c.MaxEventBytes)
	require.Equal(t, "127.0.0.1:8080", c.HTTPAddr)
	require.Equal(t, time.Duration(0), c.StreamMaxAge)
	require.Equal(t, "UTC", c.Zones().DefaultName())
}

func TestFileVariantReadsSecrets(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db-url")
	require.NoError(t, os.WriteFile(path, []byte("postgres://u:s3cret@db:5432/tally\n"), 0o600))
	c, err := config.Load(map[string]string{"TALLY_DATABASE_URL_FILE": path})
	require.NoError(t, err)
	require.Equal(t, "postgres://u:s3cret@db:5432/tally", c.DatabaseURL, "the trailing newline is trimmed")
}

func TestBadSettingsNameTheVariableInOneLine(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope")
	cases := []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"TALLY_TIMEZONE": "Mars/Base"}, "TALLY_TIMEZONE"},
		{map[string]string{"TALLY_TIMEZONE": "Local"}, "TALLY_TIMEZONE"},
		{map[string]string{"TALLY_CITY_TIMEZONES": "paris"}, "TALLY_CITY_TIMEZONES"},
		{map[string]string{"TALLY_CITY_TIMEZONES": "paris=Europe/Nowhere"}, "TALLY_CITY_TIMEZONES"},
		{map[string]string{"TALLY_BATCH_SIZE": "many"}, "TALLY_BATCH_SIZE"},
		{map[string]string{"TALLY_BATCH_SIZE": "0"}, "TALLY_BATCH_SIZE"},
		{map[string]string{"TALLY_BATCH_WAIT": "soon"}, "TALLY_BATCH_WAIT"},
		{map[string]string{"TALLY_ACK_WAIT": "10s", "TALLY_APPLY_TIMEOUT": "10s"}, "TALLY_APPLY_TIMEOUT"},
		{map[string]string{"TALLY_OVERDUE_GRACE": "-1m"}, "TALLY_OVERDUE_GRACE"},
		{map[string]string{"TALLY_MAX_EVENT_BYTES": "2000000"}, "TALLY_MAX_EVENT_BYTES"},
		{map[string]string{"TALLY_SUBJECTS": "a.>,b.>"}, "TALLY_SUBJECTS"},
		{map[string]string{"TALLY_STREAM": "has.dot"}, "TALLY_STREAM"},
		{map[string]string{"TALLY_HTTP_ADDR": "8080"}, "TALLY_HTTP_ADDR"},
		{map[string]string{"TALLY_DATABASE_URL": "postgres://%zz"}, "TALLY_DATABASE_URL"},
		{map[string]string{"TALLY_LOG_LEVEL": "loud"}, "TALLY_LOG_LEVEL"},
		{map[string]string{"TALLY_DATABASE_URL_FILE": missing}, "TALLY_DATABASE_URL_FILE"},
		{map[string]string{"TALLY_DATABASE_URL": "x", "TALLY_DATABASE_URL_FILE": missing}, "TALLY_DATABASE_URL_FILE"},
	}
	for _, tc := range cases {
		_, err := config.Load(tc.env)
		require.Error(t, err, "%v", tc.env)
		require.True(t, errors.Is(err, config.ErrSetting), "%v: %v", tc.env, err)
		require.True(t, strings.HasPrefix(err.Error(), tc.name+": "), "%v: %v", tc.env, err)
		require.NotContains(t, err.Error(), "\n")
	}
}

func TestCityZonesAreCanonical(t *testing.T) {
	t.Parallel()
	a, err := config.Load(map[string]string{"TALLY_CITY_TIMEZONES": "paris=Europe/Paris, jakarta=Asia/Jakarta"})
	require.NoError(t, err)
	b, err := config.Load(map[string]string{"TALLY_CITY_TIMEZONES": "jakarta=Asia/Jakarta,paris=Europe/Paris"})
	require.NoError(t, err)
	require.True(t, a.Zones().Equal(b.Zones()))
	require.Equal(t, "jakarta=Asia/Jakarta,paris=Europe/Paris", a.Zones().CitiesString())
}
