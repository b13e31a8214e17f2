package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/qualdial/qualdial/store"
	"github.com/qualdial/qualdial/web"
)

// shown reads the text of the element with the given id from a page.
func shown(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + id + `">([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no #%s in %s", id, body)
	}
	return m[1]
}

// TestAdminAPIKeys: an admin creates keys (the secret shown once, field
// errors beside their fields, names escaped) and revokes one, which the
// store then refuses and the API of the process is told of at once.
func TestAdminAPIKeys(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var forgotten []int64
	s := newSite(t, func(c *web.Config) {
		c.KeyRevoked = func(id int64) { mu.Lock(); forgotten = append(forgotten, id); mu.Unlock() }
	})
	ctx := context.Background()
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	r := admin.do("GET", "/apikeys", nil)
	if r.status != 200 || !strings.Contains(r.body, "No API key yet.") || !strings.Contains(r.body, `<option value="intake" selected>intake</option>`) ||
		!strings.Contains(r.body, `<a href="/apikeys" aria-current="page">API keys</a>`) {
		t.Fatalf("keys page: %d %s", r.status, r.body)
	}

	// Field errors, each beside its field.
	r = admin.do("POST", "/apikeys", url.Values{"name": {" "}, "role": {"root"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `aria-describedby="k-name-error"`) || !strings.Contains(r.body, `id="k-name-error"`) ||
		!strings.Contains(r.body, `aria-describedby="k-role-error"`) || !strings.Contains(r.body, "Pick a role") {
		t.Errorf("bad key: %d %s", r.status, r.body)
	}
	if r := admin.do("POST", "/apikeys", url.Values{"name": {strings.Repeat("n", 129)}, "role": {"sales"}}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "longer than 128 characters") {
		t.Errorf("long name: %d", r.status)
	}

	// A signed intake key: the key and its signing secret, shown once.
	const name = `<b>spring</b> form`
	r = admin.do("POST", "/apikeys", url.Values{"name": {name}, "role": {"intake"}, "signed": {"on"}})
	if r.status != http.StatusCreated || strings.Contains(r.body, name) || !strings.Contains(r.body, "&lt;b&gt;spring&lt;/b&gt; form") {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	token, hmacSecret := shown(t, r.body, "new-key"), shown(t, r.body, "new-signing-secret")
	key, err := s.st.Authenticate(ctx, token)
	if err != nil || key.Role != store.RoleIntake || key.Name != name || key.HMACSecret != hmacSecret || key.UserID != 0 {
		t.Fatalf("the key shown: %+v %v", key, err)
	}
	r = admin.do("POST", "/apikeys", url.Values{"name": {"Rita"}, "role": {"sales"}})
	if r.status != http.StatusCreated || strings.Contains(r.body, "new-signing-secret") {
		t.Fatalf("create a sales key: %d", r.status)
	}
	ritaToken := shown(t, r.body, "new-key")
	rita, err := s.st.Authenticate(ctx, ritaToken)
	if err != nil || rita.Role != store.RoleSales || rita.UserID == 0 {
		t.Fatalf("Rita's key: %+v %v", rita, err)
	}
	// The list shows prefixes, never a secret.
	r = admin.do("GET", "/apikeys", nil)
	if strings.Contains(r.body, token) || strings.Contains(r.body, hmacSecret) || !strings.Contains(r.body, key.Prefix) ||
		!strings.Contains(r.body, fmt.Sprintf(`id="key-%d" data-state="active"`, key.ID)) || !strings.Contains(r.body, "never") {
		t.Errorf("list: %s", r.body)
	}

	// Revoke (htmx): the list comes back; the store refuses the key.
	path := fmt.Sprintf("/apikeys/%d/revoke", key.ID)
	r = admin.do("POST", path, url.Values{}, "HX-Request", "true")
	if r.status != 200 || strings.Contains(r.body, "<html") || !strings.Contains(r.body, `id="revoke-notice"`) ||
		!strings.Contains(r.body, fmt.Sprintf(`id="key-%d" data-state="revoked"`, key.ID)) {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if _, err := s.st.Authenticate(ctx, token); !errors.Is(err, store.ErrBadKey) {
		t.Errorf("the revoked key still authenticates: %v", err)
	}
	mu.Lock()
	if len(forgotten) != 1 || forgotten[0] != key.ID {
		t.Errorf("the API was told of %v", forgotten)
	}
	mu.Unlock()
	// Again, without JavaScript: nothing changes, and the page says so.
	if r := admin.do("POST", path, url.Values{}); r.status != http.StatusSeeOther || r.location != "/apikeys" {
		t.Errorf("revoke again: %d → %q", r.status, r.location)
	}
	if r := admin.do("GET", "/apikeys", nil); !strings.Contains(r.body, "was already revoked on") {
		t.Errorf("after revoking again: %s", r.body)
	}
	if _, err := s.st.Authenticate(ctx, ritaToken); err != nil {
		t.Errorf("Rita's key was revoked too: %v", err)
	}
	for _, p := range []string{"/apikeys/999/revoke", "/apikeys/x/revoke"} {
		if r := admin.do("POST", p, url.Values{}); r.status != http.StatusNotFound {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}

// TestAdminWebhooks: an admin subscribes a URL (refused URLs and missing
// events with errors beside their fields; the signing secret shown once),
// reads its delivery log a page at a time, and deletes it.
func TestAdminWebhooks(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	if r := admin.do("GET", "/webhooks", nil); r.status != 200 || !strings.Contains(r.body, "No webhook yet.") ||
		!strings.Contains(r.body, `<input type="checkbox" name="events" value="lead.qualified" checked>`) {
		t.Fatalf("webhooks page: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		url    string
		events []string
		want   []string
	}{
		{"http://93.184.216.34/hooks", []string{"lead.qualified"}, []string{`aria-describedby="w-url-error"`, "use https"}},
		{"https://10.0.0.7/hooks", []string{"lead.qualified"}, []string{`id="w-url-error"`, "private"}},
		{"https://user:pw@93.184.216.34/hooks", []string{"lead.qualified"}, []string{"must not contain credentials"}},
		{"https://93.184.216.34/hooks", nil, []string{`aria-describedby="w-events-error"`, "Pick at least one event"}},
		{"https://93.184.216.34/hooks", []string{"lead.everything"}, []string{`id="w-events-error"`, "&#34;lead.everything&#34; is not an event"}},
		{"", []string{"lead.qualified"}, []string{"Give the URL"}},
	} {
		r := admin.do("POST", "/webhooks", url.Values{"url": {tc.url}, "events": tc.events})
		for _, w := range tc.want {
			if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, w) {
				t.Errorf("subscribe %q %v: %d, want %q", tc.url, tc.events, r.status, w)
			}
		}
		if strings.Contains(r.body, "user:pw") && !strings.Contains(r.body, `value="https://user:pw@`) {
			t.Errorf("the error repeats the URL's credentials")
		}
	}
	if subs, _ := s.st.Subscriptions(ctx); len(subs) != 0 {
		t.Fatalf("a refused subscription was stored: %+v", subs)
	}

	const hook = `https://93.184.216.34/hooks?token=<b>`
	r := admin.do("POST", "/webhooks", url.Values{"url": {hook}, "events": {"lead.qualified", "lead.opted_out", "lead.qualified"}})
	if r.status != http.StatusCreated || strings.Contains(r.body, "<b>") || !strings.Contains(r.body, "token=&lt;b&gt;") {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	secret := shown(t, r.body, "new-webhook-secret")
	subs, err := s.st.Subscriptions(ctx)
	if err != nil || len(subs) != 1 || subs[0].URL != hook || strings.Join(subs[0].Events, ",") != "lead.qualified,lead.opted_out" || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("stored: %+v %v (secret %q)", subs, err, secret)
	}
	sub := subs[0]
	if r := admin.do("GET", "/webhooks", nil); strings.Contains(r.body, secret) || !strings.Contains(r.body, fmt.Sprintf(`<a href="/webhooks/%d">Delivery log</a>`, sub.ID)) {
		t.Errorf("list: %s", r.body)
	}

	// Deliveries seeded as leads' events make them: 51, a page and one.
	logPath := fmt.Sprintf("/webhooks/%d", sub.ID)
	if r := admin.do("GET", logPath, nil); r.status != 200 || !strings.Contains(r.body, "No delivery yet") {
		t.Errorf("empty log: %d %s", r.status, r.body)
	}
	c, err := s.st.CreateCampaign(ctx, store.CampaignParams{Name: "hooks", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	lead, _, err := s.st.InsertLead(ctx, s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550100"})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if err := s.st.AddEvent(ctx, s.st.Pool(), lead, "system", store.EventLeadQualified, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.st.AddEvent(ctx, s.st.Pool(), lead, "system", store.EventLeadOptedOut, nil); err != nil {
		t.Fatal(err)
	}
	log, err := s.st.DeliveryLog(ctx, sub.ID, 0, 0)
	if err != nil || len(log) != 51 {
		t.Fatalf("seeded log: %d %v", len(log), err)
	}
	newest, oldest := log[0], log[50]
	if err := s.st.RecordDelivery(ctx, newest.ID, 502, "HTTP 502 <Bad Gateway>", false, false); err != nil {
		t.Fatal(err)
	}
	if err := s.st.RecordDelivery(ctx, oldest.ID, 204, "", true, false); err != nil {
		t.Fatal(err)
	}
	r = admin.do("GET", logPath, nil)
	first := strings.Index(r.body, fmt.Sprintf(`id="delivery-%d" data-state="enqueued"`, newest.ID))
	if r.status != 200 || first < 0 || strings.Index(r.body, fmt.Sprintf(`id="delivery-%d"`, log[1].ID)) < first ||
		strings.Contains(r.body, fmt.Sprintf(`id="delivery-%d"`, oldest.ID)) || !strings.Contains(r.body, "HTTP 502 &lt;Bad Gateway&gt;") ||
		!strings.Contains(r.body, `<td class="num">502</td>`) || !strings.Contains(r.body, "<td>lead.opted_out</td>") {
		t.Fatalf("log, first page: %d %s", r.status, r.body)
	}
	next := fmt.Sprintf(`%s?before=%d`, logPath, log[49].ID)
	if !strings.Contains(r.body, `href="`+next+`" rel="next"`) {
		t.Fatalf("no link to the older deliveries (%s)", next)
	}
	r = admin.do("GET", next, nil)
	if r.status != 200 || !strings.Contains(r.body, fmt.Sprintf(`id="delivery-%d" data-state="delivered"`, oldest.ID)) ||
		strings.Contains(r.body, fmt.Sprintf(`id="delivery-%d"`, newest.ID)) || strings.Contains(r.body, `rel="next"`) || !strings.Contains(r.body, `<td class="num">204</td>`) {
		t.Errorf("log, second page: %d %s", r.status, r.body)
	}
	for path, want := range map[string]int{logPath + "?before=x": http.StatusBadRequest, "/webhooks/999": http.StatusNotFound, "/webhooks/x": http.StatusNotFound} {
		if r := admin.do("GET", path, nil); r.status != want {
			t.Errorf("%s: %d, want %d", path, r.status, want)
		}
	}

	// Delete (htmx): the list comes back without it.
	r = admin.do("POST", logPath+"/delete", url.Values{}, "HX-Request", "true")
	if r.status != 200 || !strings.Contains(r.body, `id="delete-notice"`) || !strings.Contains(r.body, "No webhook yet.") {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := admin.do("POST", logPath+"/delete", url.Values{}, "HX-Request", "true"); r.status != http.StatusConflict || !strings.Contains(r.body, `id="delete-error"`) {
		t.Errorf("delete again: %d %s", r.status, r.body)
	}
}

// TestKeyAndWebhookScreensRolesAndCrossOrigin: only admins see or change keys and
// webhooks, and a post from another site changes nothing.
func TestKeyAndWebhookScreensRolesAndCrossOrigin(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	sub, err := s.st.CreateSubscription(ctx, "https://93.184.216.34/hooks", []string{string(store.EventLeadQualified)})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := s.st.CreateAPIKey(ctx, store.RoleIntake, "form")
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{store.RoleMarketing, store.RoleSales} {
		b := s.user(t, role, role+"@example.com")
		if r := b.do("GET", "/campaigns", nil); strings.Contains(r.body, `href="/apikeys"`) || strings.Contains(r.body, `href="/webhooks"`) {
			t.Errorf("%s sees the admin links", role)
		}
		for _, req := range []struct{ method, path string }{
			{"GET", "/apikeys"}, {"POST", "/apikeys"}, {"POST", fmt.Sprintf("/apikeys/%d/revoke", key.ID)},
			{"GET", "/webhooks"}, {"POST", "/webhooks"}, {"GET", fmt.Sprintf("/webhooks/%d", sub.ID)}, {"POST", fmt.Sprintf("/webhooks/%d/delete", sub.ID)},
		} {
			form := url.Values{"name": {"x"}, "role": {"admin"}, "url": {"https://93.184.216.34/x"}, "events": {"lead.qualified"}}
			if r := b.do(req.method, req.path, form); r.status != http.StatusForbidden {
				t.Errorf("%s %s %s: %d", role, req.method, req.path, r.status)
			}
		}
	}
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	for _, path := range []string{"/apikeys", fmt.Sprintf("/apikeys/%d/revoke", key.ID), "/webhooks", fmt.Sprintf("/webhooks/%d/delete", sub.ID)} {
		form := url.Values{"name": {"evil"}, "role": {"admin"}, "url": {"https://93.184.216.34/evil"}, "events": {"lead.qualified"}}
		if r := admin.do("POST", path, form, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden || !strings.Contains(r.body, "cross-origin request refused") {
			t.Errorf("cross-site POST %s: %d", path, r.status)
		}
	}
	keys, _ := s.st.ListAPIKeys(ctx)
	subs, _ := s.st.Subscriptions(ctx)
	if len(keys) != 1 || keys[0].RevokedAt != nil || len(subs) != 1 || subs[0].URL != sub.URL {
		t.Errorf("refused posts changed something: keys %+v, webhooks %+v", keys, subs)
	}
}
