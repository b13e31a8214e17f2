package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

// salesLead adds a lead of c waiting for sales (stage open, class sql),
// due at due, and returns its id.
func salesLead(t *testing.T, s *site, c *store.Campaign, first, company string, due time.Time) int64 {
	t.Helper()
	ctx := context.Background()
	phone := fmt.Sprintf("+1415555%04d", len(first)*100+int(due.Unix()%97))
	id, _, err := s.st.InsertLead(ctx, s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: phone, FirstName: first, Company: company,
		Source: "web_form", TimeZone: "America/Los_Angeles"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.Pool().Exec(ctx, `UPDATE leads SET status = 'completed', outcome = 'completed', class = 'sql', route = 'sales',
		total = 85, sales_stage = 'open', sla_due_at = $2, sla_status = 'pending' WHERE id = $1`, id, due); err != nil {
		t.Fatal(err)
	}
	return id
}

var inboxRowRE = regexp.MustCompile(`<tr id="lead-(\d+)" data-sla="(\w+)" data-stage="(\w+)">`)

// inboxRows is the inbox page's rows: lead id → SLA class, in order.
func inboxRows(t *testing.T, body string) (ids []int64, sla []string) {
	t.Helper()
	for _, m := range inboxRowRE.FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, id)
		sla = append(sla, m[2])
	}
	return ids, sla
}

// userNamed is the user with this e-mail.
func userNamed(t *testing.T, s *site, email string) *store.User {
	t.Helper()
	users, err := s.st.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Email == email {
			return u
		}
	}
	t.Fatalf("no user %s", email)
	return nil
}

func leadStage(t *testing.T, s *site, id int64) (store.SalesStage, int64) {
	t.Helper()
	l, err := store.GetLead(context.Background(), s.st.Pool(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l.SalesStage, l.AssignedTo
}

// TestInboxLists: the inbox lists the open sales leads most urgent first
// with their SLA countdown's class, filters them, names a bad filter;
// marketing may not see it; a sales user's home is the inbox.
func TestInboxLists(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "spring")
	other := bantCampaign(t, s, "autumn")
	now := s.st.Now()
	ok := salesLead(t, s, c, "Olga", "Okay Ltd", now.Add(10*time.Hour))
	late := salesLead(t, s, c, "Bert", "Breach Inc", now.Add(-time.Hour))
	soon := salesLead(t, s, other, "Sam", "Soon GmbH", now.Add(2*time.Hour))
	rep := s.user(t, store.RoleSales, "rep@example.com")

	if r := rep.do("GET", "/", nil); r.status != http.StatusSeeOther || r.location != "/inbox" {
		t.Fatalf("sales home: %d → %q", r.status, r.location)
	}
	r := rep.do("GET", "/inbox", nil)
	ids, sla := inboxRows(t, r.body)
	if r.status != http.StatusOK || fmt.Sprint(ids) != fmt.Sprint([]int64{late, soon, ok}) || fmt.Sprint(sla) != "[breached soon ok]" {
		t.Fatalf("inbox: %d %v %v\n%s", r.status, ids, sla, r.body)
	}
	for _, want := range []string{"Okay Ltd", "spring", "autumn", "web_form", `href="tel:&#43;1415555`, "in calling hours", ">Inbox</a>", "unclaimed"} {
		if !strings.Contains(r.body, want) && !strings.Contains(r.body, strings.Replace(want, "in calling", "outside calling", 1)) {
			t.Errorf("inbox lacks %q", want)
		}
	}

	// Filters.
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"show=breached", []int64{late}},
		{"campaign=" + strconv.FormatInt(other.ID, 10), []int64{soon}},
		{"show=unclaimed&campaign=" + strconv.FormatInt(c.ID, 10), []int64{late, ok}},
		{"show=mine", nil},
	} {
		r := rep.do("GET", "/inbox?"+tc.query, nil)
		if ids, _ := inboxRows(t, r.body); r.status != http.StatusOK || fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %d %v, want %v", tc.query, r.status, ids, tc.want)
		}
	}
	// After a claim, mine lists it and unclaimed no longer does.
	if r := rep.do("POST", "/inbox/next", url.Values{}); r.location != fmt.Sprintf("/leads/%d", late) {
		t.Fatalf("next: %d → %q", r.status, r.location)
	}
	r = rep.do("GET", "/inbox?show=mine", nil)
	if ids, _ := inboxRows(t, r.body); fmt.Sprint(ids) != fmt.Sprint([]int64{late}) || !strings.Contains(r.body, "rep@example.com") {
		t.Errorf("mine after a claim: %v", ids)
	}
	if ids, _ := inboxRows(t, rep.do("GET", "/inbox?show=unclaimed", nil).body); fmt.Sprint(ids) != fmt.Sprint([]int64{soon, ok}) {
		t.Errorf("unclaimed after a claim: %v", ids)
	}
	// Bad filters are named.
	r = rep.do("GET", "/inbox?show=everything&campaign=x", nil)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `show &#34;everything&#34; is not a view`) ||
		!strings.Contains(r.body, `campaign &#34;x&#34; is not a campaign`) {
		t.Errorf("bad filters: %d %s", r.status, r.body)
	}
	if r := rep.do("GET", "/inbox?campaign=999", nil); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `campaign &#34;999&#34;`) {
		t.Errorf("unknown campaign: %d", r.status)
	}

	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	if r := mkt.do("GET", "/inbox", nil); r.status != http.StatusForbidden {
		t.Errorf("marketing /inbox: %d", r.status)
	}
	if r := mkt.do("POST", "/inbox/next", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("marketing next: %d", r.status)
	}
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	if r := admin.do("GET", "/inbox", nil); r.status != http.StatusOK || !strings.Contains(r.body, ">Inbox</a>") {
		t.Errorf("admin /inbox: %d", r.status)
	}
}

