package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

type bundle struct {
	st     *store.Store
	srv    *httptest.Server
	keys   map[string]string // role → key
	router routers.Router
}

var (
	specOnce sync.Once
	spec     *openapi3.T
	specErr  error
)

// setup serves the API on a fresh database with one key per role.
func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	q, err := queue.New(st, queue.Config{}) // enqueues; never started
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Store: st, Dialer: q, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{st: st, srv: httptest.NewServer(h), keys: map[string]string{}}
	t.Cleanup(b.srv.Close)
	for _, role := range []string{store.RoleAdmin, store.RoleMarketing, store.RoleSales, store.RoleIntake} {
		token, _, err := st.CreateAPIKey(ctx, role, role+" key")
		if err != nil {
			t.Fatal(err)
		}
		b.keys[role] = token
	}
	specOnce.Do(func() {
		res, err := http.Get(b.srv.URL + "/v1/openapi.yaml")
		if err != nil {
			specErr = err
			return
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		spec, specErr = openapi3.NewLoader().LoadFromData(data)
		if specErr == nil {
			specErr = spec.Validate(ctx)
		}
	})
	if specErr != nil {
		t.Fatalf("openapi.yaml: %v", specErr)
	}
	if b.router, err = legacy.NewRouter(spec); err != nil {
		t.Fatal(err)
	}
	return b
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body not JSON: %s", r.status, r.body)
	}
	return m
}

// do sends a request and checks the response against the OpenAPI document.
func (b *bundle) do(t *testing.T, method, path, role, contentType string, body io.Reader, header ...string) response {
	t.Helper()
	resp := b.raw(t, method, path, role, contentType, body, header...)
	res, data := resp, resp.body

	// The response must be one the document describes.
	vreq, _ := http.NewRequest(method, path, nil)
	route, params, err := b.router.FindRoute(vreq)
	if err != nil {
		t.Fatalf("%s %s is not in openapi.yaml: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: strings.HasPrefix(res.header.Get("Content-Type"), "text/csv")}}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.status, Header: res.header, Body: io.NopCloser(bytes.NewReader(data)),
		Options: in.Options}); err != nil {
		t.Errorf("%s %s → %d does not match openapi.yaml: %v\n%s", method, path, res.status, err, data)
	}
	return resp
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// campaign creates and starts a campaign through the API.
func (b *bundle) campaign(t *testing.T, name string, extra map[string]any) int64 {
	t.Helper()
	body := map[string]any{"name": name, "script_id": "bant-en", "caller_id": "+15550100",
		"window": map[string]any{"days": []int{1, 2, 3, 4, 5, 6, 7}, "start": "08:00", "end": "21:00"}}
	for k, v := range extra {
		body[k] = v
	}
	res := b.do(t, "POST", "/v1/campaigns", store.RoleMarketing, "application/json", jsonBody(body))
	if res.status != http.StatusCreated {
		t.Fatalf("create campaign: %d %s", res.status, res.body)
	}
	id := int64(res.json(t)["id"].(float64))
	if res := b.do(t, "POST", fmt.Sprintf("/v1/campaigns/%d/start", id), store.RoleMarketing, "", nil); res.status != http.StatusOK {
		t.Fatalf("start campaign: %d %s", res.status, res.body)
	}
	return id
}

func TestAuthAndRoles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name, method, path, role string
		header                   []string
		want                     int
	}{
		{"no key", "GET", "/v1/leads", "", nil, 401},
		{"bad key", "GET", "/v1/leads", "", []string{"Authorization", "Bearer qd_deadbeef_0000"}, 401},
		{"garbage key", "GET", "/v1/leads", "", []string{"Authorization", "Bearer nope"}, 401},
		{"intake cannot list", "GET", "/v1/leads", store.RoleIntake, nil, 403},
		{"intake cannot claim", "POST", "/v1/leads/next", store.RoleIntake, nil, 403},
		{"sales cannot create campaigns", "POST", "/v1/campaigns", store.RoleSales, nil, 403},
		{"marketing cannot claim", "POST", "/v1/leads/next", store.RoleMarketing, nil, 403},
		{"sales may claim (none open)", "POST", "/v1/leads/next", store.RoleSales, nil, 204},
		{"marketing cannot remove from DNC", "DELETE", "/v1/dnc/+12125550123", store.RoleMarketing, nil, 403},
	} {
		res := b.do(t, tc.method, tc.path, tc.role, "", nil, tc.header...)
		if res.status != tc.want {
			t.Errorf("%s: %d, want %d (%s)", tc.name, res.status, tc.want, res.body)
		}
		if tc.want >= 400 && res.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: content type %q", tc.name, res.header.Get("Content-Type"))
		}
	}
}

