package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// Keys that lead bant-en to each result.
var (
	keysSQL     = []string{"1", "1", "1", "1", "250#", "1"}
	keysMQL     = []string{"1", "1", "2", "2", "40#", "2"}
	keysDisq    = []string{"1", "1", "3", "3", "3#", "3"}
	keysOptOut  = []string{"9"}
	keysHangsUp = []string{"1", "1"} // then hangs up: incomplete
)

// dashboardCall gives lead id a finished call of script sc in which it
// pressed keys; without keys the call was not answered.
func dashboardCall(t *testing.T, s *site, c *store.Campaign, sc *ivr.Script, id int64, phone string, keys ...string) {
	t.Helper()
	ctx := context.Background()
	if err := s.st.SetLeadStatus(ctx, s.st.Pool(), id, "test", store.LeadDialing, "test call", nil); err != nil {
		t.Fatal(err)
	}
	var a *store.Attempt
	err := s.st.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		a, err = s.st.StartAttempt(ctx, tx, store.AttemptParams{LeadID: id, CampaignID: c.ID, Phone: phone, Driver: "sip", Worker: "test",
			Script: sc, LocalZone: time.UTC})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		if err := s.st.FinishAttempt(ctx, s.st.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: id, Disposition: "no_answer",
			SIPCode: 480, Status: store.LeadRetryWait, Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := s.st.MarkAnswered(ctx, s.st.Pool(), a.ID, fmt.Sprintf("call-%d", a.ID)); err != nil {
		t.Fatal(err)
	}
	lead, err := store.GetLead(ctx, s.st.Pool(), id)
	if err != nil {
		t.Fatal(err)
	}
	eng := ivr.NewEngine(sc)
	st, _ := eng.Start(lead.Fields())
	for _, k := range keys {
		st, _, _ = eng.Next(st, ivr.Input{Keys: k})
	}
	r := eng.Result(st)
	status := store.LeadCompleted
	switch r.Outcome {
	case ivr.OutcomeOptedOut:
		status = store.LeadOptedOut
	case ivr.OutcomeIncomplete:
		status = store.LeadRetryWait
	}
	if err := s.st.FinishAttempt(ctx, s.st.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: id, Disposition: "answered", SIPCode: 200,
		Result: &r, Status: status, SLA: 24 * time.Hour, EndedBy: "qualdial", DTMFMethod: "rfc4733", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
}

// dashboardLead adds a lead from source to c.
func dashboardLead(t *testing.T, s *site, c *store.Campaign, n int, source string) (int64, string) {
	t.Helper()
	phone := fmt.Sprintf("+1415555%04d", n)
	id, _, err := s.st.InsertLead(context.Background(), s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: phone,
		FirstName: fmt.Sprintf("Lead%d", n), Source: source, TimeZone: "America/Los_Angeles"})
	if err != nil {
		t.Fatal(err)
	}
	return id, phone
}

// bantNext is bant-en as the version after the shipped one (v4 after the
// shipped v3), pinned by c.
func bantNext(t *testing.T, s *site, c *store.Campaign) *ivr.Script {
	t.Helper()
	src, _ := scripts.Read("bant-en")
	v := ivr.MustParse("bant-en.yaml", src).Version
	text := strings.Replace(string(src), fmt.Sprintf("\nversion: %d\n", v), fmt.Sprintf("\nversion: %d\n", v+1), 1)
	if text == string(src) {
		t.Fatalf("bant-en has no version %d line", v)
	}
	if err := s.st.SetCampaignScript(context.Background(), c.ID, text); err != nil {
		t.Fatal(err)
	}
	return ivr.MustParse("bant-en.yaml", []byte(text))
}

// cellText is the text of the element with id in a page, tags removed.
func cellText(t *testing.T, body, id, class string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no element %s on the page", id)
	}
	rest := body[i:]
	j := strings.Index(rest, `class="`+class)
	if j < 0 {
		t.Fatalf("no %s in %s", class, id)
	}
	rest = rest[j:]
	rest = rest[strings.Index(rest, ">")+1:]
	return strings.TrimSpace(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(rest[:strings.Index(rest, "</")], ""))
}

