package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// TestMetricsQueueUIAndRequestIDs runs serve with two leads who complete
// the BANT script over SIP, then checks what an operator sees: the
// metrics moved by exactly what the calls did (calls, dispositions,
// classes, keys by method, timings, jobs, pools, SLA), no label carries a
// phone number or a lead id, /metrics and the job queue's UI are closed to
// everyone but admins (and the metrics token), and log lines carry the
// request id or the call id.
func TestMetricsQueueUIAndRequestIDs(t *testing.T) {
	t.Parallel()
	hot := "1,~1,~1,~1,~120#,~1" // the first key after the prompts: the identification and the opt-out offer play in full
	phone, err := softphone.Start(softphone.Config{Default: softphone.Persona{Keys: hot}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	dbURL := pgtest.URL(t)
	phones := []string{"+12125550141", "+12125550142"}
	st, ids := campaignWithLeads(t, dbURL, store.CampaignParams{}, phones)
	ctx := context.Background()
	users := map[string]string{}
	for _, role := range []string{store.RoleAdmin, store.RoleMarketing} {
		email := role + "@example.com"
		u, once, err := st.CreateUser(ctx, email, "", role)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetPassword(ctx, u.ID, once, "correct horse battery "+role); err != nil {
			t.Fatal(err)
		}
		users[role] = email
	}
	const token = "scrape-token-0123456789"
	p := startServe(t, append(cleanEnv(), "QUALDIAL_DATABASE_URL="+dbURL, "QUALDIAL_METRICS_TOKEN="+token),
		"--sip-trunk", phone.Addr().String(), "--metrics-addr", "127.0.0.1:0")
	defer p.stop(t)
	m := regexp.MustCompile(`"msg":"metrics served","addr":"([^"]+)"`).FindStringSubmatch(p.Log())
	if m == nil {
		t.Fatalf("serve did not say where metrics are served:\n%s", p.Log())
	}
	metricsURL := "http://" + m[1] + "/metrics"
	var campaignID int64
	waitUntil(t, 90*time.Second, "both leads to complete the script", func() bool {
		done := 0
		for _, id := range ids {
			l, err := store.GetLead(ctx, st.Pool(), id)
			if err != nil {
				t.Fatal(err)
			}
			campaignID = l.CampaignID
			if string(l.Status) == "completed" {
				done++
			}
		}
		return done == len(ids)
	})

	// Each attempt keeps its compliance timings: answer → identification,
	// identification's end → opt-out offer, post-dial delay — within the
	// 2-second rule on loopback.
	rows, err := st.Pool().Query(ctx, `SELECT answer_to_identify_ms, identify_to_opt_out_ms, post_dial_delay_ms, compliance_late
		FROM call_attempts WHERE campaign_id = $1`, campaignID)
	if err != nil {
		t.Fatal(err)
	}
	timed := 0
	for rows.Next() {
		var toID, toOpt, pdd *int
		var late bool
		if err := rows.Scan(&toID, &toOpt, &pdd, &late); err != nil {
			t.Fatal(err)
		}
		if toID == nil || toOpt == nil || pdd == nil || *toID > 2000 || *toOpt > 2000 || late {
			t.Errorf("attempt timings: answer→identify %v ms, identify→opt-out %v ms, post-dial %v ms, late %v", deref(toID), deref(toOpt), deref(pdd), late)
		}
		timed++
	}
	if rows.Err() != nil || timed != 2 {
		t.Errorf("%d attempts timed (%v), want 2", timed, rows.Err())
	}

	// The figures, from the unauthenticated listener.
	var fams map[string]*dto.MetricFamily
	waitUntil(t, 20*time.Second, "the calls' end to be counted", func() bool {
		fams = scrape(t, metricsURL, "")
		return sumOf(fams, "qualdial_calls_ended_total", nil) == 2
	})
	camp := map[string]string{"driver": "sip", "campaign_id": strconv.FormatInt(campaignID, 10)}
	pressed := 0
	for _, c := range phone.Calls() {
		for _, k := range c.Pressed {
			pressed += len(k)
		}
	}
	for _, want := range []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"qualdial_calls_started_total", camp, 2},
		{"qualdial_calls_ended_total", map[string]string{"driver": "sip", "disposition": "answered"}, 2},
		{"qualdial_calls_in_progress", nil, 0},
		{"qualdial_call_slots", nil, 100},
		{"qualdial_leads_classified_total", map[string]string{"outcome": "completed", "class": "sql"}, 2},
		{"qualdial_dtmf_keys_total", map[string]string{"method": "rfc4733"}, float64(pressed)},
		{"qualdial_call_answer_to_identify_seconds", map[string]string{"driver": "sip"}, 2},
		{"qualdial_call_answer_to_opt_out_offer_seconds", map[string]string{"driver": "sip"}, 2},
		{"qualdial_call_post_dial_delay_seconds", map[string]string{"driver": "sip"}, 2},
		{"qualdial_call_answered_duration_seconds", map[string]string{"driver": "sip"}, 2},
		{"qualdial_speed_to_first_dial_seconds", nil, 2},
		{"qualdial_jobs_worked_total", map[string]string{"kind": "dial_lead", "result": "ok"}, 2},
		{"qualdial_db_pool_max_conns", map[string]string{"pool": "workers"}, defaultDBConnsWorkers},
		{"qualdial_db_state_up", nil, 1},
		{"qualdial_campaigns_active", nil, 1},
		{"qualdial_sla_pending_leads", nil, 2},
		{"qualdial_sla_breached_leads", nil, 0},
	} {
		if got := sumOf(fams, want.name, want.labels); got != want.value {
			t.Errorf("%s%v = %v, want %v", want.name, want.labels, got, want.value)
		}
	}
	if pressed != 18 {
		t.Errorf("the softphones pressed %d keys, want 2 × 9", pressed)
	}
	if fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil {
		t.Error("no Go runtime or process metrics")
	}
	// Answer → identification: a real duration, and well inside the
	// 2-second rule on loopback.
	if h := histogramOf(fams, "qualdial_call_answer_to_identify_seconds"); h == nil || h.GetSampleSum() < 0 || h.GetSampleSum() > 2*2 {
		t.Errorf("answer → identification: %v", h)
	}
	// No label value is a phone number or a lead id.
	for name, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				v := lp.GetValue()
				for _, ph := range phones {
					if strings.Contains(v, ph[2:]) {
						t.Errorf("%s has the phone number in label %s=%q", name, lp.GetName(), v)
					}
				}
				for _, id := range ids {
					if lp.GetName() != "campaign_id" && v == strconv.FormatInt(id, 10) && strings.Contains(lp.GetName(), "lead") {
						t.Errorf("%s has a lead id label %s=%q", name, lp.GetName(), v)
					}
				}
				if strings.Contains(lp.GetName(), "lead") || strings.Contains(lp.GetName(), "phone") {
					t.Errorf("%s has a label %s", name, lp.GetName())
				}
			}
		}
	}

	// /metrics on the main address: admins and the token only.
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	admin, marketing := login(t, p.base, users[store.RoleAdmin], "correct horse battery admin"), login(t, p.base, users[store.RoleMarketing], "correct horse battery marketing")
	for _, tc := range []struct {
		who    string
		client *http.Client
		auth   string
		path   string
		status int
		body   string
	}{
		{"anonymous", anon, "", "/metrics", http.StatusUnauthorized, "send the metrics token"},
		{"wrong token", anon, "Bearer not-the-token-at-all", "/metrics", http.StatusUnauthorized, "wrong or unknown metrics token"},
		{"token", anon, "Bearer " + token, "/metrics", http.StatusOK, "qualdial_calls_started_total"},
		{"marketing", marketing, "", "/metrics", http.StatusForbidden, ""},
		{"admin", admin, "", "/metrics", http.StatusOK, "qualdial_calls_started_total"},
		{"anonymous", anon, "", "/admin/queue/", http.StatusSeeOther, ""},
		{"token", anon, "Bearer " + token, "/admin/queue/", http.StatusSeeOther, ""},
		{"marketing", marketing, "", "/admin/queue/", http.StatusForbidden, ""},
		{"marketing", marketing, "", "/admin/queue/api/jobs?state=completed&limit=5", http.StatusForbidden, ""},
		{"admin", admin, "", "/admin/queue", http.StatusTemporaryRedirect, ""},
		{"admin", admin, "", "/admin/queue/", http.StatusOK, "<title>River</title>"},
		{"admin", admin, "", "/admin/queue/api/jobs?state=completed&limit=50", http.StatusOK, `"kind":"dial_lead"`},
		{"admin", admin, "", "/admin/queue/api/queues", http.StatusOK, `"name":"dial_sip"`},
	} {
		req, _ := http.NewRequest("GET", p.base+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := tc.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s GET %s: %d %.300s; want %d with %q", tc.who, tc.path, res.StatusCode, b, tc.status, tc.body)
		}
		if res.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s GET %s: no X-Request-Id", tc.who, tc.path)
		}
	}
	// The HTTP metrics count those requests by handler.
	fams = scrape(t, metricsURL, "")
	if n := sumOf(fams, "qualdial_http_requests_total", map[string]string{"handler": "queue_ui", "code": "2xx"}); n < 3 {
		t.Errorf("queue UI requests counted: %v", n)
	}

	// Every line logged while serving a request names it.
	req, _ := http.NewRequest("POST", p.base+"/login", strings.NewReader("email=nobody%40example.com&password=wrong-password-x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Request-Id", "login-probe-7")
	if res, err := anon.Do(req); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
		if res.Header.Get("X-Request-Id") != "login-probe-7" {
			t.Errorf("request id not echoed: %q", res.Header.Get("X-Request-Id"))
		}
	}
	waitUntil(t, 5*time.Second, "the refused login to be logged", func() bool { return strings.Contains(p.Log(), "web login refused") })
	calls := 0
	for _, line := range strings.Split(p.Log(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec["msg"] {
		case "web login refused":
			if rec["request_id"] != "login-probe-7" {
				t.Errorf("log line without the request id: %s", line)
			}
		case "call finished":
			calls++
			if rec["call_id"] == nil || rec["call_id"] == "" || rec["attempt_id"] == nil || rec["lead_id"] == nil {
				t.Errorf("call log line without call_id, attempt_id or lead_id: %s", line)
			}
			for _, ph := range phones {
				if strings.Contains(line, ph[2:]) {
					t.Errorf("a phone number in the log: %s", line)
				}
			}
		}
	}
	if calls != 2 {
		t.Errorf("%d call finished lines, want 2", calls)
	}
}

// login signs in to the web UI and returns a client with the session.
func login(t *testing.T, base, email, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login %s: %d → %s", email, res.StatusCode, res.Header.Get("Location"))
	}
	return c
}

// scrape reads a metrics page.
func scrape(t *testing.T, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// sumOf adds the values (a histogram's count) of a family's series whose
// labels include want.
func sumOf(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	total := 0.0
series:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

func histogramOf(fams map[string]*dto.MetricFamily, name string) *dto.Histogram {
	if f := fams[name]; f != nil && len(f.GetMetric()) == 1 {
		return f.GetMetric()[0].Histogram
	}
	return nil
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
