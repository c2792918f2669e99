package integration

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/testnats"
	"github.com/tallyhq/tally/internal/testtool"
)

// chromium runs headless Chromium with a fresh profile on url, with the
// mode flag (--dump-dom, --screenshot=...), and returns its stdout.
func chromium(t *testing.T, mode, url string) string {
	t.Helper()
	bin := testtool.Path(t, "chromium", "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--window-size=1280,1600", mode, url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium %s: %s", mode, stderr.String())
	return stdout.String()
}

// thin formats n as the status page does: thin spaces between thousands.
func thin(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestStatusPageInChromium renders the status page of a populated
// database in real headless Chromium: the DOM Chromium built shows every
// counter row, and a screenshot is kept as an artifact.
func TestStatusPageInChromium(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	w := f.startWorker(nil)
	load := newOpsLoad(t, time.Now())
	f.publish(append(load.msgs, troubled(t, 7)[:400]...))
	f.waitIdle(time.Minute)
	url := "http://" + w.main.Addr().String() + "/"
	// The workers' heartbeat and the pending measurement land within an
	// interval or two.
	require.Eventually(t, func() bool {
		_, body := httpGet(t, w.main.Addr(), "/")
		return strings.Contains(body, ", 0 events pending") && strings.Contains(body, "running")
	}, 20*time.Second, 100*time.Millisecond)

	dom := chromium(t, "--dump-dom", url)
	v, err := f.store.ReadViews(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, v.ActiveCars)
	require.Contains(t, dom, "events pending")
	require.Contains(t, dom, `<meta http-equiv="refresh"`)
	for _, r := range v.ActiveCars {
		require.Contains(t, dom, fmt.Sprintf("<td>%s</td><td class=\"n\">%s</td>", r.City, thin(r.Cars)), "active cars in %s", r.City)
	}
	for _, r := range v.DailyBookings {
		require.Contains(t, dom, fmt.Sprintf("<td>%s</td><td>%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>",
			r.Day.Format(time.DateOnly), r.City, thin(r.Confirmed), thin(r.Started)))
	}
	for _, r := range v.DailyRevenue {
		require.Contains(t, dom, fmt.Sprintf("<td>%s</td><td>%s</td><td>%s</td><td class=\"n\">%s</td>",
			r.Day.Format(time.DateOnly), r.City, r.Currency, thin(r.GrossMinor)))
	}
	for _, r := range v.OverdueBookings {
		require.Contains(t, dom, fmt.Sprintf("<td>%s</td><td class=\"n bad\">%s</td>", r.City, thin(r.Bookings)))
	}
	require.Contains(t, dom, "invalid_json")
	host, _ := os.Hostname()
	require.Contains(t, dom, host)

	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, "--screenshot="+shot, url)
	b, err := os.ReadFile(shot)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, 1280, img.Bounds().Dx())
	t.Logf("status page screenshot: %s (%d bytes)", shot, len(b))
	// TALLY_TEST_ARTIFACTS keeps it past the test, for a look.
	if dir := os.Getenv("TALLY_TEST_ARTIFACTS"); dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "status.png"), b, 0o644))
	}
}