func TestIntake(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "spring", map[string]any{"allowed_countries": []string{"US", "GB"}})

	// JSON, as a CRM sends it.
	res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", jsonBody(map[string]any{
		"campaign": "spring", "phone": "(212) 555-0123", "first_name": "Ann", "email": "ann@example.com", "employees": 120,
		"consent_text": "I agree to be called", "consent_at": "2026-11-23T10:00:00Z", "consent_ip": "203.0.113.9", "time_zone": "America/New_York"}))
	if res.status != http.StatusAccepted {
		t.Fatalf("JSON intake: %d %s", res.status, res.body)
	}
	m := res.json(t)
	lead := m["lead"].(map[string]any)
	if lead["phone"] != "+12125550123" || lead["attributes"].(map[string]any)["employees"] != "120" || m["created"] != true {
		t.Fatalf("lead %v", m)
	}
	if dial := m["dial"].(map[string]any); dial["status"] == "" || dial["reason"] == "" {
		t.Errorf("dial status %v", dial)
	}
	if n := b.waitingLeads(t); n != 1 {
		t.Errorf("%d leads in the schedule after intake, want 1", n)
	}

	// A form post with a form builder's field names.
	form := url.Values{"Telephone": {"+44 20 7946 0958"}, "Full Name": {"Jo Bloggs"}, "page_url": {"https://acme.example/demo"}}
	res = b.do(t, "POST", fmt.Sprintf("/v1/leads?campaign=%d", cid), store.RoleIntake, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if res.status != http.StatusAccepted || res.json(t)["lead"].(map[string]any)["last_name"] != "Bloggs" {
		t.Fatalf("form intake: %d %s", res.status, res.body)
	}

	// Duplicates and retries do not create a second lead or a second call.
	res = b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", jsonBody(map[string]any{"campaign": "spring", "phone": "+1 212 555 0123"}))
	if res.status != http.StatusOK || res.json(t)["created"] != false || res.json(t)["lead"].(map[string]any)["id"] != lead["id"] {
		t.Fatalf("duplicate: %d %s", res.status, res.body)
	}
	for i, want := range []int{202, 202, 422} { // a retry gets the first answer again
		phone := "+12125550190"
		if i == 2 {
			phone = "+12125550191" // the same key with another body
		}
		res = b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
			jsonBody(map[string]any{"campaign": "spring", "phone": phone}), "Idempotency-Key", "form-42")
		if res.status != want {
			t.Fatalf("idempotent retry %d: %d %s", i, res.status, res.body)
		}
	}
	if n := b.waitingLeads(t); n != 3 {
		t.Errorf("%d leads in the schedule, want 3", n)
	}

	// Bad input: the right status and a field-level problem.
	for _, tc := range []struct {
		ct, body string
		want     int
		field    string
	}{
		{"application/json", `{"campaign": "spring", "phone": "555"}`, 422, "phone"},
		{"application/json", `{"campaign": "spring", "phone": "+12125550111", "email": "nope", "time_zone": "Mars/Base"}`, 422, "email"},
		{"application/json", `{"campaign": "autumn", "phone": "+12125550111"}`, 422, "campaign"},
		{"application/json", `{"phone": "+12125550111"}`, 422, "campaign"},
		{"application/json", `[1, 2]`, 400, ""},
		{"application/json", `{"campaign": "spring", "notes": "` + strings.Repeat("x", 2<<20) + `"}`, 413, ""},
		{"text/plain", `phone=1`, 415, ""},
	} {
		res := b.do(t, "POST", "/v1/leads", store.RoleIntake, tc.ct, strings.NewReader(tc.body))
		if res.status != tc.want {
			t.Errorf("%.40s: %d, want %d: %s", tc.body, res.status, tc.want, res.body)
			continue
		}
		p := res.json(t)
		if p["status"].(float64) != float64(tc.want) || p["title"] == "" {
			t.Errorf("problem %v", p)
		}
		if tc.field != "" {
			errs, _ := p["errors"].([]any)
			if len(errs) == 0 || errs[0].(map[string]any)["field"] != tc.field {
				t.Errorf("%.40s: field errors %v, want %s first", tc.body, errs, tc.field)
			}
		}
		if strings.Contains(string(res.body), "SQL") || strings.Contains(string(res.body), "pgx") {
			t.Errorf("internals leaked: %s", res.body)
		}
	}
}

