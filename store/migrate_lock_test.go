package store

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMigrationsTakeTheGenerationLock: migration 00006 fills
// confirmed_starts under the apply transactions' lock, which SQL can only
// name by its number.
func TestMigrationsTakeTheGenerationLock(t *testing.T) {
	t.Parallel()
	sql, err := migrationFS.ReadFile("migrations/00006_confirmed_starts.sql")
	require.NoError(t, err)
	require.Contains(t, string(sql), "pg_advisory_xact_lock("+strconv.Itoa(generationLockKey)+")")
}
