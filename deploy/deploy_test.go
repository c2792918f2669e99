// Package deploy_test checks the deployment files beside it: the alert
// rules (with promtool), the Prometheus and Grafana files the compose
// monitoring profile loads, and that every metric they name exists.
package deploy_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/internal/testtool"
)

func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin := testtool.Path(t, "promtool", "prometheus")
	out, err := exec.Command(bin, args...).CombinedOutput()
	require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
}

func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool(t, "check", "rules", "prometheus/alerts.yml")
	promtool(t, "test", "rules", "prometheus/alerts_test.yml")
}

func TestPrometheusConfig(t *testing.T) {
	t.Parallel()
	promtool(t, "check", "config", "prometheus/prometheus.yml")
}

type rulesFile struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, v), path)
}

// TestEveryAlertHasARunbookEntry checks that each alert's runbook_url
// points at a heading of docs/runbook.md.
func TestEveryAlertHasARunbookEntry(t *testing.T) {
	t.Parallel()
	var rf rulesFile
	readYAML(t, "prometheus/alerts.yml", &rf)
	runbook, err := os.ReadFile("../docs/runbook.md")
	require.NoError(t, err)
	var names []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			require.Contains(t, string(runbook), "\n## "+r.Alert+"\n", "docs/runbook.md has no entry for %s", r.Alert)
			require.True(t, strings.HasSuffix(r.Annotations["runbook_url"], "docs/runbook.md#"+strings.ToLower(r.Alert)), r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
		}
	}
	for _, want := range []string{"TallyWorkerDown", "TallyNoProgress", "TallyLagHigh", "TallyDeadLettersIncreasing",
		"TallyOverdueBookings", "TallyConflictingDuplicates", "TallyVerifyDrift"} {
		require.Contains(t, names, want)
	}
}

// TestComposeMonitoringProfile checks that docker-compose.yml parses and
// that its monitoring profile mounts files that exist.
func TestComposeMonitoringProfile(t *testing.T) {
	t.Parallel()
	var compose struct {
		Services map[string]struct {
			Profiles []string `yaml:"profiles"`
			Volumes  []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	readYAML(t, "../docker-compose.yml", &compose)
	for _, name := range []string{"prometheus", "grafana"} {
		svc, ok := compose.Services[name]
		require.True(t, ok, "service %s", name)
		require.Contains(t, svc.Profiles, "monitoring", name)
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				_, err := os.Stat(filepath.Join("..", src))
				require.NoError(t, err, "%s mounts %s", name, src)
			}
		}
	}
	var ds, prov map[string]any
	readYAML(t, "grafana/provisioning/datasources/prometheus.yml", &ds)
	readYAML(t, "grafana/provisioning/dashboards/tally.yml", &prov)
	require.NotEmpty(t, ds["datasources"])
	require.NotEmpty(t, prov["providers"])
}

// metricName finds tally metric names in PromQL.
var metricName = regexp.MustCompile(`\btally_[a-z_]+\b`)

// TestDashboardAndAlertsNameRealMetrics checks the dashboard parses and
// that every tally_ metric the dashboard and the alerts query exists.
func TestDashboardAndAlertsNameRealMetrics(t *testing.T) {
	t.Parallel()
	known := knownMetrics(t)
	b, err := os.ReadFile("grafana/dashboards/tally.json")
	require.NoError(t, err)
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	require.NotEmpty(t, dash.Panels)
	exprs := []string{}
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	var rf rulesFile
	readYAML(t, "prometheus/alerts.yml", &rf)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			require.True(t, slices.Contains(known, name) || slices.Contains(known, base), "%s in %q is no tally metric", name, e)
		}
	}
}

// knownMetrics lists every metric name a worker registers.
func knownMetrics(t *testing.T) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	telemetry.NewMetrics(reg)
	reg.MustRegister(telemetry.NewPoolCollector(func() *pgxpool.Stat { return nil }),
		telemetry.NewRebuildCollector(func(context.Context) (telemetry.RebuildSample, bool, error) {
			return telemetry.RebuildSample{}, false, nil
		}))
	ch := make(chan *prometheus.Desc, 100)
	go func() {
		reg.Describe(ch)
		close(ch)
	}()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	var names []string
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			names = append(names, m[1])
		}
	}
	return names
}
