package api_test

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

// TestWebFormConsent: the README's web-form example (consent text, IP and
// page, no source or time) records consent — source web_form, the request's
// time — and is dialled by a campaign that requires consent; a refusal is
// kept as given and is not consent.
func TestWebFormConsent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.campaign(t, "spring-demo", map[string]any{"require_consent": true})
	before := b.st.Now()
	form := url.Values{"campaign": {"spring-demo"}, "Telephone": {"(212) 555-0123"}, "Full Name": {"Ann Lee"},
		"consent_text": {"I agree to be called about my demo"}, "consent_ip": {"203.0.113.9"}, "page_url": {"https://acme.example/demo"}}
	res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()),
		"Idempotency-Key", "form-7f3a")
	if res.status != 202 {
		t.Fatalf("README example: %d %s", res.status, res.body)
	}
	m := res.json(t)
	if m["lead"].(map[string]any)["has_consent"] != true {
		t.Errorf("README example has no consent: %s", res.body)
	}
	if d := m["dial"].(map[string]any); d["status"] == "blocked" {
		t.Errorf("README example would not be dialled: %v", d)
	}
	var source string
	var at time.Time
	b.st.Pool().QueryRow(context.Background(), `SELECT consent_source, consent_at FROM leads WHERE id = $1`, leadID(t, res)).Scan(&source, &at)
	if source != "web_form" || at.Before(before.Add(-time.Second)) || at.After(b.st.Now().Add(time.Second)) {
		t.Errorf("consent %s at %s (clock %s)", source, at, before)
	}
	for i, tc := range []url.Values{
		{"consent": {"false"}},
		{"consent_source": {"no"}, "consent_text": {"I agree"}},
		{"consent": {"off"}},
		{"consent_ip": {"203.0.113.9"}},
	} {
		tc.Set("campaign", "spring-demo")
		tc.Set("phone", "+1212555014"+string(rune('0'+i)))
		res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/x-www-form-urlencoded", strings.NewReader(tc.Encode()))
		if res.status != 202 {
			t.Fatalf("%v: %d %s", tc, res.status, res.body)
		}
		m := res.json(t)
		if m["lead"].(map[string]any)["has_consent"] != false || m["dial"].(map[string]any)["status"] != "blocked" {
			t.Errorf("%v counted as consent: %s", tc, res.body)
		}
		var src *string
		b.st.Pool().QueryRow(context.Background(), `SELECT consent_source FROM leads WHERE id = $1`, leadID(t, res)).Scan(&src)
		if tc.Get("consent_source") == "" && src != nil {
			t.Errorf("%v: a refusal got the source %q", tc, *src)
		}
	}
	// A checked box says yes.
	res = b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", strings.NewReader(`{"campaign": "spring-demo", "phone": "+12125550150", "consent": true}`))
	if res.json(t)["lead"].(map[string]any)["has_consent"] != true {
		t.Errorf("consent=true: %s", res.body)
	}
}