// The nasty-CSV corpus: every row accounted for, with exact counts.
const nastyCSV = "\ufeffTelefon;Vorname;Company;notes\r\n" + // line 1: BOM, semicolons, a German header
	"+1 (212) 555-0101;Ann;Acme;\"multi\r\nline note\"\r\n" + // 2-3: quoted newline
	"2125550102;Bob;Acme;\r\n" + // 4: national format
	"7.9161234567E+10;Иван;ООО Ромашка;excel number\r\n" + // 5: Excel-style number
	"\r\n" + // 6: empty line
	"+1 212 555 0102;Bob again;Acme;same as row 4\r\n" + // 7: duplicate in file, other format
	"+12125550199;Dana;Acme;on DNC\r\n" + // 8: on the DNC list
	"+12125550100;Eve;Acme;already in campaign\r\n" + // 9: already in the campaign
	"not a phone;Garbage;;\r\n" + // 10: reject
	"555;Short;;\r\n" + // 11: reject
	";Nobody;;\r\n" + // 12: reject: no phone
	"+12125550103;Cy;Acme;extra;field\r\n" + // 13: reject: too many fields
	"+442079460958;Liz;Ltd;\r\n" // 14: accepted

func TestImport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cid := b.campaign(t, "lists", map[string]any{"default_country": "US", "allowed_countries": []string{"US", "GB", "RU"}})
	if res := b.do(t, "POST", "/v1/dnc", store.RoleMarketing, "application/json", jsonBody(map[string]string{"phone": "+12125550199"})); res.status != 201 {
		t.Fatalf("DNC add: %d %s", res.status, res.body)
	}
	if res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", jsonBody(map[string]any{"campaign": cid, "phone": "+12125550100"})); res.status != 202 {
		t.Fatalf("seed lead: %d %s", res.status, res.body)
	}
	// Multipart, with a mapping for the German column names.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "list.csv")
	fw.Write([]byte(nastyCSV))
	mw.Close()
	res := b.importList(t, fmt.Sprintf("/v1/campaigns/%d/imports?mapping=Telefon:phone,Vorname:first_name", cid), store.RoleMarketing, mw.FormDataContentType(), &buf)
	if res.status != http.StatusOK {
		t.Fatalf("import: %d %s", res.status, res.body)
	}
	imp := res.json(t)
	want := map[string]float64{"total_rows": 11, "accepted": 4, "duplicates": 2, "on_dnc": 1, "rejected": 4}
	for k, v := range want {
		if imp[k] != v {
			t.Errorf("%s = %v, want %v (%v)", k, imp[k], v, imp)
		}
	}
	if imp["status"] != "completed" || imp["filename"] != "list.csv" {
		t.Errorf("import %v", imp)
	}
	id := int64(imp["id"].(float64))
	if res := b.do(t, "GET", fmt.Sprintf("/v1/campaigns/%d/imports/%d", cid, id), store.RoleMarketing, "", nil); res.json(t)["accepted"] != 4.0 {
		t.Errorf("GET import: %s", res.body)
	}
	res = b.do(t, "GET", fmt.Sprintf("/v1/campaigns/%d/imports/%d/rejects.csv", cid, id), store.RoleMarketing, "", nil)
	rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[0]] = r[1]
	}
	for row, reason := range map[string]string{"7": "duplicate of row 4", "8": "on the do-not-call list", "9": "already in the campaign",
		"10": "phone:", "11": "phone:", "12": "phone: a phone number is required", "13": "5 fields, the header has 4"} {
		if !strings.HasPrefix(got[row], reason) {
			t.Errorf("row %s: reason %q, want %q…", row, got[row], reason)
		}
	}
	var phones []string
	r2, _ := b.st.Pool().Query(ctx, `SELECT phone FROM leads WHERE campaign_id = $1 AND source = 'import' ORDER BY phone`, cid)
	for r2.Next() {
		var p string
		r2.Scan(&p)
		phones = append(phones, p)
	}
	if strings.Join(phones, ",") != "+12125550101,+12125550102,+442079460958,+79161234567" {
		t.Errorf("imported %v", phones)
	}
	if n := b.waitingLeads(t); n != 5 { // the seed lead + 4 imported
		t.Errorf("%d leads in the schedule, want 5", n)
	}
	// Windows-1251 body, and a file without a phone column.
	raw := "\xf2\xe5\xeb\xe5\xf4\xee\xed;\xe8\xec\xff\n+79161234568;\xc8\xe2\xe0\xed\n" // "телефон;имя" / "Иван"
	res = b.importList(t, fmt.Sprintf("/v1/campaigns/%d/imports", cid), store.RoleMarketing, "text/csv; charset=windows-1251", strings.NewReader(raw))
	if res.status != 200 || res.json(t)["accepted"] != 1.0 {
		t.Errorf("windows-1251: %d %s", res.status, res.body)
	}
	res = b.importList(t, fmt.Sprintf("/v1/campaigns/%d/imports", cid), store.RoleMarketing, "text/csv", strings.NewReader("name,email\nAnn,a@b.c\n"))
	if res.status != 422 {
		t.Errorf("no phone column: %d %s", res.status, res.body)
	}
}

