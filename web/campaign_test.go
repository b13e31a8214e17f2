package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// TestCampaignPage: a campaign's page shows its funnel, why leads wait,
// attempts by disposition, each question's answers with the prompt and
// what they meant, and its leads, filtered and paged.
func TestCampaignPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSite(t)
	src, _ := scripts.Read("bant-en")
	sc := ivr.MustParse("bant-en.yaml", src)
	c, err := s.st.CreateCampaign(ctx, store.CampaignParams{Name: "autumn", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.StartCampaign(ctx, c.ID, sc, src); err != nil {
		t.Fatal(err)
	}
	lead := func(phone string) int64 {
		id, _, err := s.st.InsertLead(ctx, s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: phone, FirstName: "Lead " + phone[len(phone)-2:]})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Three blocked by the DNC list, 52 queued (two pages), two called.
	for i := range 3 {
		id := lead(fmt.Sprintf("+1212555%04d", i))
		if err := s.st.SetLeadStatus(ctx, s.st.Pool(), id, "test", store.LeadBlocked, "on the do-not-call list", nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 52 {
		id := lead(fmt.Sprintf("+1212556%04d", i))
		if i < 2 { // two waiting for their window, each due at its own time
			due := s.st.Now().Add(time.Duration(i+1) * time.Hour)
			reason := "outside calling hours (Mon,Tue 09:00-20:00 in America/New_York); next call " + due.UTC().Format(time.RFC3339)
			if err := s.st.SetLeadStatus(ctx, s.st.Pool(), id, "test", store.LeadScheduled, reason, &due); err != nil {
				t.Fatal(err)
			}
		}
	}
	eng := ivr.NewEngine(sc)
	// One lead in New York, one in Tokyo: the heatmap puts each call at
	// its lead's local weekday and hour.
	ny, _ := time.LoadLocation("America/New_York")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	zones := []*time.Location{ny, tokyo}
	var heat []string
	for i, keys := range [][]string{{"1", "1", "1", "1", "120#", "1"}, {"1", "1", "2", "2", "5#", "3"}} {
		id := lead(fmt.Sprintf("+1212557%04d", i))
		var a *store.Attempt
		if err := s.st.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			a, err = s.st.StartAttempt(ctx, tx, store.AttemptParams{LeadID: id, CampaignID: c.ID, Phone: fmt.Sprintf("+1212557%04d", i),
				Driver: "sip", Worker: "test", Script: sc, LocalZone: zones[i]})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		at := a.StartedAt.In(zones[i])
		heat = append(heat, fmt.Sprintf("<title>%s %02d:00 — 1 of 1 calls answered (100%%)</title>", at.Weekday().String()[:3], at.Hour()))
		st, _ := eng.Start(nil)
		for _, k := range keys {
			st, _, _ = eng.Next(st, ivr.Input{Keys: k})
		}
		r := eng.Result(st)
		if err := s.st.FinishAttempt(ctx, s.st.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: id, Disposition: "answered",
			Result: &r, Status: store.LeadCompleted, SLA: 24 * time.Hour, Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	r := mkt.do("GET", fmt.Sprintf("/campaigns/%d", c.ID), nil)
	if r.status != 200 {
		t.Fatalf("campaign page: %d", r.status)
	}
	for _, want := range []string{
		`<td class="num" data-k="leads">57</td>`,
		`<th scope="row">blocked: on the do-not-call list</th><td class="num">3</td>`,
		`<th scope="row">scheduled: outside calling hours (Mon,Tue 09:00-20:00 in America/New_York); next call …</th><td class="num">2</td>`,
		`<th scope="row">answered</th><td class="num">2</td>`,
		"Is there a budget for this project?",                   // the budget question's prompt
		`<th scope="row">2</th><td>budget &#43;15, → authority`, // budget key 2: its points, then authority
		"Next 50 leads",
		"2 finished calls by the hour",
		heat[0], heat[1],
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("campaign page lacks %q", want)
		}
	}
	// Filtered: only the completed leads.
	if r := mkt.do("GET", fmt.Sprintf("/campaigns/%d?status=completed", c.ID), nil); strings.Count(r.body, `<a href="/leads/`) != 2 || strings.Contains(r.body, "Next 50") {
		t.Errorf("completed leads: %d links", strings.Count(r.body, `<a href="/leads/`))
	}
	// The second page holds the rest.
	i := strings.Index(r.body, `id="next-page" href="`)
	if i < 0 {
		t.Fatal("no link to the next page")
	}
	next := r.body[i+len(`id="next-page" href="`):]
	next = strings.ReplaceAll(next[:strings.Index(next, `"`)], "&amp;", "&")
	if r := mkt.do("GET", next, nil); strings.Count(r.body, `<a href="/leads/`) != 7 || strings.Contains(r.body, `id="next-page"`) ||
		!strings.Contains(r.body, fmt.Sprintf(`<a id="first-page" href="/campaigns/%d?status=&amp;class=#leads">`, c.ID)) {
		t.Errorf("second page (%s): %d leads, or no way back to the first", next, strings.Count(r.body, `<a href="/leads/`))
	}
	if r := mkt.do("GET", fmt.Sprintf("/campaigns/%d?status=bogus", c.ID), nil); !strings.Contains(r.body, "There is no lead status &#34;bogus&#34;") ||
		!strings.Contains(r.body, "<dd>24h</dd>") {
		t.Errorf("a bad filter or the SLA: %s", r.body)
	}
	for _, path := range []string{"/campaigns/999", "/campaigns/x"} {
		if r := mkt.do("GET", path, nil); r.status != http.StatusNotFound {
			t.Errorf("%s: %d", path, r.status)
		}
	}
	if r := s.user(t, store.RoleSales, "rep@example.com").do("GET", fmt.Sprintf("/campaigns/%d", c.ID), nil); r.status != http.StatusForbidden {
		t.Errorf("sales on the campaign page: %d", r.status)
	}
}
