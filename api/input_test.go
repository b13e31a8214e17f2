package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/qualdial/qualdial/store"
)

// TestBadInputIsA4xx: NUL bytes, invalid UTF-8, over-long values, ids out
// of range and malformed ids answer 400/422 naming the field — they used to
// reach PostgreSQL (500: "invalid byte sequence", "greater than maximum
// value for int4") or were silently altered.
func TestBadInputIsA4xx(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "inputs", nil)
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name, method, path, ct, body string
		header                       []string
		status                       int
		field                        string
	}{
		{"NUL in a JSON name", "POST", "/v1/leads", "application/json", `{"campaign": "inputs", "phone": "+12125550123", "first_name": "A\u0000nn"}`, nil, 422, "first_name"},
		{"invalid UTF-8 in JSON", "POST", "/v1/leads", "application/json", "{\"campaign\": \"inputs\", \"phone\": \"+12125550123\", \"first_name\": \"A\xffnn\"}", nil, 400, ""},
		{"NUL in a form value", "POST", "/v1/leads", "application/x-www-form-urlencoded", "campaign=inputs&phone=%2B12125550123&company=A%00B", nil, 422, "company"},
		{"invalid UTF-8 in a form value", "POST", "/v1/leads", "application/x-www-form-urlencoded", "campaign=inputs&phone=%2B12125550123&first_name=%FF", nil, 422, "first_name"},
		{"over-long external_id", "POST", "/v1/leads", "application/json", `{"campaign": "inputs", "phone": "+12125550123", "external_id": "` + long + `"}`, nil, 422, "external_id"},
		{"over-long attribute", "POST", "/v1/leads", "application/json", `{"campaign": "inputs", "phone": "+12125550123", "notes": "` + strings.Repeat("y", 2000) + `"}`, nil, 422, "notes"},
		{"NUL in the campaign name", "POST", "/v1/leads?campaign=a%00b", "application/json", `{"phone": "+12125550123"}`, nil, 422, "campaign"},
		{"over-long campaign reference", "POST", "/v1/leads", "application/json", `{"campaign": "` + long + `", "phone": "+12125550123"}`, nil, 422, "campaign"},
		{"over-long Idempotency-Key", "POST", "/v1/leads", "application/json", `{"campaign": "inputs", "phone": "+12125550123"}`, []string{"Idempotency-Key", long}, 400, "Idempotency-Key"},
		{"non-ASCII Idempotency-Key", "POST", "/v1/leads", "application/json", `{"campaign": "inputs", "phone": "+12125550123"}`, []string{"Idempotency-Key", "kéy"}, 400, "Idempotency-Key"},
		{"a lead id beyond int64", "GET", "/v1/leads/99999999999999999999", "", "", nil, 400, "id"},
		{"a non-numeric lead id", "GET", "/v1/leads/abc", "", "", nil, 400, "id"},
		{"a lead id beyond int32 that does not exist", "GET", "/v1/leads/3000000000", "", "", nil, 404, ""},
		{"campaign_id beyond int32", "GET", "/v1/leads?campaign_id=3000000000", "", "", nil, 422, "campaign_id"},
		{"campaign_id beyond int64", "GET", "/v1/leads?campaign_id=99999999999999999999", "", "", nil, 422, "campaign_id"},
		{"non-numeric campaign_id", "GET", "/v1/leads?campaign_id=abc", "", "", nil, 422, "campaign_id"},
		{"a sales action on an id beyond int64", "POST", "/v1/leads/99999999999999999999/won", "", "", nil, 400, "id"},
		{"NUL in a campaign path", "GET", "/v1/campaigns/a%00b", "", "", nil, 400, "campaign"},
		{"a campaign id beyond int64", "GET", "/v1/campaigns/99999999999999999999/stats", "", "", nil, 400, "campaign"},
		{"an import id beyond int64", "GET", path("/v1/campaigns/%d/imports/99999999999999999999", cid), "", "", nil, 400, "import"},
		{"NUL in a DNC path", "GET", "/v1/dnc/%2B1212%00", "", "", nil, 400, "phone"},
		{"an unknown DNC country", "GET", "/v1/dnc/2125550123?country=XX", "", "", nil, 422, "country"},
		{"an over-long DNC reason", "POST", "/v1/dnc", "application/json", `{"phone": "+12125550123", "reason": "` + strings.Repeat("r", 600) + `"}`, nil, 422, "reason"},
		{"an unknown DNC field", "POST", "/v1/dnc", "application/json", `{"phone": "+12125550123", "colour": "red"}`, nil, 422, "colour"},
		{"two campaigns named", "POST", "/v1/leads?campaign=inputs", "application/json", `{"campaign": "other", "phone": "+12125550123"}`, nil, 422, "campaign"},
		{"trailing JSON", "POST", "/v1/leads", "application/json", `{"campaign": "inputs", "phone": "+12125550123"} {}`, nil, 400, ""},
	} {
		role := store.RoleAdmin
		res := b.do(t, tc.method, tc.path, role, tc.ct, strings.NewReader(tc.body), tc.header...)
		problem(t, tc.name, res, tc.status, tc.field)
	}
	// Nothing of it was stored.
	var n int
	b.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM leads`).Scan(&n)
	if n != 0 {
		t.Errorf("%d leads stored from bad input", n)
	}
}

// TestCampaignBounds: every campaign setting has bounds, checked before
// the database's CHECK constraints (which answered 500) — and a PATCH of
// 0 no longer silently keeps the old value.
func TestCampaignBounds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	base := func(extra string) string {
		return `{"name": "bounds", "script_id": "bant-en", "caller_id": "+15550100"` + extra + `}`
	}
	for _, tc := range []struct {
		extra, field string
		words        []string
	}{
		{`, "calls_per_second": -1`, "calls_per_second", []string{"0.01", "100"}},
		{`, "calls_per_second": 1e9`, "calls_per_second", nil},
		{`, "calls_per_second": 0.001`, "calls_per_second", nil},
		{`, "calls_per_second": 1.234`, "calls_per_second", []string{"two decimals"}},
		{`, "calls_per_second": "fast"`, "calls_per_second", []string{"number"}},
		{`, "max_concurrent_calls": 0`, "max_concurrent_calls", []string{"1 to 1000"}},
		{`, "max_concurrent_calls": 100000`, "max_concurrent_calls", nil},
		{`, "max_attempts": 0`, "max_attempts", []string{"1 to 20"}},
		{`, "max_attempts": 21`, "max_attempts", nil},
		{`, "max_attempts": 1e30`, "max_attempts", []string{"whole number"}},
		{`, "max_attempts": 2.5`, "max_attempts", nil},
		{`, "ring_timeout": "10s"`, "ring_timeout", []string{"15s"}},
		{`, "ring_timeout": "1h"`, "ring_timeout", []string{"2m"}},
		{`, "max_call_length": "2h"`, "max_call_length", nil},
		{`, "sla": "0s"`, "sla", nil},
		{`, "sla": "` + strings.Repeat("9", 100) + `h"`, "sla", nil},
		{`, "retry": {"busy": "0s"}`, "retry.busy", nil},
		{`, "retry": {"lunch": "1h"}`, "retry.lunch", []string{"machine"}},
		{`, "default_country": "XX"`, "default_country", []string{"ISO 3166"}},
		{`, "default_country": "USA"`, "default_country", nil},
		{`, "caller_name": "Acme\r\nX-Evil: 1"`, "caller_name", []string{"one line"}},
		{`, "caller_name": "` + strings.Repeat("n", 65) + `"`, "caller_name", []string{"64"}},
		{`, "caller_name": "Acme \"Sales\""`, "caller_name", nil},
		{`, "window": {"days": [1, 1, 1, 1, 1, 1, 1, 1]}`, "window.days", []string{"twice"}},
		{`, "window": {"days": [0]}`, "window.days", nil},
		{`, "window": {"days": []}`, "window.days", nil},
		{`, "window": {"start": "7:00"}`, "window.start", []string{"HH:MM"}},
		{`, "window": {"start": "07:00", "end": "20:00"}`, "window", []string{"08:00"}},
		{`, "window": {"start": "09:00", "lunch": "12:00"}`, "window.lunch", nil},
		{`, "driver": "carrier-pigeon"`, "driver", []string{"sip", "twilio"}},
		{`, "machine_detection": "maybe"`, "machine_detection", []string{"off"}},
		{`, "allowed_number_types": ["bogus"]`, "allowed_number_types", []string{"premium_rate"}},
		{`, "allowed_number_types": []`, "allowed_number_types", nil},
		{`, "allowed_countries": ["XX"]`, "allowed_countries", nil},
		{`, "allowed_countries": []`, "allowed_countries", nil},
		{`, "colour": "red"`, "colour", []string{"unknown"}},
		{`, "require_consent": "yes"`, "require_consent", []string{"true or false"}},
		{`, "max_attempts": null`, "max_attempts", []string{"null"}},
		{`, "purpose": "sales"`, "purpose", []string{"telemarketing", "informational"}},
		{`, "caller_ids": ["+15550101", "+15550101"]`, "caller_ids", []string{"twice"}},
		{`, "caller_ids": ["5550101"]`, "caller_ids", []string{"E.164"}},
		{`, "caller_ids": ["+1555\r\nX: 1"]`, "caller_ids", []string{"E.164"}},
		{`, "caller_ids": "+15550101"`, "caller_ids", nil},
		{`, "caller_id_daily_cap": -1`, "caller_id_daily_cap", nil},
		{`, "caller_id_daily_cap": 1000001`, "caller_id_daily_cap", nil},
	} {
		res := b.do(t, "POST", "/v1/campaigns", store.RoleMarketing, "application/json", strings.NewReader(base(tc.extra)))
		problem(t, tc.extra, res, 422, tc.field, tc.words...)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"name": "x", "script_id": "bant-en", "caller_id": "12345"}`, "caller_id"},
		{`{"name": "x", "script_id": "bant-en", "caller_id": "+1 555 0100"}`, "caller_id"},
		{`{"name": "x", "script_id": "bant-en"}`, "caller_id"},
		{`{"name": "123", "script_id": "bant-en", "caller_id": "+15550100"}`, "name"},
		{`{"name": "a/b", "script_id": "bant-en", "caller_id": "+15550100"}`, "name"},
		{`{"name": "a\u0000b", "script_id": "bant-en", "caller_id": "+15550100"}`, "name"},
		{`{"name": "` + strings.Repeat("n", 129) + `", "script_id": "bant-en", "caller_id": "+15550100"}`, "name"},
		{`{"script_id": "bant-en", "caller_id": "+15550100"}`, "name"},
		{`{"name": "x", "script_id": "bant-en", "script": "id: x", "caller_id": "+15550100"}`, "script"},
	} {
		res := b.do(t, "POST", "/v1/campaigns", store.RoleMarketing, "application/json", strings.NewReader(tc.body))
		problem(t, tc.body, res, 422, tc.field)
	}
	// The same bounds on PATCH: 0 is no longer "keep".
	id := b.campaign(t, "patched", nil)
	for _, tc := range []struct{ body, field string }{
		{`{"max_attempts": 0}`, "max_attempts"},
		{`{"calls_per_second": 1e9}`, "calls_per_second"},
		{`{"max_concurrent_calls": 0}`, "max_concurrent_calls"},
		{`{"window": {"days": [1, 1, 1, 1, 1, 1, 1, 1]}}`, "window.days"},
		{`{"caller_id": ""}`, "caller_id"},
		{`{"name": "renamed"}`, "name"},
		{`{"status": "paused"}`, "status"},
		{`{"script": "id: x"}`, "script"},
		{`{"retry": {"busy": "0s"}}`, "retry.busy"},
	} {
		res := b.do(t, "PATCH", path("/v1/campaigns/%d", id), store.RoleMarketing, "application/json", strings.NewReader(tc.body))
		problem(t, "PATCH "+tc.body, res, 422, tc.field)
	}
	res := b.do(t, "GET", path("/v1/campaigns/%d", id), store.RoleMarketing, "", nil)
	if c := res.json(t); c["max_attempts"] != 4.0 || c["max_concurrent_calls"] != 10.0 {
		t.Errorf("a refused PATCH changed the campaign: %s", res.body)
	}
	// Edges that are fine.
	res = b.do(t, "PATCH", path("/v1/campaigns/%d", id), store.RoleMarketing, "application/json",
		strings.NewReader(`{"max_attempts": 20, "calls_per_second": 0.01, "caller_name": "", "window": {"start": "10:00"}, "retry": {"machine": "1h"}}`))
	if res.status != 200 {
		t.Fatalf("PATCH at the bounds: %d %s", res.status, res.body)
	}
	c := res.json(t)
	if c["max_attempts"] != 20.0 || c["calls_per_second"] != 0.01 || c["window"].(map[string]any)["start"] != "10:00" ||
		c["window"].(map[string]any)["end"] != "21:00" || c["retry"].(map[string]any)["machine"] != "1h" || c["retry"].(map[string]any)["busy"] != "15m" {
		t.Errorf("PATCH: %s", res.body)
	}
}