// qualify gives a campaign n sales-ready leads, as if their calls went well.
func qualify(t *testing.T, b *bundle, campaign int64, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	for i := range n {
		phone := fmt.Sprintf("+1212556%04d", i)
		id, _, err := b.st.InsertLead(ctx, b.st.Pool(), store.LeadParams{CampaignID: campaign, Phone: phone})
		if err != nil {
			t.Fatal(err)
		}
		b.salesReady(t, campaign, id, phone, time.Duration(i+1)*time.Hour) // lead i is due i+1 hours from now
		ids = append(ids, id)
	}
	return ids
}

// salesReady gives a lead a completed call whose answers route it to sales
// with the given SLA, as if the call went well.
func (b *bundle) salesReady(t *testing.T, campaign, id int64, phone string, sla time.Duration) {
	t.Helper()
	b.finishCall(t, campaign, id, phone, sla, "1", "1", "1", "1", "120#", "1")
}

// finishCall gives a lead a finished call of the bant-en script in which it
// pressed keys: completed (with a route and, for sales, the sla), or opted
// out.
func (b *bundle) finishCall(t *testing.T, campaign, id int64, phone string, sla time.Duration, keys ...string) {
	t.Helper()
	ctx := context.Background()
	src, _ := readScript()
	sc := ivr.MustParse("bant-en.yaml", src)
	eng := ivr.NewEngine(sc)
	var a *store.Attempt
	err := b.st.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		a, err = b.st.StartAttempt(ctx, tx, store.AttemptParams{LeadID: id, CampaignID: campaign, Phone: phone, Driver: "sip", Worker: "test", Script: sc})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := eng.Start(nil)
	for _, k := range keys {
		st, _, _ = eng.Next(st, ivr.Input{Keys: k})
	}
	r := eng.Result(st)
	status := store.LeadCompleted
	if r.Outcome == ivr.OutcomeOptedOut {
		status = store.LeadOptedOut
	}
	if err := b.st.FinishAttempt(ctx, b.st.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: id, Disposition: "answered",
		Result: &r, Status: status, SLA: sla, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
}

func TestSalesPull(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "sales", nil)
	ids := qualify(t, b, cid, 30)

	// Listing, most urgent first, by cursor.
	var seen []float64
	cursor := ""
	for page := 0; page < 5; page++ {
		res := b.do(t, "GET", "/v1/leads?route=sales&stage=open&limit=12&cursor="+cursor, store.RoleSales, "", nil)
		m := res.json(t)
		for _, l := range m["leads"].([]any) {
			seen = append(seen, l.(map[string]any)["id"].(float64))
		}
		next, _ := m["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 30 || seen[0] != float64(ids[0]) || seen[29] != float64(ids[29]) {
		t.Fatalf("listed %v", seen)
	}

	// 20 reps ask for the next lead at once: no lead is given twice.
	var mu sync.Mutex
	claimed := map[float64]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for {
				res := b.do(t, "POST", "/v1/leads/next", store.RoleSales, "", nil)
				if res.status == http.StatusNoContent {
					return
				}
				if res.status != http.StatusOK {
					t.Errorf("next: %d %s", res.status, res.body)
					return
				}
				id := res.json(t)["lead"].(map[string]any)["id"].(float64)
				mu.Lock()
				claimed[id]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != 30 {
		t.Errorf("%d leads claimed, want 30", len(claimed))
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("lead %v claimed %d times", id, n)
		}
	}

	// Stage transitions, and 409 for illegal ones.
	lead := fmt.Sprintf("/v1/leads/%d", ids[0])
	for _, step := range []struct {
		action string
		want   int
	}{
		{"won", 200}, {"contacted", 409}, {"lost", 409}, {"release", 409},
	} {
		if res := b.do(t, "POST", lead+"/"+step.action, store.RoleSales, "", nil); res.status != step.want {
			t.Errorf("%s: %d, want %d: %s", step.action, res.status, step.want, res.body)
		}
	}
	lead = fmt.Sprintf("/v1/leads/%d", ids[1])
	res := b.do(t, "POST", lead+"/contacted", store.RoleSales, "", nil)
	if res.status != 200 || res.json(t)["lead"].(map[string]any)["sales_stage"] != "contacted" {
		t.Fatalf("contacted: %d %s", res.status, res.body)
	}
	var sla string
	b.st.Pool().QueryRow(context.Background(), `SELECT sla_status FROM leads WHERE id = $1`, ids[1]).Scan(&sla)
	if sla != "met" {
		t.Errorf("SLA %s after contact within the deadline", sla)
	}
	res = b.do(t, "POST", fmt.Sprintf("/v1/leads/%d/recycle", ids[2]), store.RoleSales, "application/json", strings.NewReader(`{"recall_at": "2027-01-10T10:00:00Z"}`))
	if res.status != 200 || res.json(t)["lead"].(map[string]any)["route"] != "nurture" {
		t.Errorf("recycle: %d %s", res.status, res.body)
	}
	if res := b.do(t, "POST", fmt.Sprintf("/v1/leads/%d/release", ids[3]), store.RoleSales, "", nil); res.status != 200 ||
		res.json(t)["lead"].(map[string]any)["sales_stage"] != "open" {
		t.Errorf("release: %d %s", res.status, res.body)
	}
	if res := b.do(t, "POST", "/v1/leads/999999/won", store.RoleSales, "", nil); res.status != 404 {
		t.Errorf("unknown lead: %d", res.status)
	}

	// History and export.
	res = b.do(t, "GET", lead, store.RoleSales, "", nil)
	hist := res.json(t)
	if len(hist["attempts"].([]any)) != 1 || len(hist["attempts"].([]any)[0].(map[string]any)["answers"].([]any)) != 6 || len(hist["events"].([]any)) < 3 {
		t.Errorf("history: %s", res.body)
	}
	res = b.do(t, "GET", "/v1/leads/export.csv", store.RoleSales, "", nil)
	rows, _ := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	if len(rows) != 30 || rows[0][0] != "id" { // header + 29 still on route sales (one was recycled)
		t.Errorf("export: %d rows", len(rows))
	}
}

func TestCampaignsAndDNC(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{"name": "x", "script_id": "bant-en", "caller_id": "+1", "ring_timeout": "10s"}`, "ring_timeout"},
		{`{"name": "x", "script_id": "bant-en", "caller_id": "+1", "window": {"days": [1], "start": "07:00", "end": "20:00"}}`, "window"},
		{`{"name": "x", "script_id": "nope", "caller_id": "+1"}`, "script_id"},
		{`{"name": "x", "script": "id: x\nversion: 1\n", "caller_id": "+1"}`, "script"},
		{`{"name": "", "script_id": "bant-en"}`, "name"},
	} {
		res := b.do(t, "POST", "/v1/campaigns", store.RoleMarketing, "application/json", strings.NewReader(tc.body))
		errs, _ := res.json(t)["errors"].([]any)
		if res.status != 422 || len(errs) == 0 {
			t.Errorf("%s: %d %s", tc.body, res.status, res.body)
			continue
		}
		found := false
		for _, e := range errs {
			found = found || strings.HasPrefix(e.(map[string]any)["field"].(string), tc.field)
		}
		if !found {
			t.Errorf("%s: no error on %s: %s", tc.body, tc.field, res.body)
		}
	}
	id := b.campaign(t, "c1", map[string]any{"ring_timeout": "30s", "retry": map[string]string{"busy": "5m"}, "sla": "4h"})
	path := fmt.Sprintf("/v1/campaigns/%d", id)
	res := b.do(t, "GET", path, store.RoleSales, "", nil)
	c := res.json(t)
	if c["status"] != "active" || c["ring_timeout"] != "30s" || c["sla"] != "4h" || c["retry"].(map[string]any)["busy"] != "5m" || c["script_version"] != 3.0 {
		t.Errorf("campaign %s", res.body)
	}
	if res := b.do(t, "POST", "/v1/campaigns", store.RoleMarketing, "application/json", jsonBody(map[string]any{"name": "c1", "script_id": "bant-en", "caller_id": "+15550100"})); res.status != 409 {
		t.Errorf("duplicate name: %d", res.status)
	}
	for _, step := range []struct {
		action string
		want   int
		status string
	}{{"start", 409, ""}, {"pause", 200, "paused"}, {"pause", 409, ""}, {"resume", 200, "active"}, {"finish", 200, "finished"}, {"resume", 409, ""}} {
		res := b.do(t, "POST", path+"/"+step.action, store.RoleMarketing, "", nil)
		if res.status != step.want || (step.status != "" && res.json(t)["status"] != step.status) {
			t.Errorf("%s: %d %s", step.action, res.status, res.body)
		}
	}
	res = b.do(t, "PATCH", path, store.RoleMarketing, "application/json", strings.NewReader(`{"max_concurrent_calls": 7, "calls_per_second": 2.5}`))
	if res.status != 200 || res.json(t)["max_concurrent_calls"] != 7.0 || res.json(t)["calls_per_second"] != 2.5 {
		t.Errorf("patch: %d %s", res.status, res.body)
	}
	if res := b.do(t, "GET", path+"/stats", store.RoleMarketing, "", nil); res.status != 200 || res.json(t)["leads"] != 0.0 {
		t.Errorf("stats: %d %s", res.status, res.body)
	}
	if res := b.do(t, "GET", "/v1/campaigns/424242", store.RoleMarketing, "", nil); res.status != 404 {
		t.Errorf("missing campaign: %d", res.status)
	}

	// DNC: add (any format), check, remove (admin).
	if res := b.do(t, "POST", "/v1/dnc", store.RoleMarketing, "application/json", jsonBody(map[string]string{"phone": "(212) 555-0177", "country": "US"})); res.status != 201 {
		t.Fatalf("add: %d %s", res.status, res.body)
	}
	if res := b.do(t, "GET", "/v1/dnc/+12125550177", store.RoleMarketing, "", nil); res.json(t)["on_dnc"] != true {
		t.Errorf("check: %s", res.body)
	}
	if res := b.do(t, "DELETE", "/v1/dnc/+12125550177", store.RoleAdmin, "", nil); res.status != 204 {
		t.Errorf("remove: %d", res.status)
	}
	if res := b.do(t, "DELETE", "/v1/dnc/+12125550177", store.RoleAdmin, "", nil); res.status != 404 {
		t.Errorf("remove again: %d", res.status)
	}
}

func readScript() ([]byte, error) { return os.ReadFile("../scripts/bant-en.yaml") }

func jsonDecode(res *http.Response, v any) error {
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

// A key that requires signatures rejects unsigned, stale and forged
// requests and takes correctly signed ones; webhooks are managed by admins.
func TestSignedIntakeAndWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.campaign(t, "signed", nil)
	token, key, _ := b.st.CreateAPIKey(ctx, store.RoleIntake, "provider")
	secret, err := b.st.RequireSignature(ctx, key.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.keys["signed"] = token
	body := `{"campaign": "signed", "phone": "+12125550150"}`
	now := fmt.Sprint(time.Now().Unix())
	for _, tc := range []struct {
		name, ts, sig string
		want          int
	}{
		{"unsigned", "", "", 401},
		{"stale", fmt.Sprint(time.Now().Add(-10 * time.Minute).Unix()), queue.Sign(secret, fmt.Sprint(time.Now().Add(-10*time.Minute).Unix()), []byte(body)), 401},
		{"forged", now, queue.Sign("whsec_wrong_secret_value", now, []byte(body)), 401},
		{"signed", now, queue.Sign(secret, now, []byte(body)), 202},
	} {
		res := b.do(t, "POST", "/v1/leads", "signed", "application/json", strings.NewReader(body), "X-Qualdial-Timestamp", tc.ts, "X-Qualdial-Signature", tc.sig)
		if res.status != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, res.status, tc.want, res.body)
		}
	}
	res := b.do(t, "POST", "/v1/webhooks", store.RoleAdmin, "application/json", strings.NewReader(`{"url": "https://crm.example/hooks", "events": ["lead.qualified"]}`))
	if res.status != 201 || !strings.HasPrefix(res.json(t)["secret"].(string), "whsec_") {
		t.Fatalf("subscribe: %d %s", res.status, res.body)
	}
	if res := b.do(t, "POST", "/v1/webhooks", store.RoleAdmin, "application/json", strings.NewReader(`{"url": "ftp://x", "events": ["lead.eaten"]}`)); res.status != 422 || len(res.json(t)["errors"].([]any)) != 2 {
		t.Errorf("bad subscription: %d %s", res.status, res.body)
	}
	if res := b.do(t, "POST", "/v1/webhooks", store.RoleMarketing, "application/json", strings.NewReader(`{"url": "https://x"}`)); res.status != 403 {
		t.Errorf("marketing subscribing: %d", res.status)
	}
	res = b.do(t, "GET", "/v1/webhooks", store.RoleAdmin, "", nil)
	hooks := res.json(t)["webhooks"].([]any)
	if len(hooks) != 1 || hooks[0].(map[string]any)["secret"] != nil {
		t.Errorf("list: %s", res.body)
	}
	if res := b.do(t, "DELETE", fmt.Sprintf("/v1/webhooks/%v", hooks[0].(map[string]any)["id"]), store.RoleAdmin, "", nil); res.status != 204 {
		t.Errorf("delete: %d", res.status)
	}
}
