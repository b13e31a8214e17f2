package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// withConfig serves the bundle's database again with a changed API
// configuration (same keys).
func (b *bundle) withConfig(t *testing.T, change func(*api.Config)) {
	t.Helper()
	q, err := queue.New(b.st, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Store: b.st, Dialer: q, Logger: slog.New(slog.DiscardHandler)}
	change(&cfg)
	h, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(h)
	t.Cleanup(b.srv.Close)
}

// problemFields returns the field errors of a problem response.
func problemFields(t *testing.T, res response) []map[string]any {
	t.Helper()
	var out []map[string]any
	errs, _ := res.json(t)["errors"].([]any)
	for _, e := range errs {
		out = append(out, e.(map[string]any))
	}
	return out
}

// TestWebhookSubscriptionRefusesInternalURLs: subscribing a URL that points
// inside (loopback, private, metadata), carries credentials, or is not
// https is a 422 with a reason on the url field; the credentials are never
// echoed or listed. An explicit allowlist admits an on-prem CRM.
func TestWebhookSubscriptionRefusesInternalURLs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for url, reason := range map[string]string{
		"http://crm.example/hooks":                          "use https",
		"https://127.0.0.1/hooks":                           "loopback",
		"https://[::1]:8443/hooks":                          "loopback",
		"https://[::ffff:127.0.0.1]/hooks":                  "loopback",
		"https://localhost/hooks":                           "loopback",
		"https://10.1.2.3/hooks":                            "private",
		"https://192.168.0.10/hooks":                        "private",
		"https://100.64.1.1/hooks":                          "carrier-grade NAT",
		"https://169.254.169.254/latest/meta-data/":         "metadata",
		"https://metadata.google.internal/computeMetadata/": "metadata service",
		"https://crm:s3cr3t@crm.example/hooks":              "must not contain credentials",
		"https://crm.example/hooks#s3cr3t":                  "fragment",
		"https://crm.example/" + strings.Repeat("a", 3000):  "the limit is 2048",
		"https://2130706433/hooks":                          "not a valid host name",
	} {
		res := b.do(t, "POST", "/v1/webhooks", store.RoleAdmin, "application/json", jsonBody(map[string]any{"url": url}))
		fields := problemFields(t, res)
		if res.status != 422 || len(fields) != 1 || fields[0]["field"] != "url" || !strings.Contains(fields[0]["message"].(string), reason) {
			t.Errorf("%.60s: %d %s, want 422 on url with %q", url, res.status, res.body, reason)
		}
		if bytes.Contains(res.body, []byte("s3cr3t")) {
			t.Errorf("%.60s: the answer repeats the credentials: %s", url, res.body)
		}
	}
	// A name that resolves inside (this machine's own host name) is refused
	// when subscribing, not only at every delivery.
	if host, err := os.Hostname(); err == nil {
		if addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host); err == nil && len(addrs) > 0 &&
			(addrs[0].Unmap().IsLoopback() || addrs[0].Unmap().IsPrivate()) {
			res := b.do(t, "POST", "/v1/webhooks", store.RoleAdmin, "application/json", jsonBody(map[string]any{"url": "https://" + host + ":8443/hooks"}))
			fields := problemFields(t, res)
			if res.status != 422 || len(fields) != 1 || !strings.Contains(fields[0]["message"].(string), "resolves to an address webhooks may not reach") {
				t.Errorf("https://%s (resolves to %v): %d %s", host, addrs, res.status, res.body)
			}
		}
	}
	// No events is not all events.
	res := b.do(t, "POST", "/v1/webhooks", store.RoleAdmin, "application/json", jsonBody(map[string]any{"url": "https://crm.example/hooks", "events": []string{}}))
	if fields := problemFields(t, res); res.status != 422 || len(fields) != 1 || fields[0]["field"] != "events" {
		t.Errorf("events []: %d %s", res.status, res.body)
	}
	res = b.do(t, "POST", "/v1/webhooks", store.RoleAdmin, "application/json", jsonBody(map[string]any{"url": "https://crm.example/hooks?tenant=7"}))
	if res.status != 201 || res.json(t)["signature"] != "v2" {
		t.Fatalf("public https URL: %d %s", res.status, res.body)
	}
	// A subscription stored before these checks: listed without its
	// credentials.
	if _, err := b.st.CreateSubscription(ctx, "https://crm:s3cr3t@old-crm.example/hooks", []string{"lead.qualified"}); err != nil {
		t.Fatal(err)
	}
	res = b.do(t, "GET", "/v1/webhooks", store.RoleAdmin, "", nil)
	if res.status != 200 || bytes.Contains(res.body, []byte("s3cr3t")) || !bytes.Contains(res.body, []byte(`"https://old-crm.example/hooks"`)) {
		t.Errorf("list: %s", res.body)
	}

	// On-prem: http and a private network, allowed explicitly.
	b.withConfig(t, func(c *api.Config) {
		c.WebhookAllowHTTP = true
		c.WebhookAllowNets = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}
	})
	for url, want := range map[string]int{"http://10.20.1.2:8080/hooks": 201, "http://10.21.1.2/hooks": 422, "http://169.254.169.254/": 422} {
		if res := b.do(t, "POST", "/v1/webhooks", store.RoleAdmin, "application/json", jsonBody(map[string]any{"url": url})); res.status != want {
			t.Errorf("allowlisted config, %s: %d %s, want %d", url, res.status, res.body, want)
		}
	}
}

