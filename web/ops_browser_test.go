package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"riverqueue.com/riverui"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
	"github.com/qualdial/qualdial/web"
)

// queueUISite is a site that serves the job queue's UI (River UI) on its
// database, with one job waiting in it.
func queueUISite(t *testing.T) *site {
	t.Helper()
	return newSite(t, func(cfg *web.Config) {
		q, err := queue.New(cfg.Store, queue.Config{Drivers: map[string]dialer.Driver{"sip": nil}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Client().Insert(context.Background(), queue.SLAWatchArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		ui, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(q.Client(), nil),
			Logger: slog.New(slog.DiscardHandler), Prefix: "/admin/queue"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		if err := ui.Start(ctx); err != nil {
			t.Fatal(err)
		}
		cfg.QueueUI = ui
		cfg.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("qualdial_up 1\n")) })
		cfg.MetricsToken = "a-token-of-sixteen-plus"
	})
}

// TestBrowserQueueUI: an admin follows "Job queue" in the navigation and
// River UI renders its job list with the waiting job, under the page's
// content security policy; a marketing user has no link and gets 403.
func TestBrowserQueueUI(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	s := queueUISite(t)
	bg := context.Background()
	_, password, err := s.st.CreateUser(bg, "admin@example.com", "Ada", store.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "open the site", chromedp.Navigate(s.srv.URL+"/"), chromedp.WaitVisible(`#email`))
	firstLogin(t, ctx, "admin@example.com", password, "the admin's long password")
	do(t, ctx, "see the job queue's link", chromedp.WaitVisible(`nav a[href="/admin/queue/"]`))
	do(t, ctx, "open the jobs waiting", chromedp.Navigate(s.srv.URL+"/admin/queue/jobs?state=available"))
	deadline := time.Now().Add(60 * time.Second)
	for {
		body := text(t, ctx, `body`)
		if strings.Contains(body, "sla_watch") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("River UI does not list the waiting job:\n%.2000s", body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	screenshot(t, ctx, "queue")

	// Marketing: no link, and the UI and its API are refused.
	b := s.user(t, store.RoleMarketing, "mia@example.com")
	if r := b.do("GET", "/", nil); strings.Contains(r.body, "/admin/queue/") {
		t.Error("marketing sees the job queue link")
	}
	for _, path := range []string{"/admin/queue/", "/admin/queue/api/jobs?state=available&limit=5", "/metrics"} {
		if r := b.do("GET", path, nil); r.status != http.StatusForbidden {
			t.Errorf("marketing GET %s: %d", path, r.status)
		}
	}
	// A scraper: the token, and nothing else, opens /metrics.
	anon := s.browser(t)
	for _, tc := range []struct {
		auth   string
		status int
	}{{"", http.StatusUnauthorized}, {"Bearer a-token-of-sixteen-plus", http.StatusOK}, {"Bearer a-token-of-sixteen-plu", http.StatusUnauthorized},
		{"Basic a-token-of-sixteen-plus", http.StatusUnauthorized}, {"Bearer ", http.StatusUnauthorized}} {
		var r reply
		if tc.auth == "" {
			r = anon.do("GET", "/metrics", nil)
		} else {
			r = anon.do("GET", "/metrics", nil, "Authorization", tc.auth)
		}
		if r.status != tc.status {
			t.Errorf("GET /metrics with %q: %d, want %d", tc.auth, r.status, tc.status)
		}
	}
	// A person's browser is sent to the login page instead.
	if r := anon.do("GET", "/metrics", nil, "Accept", "text/html,application/xhtml+xml"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login") {
		t.Errorf("a browser without a session: %d → %q", r.status, r.location)
	}
}