// TestCampaignActionStates: every action answers 409 with a reason when
// the campaign's status does not allow it; a draft may be finished (a
// campaign that will never run).
func TestCampaignActionStates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.do(t, "POST", "/v1/campaigns", store.RoleMarketing, "application/json",
		strings.NewReader(`{"name": "never", "script_id": "bant-en", "caller_id": "+15550100"}`))
	if res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	for _, step := range []struct {
		action string
		want   int
		words  string
	}{
		{"pause", 409, "has not started"},
		{"resume", 409, "start it"},
		{"finish", 200, ""},
		{"finish", 409, "already finished"},
		{"start", 409, "create a new one"},
		{"resume", 409, "create a new one"},
		{"pause", 409, "finished"},
	} {
		res := b.do(t, "POST", "/v1/campaigns/never/"+step.action, store.RoleMarketing, "", nil)
		if res.status != step.want {
			t.Errorf("%s: %d, want %d: %s", step.action, res.status, step.want, res.body)
			continue
		}
		if step.want == 409 && !strings.Contains(res.json(t)["detail"].(string), step.words) {
			t.Errorf("%s: detail %q, want %q", step.action, res.json(t)["detail"], step.words)
		}
		if step.want == 200 && res.json(t)["status"] != "finished" {
			t.Errorf("finish a draft: %s", res.body)
		}
	}
	id := b.campaign(t, "running", nil)
	for _, step := range []struct {
		action string
		want   int
	}{{"start", 409}, {"resume", 409}, {"pause", 200}, {"start", 409}, {"resume", 200}} {
		if res := b.do(t, "POST", path("/v1/campaigns/%d/%s", id, step.action), store.RoleMarketing, "", nil); res.status != step.want {
			t.Errorf("%s: %d, want %d: %s", step.action, res.status, step.want, res.body)
		}
	}
}