// TestSignedIntakeV2: v2 signatures cover the method, path, query,
// timestamp and body, so a captured request cannot be replayed into another
// campaign by adding or changing ?campaign=; v1 is accepted only for
// POST /v1/leads without a query string; a campaign named differently in
// the query and the body is refused, signed or not.
func TestSignedIntakeV2(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.campaign(t, "alpha", nil)
	b.campaign(t, "beta", nil)
	token, key, _ := b.st.CreateAPIKey(ctx, store.RoleIntake, "provider")
	secret, err := b.st.RequireSignature(ctx, key.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.keys["signed"] = token
	now := fmt.Sprint(time.Now().Unix())
	v2 := func(method, path, query, body string) string {
		sig, err := queue.SignV2(secret, now, method, path, query, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	lead := func(phone string) string { return `{"phone": "` + phone + `"}` }
	for _, tc := range []struct {
		name, query, body, sig string
		want                   int
	}{
		{"v2 with the campaign in the query", "?campaign=alpha", lead("+12125550160"), v2("POST", "/v1/leads", "campaign=alpha", lead("+12125550160")), 202},
		{"v2 replayed into another campaign", "?campaign=beta", lead("+12125550160"), v2("POST", "/v1/leads", "campaign=alpha", lead("+12125550160")), 401},
		{"v2 with a query added", "?campaign=beta", `{"campaign": "alpha", "phone": "+12125550161"}`, v2("POST", "/v1/leads", "", `{"campaign": "alpha", "phone": "+12125550161"}`), 401},
		{"v2 for another path", "", `{"campaign": "alpha", "phone": "+12125550162"}`, v2("POST", "/v1/dnc", "", `{"campaign": "alpha", "phone": "+12125550162"}`), 401},
		{"v2 for another method", "", `{"campaign": "alpha", "phone": "+12125550162"}`, v2("PUT", "/v1/leads", "", `{"campaign": "alpha", "phone": "+12125550162"}`), 401},
		{"v2 body changed", "?campaign=alpha", lead("+12125550169"), v2("POST", "/v1/leads", "campaign=alpha", lead("+12125550163")), 401},
		{"v2 query reordered", "?x=1&campaign=alpha", lead("+12125550164"), v2("POST", "/v1/leads", "campaign=alpha&x=1", lead("+12125550164")), 202},
		{"v2, query and body disagree", "?campaign=beta", `{"campaign": "alpha", "phone": "+12125550165"}`, v2("POST", "/v1/leads", "campaign=beta", `{"campaign": "alpha", "phone": "+12125550165"}`), 422},
		{"v1 without a query", "", `{"campaign": "alpha", "phone": "+12125550166"}`, queue.Sign(secret, now, []byte(`{"campaign": "alpha", "phone": "+12125550166"}`)), 202},
		{"v1 with a query", "?campaign=beta", `{"campaign": "alpha", "phone": "+12125550167"}`, queue.Sign(secret, now, []byte(`{"campaign": "alpha", "phone": "+12125550167"}`)), 401},
		{"no scheme", "", lead("+12125550168"), "deadbeef", 401},
	} {
		res := b.do(t, "POST", "/v1/leads"+tc.query, "signed", "application/json", strings.NewReader(tc.body), "X-Qualdial-Timestamp", now, "X-Qualdial-Signature", tc.sig)
		if res.status != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, res.status, tc.want, res.body)
		}
	}
	var beta int
	if err := b.st.Pool().QueryRow(ctx, `SELECT count(*) FROM leads l JOIN campaigns c ON c.id = l.campaign_id WHERE c.name = 'beta'`).Scan(&beta); err != nil || beta != 0 {
		t.Errorf("%d leads reached campaign beta (%v)", beta, err)
	}

	// Unsigned keys too: one place names the campaign.
	for _, tc := range []struct {
		query, body string
		want        int
	}{
		{"?campaign=beta", `{"campaign": "alpha", "phone": "+12125550170"}`, 422},
		{"?campaign=alpha&campaign=beta", `{"phone": "+12125550171"}`, 422},
		{"?campaign=alpha", `{"campaign_id": "beta", "phone": "+12125550172"}`, 422},
		{"?campaign=alpha", `{"campaign": "alpha", "phone": "+12125550173"}`, 202},
		{"", `{"campaign": "beta", "phone": "+12125550174"}`, 202},
	} {
		res := b.do(t, "POST", "/v1/leads"+tc.query, store.RoleIntake, "application/json", strings.NewReader(tc.body))
		if res.status != tc.want {
			t.Errorf("%s %s: %d, want %d: %s", tc.query, tc.body, res.status, tc.want, res.body)
			continue
		}
		if tc.want == 422 {
			if f := problemFields(t, res); len(f) != 1 || f[0]["field"] != "campaign" || !strings.Contains(f[0]["message"].(string), "name it in one place") {
				t.Errorf("%s %s: %s", tc.query, tc.body, res.body)
			}
		}
	}
}

// TestCSVFormulaCellsNeutralised: the export and the rejects file prefix
// cells that start a formula with an apostrophe, and leave E.164 phones and
// plain numbers as they are.
func TestCSVFormulaCellsNeutralised(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cid := b.campaign(t, "csv", map[string]any{"default_country": "US"})
	if _, err := b.st.Pool().Exec(ctx, `INSERT INTO leads (campaign_id, phone, first_name, last_name, company, email, outcome, class, route, total, scores, created_at, updated_at)
		VALUES ($1, '+12125550123', '=HYPERLINK("http://x","y")', '-2+3', '@SUM(1)', e'\tcmd', 'completed', 'sql', 'sales', -10, '{"budget": -10}', $2, $2)`, cid, b.st.Now()); err != nil {
		t.Fatal(err)
	}
	res := b.do(t, "GET", "/v1/leads/export.csv", store.RoleSales, "", nil)
	rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	if err != nil || res.status != 200 || len(rows) != 2 {
		t.Fatalf("export: %d %v %q", res.status, err, res.body)
	}
	got := map[string]string{}
	for i, name := range rows[0] {
		got[name] = rows[1][i]
	}
	for col, want := range map[string]string{"first_name": `'=HYPERLINK("http://x","y")`, "last_name": "'-2+3", "company": "'@SUM(1)",
		"email": "'\tcmd", "phone": "+12125550123", "total": "-10", "scores": `{"budget": -10}`} {
		if got[col] != want {
			t.Errorf("export %s = %q, want %q", col, got[col], want)
		}
	}

	list := "phone,first_name\n@SUM(1),Ann\n=1+2,Bob\n+12125550124,Cy\n"
	res = b.importList(t, fmt.Sprintf("/v1/campaigns/%d/imports", cid), store.RoleMarketing, "text/csv", strings.NewReader(list))
	if res.status != 200 {
		t.Fatalf("import: %d %s", res.status, res.body)
	}
	res = b.do(t, "GET", fmt.Sprintf("/v1/campaigns/%d/imports/%v/rejects.csv", cid, res.json(t)["id"]), store.RoleMarketing, "", nil)
	rows, err = csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("rejects: %v %q", err, res.body)
	}
	for i, want := range []string{"'@SUM(1)", "'=1+2"} {
		if row := rows[i+1]; !strings.HasPrefix(row[2], want) || strings.HasPrefix(row[1], "=") || strings.HasPrefix(row[1], "@") {
			t.Errorf("rejected row %v, want data starting %q", row, want)
		}
	}
}

