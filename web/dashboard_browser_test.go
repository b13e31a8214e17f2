package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// TestBrowserDashboard runs a demo-like campaign over SIP — web-form
// leads dialled as they arrive, the demo's kinds of people (hot, warm,
// cold, opt-out, no answer, hang-up midway, decline) — has a rep claim and
// contact a sales-ready lead, then opens the dashboard in headless
// chromium: its funnel and speed-to-lead figures equal what the test
// computes itself from the leads, calls and events in the database, and
// each chart's CSV link downloads the same figures.
func TestBrowserDashboard(t *testing.T) {
	t.Parallel()
	personas := map[string]softphone.Persona{
		"+12125550111": {Keys: "~1,~1,~1,~1,~250#,~1"}, // hot: sql
		"+12125550112": {Keys: "~1,~1,~1,~1,~120#,~1"}, // hot: sql
		"+12125550113": {Keys: "~1,~1,~2,~2,~40#,~2"},  // warm: mql
		"+12125550114": {Keys: "~1,~1,~3,~3,~3#,~3"},   // cold: disqualified
		"+12125550115": {Keys: "~9"},                   // opts out
		"+12125550116": {Answer: "noanswer"},
		"+12125550117": {Keys: "~1,~1,~hangup"},
		"+12125550118": {Answer: "reject", Code: 603},
	}
	s := newDialingSite(t, personas)
	ctx := browserContext(t)
	bg := context.Background()
	c, err := s.st.CreateCampaign(bg, store.CampaignParams{Name: "demo-like", ScriptID: "bant-en", CallerID: "+15550100",
		WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, CallsPerSecond: 10, MaxConcurrent: 10})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := scripts.Read("bant-en")
	sc := ivr.MustParse("bant-en.yaml", src)
	if err := s.st.StartCampaign(bg, c.ID, sc, src); err != nil {
		t.Fatal(err)
	}
	// The leads arrive as web forms do: one at a time, each enqueued as it
	// is stored; two more come from a list.
	phones := slices.Sorted(func(yield func(string) bool) {
		for p := range personas {
			if !yield(p) {
				return
			}
		}
	})
	for i, phone := range phones {
		source := "web_form"
		if i >= 6 {
			source = "import"
		}
		err := s.st.Tx(bg, func(tx pgx.Tx) error {
			id, _, err := s.st.InsertLead(bg, tx, store.LeadParams{CampaignID: c.ID, Phone: phone, FirstName: "Lead", Source: source,
				TimeZone: fixture.DaytimeZone(s.st.Now())})
			if err != nil {
				return err
			}
			return s.q.EnqueueTx(bg, tx, id)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Wait until every lead has had its call.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var settled int
		if err := s.st.Pool().QueryRow(bg, `SELECT count(DISTINCT lead_id) FROM call_attempts WHERE campaign_id = $1 AND state = 'finished'`,
			c.ID).Scan(&settled); err != nil {
			t.Fatal(err)
		}
		if settled == len(personas) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d leads called", settled, len(personas))
		}
	}
	// A rep claims the most urgent sales-ready lead and contacts it.
	rep, _, err := s.st.CreateUser(bg, "rep@example.com", "", store.RoleSales)
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := s.st.ClaimNext(bg, rep.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.Transition(bg, claimed.ID, store.SalesActor{UserID: rep.ID}, store.ActionContacted, nil); err != nil {
		t.Fatal(err)
	}

	// What the database says, counted here from the rows themselves.
	want := map[string]int{}
	db := s.st.Pool()
	count := func(step, q string) {
		t.Helper()
		var n int
		if err := db.QueryRow(bg, q, c.ID).Scan(&n); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		want[step] = n
	}
	count("leads", `SELECT count(*) FROM leads WHERE campaign_id = $1`)
	count("dialled", `SELECT count(DISTINCT lead_id) FROM call_attempts WHERE campaign_id = $1`)
	count("reached", `SELECT count(DISTINCT lead_id) FROM call_attempts WHERE campaign_id = $1 AND disposition = 'answered'`)
	count("completed", `SELECT count(*) FROM leads WHERE campaign_id = $1 AND outcome = 'completed'`)
	count("accepted", `SELECT count(DISTINCT e.lead_id) FROM lead_events e JOIN leads l ON l.id = e.lead_id
		WHERE l.campaign_id = $1 AND e.kind IN ('lead.accepted', 'lead.contacted')`)
	count("contacted", `SELECT count(DISTINCT e.lead_id) FROM lead_events e JOIN leads l ON l.id = e.lead_id
		WHERE l.campaign_id = $1 AND e.kind = 'lead.contacted'`)
	count("opted-out", `SELECT count(*) FROM leads WHERE campaign_id = $1 AND status = 'opted_out'`)
	// SQL, MQL and disqualified: the script's route of each completed lead's class.
	routes := map[string]string{}
	for _, cl := range sc.Classes {
		routes[cl.Name] = cl.Route
	}
	rows, err := db.Query(bg, `SELECT class FROM leads WHERE campaign_id = $1 AND outcome = 'completed'`, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	classes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range classes {
		want[map[string]string{"sales": "sql", "nurture": "mql", "none": "disqualified"}[routes[cl]]]++
	}
	// The demo's people give every step something to count.
	if want["leads"] != 8 || want["sql"] != 2 || want["contacted"] != 1 || want["opted-out"] != 1 || want["reached"] < 6 {
		t.Fatalf("the calls did not go as the personas say: %v", want)
	}
	// Speed to lead: each web-form lead's first call after its arrival.
	rows, err = db.Query(bg, `SELECT extract(epoch FROM min(a.started_at) - l.created_at)::float8 FROM leads l
		JOIN call_attempts a ON a.lead_id = l.id WHERE l.campaign_id = $1 AND l.source = 'web_form' GROUP BY l.id`, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	waits, err := pgx.CollectRows(rows, pgx.RowTo[float64])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(waits)
	quantile := func(p float64) string { // nearest rank, at the dashboard's stated resolution
		w := waits[max(0, int(float64(len(waits))*p+0.999999)-1)]
		ms := int64(w * 1000)
		switch {
		case ms < 1000:
			ms = ms / 10 * 10
		case ms < 60000:
			ms = ms / 100 * 100
		}
		d := time.Duration(ms) * time.Millisecond
		if d >= time.Minute {
			t.Fatalf("a web-form lead waited %s for its first call", d)
		}
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	under1m := 0
	for _, w := range waits {
		if w < 60 {
			under1m++
		}
	}

	// The dashboard shows the same.
	_, password, err := s.st.CreateUser(bg, "mkt@example.com", "", store.RoleMarketing)
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "open the dashboard", chromedp.Navigate(s.srv.URL+"/dashboard"), chromedp.WaitVisible(`#email`))
	firstLogin(t, ctx, "mkt@example.com", password, "my own long password")
	do(t, ctx, "choose the campaign", chromedp.Navigate(fmt.Sprintf("%s/dashboard?campaign=%d", s.srv.URL, c.ID)),
		chromedp.WaitVisible(`#funnel-leads`))
	for step, n := range want {
		if got := text(t, ctx, "#funnel-"+step+" td.n"); got != strconv.Itoa(n) {
			t.Errorf("funnel %s: the dashboard shows %s, the database %d", step, got, n)
		}
	}
	if got := text(t, ctx, "#speed-dialled .n"); got != strconv.Itoa(len(waits)) {
		t.Errorf("web-form leads called: %s, want %d", got, len(waits))
	}
	for sel, want := range map[string]string{"#speed-p50 .n": quantile(0.5), "#speed-p90 .n": quantile(0.9), "#speed-p99 .n": quantile(0.99),
		"#speed-1m .n": fmt.Sprintf("%.1f%%", 100*float64(under1m)/float64(len(waits)))} {
		if got := text(t, ctx, sel); got != want {
			t.Errorf("%s: the dashboard shows %q, the database %q", sel, got, want)
		}
	}
	if !strings.Contains(text(t, ctx, "#sla"), "rep@example.com") {
		t.Errorf("the SLA table does not name the rep")
	}
	screenshot(t, ctx, "dashboard")
	// Each chart's CSV link, fetched by the page itself with its cookie.
	funnelCSV, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('#funnel a.csv').href).then(r => r.text())`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	funnelCSV = strings.TrimPrefix(funnelCSV, "\uFEFF") // whether or not text() kept the BOM
	if !strings.HasPrefix(funnelCSV, "step,leads,of_previous,conversion,definition") ||
		!strings.Contains(funnelCSV, fmt.Sprintf("\nsql,%d,", want["sql"])) {
		t.Errorf("funnel.csv:\n%s", funnelCSV)
	}
	// The campaign's leads export opens with a column per dimension score
	// and per answer, and has every lead.
	do(t, ctx, "open the campaign", chromedp.Navigate(fmt.Sprintf("%s/campaigns/%d", s.srv.URL, c.ID)), chromedp.WaitVisible(`a[href$="leads.csv"]`))
	leadsCSV, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('a[href$="leads.csv"]').href).then(r => r.text())`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(leadsCSV, "\uFEFF"))).ReadAll()
	if err != nil || len(recs) != want["leads"]+1 {
		t.Fatalf("leads.csv: %d rows, %v", len(recs), err)
	}
	header := strings.Join(recs[0], ",")
	for _, col := range []string{"id,", ",phone,", ",class,", ",score_budget,score_authority,score_need,score_timeline,", ",answer_intro,answer_role,answer_budget,", ",notes"} {
		if !strings.Contains(header, col) {
			t.Errorf("leads.csv has no %q in %s", col, header)
		}
	}
	fitsPhone(t, ctx, s.srv.URL, fmt.Sprintf("/dashboard?campaign=%d", c.ID))
}