// TestRecheckBlockedLeads: POST …/recheck re-queues a campaign's blocked
// leads with who did it and new dial jobs; a new intake that brings
// consent for a lead without it records the consent and re-queues it; a
// PATCH of the consent rule, the window or the destinations re-checks too.
func TestRecheckBlockedLeads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "strict", map[string]any{"require_consent": true})
	post := func(body string) int64 {
		res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", strings.NewReader(body))
		if res.status != 202 && res.status != 200 {
			t.Fatalf("%s: %d %s", body, res.status, res.body)
		}
		return leadID(t, res)
	}
	a := post(`{"campaign": "strict", "phone": "+12125550101"}`)
	c := post(`{"campaign": "strict", "phone": "+12125550102"}`)
	d := post(`{"campaign": "strict", "phone": "+12125550103"}`)
	for _, id := range []int64{a, c, d} {
		b.block(t, id, "no consent captured, and the campaign requires it")
	}

	// Sales may not; marketing may.
	if res := b.do(t, "POST", path("/v1/campaigns/%d/recheck", cid), store.RoleSales, "", nil); res.status != 403 {
		t.Errorf("sales recheck: %d", res.status)
	}
	res := b.do(t, "POST", "/v1/campaigns/strict/recheck", store.RoleMarketing, "", nil)
	if res.status != 200 || res.json(t)["requeued"] != 3.0 {
		t.Fatalf("recheck: %d %s", res.status, res.body)
	}
	actor := "api_key:" + itoa(b.keyID(t, store.RoleMarketing))
	for _, id := range []int64{a, c, d} {
		l := b.lead(t, id)
		if l.Status != "queued" || l.StatusReason != "re-checked" {
			t.Errorf("lead %d: %s (%s)", id, l.Status, l.StatusReason)
		}
		if !slices.Contains(b.events(t, id), "lead.rechecked by "+actor) {
			t.Errorf("lead %d events %v", id, b.events(t, id))
		}
		if !b.due(t, id) {
			t.Errorf("lead %d is not due to be called", id)
		}
		b.block(t, id, "no consent captured, and the campaign requires it")
	}
	if res := b.do(t, "POST", "/v1/campaigns/strict/recheck", store.RoleMarketing, "", nil); res.json(t)["requeued"] != 3.0 {
		t.Errorf("second recheck: %s", res.body)
	}
	for _, id := range []int64{a, c, d} {
		b.block(t, id, "no consent captured, and the campaign requires it")
	}

	// A new intake with consent for lead a: consent recorded, a re-queued.
	res = b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
		strings.NewReader(`{"campaign": "strict", "phone": "+12125550101", "consent_text": "I agree"}`))
	if res.status != 200 || res.json(t)["lead"].(map[string]any)["has_consent"] != true || res.json(t)["dial"].(map[string]any)["status"] == "blocked" {
		t.Errorf("consent for an existing lead: %d %s", res.status, res.body)
	}
	if l := b.lead(t, a); l.Status != "queued" || !l.HasConsent || !b.due(t, a) {
		t.Errorf("lead a after consent: %s has_consent=%v due=%v", l.Status, l.HasConsent, b.due(t, a))
	}
	evs := b.events(t, a)
	intakeActor := "api_key:" + itoa(b.keyID(t, store.RoleIntake))
	if !slices.Contains(evs, "lead.consent by "+intakeActor) || !slices.Contains(evs, "lead.rechecked by "+intakeActor) {
		t.Errorf("events %v", evs)
	}
	// Consent is not overwritten once there.
	b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
		strings.NewReader(`{"campaign": "strict", "phone": "+12125550101", "consent_text": "other", "consent_source": "crm"}`))
	var src string
	b.st.Pool().QueryRow(context.Background(), `SELECT consent_source FROM leads WHERE id = $1`, a).Scan(&src)
	if src != "web_form" {
		t.Errorf("consent overwritten: %s", src)
	}
	// c and d stay blocked until the policy changes.
	if l := b.lead(t, c); l.Status != "blocked" {
		t.Errorf("lead c: %s", l.Status)
	}
	for _, patch := range []string{`{"require_consent": false}`, `{"window": {"start": "10:00"}}`, `{"allowed_countries": ["US", "CA"]}`} {
		res := b.do(t, "PATCH", "/v1/campaigns/strict", store.RoleMarketing, "application/json", strings.NewReader(patch))
		if res.status != 200 {
			t.Fatalf("%s: %d %s", patch, res.status, res.body)
		}
		for _, id := range []int64{c, d} {
			if l := b.lead(t, id); l.Status != "queued" || l.StatusReason != "re-checked" {
				t.Errorf("after %s lead %d: %s", patch, id, l.Status)
			}
			b.block(t, id, "blocked again")
		}
	}
	// A PATCH that changes something else does not.
	b.do(t, "PATCH", "/v1/campaigns/strict", store.RoleMarketing, "application/json", strings.NewReader(`{"max_attempts": 3}`))
	if l := b.lead(t, c); l.Status != "blocked" {
		t.Errorf("max_attempts re-checked lead c: %s", l.Status)
	}
	b.do(t, "POST", "/v1/campaigns/strict/finish", store.RoleMarketing, "", nil)
	problem(t, "recheck finished", b.do(t, "POST", "/v1/campaigns/strict/recheck", store.RoleMarketing, "", nil), 409, "")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestCompliancePackOverHTTP: a web form's lead has its consent snapshot in
// its compliance pack — exact text, IP, page, form hash — as a JSON
// download for marketing and admins; sales keys are refused, and an
// unknown lead is 404.
func TestCompliancePackOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.campaign(t, "pack", nil)
	form := url.Values{"campaign": {"pack"}, "phone": {"+12125550188"}, "name": {"Dana Ruiz"},
		"consent_text": {"I agree to be called by Acme about my demo"}, "consent_version": {"v7"}, "consent_ip": {"198.51.100.4"},
		"page_url": {"https://acme.example/demo"}}
	res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if res.status != 202 {
		t.Fatalf("intake: %d %s", res.status, res.body)
	}
	id := strconv.FormatInt(leadID(t, res), 10)
	res = b.do(t, "GET", "/v1/leads/"+id+"/compliance", store.RoleMarketing, "", nil)
	if res.status != 200 || !strings.Contains(res.header.Get("Content-Disposition"), "lead-"+id+"-compliance.json") {
		t.Fatalf("pack: %d %v %s", res.status, res.header, res.body)
	}
	m := res.json(t)
	consent := m["consent"].([]any)
	if len(consent) != 1 {
		t.Fatalf("consent %v", consent)
	}
	c := consent[0].(map[string]any)
	if c["text"] != "I agree to be called by Acme about my demo" || c["version"] != "v7" || c["ip"] != "198.51.100.4" ||
		c["page"] != "https://acme.example/demo" || len(c["form_sha256"].(string)) != 64 {
		t.Errorf("consent snapshot %v", c)
	}
	if m["lead"].(map[string]any)["phone"] != "+12125550188" || m["calls"] == nil || m["events"] == nil {
		t.Errorf("pack %s", res.body)
	}
	if res := b.do(t, "GET", "/v1/leads/"+id+"/compliance", store.RoleSales, "", nil); res.status != 403 {
		t.Errorf("sales: %d", res.status)
	}
	if res := b.do(t, "GET", "/v1/leads/99999999/compliance", store.RoleAdmin, "", nil); res.status != 404 {
		t.Errorf("unknown lead: %d", res.status)
	}
}
