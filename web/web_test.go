package web_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
	"github.com/qualdial/qualdial/web"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type site struct {
	st  *store.Store
	srv *httptest.Server
	ui  *web.Server
	// clock is the store's: a test may move it forward.
	clock *fixture.MovableClock
}

// newSite serves the UI on a database of its own; configure, if given,
// changes the UI's configuration first.
func newSite(t testing.TB, configure ...func(*web.Config)) *site {
	t.Helper()
	// Cheap password hashes: the tests log in often, under -race too.
	clock := fixture.NewMovableClock()
	st := store.New(pgtest.DB(t), store.Config{Now: clock.Now, PasswordHashMemoryKiB: 8 * 1024, PasswordHashPasses: 1})
	cfg := web.Config{Store: st, LiveEvery: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	for _, c := range configure {
		c(&cfg)
	}
	w, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	t.Cleanup(w.Close) // before the server's close: the live streams end
	return &site{st: st, srv: srv, ui: w, clock: clock}
}

// browser is a client with its own cookies that does not follow redirects
// (so tests see where they lead) and sends what a browser sends on a
// same-origin form post.
type browser struct {
	t    testing.TB
	site *site
	c    *http.Client
}

func (s *site) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, site: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type reply struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(method, path string, form url.Values, header ...string) reply {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.site.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return b.send(req, header...)
}

// send sends a request as a same-origin one, with the header pairs given.
func (b *browser) send(req *http.Request, header ...string) reply {
	b.t.Helper()
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header.Get("Location"), string(data), res.Header}
}

// user creates a user and logs in as them, choosing a password on the way.
func (s *site) user(t *testing.T, role, email string) *browser {
	t.Helper()
	_, password, err := s.st.CreateUser(context.Background(), email, "", role)
	if err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	r := b.do("POST", "/login", url.Values{"email": {email}, "password": {password}, "next": {"/"}})
	if r.status != http.StatusSeeOther || r.location != "/password" {
		t.Fatalf("first login: %d → %q", r.status, r.location)
	}
	r = b.do("POST", "/password", url.Values{"current": {password}, "next": {"a long new password"}, "again": {"a long new password"}})
	if r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("choose a password: %d → %q %s", r.status, r.location, r.body)
	}
	return b
}

