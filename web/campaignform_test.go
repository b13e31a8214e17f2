package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

// settingsValues is the new-campaign form as a browser posts it, with the
// form's defaults.
func settingsValues(name string) url.Values {
	return url.Values{"name": {name}, "script_id": {"bant-en"}, "caller_id": {"+15550100"}, "caller_name": {""}, "default_country": {"US"},
		"driver": {"sip"}, "machine_detection": {"off"}, "dtmf": {"auto"}, "window.days": {"1", "2", "3", "4", "5"},
		"window.start": {"09:00"}, "window.end": {"20:00"}, "calls_per_second": {"1"}, "max_concurrent_calls": {"10"}, "max_attempts": {"4"},
		"ring_timeout": {"25s"}, "max_call_length": {"5m"}, "retry.busy": {"15m"}, "retry.no_answer": {"2h"}, "retry.congestion": {"10m"},
		"retry.incomplete": {"1d"}, "retry.machine": {"4h"}, "call_threshold": {""}, "sales_threshold": {""}, "recall_interval": {"7d"},
		"sla": {"24h"}}
}

// fieldError finds the error shown next to an input.
func fieldError(body, id string) string {
	m := regexp.MustCompile(`<span class="error" id="` + regexp.QuoteMeta(id) + `-error">([^<]*)</span>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestCampaignForm: marketing creates a campaign from a shipped script
// through the form; bad settings come back with each error next to its
// field and the typed values kept; the settings page changes a campaign
// the way the API's PATCH does; sales may not open either.
func TestCampaignForm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSite(t)
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")

	r := mkt.do("GET", "/campaigns/new?script=champ-en", nil)
	if r.status != 200 || !strings.Contains(r.body, `<option selected>champ-en</option>`) ||
		!strings.Contains(r.body, `id="f-caller_id" name="caller_id" type="tel"`) {
		t.Fatalf("new campaign page: %d %s", r.status, r.body)
	}

	// Everything wrong at once: each error at its field, values kept.
	bad := settingsValues("spring/demo")
	bad.Set("caller_id", "555-0100")
	bad.Set("window.start", "21:00")
	bad.Set("calls_per_second", "fast")
	bad.Set("retry.busy", "5s")
	bad.Set("sla", "forever")
	r = mkt.do("POST", "/campaigns/new", bad)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad settings: %d", r.status)
	}
	for id, want := range map[string]string{
		"f-name":             "must not contain / ? # or %",
		"f-caller_id":        "is not an E.164 number",
		"f-calls_per_second": "must be a number",
		"f-retry-busy":       "1m",
		"f-sla":              "forever",
		"window":             "end",
	} {
		if got := fieldError(r.body, id); !strings.Contains(got, want) {
			t.Errorf("%s: error %q, want %q", id, got, want)
		}
	}
	if !strings.Contains(r.body, `value="555-0100"`) || !strings.Contains(r.body, `aria-invalid="true"`) {
		t.Error("the typed values are not kept, or the fields not marked invalid")
	}
	var n int
	if err := s.st.Pool().QueryRow(ctx, `SELECT count(*) FROM campaigns`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d campaigns after bad posts (%v)", n, err)
	}

	// A good one: created as a draft with the shipped script, the window
	// and retries as typed.
	good := settingsValues("spring-demo")
	good.Set("retry.busy", "20m")
	good.Set("require_consent", "on")
	good.Set("call_threshold", "10")
	r = mkt.do("POST", "/campaigns/new", good)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/campaigns/") {
		t.Fatalf("create: %d %q %s", r.status, r.location, r.body)
	}
	c, err := s.st.CampaignByName(ctx, "spring-demo")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.CampaignDraft || c.ScriptID != "bant-en" || c.ScriptYAML == "" || c.RetryBusy != 20*time.Minute ||
		!c.RequireConsent || c.CallThreshold == nil || *c.CallThreshold != 10 || len(c.WindowDays) != 5 {
		t.Errorf("created: %+v", c)
	}
	page := mkt.do("GET", r.location, nil)
	if !strings.Contains(page.body, "Campaign spring-demo is created") {
		t.Error("no flash after creating")
	}
	// The same name again is refused at the name.
	r = mkt.do("POST", "/campaigns/new", good)
	if got := fieldError(r.body, "f-name"); !strings.Contains(got, "another campaign has this name") {
		t.Errorf("a taken name: %q", got)
	}

	// Settings: the form shows what is stored; a change is saved, the
	// rest kept; a bad one is refused at its field.
	settings := fmt.Sprintf("/campaigns/%d/settings", c.ID)
	r = mkt.do("GET", settings, nil)
	if r.status != 200 || !strings.Contains(r.body, `value="20m"`) || !strings.Contains(r.body, `name="require_consent" checked`) {
		t.Fatalf("settings page: %d %s", r.status, r.body)
	}
	edit := settingsValues("")
	edit.Del("name")
	edit.Del("script_id")
	edit.Set("max_concurrent_calls", "25")
	edit.Set("call_threshold", "")
	r = mkt.do("POST", settings, edit)
	if r.status != http.StatusSeeOther {
		t.Fatalf("save settings: %d %s", r.status, r.body)
	}
	c, _ = s.st.Campaign(ctx, c.ID)
	if c.MaxConcurrent != 25 || c.CallThreshold != nil || c.RequireConsent || c.RetryBusy != 15*time.Minute || c.Name != "spring-demo" {
		t.Errorf("saved: concurrent %d threshold %v consent %v busy %s", c.MaxConcurrent, c.CallThreshold, c.RequireConsent, c.RetryBusy)
	}
	edit.Set("max_concurrent_calls", "5000")
	r = mkt.do("POST", settings, edit)
	if got := fieldError(r.body, "f-max_concurrent_calls"); r.status != http.StatusUnprocessableEntity || !strings.Contains(got, "1000") {
		t.Errorf("too many calls: %d %q", r.status, got)
	}

	// A huge field: the form comes back saying why, nothing saved.
	huge := settingsValues("huge")
	huge.Set("caller_name", strings.Repeat("x", 100<<10))
	if r := mkt.do("POST", "/campaigns/new", huge); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "the form is larger than 64 KiB") ||
		!strings.Contains(r.body, `id="f-caller_id"`) {
		t.Errorf("a 100 KB field: %d %s", r.status, r.body)
	}
	// Sales may not open the settings nor create a campaign; another site
	// may not post them.
	rep := s.user(t, store.RoleSales, "rep@example.com")
	for _, p := range []string{settings, "/campaigns/new"} {
		if r := rep.do("GET", p, nil); r.status != http.StatusForbidden {
			t.Errorf("sales GET %s: %d", p, r.status)
		}
	}
	if r := rep.do("POST", "/campaigns/new", settingsValues("by-sales")); r.status != http.StatusForbidden {
		t.Errorf("sales POST: %d", r.status)
	}
	if r := mkt.do("POST", settings, edit, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", r.status)
	}
	if r := mkt.do("GET", "/campaigns/999999/settings", nil); r.status != http.StatusNotFound {
		t.Errorf("no such campaign: %d", r.status)
	}
}
