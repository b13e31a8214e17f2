package metrics

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.yaml.in/yaml/v3"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// exposed touches every metric once and returns the names a scrape shows,
// with the kind of each family.
func exposed(t *testing.T) map[string]string {
	t.Helper()
	m := New()
	pool, err := pgxpool.New(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	gauges := store.OpsGauges{Jobs: map[[2]string]int64{{"dial_sip", "available"}: 1}, Abandonment: map[int64]float64{1: 0.01}}
	if err := m.Register(NewPoolCollector(map[string]*pgxpool.Pool{"api": pool}),
		NewStateCollector(func(context.Context) (store.OpsGauges, error) { return gauges, nil }, 0)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m.SetCallSlots(10)
	m.CallStarted("sip", 1)
	m.CallEnded("sip", 1, "answered")
	m.CallTimed("sip", dialer.Timings{Sent: now, Ringing: now, Answered: now, Identify: now, OptOutOffer: now, Ended: now})
	m.KeysHeard("rfc4733", 1)
	m.LeadClassified(1, "completed", "sql")
	m.FirstDial("web_form", time.Second)
	m.PreDialBlocked("dnc")
	m.SLABreached(1)
	m.WebhookDelivery(WebhookDelivered)
	m.ImportRows(1, 1, 1, 1)
	_ = m.Jobs().Work(context.Background(), jobRow("dial_lead", "dial_sip"), func(context.Context) error { return nil })
	m.httpRequests.WithLabelValues("api", "2xx").Inc()
	m.httpDuration.WithLabelValues("api").Observe(0.01)
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, f := range fams {
		names[f.GetName()] = f.GetType().String()
	}
	return names
}

// TestDeployFilesNameRealMetrics: every qualdial metric the alert rules
// and the Grafana dashboard query is one the product exposes, so a renamed
// metric cannot leave an alert silently matching nothing; the files are
// well-formed, and every alert says what to do.
func TestDeployFilesNameRealMetrics(t *testing.T) {
	names := exposed(t)
	for _, want := range []string{"qualdial_calls_started_total", "qualdial_db_pool_max_conns", "qualdial_sla_breached_leads", "qualdial_queue_jobs", "go_goroutines"} {
		if names[want] == "" {
			t.Errorf("%s is not exposed", want)
		}
	}
	dir := filepath.Join("..", "deploy", "observability")
	ref := regexp.MustCompile(`\b(qualdial|go|process)_[a-z0-9_]+`)
	check := func(file, text string) {
		found := ref.FindAllString(text, -1)
		if len(found) == 0 && !strings.Contains(text, "up{") {
			t.Errorf("%s queries no qualdial metric", file)
		}
		for _, n := range found {
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suffix); ok && names[b] == "HISTOGRAM" {
					base = b
				}
			}
			if names[base] == "" {
				t.Errorf("%s queries %s, which qualdial does not expose", file, n)
			}
		}
	}

	alerts, err := os.ReadFile(filepath.Join(dir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(alerts, &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var alertNames []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alertNames = append(alertNames, r.Alert)
			if r.Alert == "" || r.Expr == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" || r.Labels["severity"] == "" {
				t.Errorf("alert %q: needs alert, expr, severity, summary and description", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q", r.Alert, r.For)
				}
			}
			check("alerts.yml "+r.Alert, r.Expr)
		}
	}
	for _, want := range []string{"QualdialSLABreaches", "QualdialAbandonmentRisk", "QualdialNoCallsWhileCampaignActive", "QualdialWebhookFailures", "QualdialDBPoolSaturated"} {
		if !slices.Contains(alertNames, want) {
			t.Errorf("no alert %s", want)
		}
	}

	raw, err := os.ReadFile(filepath.Join(dir, "grafana", "dashboards", "qualdial.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string
		Panels []struct {
			Type, Title string
			Datasource  struct{ UID string }
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("qualdial.json: %v", err)
	}
	graphs := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if p.Datasource.UID != "prometheus" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d queries", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, q := range p.Targets {
			check("dashboard panel "+p.Title, q.Expr)
		}
	}
	if dash.UID != "qualdial" || graphs < 20 {
		t.Errorf("dashboard uid %q with %d panels", dash.UID, graphs)
	}
	prom, err := os.ReadFile(filepath.Join(dir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct{ Targets []string }
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(prom, &cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].JobName != "qualdial" || len(cfg.RuleFiles) != 1 {
		t.Errorf("prometheus.yml: %+v", cfg)
	}
}
