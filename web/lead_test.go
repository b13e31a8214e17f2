package web_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// bantCampaign creates a campaign with the bant-en script pinned.
func bantCampaign(t *testing.T, s *site, name string) *store.Campaign {
	t.Helper()
	src, _ := scripts.Read("bant-en")
	return scriptCampaign(t, s, name, string(src))
}

// scriptCampaign creates a campaign with a script pinned: a version of
// bant-en, or another script (its id is the script's).
func scriptCampaign(t *testing.T, s *site, name, yaml string) *store.Campaign {
	t.Helper()
	ctx := context.Background()
	id := "bant-en"
	if sc, _ := ivr.Parse("script.yaml", []byte(yaml)); sc != nil {
		id = sc.ID
	}
	c, err := s.st.CreateCampaign(ctx, store.CampaignParams{Name: name, ScriptID: id, CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.SetCampaignScript(ctx, c.ID, yaml); err != nil {
		t.Fatal(err)
	}
	return c
}

// calledLead adds a lead and gives it a finished call in which it pressed
// keys (a question its fields answer is taken from the form).
func calledLead(t *testing.T, s *site, c *store.Campaign, p store.LeadParams, keys ...string) int64 {
	t.Helper()
	return scriptedLead(t, s, c, "bant-en", p, keys...)
}

// scriptedLead is calledLead with a campaign of another shipped script.
func scriptedLead(t *testing.T, s *site, c *store.Campaign, script string, p store.LeadParams, keys ...string) int64 {
	t.Helper()
	ctx := context.Background()
	p.CampaignID = c.ID
	id, _, err := s.st.InsertLead(ctx, s.st.Pool(), p)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := scripts.Read(script)
	sc := ivr.MustParse(script+".yaml", src)
	eng := ivr.NewEngine(sc)
	if err := s.st.SetLeadStatus(ctx, s.st.Pool(), id, "test", store.LeadDialing, "test call", nil); err != nil {
		t.Fatal(err)
	}
	var a *store.Attempt
	err = s.st.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		a, err = s.st.StartAttempt(ctx, tx, store.AttemptParams{LeadID: id, CampaignID: c.ID, Phone: p.Phone, Driver: "sip", Worker: "test", Script: sc,
			CallerID: "+12125550100"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	lead, err := store.GetLead(ctx, s.st.Pool(), id)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := eng.Start(lead.Fields())
	for _, k := range keys {
		st, _, _ = eng.Next(st, ivr.Input{Keys: k})
	}
	r := eng.Result(st)
	if err := s.st.FinishAttempt(ctx, s.st.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: id, Disposition: "answered", SIPCode: 200,
		Result: &r, Status: store.LeadCompleted, SLA: 24 * time.Hour, EndedBy: "qualdial", DTMFMethod: "rfc4733", Attestation: "A", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestLeadPage: the lead page shows the lead, its result with the points
// per dimension, its consent, its call's answers in words and its events;
// sales sees only the leads routed to it; anything else is not found.
func TestLeadPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "spring")
	at := time.Date(2026, 3, 2, 15, 4, 0, 0, time.UTC)
	hot := calledLead(t, s, c, store.LeadParams{Phone: "+12125550101", FirstName: "Ann", LastName: "Lee", Company: "Acme", Email: "ann@acme.example",
		TimeZone: "America/New_York", ExternalID: "crm-7", Source: "web_form", Attributes: map[string]string{"seats": "120", "job_title": "CTO"},
		Consent: store.Consent{Source: "web_form", Text: "I agree to be called.", Version: "v3", At: at, IP: netip.MustParseAddr("203.0.113.9"), Page: "https://acme.example/demo"}},
		"1", "1", "1", "1", "1") // seats from the form: 120
	cold := calledLead(t, s, c, store.LeadParams{Phone: "+12125550102", FirstName: "Bo"}, "1", "1", "2", "2", "5#", "3") // 15+15+5 = 35: mql

	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	r := mkt.do("GET", "/leads/"+strconv.FormatInt(hot, 10), nil)
	r.body = html.UnescapeString(r.body)
	if r.status != http.StatusOK {
		t.Fatalf("lead page: %d %s", r.status, r.body)
	}
	for _, want := range []string{
		"<title>Lead " + strconv.FormatInt(hot, 10) + " · qualdial</title>",
		"Ann Lee", "+12125550101", "(America/New_York)", "calling window", "Mon,Tue,Wed,Thu,Fri,Sat 09:00-20:00",
		"Acme", "ann@acme.example", "crm-7", "web_form", `<dt>seats</dt><dd data-k="seats">120</dd>`,
		`<dd data-k="Class">sql</dd>`, `<dd data-k="Route">sales</dd>`, `<dd data-k="Total">`,
		// Points per dimension: budget 30 of the most (30 + 5 of the profile).
		`aria-label="budget: 30 of 35"`, `aria-label="authority: 35 of 35"`, "of 35; +10 from the lead's profile", `aria-label="need: 15 of 25"`,
		// Consent evidence.
		`<dt>Has consent</dt><dd data-k="Has consent">yes</dd>`, "I agree to be called.", "203.0.113.9", "https://acme.example/demo", "2026-03-02 15:04 UTC",
		// The call and its answers in words, the prompt filled from the lead.
		"<dt>Driver</dt><dd>sip</dd>", "<dt>SIP code</dt><dd>200</dd>", "<dt>Ended by</dt><dd>qualdial</dd>", "<dt>Keys sent as</dt><dd>rfc4733</dd>",
		`<dd class="caller-id">+12125550100 · STIR/SHAKEN attestation A</dd>`,
		"Hi Ann. Four quick questions will get you to the right specialist.",
		"Is there a budget for this project?", "<kbd>1</kbd>", "budget approved; next question authority", "budget +30",
		"decides; next question seats", "deciding this month; ending end",
		`<span class="badge form">from the form</span> <kbd>120#</kbd>`, "120, in 10–249; next question timeline", "need +15",
		"timeline +20", "ending end",
		// Events.
		"lead.created", "call.started", "lead.qualified", "new → dialing",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("lead page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(r.body)
	}
	if strings.Contains(r.body, " style=") || strings.Contains(r.body, "<script>") {
		t.Error("inline style or script on the lead page")
	}

	// The compliance pack: a JSON download from the lead page, with the
	// consent as recorded and the call with its timings.
	if !strings.Contains(r.body, `href="/leads/`+strconv.FormatInt(hot, 10)+`/compliance.json"`) {
		t.Error("no compliance pack link on the lead page")
	}
	pr := mkt.do("GET", "/leads/"+strconv.FormatInt(hot, 10)+"/compliance.json", nil)
	var pack store.CompliancePack
	if err := json.Unmarshal([]byte(pr.body), &pack); err != nil || pr.status != http.StatusOK {
		t.Fatalf("compliance pack: %d %v %s", pr.status, err, pr.body)
	}
	if len(pack.Consent) != 1 || pack.Consent[0].Text != "I agree to be called." || pack.Consent[0].IP != "203.0.113.9" ||
		len(pack.Calls) != 1 || pack.Calls[0].Script != "bant-en v3" || len(pack.Calls[0].Answers) == 0 || len(pack.Scripts) != 1 ||
		pack.Calls[0].CallerID != "+12125550100" || pack.Calls[0].Attestation != "A" ||
		!strings.Contains(pack.Scripts[0].YAML, "identify:") {
		t.Errorf("compliance pack %+v", pack)
	}

	// A nurture lead: its class, route and a number entered on the call.
	r = mkt.do("GET", "/leads/"+strconv.FormatInt(cold, 10), nil)
	r.body = html.UnescapeString(r.body)
	for _, want := range []string{`<dd data-k="Class">mql</dd>`, `<dd data-k="Route">nurture</dd>`, "5, in 0–9; next question timeline", "Hi Bo."} {
		if !strings.Contains(r.body, want) {
			t.Errorf("nurture lead page lacks %q", want)
		}
	}

	// Sales sees the sales-ready lead, not the nurture one (nor learns it
	// exists).
	sales := s.user(t, store.RoleSales, "rep@example.com")
	if r := sales.do("GET", "/leads/"+strconv.FormatInt(hot, 10), nil); r.status != http.StatusOK || !strings.Contains(r.body, "Ann Lee") {
		t.Errorf("sales on a sales lead: %d", r.status)
	}
	missing := sales.do("GET", "/leads/999999", nil)
	hidden := sales.do("GET", "/leads/"+strconv.FormatInt(cold, 10), nil)
	if hidden.status != http.StatusNotFound || hidden.body != missing.body || strings.Contains(hidden.body, "Bo") {
		t.Errorf("sales on a nurture lead: %d", hidden.status)
	}
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	for _, path := range []string{"/leads/999999", "/leads/abc", "/leads/0", "/leads/-1", "/leads/1x", "/leads/99999999999999999999"} {
		if r := admin.do("GET", path, nil); r.status != http.StatusNotFound || !strings.Contains(r.body, "Not found") {
			t.Errorf("admin %s: %d", path, r.status)
		}
	}
	if r := admin.do("GET", "/leads/"+strconv.FormatInt(cold, 10), nil); r.status != http.StatusOK {
		t.Errorf("admin on a nurture lead: %d", r.status)
	}
	// Anonymous: to the login page, coming back after.
	path := "/leads/" + strconv.FormatInt(hot, 10)
	if r := s.browser(t).do("GET", path, nil); r.status != http.StatusSeeOther || r.location != "/login?next=%2Fleads%2F"+strconv.FormatInt(hot, 10) {
		t.Errorf("anonymous: %d → %q", r.status, r.location)
	}
}

// TestLeadPageUncalled: a lead never called shows no result, no calls,
// and no consent but the flag.
func TestLeadPageUncalled(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "summer")
	id, _, err := s.st.InsertLead(context.Background(), s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550103"})
	if err != nil {
		t.Fatal(err)
	}
	r := s.user(t, store.RoleMarketing, "mkt@example.com").do("GET", "/leads/"+strconv.FormatInt(id, 10), nil)
	for _, want := range []string{"Lead " + strconv.FormatInt(id, 10), "Not called yet.", `<dt>Has consent</dt><dd data-k="Has consent">no</dd>`, `<dt>Status</dt><dd data-k="Status">new</dd>`, "lead.created"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("uncalled lead page lacks %q", want)
		}
	}
	if r.status != http.StatusOK || strings.Contains(r.body, "Points per dimension") {
		t.Errorf("uncalled lead: %d", r.status)
	}
}