// TestDashboard: the dashboards count what the calls recorded — the
// funnel with its branch, speed to lead, rates by campaign, script version
// and hour, the SLA per rep, answers and the A/B of two script versions —
// and every chart downloads as CSV with the same figures.
func TestDashboard(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	a := bantCampaign(t, s, "Spring A")
	b := bantCampaign(t, s, "Spring B")
	src, _ := scripts.Read("bant-en")
	v3 := ivr.MustParse("bant-en.yaml", src)
	v4 := bantNext(t, s, b)
	if v3.Version != 3 || v4.Version != 4 {
		t.Fatalf("versions %d and %d, want the shipped 3 and 4", v3.Version, v4.Version)
	}

	n := 0
	lead := func(c *store.Campaign, source string) (int64, string) {
		n++
		return dashboardLead(t, s, c, n, source)
	}
	// Campaign A (v3): 2 SQL from web forms, 1 MQL, 1 disqualified, 1
	// opted out, 1 hung up, 1 never answered, 2 not called yet.
	var sqlIDs []int64
	for _, keys := range [][]string{keysSQL, keysSQL, keysMQL, keysDisq, keysOptOut, keysHangsUp, nil} {
		src := "import"
		if len(keys) == len(keysSQL) && keys[4] == "250#" {
			src = "web_form"
		}
		id, phone := lead(a, src)
		dashboardCall(t, s, a, v3, id, phone, keys...)
		if src == "web_form" {
			sqlIDs = append(sqlIDs, id)
		}
	}
	lead(a, "import")
	lead(a, "web_form")
	// Campaign B (v4): 1 SQL, 1 hung up.
	for _, keys := range [][]string{keysSQL, keysHangsUp} {
		id, phone := lead(b, "api")
		dashboardCall(t, s, b, v4, id, phone, keys...)
	}
	// A rep claims and contacts one SQL lead in time; the other is late.
	repUser, _, err := s.st.CreateUser(ctx, "rep@example.com", "", store.RoleSales)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := s.st.ClaimNext(ctx, repUser.ID, a.ID); err != nil || l.ID != sqlIDs[0] {
		t.Fatalf("claim: %v %v", l, err)
	}
	if _, err := s.st.Transition(ctx, sqlIDs[0], store.SalesActor{UserID: repUser.ID}, store.ActionContacted, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.Pool().Exec(ctx, `UPDATE leads SET sla_status = 'breached' WHERE id = $1`, sqlIDs[1]); err != nil {
		t.Fatal(err)
	}

	m := s.user(t, store.RoleMarketing, "marketer@example.com")
	r := m.do("GET", "/dashboard", nil)
	if r.status != http.StatusOK {
		t.Fatalf("dashboard: %d %s", r.status, r.body)
	}
	want := map[string]string{"funnel-leads": "11", "funnel-dialled": "9", "funnel-reached": "8", "funnel-completed": "5",
		"funnel-sql": "3", "funnel-accepted": "1", "funnel-contacted": "1", "funnel-won": "0",
		"funnel-mql": "1", "funnel-disqualified": "1", "funnel-opted-out": "1", "funnel-scored-to-sales": "0"}
	for id, n := range want {
		if got := cellText(t, r.body, id, "num n"); got != n {
			t.Errorf("%s = %s, want %s", id, got, n)
		}
	}
	if got := cellText(t, r.body, "funnel-sql", "num conv"); got != "60.0%" {
		t.Errorf("SQL of completed = %s, want 60.0%%", got)
	}
	if got := cellText(t, r.body, "speed-dialled", "n"); got != "2" {
		t.Errorf("web forms dialled = %s, want 2 (of 3)", got)
	}
	for _, want := range []string{"Spring A", "Spring B", "bant-en@3", "bant-en@4", "A: bant-en@3", "B: bant-en@4", "rep@example.com",
		`id="heat-caption">9 finished calls`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the dashboard does not show %q", want)
		}
	}

	// The CSV files say the same.
	get := func(name, query string) [][]string {
		t.Helper()
		r := m.do("GET", "/dashboard/"+name+"?"+query, nil)
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
			t.Fatalf("%s: %d %s", name, r.status, r.header.Get("Content-Type"))
		}
		recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix([]byte(r.body), []byte("\uFEFF")))).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return recs
	}
	byFirst := func(recs [][]string) map[string][]string {
		out := map[string][]string{}
		for _, r := range recs {
			out[r[0]] = r
		}
		return out
	}
	funnel := byFirst(get("funnel.csv", ""))
	for id, n := range want {
		if got := funnel[strings.TrimPrefix(id, "funnel-")]; len(got) < 2 || got[1] != n {
			t.Errorf("funnel.csv %s = %v, want %s", id, got, n)
		}
	}
	rates := get("rates.csv", "")
	var all, campB []string
	for _, r := range rates {
		if r[0] == "all" {
			all = r
		}
		if r[0] == "campaign" && r[1] == strconv.FormatInt(b.ID, 10) {
			campB = r
		}
	}
	// All: 9 calls, 8 answered, 5 completed, 3 SQL, 1 opted out.
	if strings.Join(all[3:8], ",") != "9,8,5,3,1" || all[8] != "0.8889" || all[10] != "0.6000" {
		t.Errorf("rates.csv all = %v", all)
	}
	if strings.Join(campB[3:8], ",") != "2,2,1,1,0" {
		t.Errorf("rates.csv campaign B = %v", campB)
	}
	ab := byFirst(get("ab.csv", ""))
	if got := ab["figure"]; strings.Join(got, ",") != "figure,bant-en@3,bant-en@4" {
		t.Errorf("ab.csv versions = %v", got)
	}
	// v3: the hang-up ended after q2 (its second answer); v4 likewise.
	if got := ab["calls"]; strings.Join(got, ",") != "calls,7,2" {
		t.Errorf("ab.csv calls = %v", got)
	}
	sla := byFirst(get("sla.csv", ""))
	if got := sla["rep@example.com"]; len(got) < 6 || strings.Join(got[1:6], ",") != "1,1,0,0,1" {
		t.Errorf("sla.csv rep = %v", got)
	}
	if got := sla["all"]; len(got) < 6 || strings.Join(got[1:6], ",") != "3,1,1,1,1" {
		t.Errorf("sla.csv all = %v", got)
	}

	// One campaign: only its figures.
	r = m.do("GET", fmt.Sprintf("/dashboard?campaign=%d", b.ID), nil)
	if got := cellText(t, r.body, "funnel-leads", "num n"); got != "2" {
		t.Errorf("campaign B leads = %s, want 2", got)
	}
	// A period before the leads: nothing.
	r = m.do("GET", "/dashboard?from=2020-01-01&to=2020-01-31", nil)
	if got := cellText(t, r.body, "funnel-leads", "num n"); got != "0" {
		t.Errorf("January 2020 leads = %s, want 0", got)
	}
	// Bad filters are named, and the defaults used.
	r = m.do("GET", "/dashboard?from=yesterday&campaign=x&a=nope", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `&#34;yesterday&#34; is not a date`) ||
		!strings.Contains(r.body, `&#34;x&#34; is not a campaign`) || !strings.Contains(r.body, "is not a script version") {
		t.Errorf("bad filters: %d %s", r.status, r.body)
	}
	// The CSV links keep the page's filter; a CSV with a wrong filter is
	// refused (it could not say what it left out).
	r = m.do("GET", fmt.Sprintf("/dashboard?from=2020-01-01&to=2020-01-31&campaign=%d", b.ID), nil)
	if want := fmt.Sprintf(`href="/dashboard/funnel.csv?campaign=%d&amp;from=2020-01-01&amp;to=2020-01-31"`, b.ID); !strings.Contains(r.body, want) {
		t.Errorf("the funnel's CSV link is not %s", want)
	}
	if f := byFirst(get("funnel.csv", fmt.Sprintf("campaign=%d&from=2020-01-01&to=2020-01-31", b.ID))); f["leads"][1] != "0" || f["sql"][3] != "" {
		t.Errorf("funnel.csv of January 2020: %v", f)
	}
	for _, bad := range []string{"campaign=abc", "from=yesterday", "from=2026-02-01&to=2026-01-01", "campaign=999999", "a=nope@1"} {
		if r := m.do("GET", "/dashboard/rates.csv?"+bad, nil); r.status != http.StatusBadRequest || !strings.Contains(r.body, "The filter is wrong") {
			t.Errorf("rates.csv?%s: %d %s", bad, r.status, r.body)
		}
	}
	r = m.do("GET", "/dashboard?from=2025-01-01&to=2026-02-05&campaign=999999", nil)
	if !strings.Contains(r.body, "A period is at most 400 days") || !strings.Contains(r.body, "There is no campaign 999999") || !strings.Contains(r.body, ">400 days,") {
		t.Errorf("401 days and an unknown campaign: %s", r.body)
	}
	if r := m.do("GET", "/dashboard/nothing.csv", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown chart: %d", r.status)
	}
	// Sales does not see the dashboards.
	sales := s.user(t, store.RoleSales, "sales@example.com")
	if r := sales.do("GET", "/dashboard", nil); r.status != http.StatusForbidden {
		t.Errorf("sales: %d", r.status)
	}
}