// TestUnknownRoutesAndMethods: the mux's own 404 and 405 are problem+json
// (405 with Allow), not Go's plain text.
func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        []string
	}{
		{"GET", "/v1/nope", 404, nil},
		{"GET", "/", 404, nil},
		{"DELETE", "/v1/leads", 405, []string{"GET", "POST"}},
		{"PUT", "/v1/campaigns/1", 405, []string{"GET", "PATCH"}},
		{"PATCH", "/v1/leads/1", 405, []string{"GET"}},
		{"POST", "/healthz", 405, []string{"GET"}},
		{"GET", "/v1/leads/next", 405, []string{"POST"}},
		{"GET", "//v1/leads", 404, nil},
		{"GET", "/v1/leads/1/../1", 404, nil},
	} {
		res := b.raw(t, tc.method, tc.path, store.RoleAdmin, "", nil)
		problem(t, tc.method+" "+tc.path, res, tc.status, "")
		for _, m := range tc.allow {
			if !strings.Contains(res.header.Get("Allow"), m) {
				t.Errorf("%s %s: Allow %q, want %s in it", tc.method, tc.path, res.header.Get("Allow"), m)
			}
		}
	}
}

// TestFilterValues: filters with values the API does not know answer 422
// naming the parameter and the values it takes; they used to be ignored
// (?campaign_id=abc on /v1/leads/next claimed from any campaign) or to
// list nothing.
func TestFilterValues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "filters", nil)
	qualify(t, b, cid, 1)
	for _, tc := range []struct {
		method, path, role, field string
		words                     []string
	}{
		{"GET", "/v1/leads?stage=AAA", store.RoleSales, "stage", []string{"open", "accepted", "recycled"}},
		{"GET", "/v1/leads?route=bogus", store.RoleSales, "route", []string{"sales", "nurture", "none"}},
		{"GET", "/v1/leads?status=bogus", store.RoleAdmin, "status", []string{"queued", "blocked", "completed"}},
		{"GET", "/v1/leads?class=bogus", store.RoleAdmin, "class", []string{"sql", "mql", "disqualified", "opted_out"}},
		{"GET", "/v1/leads?limit=0", store.RoleSales, "limit", []string{"1 to 500"}},
		{"GET", "/v1/leads?limit=501", store.RoleSales, "limit", nil},
		{"GET", "/v1/leads?limit=ten", store.RoleSales, "limit", nil},
		{"GET", "/v1/leads?mine=maybe", store.RoleSales, "mine", []string{"true or false"}},
		{"GET", "/v1/leads?campain_id=1", store.RoleSales, "campain_id", []string{"campaign_id"}},
		{"GET", "/v1/leads?stage=open&stage=won", store.RoleSales, "stage", []string{"once"}},
		{"GET", "/v1/leads?cursor=garbage", store.RoleSales, "cursor", nil},
		{"GET", "/v1/leads?campaign=nope", store.RoleSales, "campaign", []string{"no campaign"}},
		{"POST", "/v1/leads/next?campaign_id=abc", store.RoleSales, "campaign_id", nil},
		{"POST", "/v1/leads/next?campaign_id=424242", store.RoleSales, "campaign_id", []string{"no campaign"}},
		{"GET", "/v1/leads/export.csv?route=bogus", store.RoleSales, "route", nil},
		{"GET", "/v1/campaigns?status=running", store.RoleMarketing, "status", []string{"draft", "active", "paused", "finished"}},
		{"GET", "/v1/dnc?source=bogus", store.RoleMarketing, "source", []string{"opt_out"}},
		{"GET", "/v1/dnc?q=abc", store.RoleMarketing, "q", []string{"digits"}},
		{"GET", path("/v1/campaigns/%d?verbose=1", cid), store.RoleMarketing, "verbose", []string{"none"}},
	} {
		res := b.do(t, tc.method, tc.path, tc.role, "", nil)
		problem(t, tc.method+" "+tc.path, res, 422, tc.field, tc.words...)
	}
	// The lead is still open: nothing was claimed by a bad filter.
	res := b.do(t, "GET", "/v1/leads?stage=open", store.RoleSales, "", nil)
	if n := len(res.json(t)["leads"].([]any)); n != 1 {
		t.Errorf("%d open leads, want 1", n)
	}
	// Valid filters work, and a class of the script is known.
	if res := b.do(t, "GET", "/v1/leads?class=sql&campaign=filters&status=completed&route=sales&mine=false&limit=1", store.RoleSales, "", nil); res.status != 200 ||
		len(res.json(t)["leads"].([]any)) != 1 {
		t.Errorf("valid filters: %d %s", res.status, res.body)
	}
}