// TestInboxNext: Next claims the most urgent open lead, a second call the
// next one; with none left, the inbox says so; two reps at once never get
// the same lead; a cross-origin post claims nothing.
func TestInboxNext(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "spring")
	now := s.st.Now()
	second := salesLead(t, s, c, "Second", "", now.Add(3*time.Hour))
	first := salesLead(t, s, c, "First", "", now.Add(time.Hour))
	rep := s.user(t, store.RoleSales, "rep@example.com")
	u := userNamed(t, s, "rep@example.com")

	if r := rep.do("POST", "/inbox/next", url.Values{}, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site next: %d", r.status)
	}
	if r := rep.do("POST", "/inbox/next", url.Values{}, "Sec-Fetch-Site", "", "Origin", "https://evil.example"); r.status != http.StatusForbidden {
		t.Errorf("cross-origin next: %d", r.status)
	}
	if st, _ := leadStage(t, s, first); st != store.StageOpen {
		t.Fatalf("a refused post claimed the lead: %s", st)
	}
	for _, want := range []int64{first, second} {
		r := rep.do("POST", "/inbox/next", url.Values{})
		if r.status != http.StatusSeeOther || r.location != fmt.Sprintf("/leads/%d", want) {
			t.Fatalf("next: %d → %q, want lead %d", r.status, r.location, want)
		}
		if st, by := leadStage(t, s, want); st != store.StageAccepted || by != u.ID {
			t.Errorf("lead %d after next: %s by %d", want, st, by)
		}
	}
	r := rep.do("POST", "/inbox/next", url.Values{})
	if r.location != "/inbox" {
		t.Fatalf("none left: %d → %q", r.status, r.location)
	}
	if r := rep.do("GET", "/inbox", nil); !strings.Contains(r.body, "No open lead left to claim") {
		t.Errorf("none left: %s", r.body)
	}

	// Two reps at once, many times: never the same lead.
	const n = 20
	for i := range n {
		salesLead(t, s, c, "Race"+strings.Repeat("x", i), "", now.Add(time.Duration(i)*time.Minute))
	}
	reps := []*browser{s.user(t, store.RoleSales, "a@example.com"), s.user(t, store.RoleSales, "b@example.com")}
	got := make([][]string, 2)
	var wg sync.WaitGroup
	for i, b := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 2 {
				r := b.do("POST", "/inbox/next", url.Values{})
				if r.status != http.StatusSeeOther {
					t.Errorf("rep %d next: %d", i, r.status)
					return
				}
				got[i] = append(got[i], r.location)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, locs := range got {
		for _, l := range locs {
			if l == "/inbox" {
				t.Errorf("a rep found no lead while %d were open", n)
				continue
			}
			if seen[l] {
				t.Errorf("two claims of %s", l)
			}
			seen[l] = true
		}
	}
}

