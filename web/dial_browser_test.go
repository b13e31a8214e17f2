package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
	"github.com/qualdial/qualdial/web"
)

// dialingSite is a site whose campaigns really call: the queue dials the
// project's softphone over SIP on loopback.
type dialingSite struct {
	site
	q *queue.Queue
}

func newDialingSite(t *testing.T, personas map[string]softphone.Persona) *dialingSite {
	t.Helper()
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock(), PasswordHashMemoryKiB: 8 * 1024, PasswordHashPasses: 1})
	phone, err := softphone.Start(softphone.Config{Personas: personas})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	drv, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: phone.Addr().String(), Prompts: fixture.Hum(0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"sip": drv}, DispatchIdle: time.Second,
		SoftStopTimeout: 5 * time.Second, ReconcileInterval: time.Hour, WriteRetry: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	w, err := web.New(web.Config{Store: st, Dialer: q, LiveEvery: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	t.Cleanup(w.Close)
	return &dialingSite{site: site{st: st, srv: srv}, q: q}
}

// TestBrowserCampaignCalls drives a campaign's life in headless chromium:
// marketing creates it from a shipped script through the form (a bad
// caller ID is refused at its field first), starts it, and watches the
// live funnel move as the queue calls the softphone — a sales-ready lead,
// a nurture lead and an opt-out — to exactly what the calls did; the
// campaign's page then shows the answers and the heatmap. A sales user
// cannot open the settings.
func TestBrowserCampaignCalls(t *testing.T) {
	t.Parallel()
	personas := map[string]softphone.Persona{
		"+12125550101": {Keys: "1,1,1,1,120#,1"}, // sales-ready (sql)
		"+12125550102": {Keys: "1,1,2,2,120#,2"}, // nurture (mql)
		"+12125550103": {Keys: "9"},              // opts out at the first prompt
	}
	s := newDialingSite(t, personas)
	ctx := browserContext(t) // closed before the site
	bg := context.Background()
	_, password, err := s.st.CreateUser(bg, "mkt@example.com", "Mia", store.RoleMarketing)
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "open the new-campaign form", chromedp.Navigate(s.srv.URL+"/campaigns/new"), chromedp.WaitVisible(`#email`))
	firstLogin(t, ctx, "mkt@example.com", password, "my own long password")
	do(t, ctx, "go to the form", chromedp.Navigate(s.srv.URL+"/campaigns"), chromedp.WaitVisible(`main h1`))
	click(t, ctx, `a[href="/campaigns/new"]`)
	do(t, ctx, "fill the form with a bad caller ID",
		chromedp.WaitVisible(`#f-name`),
		chromedp.SendKeys(`#f-name`, "autumn-outreach"),
		chromedp.SetValue(`#f-script_id`, "bant-en"),
		chromedp.SetValue(`#f-caller_id`, "555-0100"),
		chromedp.SetValue(`#f-calls_per_second`, "5"),
		chromedp.Click(`input[name="window.days"][value="7"]`), // Sunday too: the test runs any day
		chromedp.Submit(`#f-name`),
		chromedp.WaitVisible(`#f-caller_id-error`),
	)
	if e := text(t, ctx, `#f-caller_id-error`); !strings.Contains(e, "is not an E.164 number") {
		t.Errorf("caller ID error %q", e)
	}
	screenshot(t, ctx, "campaign-settings")
	do(t, ctx, "correct it and create",
		chromedp.SetValue(`#f-caller_id`, "+15550100"),
		chromedp.Submit(`#f-name`),
		chromedp.WaitVisible(`.flash`),
	)
	if f := text(t, ctx, `.flash`); !strings.Contains(f, "Campaign autumn-outreach is created") {
		t.Errorf("flash %q", f)
	}
	c, err := s.st.CampaignByName(bg, "autumn-outreach")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.CampaignDraft || c.ScriptID != "bant-en" || c.CallsPerSecond != 5 || len(c.WindowDays) != 7 {
		t.Fatalf("created %s %s cps %g days %v", c.Status, c.ScriptID, c.CallsPerSecond, c.WindowDays)
	}

	// Three leads, each where it is daytime now.
	err = s.st.Tx(bg, func(tx pgx.Tx) error {
		for phone := range personas {
			id, _, err := s.st.InsertLead(bg, tx, store.LeadParams{CampaignID: c.ID, Phone: phone, FirstName: "Lead",
				TimeZone: fixture.DaytimeZone(s.st.Now())})
			if err != nil {
				return err
			}
			if err := s.q.EnqueueTx(bg, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Start it from the list and watch the live funnel.
	row := fmt.Sprintf(`#campaign-%d`, c.ID)
	do(t, ctx, "open the campaigns", chromedp.Navigate(s.srv.URL+"/campaigns"), chromedp.WaitVisible(row))
	click(t, ctx, row+` button.start`)
	do(t, ctx, "see it started", chromedp.WaitVisible(row+`[data-status="active"]`))
	const want = "3 dialled · 3 answered · 2 completed · 1 sql · 1 mql · 0 disq. · 1 opted out"
	counts := func() string { // the row is replaced while it is read: an error is "not yet"
		v, _ := chromedp.Run(ctx, chromedp.Text(row+` small.counts`))
		return strings.Join(strings.Fields(v), " ")
	}
	got := ""
	for deadline := time.Now().Add(2 * time.Minute); got != want; got = counts() {
		if time.Now().After(deadline) {
			t.Fatalf("the live funnel shows %q, want %q", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	screenshot(t, ctx, "campaigns-live")
	// What the page showed is what the calls did.
	var classes []string
	rows, err := s.st.Pool().Query(bg, `SELECT coalesce(class, status) FROM leads WHERE campaign_id = $1 ORDER BY phone`, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if classes, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || strings.Join(classes, ",") != "sql,mql,opted_out" {
		t.Errorf("classes in the database: %v %v", classes, err)
	}

	// The campaign's page: answers in words and the heatmap.
	do(t, ctx, "open the campaign", chromedp.Navigate(fmt.Sprintf("%s/campaigns/%d", s.srv.URL, c.ID)), chromedp.WaitVisible(`figure.heatmap`))
	if cap := text(t, ctx, `#heat-caption`); !strings.HasPrefix(cap, "3 finished calls") {
		t.Errorf("heatmap caption %q", cap)
	}
	if m := text(t, ctx, `main`); !strings.Contains(m, "Is there a budget for this project?") || !strings.Contains(m, "Answers to intro") {
		t.Errorf("no answers per question: %q", m)
	}
	screenshot(t, ctx, "campaign")
	fitsPhone(t, ctx, s.srv.URL, "/campaigns", fmt.Sprintf("/campaigns/%d", c.ID), fmt.Sprintf("/campaigns/%d/settings", c.ID), "/campaigns/new")

	// A sales user may not open the settings.
	do(t, ctx, "log out", chromedp.Click(`.logout button`), chromedp.WaitVisible(`#email`))
	_, repPassword, err := s.st.CreateUser(bg, "rep@example.com", "", store.RoleSales)
	if err != nil {
		t.Fatal(err)
	}
	firstLogin(t, ctx, "rep@example.com", repPassword, "the rep's long password")
	do(t, ctx, "open the settings as sales", chromedp.Navigate(fmt.Sprintf("%s/campaigns/%d/settings", s.srv.URL, c.ID)), chromedp.WaitVisible(`main h1`))
	if h := text(t, ctx, `main h1`); h != "Not for your role" {
		t.Errorf("sales on the settings: %q", h)
	}
}