// TestIdempotencyKey: a key reused with another body is refused (422), as
// Stripe does; the same body gets the first answer; keys are scoped per
// API key; JSON and form posts of the same values are the same body.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.campaign(t, "idem", nil)
	b.addKey(t, "form2", store.RoleIntake)
	post := func(role, body, key string) response {
		return b.do(t, "POST", "/v1/leads", role, "application/json", strings.NewReader(body), "Idempotency-Key", key)
	}
	first := post(store.RoleIntake, `{"campaign": "idem", "phone": "+12125550123", "first_name": "Ann"}`, "k-1")
	if first.status != 202 {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	id := leadID(t, first)
	// The same body (other key order) → the first answer, no second call.
	// The lead moves on meanwhile; a retry still gets the first answer.
	if err := b.st.SetLeadStatus(context.Background(), b.st.Pool(), id, "test", "blocked", "moved on", nil); err != nil {
		t.Fatal(err)
	}
	again := post(store.RoleIntake, `{"first_name": "Ann", "phone": "+12125550123", "campaign": "idem"}`, "k-1")
	if again.status != 202 || !sameJSON(t, again.body, first.body) {
		t.Errorf("retry: %d %s; want the first answer again: %d %s", again.status, again.body, first.status, first.body)
	}
	// The same values as a form post, with the campaign in the query.
	form := url.Values{"phone": {"+12125550123"}, "first_name": {"Ann"}}
	res := b.do(t, "POST", "/v1/leads?campaign=idem", store.RoleIntake, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()),
		"Idempotency-Key", "k-1")
	if res.status != 202 || !sameJSON(t, res.body, first.body) {
		t.Errorf("form retry: %d %s", res.status, res.body)
	}
	// Another body under the same key: refused, nothing created.
	res = post(store.RoleIntake, `{"campaign": "idem", "phone": "+12125550124", "first_name": "Bob"}`, "k-1")
	problem(t, "other body", res, 422, "Idempotency-Key", "different body")
	// Another API key may use the same key for its own lead.
	res = post("form2", `{"campaign": "idem", "phone": "+12125550124", "first_name": "Bob"}`, "k-1")
	if res.status != 202 || leadID(t, res) == id {
		t.Errorf("other API key: %d %s", res.status, res.body)
	}
	// Queued once, by the first request: the retries did not put the
	// blocked lead back in the schedule.
	if l := b.lead(t, id); l.Status != "blocked" || strings.Count(strings.Join(b.events(t, id), ","), "lead.status by system") != 1 {
		t.Errorf("lead %s after retries, events %v; want blocked, queued once", l.Status, b.events(t, id))
	}
	var keys int
	b.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys`).Scan(&keys)
	if keys != 2 {
		t.Errorf("%d idempotency keys stored, want 2", keys)
	}
}

// TestDestinations: a campaign calls ordinary numbers of its own country
// unless told otherwise; premium-rate and foreign numbers are refused at
// intake (a field error) and at import (a rejected row with the reason).
func TestDestinations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.campaign(t, "home", nil)
	for _, tc := range []struct{ phone, words string }{
		{"+19002345678", "premium_rate"},
		{"+442079460958", "allowed_countries"},
	} {
		res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", strings.NewReader(`{"campaign": "home", "phone": "`+tc.phone+`"}`))
		problem(t, tc.phone, res, 422, "phone", tc.words)
	}
	res := b.do(t, "GET", "/v1/campaigns/home", store.RoleMarketing, "", nil)
	c := res.json(t)
	if c["allowed_countries"] != nil || len(c["allowed_number_types"].([]any)) != 5 {
		t.Errorf("defaults: %s", res.body)
	}
	// Widened: premium rate and Great Britain.
	res = b.do(t, "PATCH", "/v1/campaigns/home", store.RoleMarketing, "application/json", strings.NewReader(
		`{"allowed_countries": ["us", "GB"], "allowed_number_types": ["fixed_line", "mobile", "fixed_line_or_mobile", "premium_rate"]}`))
	if res.status != 200 || len(res.json(t)["allowed_countries"].([]any)) != 2 {
		t.Fatalf("widen: %d %s", res.status, res.body)
	}
	for _, phone := range []string{"+19002345678", "+442079460958"} {
		if res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", strings.NewReader(`{"campaign": "home", "phone": "`+phone+`"}`)); res.status != 202 {
			t.Errorf("%s after widening: %d %s", phone, res.status, res.body)
		}
	}
	// Toll-free is no longer in the list.
	res = b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", strings.NewReader(`{"campaign": "home", "phone": "+18002345678"}`))
	problem(t, "toll free", res, 422, "phone", "toll_free")
	// null resets to the defaults: the default country only.
	res = b.do(t, "PATCH", "/v1/campaigns/home", store.RoleMarketing, "application/json", strings.NewReader(`{"allowed_countries": null, "allowed_number_types": null}`))
	if res.status != 200 || res.json(t)["allowed_countries"] != nil || len(res.json(t)["allowed_number_types"].([]any)) != 5 {
		t.Errorf("reset: %d %s", res.status, res.body)
	}
	// Imports refuse the same numbers, row by row.
	csv := "phone\n+19002345679\n+12125550140\n+33142685300\n"
	res = b.importList(t, "/v1/campaigns/home/imports", store.RoleMarketing, "text/csv", strings.NewReader(csv))
	imp := res.json(t)
	if res.status != 200 || imp["accepted"] != 1.0 || imp["rejected"] != 2.0 {
		t.Fatalf("import: %d %s", res.status, res.body)
	}
	rejects := b.do(t, "GET", path("/v1/campaigns/home/imports/%v/rejects.csv", imp["id"]), store.RoleMarketing, "", nil)
	for _, w := range []string{"premium_rate", "allowed_countries"} {
		if !strings.Contains(string(rejects.body), w) {
			t.Errorf("rejects without %q: %s", w, rejects.body)
		}
	}
}

// sameJSON reports whether two JSON documents hold the same values.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