func TestLoginPasswordAndLogout(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	_, password, err := s.st.CreateUser(ctx, "Ann@Example.com", "Ann", store.RoleMarketing)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.st.CreateUser(ctx, "ann@example.com", "", store.RoleSales); err == nil {
		t.Error("a second user with the same e-mail in another case was created")
	}
	b := s.browser(t)

	// Not logged in: to the login page, coming back after.
	if r := b.do("GET", "/campaigns?x=1", nil); r.status != http.StatusSeeOther || r.location != "/login?next=%2Fcampaigns%3Fx%3D1" {
		t.Fatalf("anonymous: %d → %q", r.status, r.location)
	}
	for _, tc := range []struct{ email, password string }{{"ann@example.com", "wrong"}, {"nobody@example.com", password}} {
		if r := b.do("POST", "/login", url.Values{"email": {tc.email}, "password": {tc.password}}); r.status != http.StatusUnauthorized ||
			!strings.Contains(r.body, "Wrong e-mail or password.") {
			t.Errorf("login %s: %d %s", tc.email, r.status, r.body)
		}
	}
	// An open redirect is not followed.
	r := b.do("POST", "/login", url.Values{"email": {"ANN@example.com"}, "password": {password}, "next": {"//evil.example/"}})
	if r.status != http.StatusSeeOther || r.location != "/password" {
		t.Fatalf("first login: %d → %q", r.status, r.location)
	}
	if c := r.header.Get("Set-Cookie"); !strings.Contains(c, "qualdial_session=") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") {
		t.Errorf("session cookie %q", c)
	}
	// The one-time password must be replaced before anything else.
	if r := b.do("GET", "/campaigns", nil); r.location != "/password" {
		t.Errorf("before choosing a password: → %q", r.location)
	}
	if r := b.do("GET", "/password", nil); r.status != 200 || strings.Contains(r.body, `<nav`) {
		t.Errorf("the password page shows the navigation it would not allow: %d", r.status)
	}
	for _, tc := range []struct{ current, next, again, want string }{
		{password, "short", "short", "at least 12 characters"},
		{password, "a long new password", "another long one", "differ"},
		{"wrong", "a long new password", "a long new password", "current password is wrong"},
		{password, password, password, "other than the one you were given"},
	} {
		r := b.do("POST", "/password", url.Values{"current": {tc.current}, "next": {tc.next}, "again": {tc.again}})
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, tc.want) {
			t.Errorf("password %q: %d, want %q", tc.next, r.status, tc.want)
		}
	}
	if r := b.do("POST", "/password", url.Values{"current": {password}, "next": {"a long new password"}, "again": {"a long new password"}}); r.location != "/" {
		t.Fatalf("choose a password: %d → %q", r.status, r.location)
	}
	if r := b.do("GET", "/", nil); r.location != "/campaigns" {
		t.Errorf("marketing's start page: %q", r.location)
	}
	r = b.do("GET", "/campaigns", nil)
	if r.status != 200 || !strings.Contains(r.body, "No campaign yet") || !strings.Contains(r.body, "Your password is saved.") {
		t.Errorf("campaigns: %d %s", r.status, r.body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options"} {
		if r.header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	// The old password no longer works; the new one does.
	if r := s.browser(t).do("POST", "/login", url.Values{"email": {"ann@example.com"}, "password": {password}}); r.status != http.StatusUnauthorized {
		t.Errorf("the one-time password still works: %d", r.status)
	}
	// Logging out ends the session: its cookie no longer opens a page.
	if r := b.do("POST", "/logout", url.Values{}); r.location != "/login" {
		t.Errorf("logout → %q", r.location)
	}
	if r := b.do("GET", "/campaigns", nil); r.status != http.StatusSeeOther {
		t.Errorf("after logout: %d", r.status)
	}
}

func TestRolesAndCrossOrigin(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	sales := s.user(t, store.RoleSales, "rep@example.com")
	for _, path := range []string{"/campaigns", "/users"} {
		if r := sales.do("GET", path, nil); r.status != http.StatusForbidden || !strings.Contains(r.body, "Not for your role") {
			t.Errorf("sales %s: %d", path, r.status)
		}
	}
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	if r := mkt.do("GET", "/users", nil); r.status != http.StatusForbidden {
		t.Errorf("marketing /users: %d", r.status)
	}
	c, err := s.st.CreateCampaign(context.Background(), store.CampaignParams{Name: "spring", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := scripts.Read("bant-en")
	if err := s.st.SetCampaignScript(context.Background(), c.ID, string(src)); err != nil {
		t.Fatal(err)
	}
	// A post from another site is refused, whatever the session.
	if r := mkt.do("POST", "/campaigns/1/start", url.Values{}, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site post: %d", r.status)
	}
	if r := mkt.do("POST", "/campaigns/1/start", url.Values{}, "Sec-Fetch-Site", "", "Origin", "https://evil.example"); r.status != http.StatusForbidden {
		t.Errorf("cross-origin post: %d", r.status)
	}
	if got, _ := s.st.Campaign(context.Background(), c.ID); got.Status != store.CampaignDraft {
		t.Fatalf("a refused post changed the campaign: %s", got.Status)
	}
	// The same post from the page starts it; htmx gets the row back.
	r := mkt.do("POST", "/campaigns/1/start", url.Values{}, "HX-Request", "true")
	if r.status != 200 || !strings.Contains(r.body, `data-status="active"`) || !strings.Contains(r.body, "bant-en@3") {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	r = mkt.do("POST", "/campaigns/1/start", url.Values{}, "HX-Request", "true")
	if r.status != http.StatusConflict || !strings.Contains(r.body, "cannot start an active campaign: it is already active") {
		t.Errorf("second start: %d %s", r.status, r.body)
	}
	// Without JavaScript: back to the list with the message.
	if r := mkt.do("POST", "/campaigns/1/pause", url.Values{}); r.location != "/campaigns" {
		t.Errorf("plain pause → %q", r.location)
	}
	if r := mkt.do("GET", "/campaigns", nil); !strings.Contains(r.body, "Campaign spring is paused.") || !strings.Contains(r.body, `data-status="paused"`) {
		t.Errorf("after pause: %s", r.body)
	}
	if r := mkt.do("POST", "/campaigns/99/start", url.Values{}); r.status != http.StatusNotFound {
		t.Errorf("unknown campaign: %d", r.status)
	}
}

func TestAdminCreatesUsers(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	r := admin.do("POST", "/users", url.Values{"email": {"bob@example.com"}, "name": {"Bob"}, "role": {"sales"}})
	if r.status != http.StatusCreated || !strings.Contains(r.body, `id="one-time-password"`) {
		t.Fatalf("create user: %d %s", r.status, r.body)
	}
	i := strings.Index(r.body, `id="one-time-password">`) + len(`id="one-time-password">`)
	password := r.body[i : i+strings.Index(r.body[i:], "<")]
	if len(password) < 16 {
		t.Fatalf("one-time password %q", password)
	}
	if r := s.browser(t).do("POST", "/login", url.Values{"email": {"bob@example.com"}, "password": {password}}); r.location != "/password" {
		t.Errorf("bob's first login → %q", r.location)
	}
	// Shown once: the list does not show it again.
	if r := admin.do("GET", "/users", nil); strings.Contains(r.body, password) || !strings.Contains(r.body, "bob@example.com") {
		t.Error("the one-time password is shown again, or bob is not listed")
	}
	for _, tc := range []struct{ email, role, want string }{
		{"not an address", "sales", "e-mail address"},
		{"carl@example.com", "intake", "Pick a role"},
		{"bob@example.com", "sales", "exists"},
	} {
		if r := admin.do("POST", "/users", url.Values{"email": {tc.email}, "role": {tc.role}}); r.status < 400 || !strings.Contains(r.body, tc.want) {
			t.Errorf("create %s as %s: %d, want %q", tc.email, tc.role, r.status, tc.want)
		}
	}
}

func TestAssetsAndNotFound(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := s.browser(t)
	r := b.do("GET", "/assets/vendor/htmx-2.0.11/htmx.min.js", nil)
	if r.status != 200 || !strings.Contains(r.body, "htmx") || r.header.Get("Cache-Control") == "" {
		t.Errorf("htmx: %d", r.status)
	}
	if r := b.do("GET", "/assets/vendor/htmx-2.0.11/LICENSE", nil); r.status != 200 {
		t.Errorf("htmx licence: %d", r.status)
	}
	if r := b.do("GET", "/login", nil); r.status != 200 || !strings.Contains(r.body, `<label for="email">`) {
		t.Errorf("login page: %d", r.status)
	}
	if r := b.do("GET", "/nope", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown page: %d", r.status)
	}
}

// TestLiveCampaigns: the campaigns stream sends the table as server-sent
// events, new numbers at each tick.
func TestLiveCampaigns(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	c, err := s.st.CreateCampaign(ctx, store.CampaignParams{Name: "live", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	b := s.user(t, store.RoleMarketing, "mkt@example.com")
	req, _ := http.NewRequest("GET", s.srv.URL+"/campaigns/stream", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := bufio.NewScanner(res.Body)
	next := func() string { // one event's data, joined
		t.Helper()
		var data []string
		for events.Scan() {
			line := events.Text()
			switch {
			case line == "" && data != nil:
				return strings.Join(data, "\n")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case line != "" && line != "event: campaigns" && !strings.HasPrefix(line, ":"):
				t.Fatalf("unexpected line %q", line)
			}
		}
		t.Fatalf("stream ended: %v", events.Err())
		return ""
	}
	if ev := next(); !strings.Contains(ev, `<td class="num" data-k="leads">0</td>`) {
		t.Fatalf("first event: %s", ev)
	}
	// The table is sent again only when it changed: ticks every 200 ms
	// go by, then a lead arrives, and the next event is the new lead's.
	time.Sleep(500 * time.Millisecond)
	if _, _, err := s.st.InsertLead(ctx, s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550100"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); !strings.Contains(ev, `<td class="num" data-k="leads">1</td>`) {
		t.Fatalf("the next event is not the new lead's: %s", ev)
	}
	// A lead waiting for its window: the list says when the next is due.
	id, _, err := s.st.InsertLead(ctx, s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550101"})
	if err != nil {
		t.Fatal(err)
	}
	due := s.st.Now().Add(3 * time.Hour).Truncate(time.Minute)
	if err := s.st.SetLeadStatus(ctx, s.st.Pool(), id, "test", store.LeadScheduled, "outside the calling window", &due); err != nil {
		t.Fatal(err)
	}
	if r := b.do("GET", "/campaigns", nil); !strings.Contains(r.body, `<small class="counts" data-k="next-due">next due `+due.UTC().Format("Jan 2 15:04")+` UTC</small>`) {
		t.Errorf("no next due time on the list: %s", r.body)
	}
	// The toggle: its hidden live=off, and live=on when checked.
	for query, streams := range map[string]bool{"?live=off": false, "?live=off&live=on": true, "": true} {
		if r := b.do("GET", "/campaigns/rows"+query, nil); r.status != 200 || strings.Contains(r.body, `sse-connect="/campaigns/stream"`) != streams {
			t.Errorf("/campaigns/rows%s: %d, streaming %v, want %v", query, r.status, !streams, streams)
		}
	}
	if r := s.user(t, store.RoleSales, "rep@example.com").do("GET", "/campaigns/stream", nil); r.status != http.StatusForbidden {
		t.Errorf("sales stream: %d", r.status)
	}
}

// TestHugeFormsNameTheirBound: a field pasted far beyond what it takes
// gets 413 naming the form's bound, on every small form.
func TestHugeFormsNameTheirBound(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	huge := strings.Repeat("x", 100<<10)
	for path, form := range map[string]url.Values{
		"/login":   {"email": {huge}, "password": {"x"}},
		"/dnc":     {"phone": {"+12125550123"}, "reason": {huge}},
		"/users":   {"email": {huge}, "role": {"sales"}},
		"/apikeys": {"name": {huge}, "role": {"intake"}},
		// The sales outcomes and the claim: refused before any lead is read.
		"/leads/1/lost":    {"reason": {huge}},
		"/leads/1/recycle": {"recall": {"2030-01-01T10:00"}, "pad": {huge}},
		"/inbox/next":      {"campaign": {huge}},
	} {
		r := admin.do("POST", path, form)
		if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "the form is larger than") {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
}