// TestExportAbortsWhenTheDatabaseFailsMidStream: the database connection
// serving an export is terminated while rows are still being sent; the
// client must see a broken download, not a clean end of a truncated file.
func TestExportAbortsWhenTheDatabaseFailsMidStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cid := b.campaign(t, "big", nil)
	// About 40 MB of CSV: more than the socket buffers between PostgreSQL,
	// the server and this client hold, so the query is still sending when
	// it is killed.
	const n = 40000
	if _, err := b.st.Pool().Exec(ctx, `INSERT INTO leads (campaign_id, phone, first_name, company, outcome, class, route, total, scores, created_at, updated_at)
		SELECT $1, '+1212' || lpad(i::text, 7, '0'), 'Lead ' || i, repeat(md5(i::text), 32), 'completed', 'sql', 'sales', 50, '{"budget": 50}', $3, $3
		FROM generate_series(1, $2) i`, cid, n, b.st.Now()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", b.srv.URL+"/v1/leads/export.csv", nil)
	req.Header.Set("Authorization", "Bearer "+b.keys[store.RoleSales])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("export: %d", res.StatusCode)
	}
	first := make([]byte, 64<<10)
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}
	// Wait until the export's backend is blocked sending rows, then kill it.
	var pid int
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := b.st.Pool().QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
			AND state = 'active' AND wait_event = 'ClientWrite' AND query LIKE '%FROM leads WHERE outcome IN (%'`).Scan(&pid)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the export's query is not blocked sending rows: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := b.st.Pool().Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(res.Body)
	if err == nil {
		t.Fatalf("the export ended cleanly after %d bytes of about %d MB: a truncated file looks complete", len(first)+len(rest), n*1100>>20)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("read error: %v", err)
	}
}

// TestScriptBombThroughTheAPI: an alias bomb given as a campaign's inline
// script is a small 422, and so is a script with hundreds of mistakes.
func TestScriptBombThroughTheAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var bomb strings.Builder
	bomb.WriteString("id: x\nversion: 1\ndimensions: [budget]\n")
	bomb.WriteString("description: &s {" + strings.Repeat("x", 1000) + ": 1}\n")
	bomb.WriteString(`start: &k {"1": {next: ` + strings.Repeat("y", 2000) + `, score: *s}, "2": {next: zz, score: *s}}` + "\n")
	bomb.WriteString("defaults: &q {id: a, say: hi, keys: *k}\n")
	bomb.WriteString("questions: [" + strings.TrimSuffix(strings.Repeat("*q,", 6000), ",") + "]\n")
	var typos strings.Builder
	typos.WriteString("id: x\nversion: 1\n")
	for i := range 500 {
		fmt.Fprintf(&typos, "typo_%d_%s: 1\n", i, strings.Repeat("z", 200))
	}
	for name, script := range map[string]string{"alias bomb": bomb.String(), "typos": typos.String()} {
		res := b.do(t, "POST", "/v1/campaigns", store.RoleMarketing, "application/json", jsonBody(map[string]any{
			"name": "bomb", "caller_id": "+15550100", "script": script}))
		if res.status != 422 || len(res.body) > 64<<10 {
			t.Errorf("%s: %d, %d bytes", name, res.status, len(res.body))
			continue
		}
		var scriptErrs int
		for _, f := range problemFields(t, res) {
			if f["field"] == "script" {
				scriptErrs++
			}
		}
		if scriptErrs < 1 || scriptErrs > 51 {
			t.Errorf("%s: %d script errors", name, scriptErrs)
		}
	}
}