// TestInboxLeadActions: the lead page's outcome buttons move the lead
// through the store's transitions as the user: contacted says whether the
// SLA was met, lost needs a reason, a refused action is a message.
func TestInboxLeadActions(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "spring")
	now := s.st.Now()
	onTime := salesLead(t, s, c, "Tim", "", now.Add(time.Hour))
	late := salesLead(t, s, c, "Lena", "", now.Add(-2*time.Hour))
	rep := s.user(t, store.RoleSales, "rep@example.com")
	other := s.user(t, store.RoleSales, "other@example.com")
	u := userNamed(t, s, "rep@example.com")
	path := func(id int64, action string) string { return fmt.Sprintf("/leads/%d/%s", id, action) }

	// An open lead offers contacted and recycle, not won.
	r := rep.do("GET", fmt.Sprintf("/leads/%d", onTime), nil)
	if !strings.Contains(r.body, `id="act-contacted"`) || strings.Contains(r.body, `id="act-won"`) || !strings.Contains(r.body, `id="h-events"`) {
		t.Fatalf("open lead's buttons: %s", r.body)
	}
	// Won from open is refused with a message, not a 500.
	r = rep.do("POST", path(onTime, "won"), url.Values{})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "Cannot mark the lead won from its stage open: that works from accepted or contacted.") {
		t.Errorf("won from open: %d %s", r.status, r.body)
	}
	// Claimed by rep: another rep may not move it.
	if r := rep.do("POST", "/inbox/next", url.Values{}); r.location != fmt.Sprintf("/leads/%d", late) {
		t.Fatalf("claim: %q", r.location)
	}
	r = other.do("POST", path(late, "contacted"), url.Values{})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "Another rep claimed this lead") {
		t.Errorf("other rep's contacted: %d %s", r.status, r.body)
	}
	// Contacted: breached for the late one, met for the one on time.
	r = rep.do("POST", path(late, "contacted"), url.Values{})
	if r.status != http.StatusSeeOther || r.location != fmt.Sprintf("/leads/%d", late) {
		t.Fatalf("contacted: %d → %q %s", r.status, r.location, r.body)
	}
	if r := rep.do("GET", r.location, nil); !strings.Contains(r.body, "SLA breached") || !strings.Contains(r.body, "lead.contacted") {
		t.Errorf("late contacted: %s", r.body)
	}
	if st, by := leadStage(t, s, late); st != store.StageContacted || by != u.ID {
		t.Errorf("late after contacted: %s by %d", st, by)
	}
	r = rep.do("POST", path(onTime, "contacted"), url.Values{})
	if r := rep.do("GET", r.location, nil); !strings.Contains(r.body, "SLA met") {
		t.Errorf("on-time contacted: %s", r.body)
	}
	var actor string
	if err := s.st.Pool().QueryRow(context.Background(), `SELECT actor FROM lead_events WHERE lead_id = $1 AND kind = 'lead.contacted'`, onTime).Scan(&actor); err != nil ||
		actor != fmt.Sprintf("user:%d", u.ID) {
		t.Errorf("contacted event's actor: %q %v", actor, err)
	}
	// Lost needs a reason.
	r = rep.do("POST", path(late, "lost"), url.Values{"reason": {"  "}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "the reason is required") {
		t.Errorf("lost without a reason: %d", r.status)
	}
	if st, _ := leadStage(t, s, late); st != store.StageContacted {
		t.Errorf("lost without a reason moved the lead: %s", st)
	}
	if r := rep.do("POST", path(late, "lost"), url.Values{"reason": {"bad\x01reason"}}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "The reason holds control characters") {
		t.Errorf("lost with a control character: %d", r.status)
	}
	if r := rep.do("POST", path(late, "lost"), url.Values{"reason": {"chose a competitor"}}); r.status != http.StatusSeeOther {
		t.Errorf("lost: %d %s", r.status, r.body)
	}
	if st, _ := leadStage(t, s, late); st != store.StageLost {
		t.Errorf("after lost: %s", st)
	}
	if r := rep.do("GET", fmt.Sprintf("/leads/%d", late), nil); !strings.Contains(r.body, "reason: chose a competitor") || strings.Contains(r.body, `id="h-outcomes"`) {
		t.Errorf("lost lead's page: %s", r.body)
	}
	// Recycle with a recall time in the past is refused; in the future, done.
	r = rep.do("POST", path(onTime, "recycle"), url.Values{"recall": {now.Add(-time.Hour).UTC().Format("2006-01-02T15:04")}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "is not in the future") {
		t.Errorf("recycle to the past: %d", r.status)
	}
	r = rep.do("POST", path(onTime, "recycle"), url.Values{"recall": {now.Add(48 * time.Hour).UTC().Format("2006-01-02T15:04")}})
	if r.status != http.StatusSeeOther {
		t.Errorf("recycle: %d %s", r.status, r.body)
	}
	if st, _ := leadStage(t, s, onTime); st != store.StageRecycled {
		t.Errorf("after recycle: %s", st)
	}
	// Release gives a claim back.
	back := salesLead(t, s, c, "Rel", "", now.Add(time.Hour))
	if r := rep.do("POST", "/inbox/next", url.Values{}); r.location != fmt.Sprintf("/leads/%d", back) {
		t.Fatalf("claim: %q", r.location)
	}
	if r := rep.do("POST", path(back, "release"), url.Values{}); r.status != http.StatusSeeOther {
		t.Errorf("release: %d", r.status)
	}
	if st, by := leadStage(t, s, back); st != store.StageOpen || by != 0 {
		t.Errorf("after release: %s by %d", st, by)
	}
	// Marketing has no buttons and may not post.
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	if r := mkt.do("GET", fmt.Sprintf("/leads/%d", back), nil); r.status != http.StatusOK || strings.Contains(r.body, `id="h-outcomes"`) {
		t.Errorf("marketing's lead page: %d", r.status)
	}
	if r := mkt.do("POST", path(back, "contacted"), url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("marketing contacted: %d", r.status)
	}
	if r := rep.do("POST", path(back, "contacted"), url.Values{}, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site contacted: %d", r.status)
	}
	if r := rep.do("POST", path(back, "explode"), url.Values{}); r.status != http.StatusNotFound {
		t.Errorf("unknown action: %d", r.status)
	}
}

// TestInboxPages: 50 leads a page, the next page where the first ended; a
// bad page cursor is named; a sales user is not shown (nor may move) a
// lead not routed to sales.
func TestInboxPages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "spring")
	now := s.st.Now()
	if _, err := s.st.Pool().Exec(context.Background(), `INSERT INTO leads (campaign_id, phone, status, outcome, class, route, total,
			sales_stage, sla_due_at, sla_status, created_at, updated_at)
		SELECT $1::bigint, '+1415555' || lpad(g::text, 4, '0'), 'completed', 'completed', 'sql', 'sales', 90,
			'open', $2::timestamptz + g * interval '1 minute', 'pending', $2, $2
		FROM generate_series(1, 51) g`, c.ID, now); err != nil {
		t.Fatal(err)
	}
	rep := s.user(t, store.RoleSales, "rep@example.com")
	r := rep.do("GET", "/inbox", nil)
	first, _ := inboxRows(t, r.body)
	m := regexp.MustCompile(`href="/inbox\?([^"]+)" id="next-page"`).FindStringSubmatch(r.body)
	if len(first) != 50 || m == nil {
		t.Fatalf("first page: %d rows, next %v", len(first), m)
	}
	r = rep.do("GET", "/inbox?"+strings.ReplaceAll(m[1], "&amp;", "&"), nil)
	second, _ := inboxRows(t, r.body)
	if r.status != http.StatusOK || len(second) != 1 || second[0] <= first[49] || strings.Contains(r.body, `id="next-page"`) {
		t.Errorf("second page: %d %v", r.status, second)
	}
	if r := rep.do("GET", "/inbox?after=yesterday", nil); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `after &#34;yesterday&#34; is not a page`) {
		t.Errorf("bad cursor: %d", r.status)
	}

	nurture, _, err := s.st.InsertLead(context.Background(), s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+14155559999"})
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.do("GET", fmt.Sprintf("/leads/%d", nurture), nil); r.status != http.StatusNotFound {
		t.Errorf("sales on a lead not routed to sales: %d", r.status)
	}
	if r := rep.do("POST", fmt.Sprintf("/leads/%d/contacted", nurture), url.Values{}); r.status != http.StatusNotFound {
		t.Errorf("sales contacting a lead not routed to sales: %d", r.status)
	}
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	if r := admin.do("POST", fmt.Sprintf("/leads/%d/contacted", nurture), url.Values{}); r.status != http.StatusConflict ||
		!strings.Contains(r.body, "from its stage none (not routed to sales)") {
		t.Errorf("admin contacting a lead not routed to sales: %d", r.status)
	}
}
