package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

// closedLead is a lead of the calibration test: its form, its calls' keys
// (the last completed call counts), how sales closed it and its score.
type closedLead struct {
	jobTitle, companySize, email, seats string
	calls                               [][]string
	won                                 bool
	score                               *int // nil: the lead score is not set
	closed                              time.Duration
	// What the test expects, written by hand from the script: the
	// profile rules that hold, and the answers of the last call by
	// question (digits answers as the range they fall in).
	rules   []string
	answers map[string]string
}

func intp(n int) *int { return &n }

// call runs one completed call of the pinned script with the lead's fields
// and the given keys, and saves it as the dialer does.
func (b *bundle) call(t *testing.T, campaign, leadID int64, sc *ivr.Script, keys []string) {
	t.Helper()
	ctx := context.Background()
	l := b.lead(t, leadID)
	var a *store.Attempt
	if err := b.st.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		a, err = b.st.StartAttempt(ctx, tx, store.AttemptParams{LeadID: leadID, CampaignID: campaign, Phone: l.Phone, Driver: "sip", Worker: "test", Script: sc})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	eng := ivr.NewEngine(sc)
	st, _ := eng.Start(l.Fields())
	for _, k := range keys {
		var err error
		if st, _, err = eng.Next(st, ivr.Input{Keys: k}); err != nil {
			t.Fatal(err)
		}
	}
	r := eng.Result(st)
	if r.Outcome != ivr.OutcomeCompleted {
		t.Fatalf("lead %d: keys %v end %s", leadID, keys, r.Outcome)
	}
	if err := b.st.FinishAttempt(ctx, b.st.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: leadID, Disposition: "answered",
		Result: &r, Status: store.LeadCompleted, SLA: time.Hour, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
}

func TestScoringReport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cid := b.campaign(t, "calibration", nil)
	other := b.campaign(t, "other", nil)
	if _, err := b.st.Pool().Exec(ctx, `UPDATE campaigns SET sales_threshold = 70, call_threshold = 40 WHERE id = $1`, cid); err != nil {
		t.Fatal(err)
	}
	c, err := b.st.Campaign(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	sc, ds := ivr.Parse("bant-en.yaml", []byte(c.ScriptYAML))
	if sc == nil || len(sc.Profile) != 4 {
		t.Fatalf("pinned script: %v", ds.Err())
	}
	now := b.st.Now()
	// Keys: intro, role, budget, authority, seats (unless the form gives
	// them), timeline.
	leads := []closedLead{
		{jobTitle: "VP Sales", companySize: "200", email: "a@acme.com", calls: [][]string{{"1", "1", "1", "1", "120#", "1"}}, won: true, score: intp(95),
			rules: []string{"senior_title", "mid_size_company"}, answers: map[string]string{"budget": "1", "authority": "1", "seats": "10–249", "timeline": "1"}},
		{jobTitle: "Director", companySize: "50", email: "b@corp.com", seats: "300", calls: [][]string{{"1", "1", "1", "2", "1"}}, won: true, score: intp(85),
			rules: []string{"senior_title", "mid_size_company"}, answers: map[string]string{"budget": "1", "authority": "2", "seats": "250–999999", "timeline": "1"}},
		{jobTitle: "Student", email: "c@gmail.com", calls: [][]string{{"1", "1", "3", "3", "5#", "3"}}, score: intp(10),
			rules: []string{"student_or_intern", "free_mail"}, answers: map[string]string{"budget": "3", "authority": "3", "seats": "0–9", "timeline": "3"}},
		{jobTitle: "Engineer", companySize: "10", email: "d@corp.com", calls: [][]string{{"1", "1", "2", "3", "20#", "2"}}, score: intp(45),
			answers: map[string]string{"budget": "2", "authority": "3", "seats": "10–249", "timeline": "2"}},
		{jobTitle: "Head of IT", companySize: "1,200", email: "e@corp.com", calls: [][]string{{"1", "1", "2", "1", "300#", "2"}}, won: true, score: intp(62),
			rules: []string{"senior_title", "mid_size_company"}, answers: map[string]string{"budget": "2", "authority": "1", "seats": "250–999999", "timeline": "2"}},
		{jobTitle: "Intern", companySize: "5", email: "f@yahoo.com", calls: [][]string{{"1", "1", "3", "2", "3#", "3"}}, score: intp(38),
			rules: []string{"student_or_intern", "free_mail"}, answers: map[string]string{"budget": "3", "authority": "2", "seats": "0–9", "timeline": "3"}},
		// Called twice: only the last call's answers count. No lead score:
		// its call total counts, 90 points of answers + 10 senior − 5 free mail.
		{jobTitle: "CEO", email: "g@hotmail.com", calls: [][]string{{"1", "1", "3", "3", "5#", "3"}, {"1", "1", "1", "1", "50#", "1"}}, won: true,
			rules: []string{"senior_title", "free_mail"}, answers: map[string]string{"budget": "1", "authority": "1", "seats": "10–249", "timeline": "1"}},
		// Never called, never scored: in the totals and profile rules only.
		{email: "h@corp.com"},
		{jobTitle: "Manager", companySize: "100", email: "i@corp.com", calls: [][]string{{"1", "1", "2", "2", "15#", "2"}}, score: intp(62),
			rules: []string{"mid_size_company"}, answers: map[string]string{"budget": "2", "authority": "2", "seats": "10–249", "timeline": "2"}},
		// Closed outside the window asked for below.
		{email: "j@corp.com", won: true, score: intp(20), closed: -30 * 24 * time.Hour},
		{email: "k@corp.com", score: intp(97), closed: 50 * time.Hour},
	}
	const inWindow = 9
	for i, cl := range leads {
		attrs := map[string]string{}
		for k, v := range map[string]string{"job_title": cl.jobTitle, "company_size": cl.companySize, "seats": cl.seats} {
			if v != "" {
				attrs[k] = v
			}
		}
		phone := fmt.Sprintf("+1212557%04d", i)
		id, _, err := b.st.InsertLead(ctx, b.st.Pool(), store.LeadParams{CampaignID: cid, Phone: phone, Email: cl.email, Attributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		for _, keys := range cl.calls {
			b.call(t, cid, id, sc, keys)
		}
		stage := store.StageLost
		if cl.won {
			stage = store.StageWon
		}
		if _, err := b.st.Pool().Exec(ctx, `UPDATE leads SET sales_stage = $2, closed_at = $3, score = $4,
			sla_due_at = coalesce(sla_due_at, $3) WHERE id = $1`,
			id, stage, now.Add(time.Hour+cl.closed), cl.score); err != nil {
			t.Fatal(err)
		}
	}
	// Not closed, or another campaign's: never in the report.
	for i, stage := range []store.SalesStage{store.StageOpen, store.StageContacted, store.StageWon} {
		camp := cid
		if stage == store.StageWon {
			camp = other
		}
		id, _, err := b.st.InsertLead(ctx, b.st.Pool(), store.LeadParams{CampaignID: camp, Phone: fmt.Sprintf("+1212558%04d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.st.Pool().Exec(ctx, `UPDATE leads SET sales_stage = $2, closed_at = $3, score = 50, sla_due_at = $3 WHERE id = $1`, id, stage, now); err != nil {
			t.Fatal(err)
		}
	}

	// The expected figures, from the table above.
	scores := map[int]*int{6: intp(95)} // the CEO's call total
	if l := b.lead(t, leadIDByPhone(t, b, "+12125570006")); l.Total == nil || *l.Total != 95 {
		t.Fatalf("the CEO's call total: %v, want 95", l.Total)
	}
	type tally struct{ closed, won int }
	var total tally
	answers := map[[2]string]tally{}
	held, notHeld := map[string]tally{}, map[string]tally{}
	bands := map[string]tally{}
	add := func(t tally, won bool) tally {
		t.closed++
		if won {
			t.won++
		}
		return t
	}
	for i, cl := range leads[:inWindow] {
		total = add(total, cl.won)
		for _, q := range []string{"intro", "role"} {
			if len(cl.calls) > 0 {
				answers[[2]string{q, "1"}] = add(answers[[2]string{q, "1"}], cl.won)
			}
		}
		for q, a := range cl.answers {
			answers[[2]string{q, a}] = add(answers[[2]string{q, a}], cl.won)
		}
		for _, r := range sc.Profile {
			if slices.Contains(cl.rules, r.Name) {
				held[r.Name] = add(held[r.Name], cl.won)
			} else {
				notHeld[r.Name] = add(notHeld[r.Name], cl.won)
			}
		}
		score := cl.score
		if score == nil {
			score = scores[i]
		}
		if score != nil {
			lo := *score / 10 * 10
			k := fmt.Sprintf("%d–%d", lo, lo+9)
			bands[k] = add(bands[k], cl.won)
		}
	}
	rate := func(t tally) float64 { return float64(t.won) / float64(t.closed) }

	from, to := url.QueryEscape(now.Add(-24*time.Hour).Format(time.RFC3339)), url.QueryEscape(now.Add(24*time.Hour).Format(time.RFC3339))
	res := b.do(t, "GET", path("/v1/reports/scoring?campaign=calibration&from=%s&to=%s", from, to), store.RoleMarketing, "", nil)
	if res.status != 200 {
		t.Fatalf("report: %d %s", res.status, res.body)
	}
	rep := res.json(t)
	num := func(v any) float64 { f, _ := v.(float64); return f }
	near := func(what string, got any, want float64) {
		t.Helper()
		if f, ok := got.(float64); !ok || math.Abs(f-want) > 1e-9 {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	if num(rep["campaign_id"]) != float64(cid) || rep["script_id"] != "bant-en" || num(rep["band"]) != 10 {
		t.Errorf("report head: %v", rep)
	}
	if int(num(rep["closed"])) != total.closed || int(num(rep["won"])) != total.won || int(num(rep["lost"])) != total.closed-total.won ||
		num(rep["unscored"]) != 1 {
		t.Errorf("totals: closed %v won %v lost %v unscored %v, want %d %d", rep["closed"], rep["won"], rep["lost"], rep["unscored"], total.closed, total.won)
	}
	near("win rate", rep["win_rate"], rate(total))
	if rep["note"] != fmt.Sprintf("too few closed leads to trust: %d", inWindow) {
		t.Errorf("note: %v", rep["note"])
	}

	got := map[[2]string]bool{}
	for _, v := range rep["answers"].([]any) {
		a := v.(map[string]any)
		k := [2]string{a["question"].(string), a["answer"].(string)}
		got[k] = true
		want, ok := answers[k]
		if !ok {
			t.Errorf("answer %v: not expected: %v", k, a)
			continue
		}
		if int(num(a["closed"])) != want.closed || int(num(a["won"])) != want.won || int(num(a["lost"])) != want.closed-want.won {
			t.Errorf("answer %v: %v, want %+v", k, a, want)
		}
		near(fmt.Sprint("answer ", k, " win rate"), a["win_rate"], rate(want))
		if q := sc.Question(k[0]); a["prompt"] != q.Say {
			t.Errorf("answer %v: prompt %v, want %q", k, a["prompt"], q.Say)
		}
	}
	for k := range answers {
		if !got[k] {
			t.Errorf("answer %v missing", k)
		}
	}
	// Spot checks written out: the CEO's first call (budget 3) does not count.
	if answers[[2]string{"budget", "3"}] != (tally{2, 0}) || answers[[2]string{"seats", "250–999999"}] != (tally{2, 2}) {
		t.Errorf("expected answers are off: %v", answers)
	}

	rules := rep["profile_rules"].([]any)
	if len(rules) != len(sc.Profile) {
		t.Fatalf("profile rules: %v", rules)
	}
	for i, v := range rules {
		r := v.(map[string]any)
		name := sc.Profile[i].Name
		if r["rule"] != name || r["when"] != sc.Profile[i].When {
			t.Errorf("rule %d: %v, want %s", i, r, name)
		}
		for _, side := range []struct {
			key  string
			want tally
		}{{"held", held[name]}, {"not_held", notHeld[name]}} {
			g := r[side.key].(map[string]any)
			if int(num(g["closed"])) != side.want.closed || int(num(g["won"])) != side.want.won {
				t.Errorf("rule %s %s: %v, want %+v", name, side.key, g, side.want)
			}
			if side.want.closed > 0 {
				near("rule "+name+" "+side.key+" win rate", g["win_rate"], rate(side.want))
			} else if g["win_rate"] != nil {
				t.Errorf("rule %s %s: win rate %v with nothing closed", name, side.key, g["win_rate"])
			}
		}
	}
	if held["senior_title"] != (tally{4, 4}) || notHeld["mid_size_company"] != (tally{5, 1}) {
		t.Errorf("expected rules are off: %v %v", held, notHeld)
	}

	gotBands := rep["score_bands"].([]any)
	if len(gotBands) != len(bands) {
		t.Errorf("bands: %v, want %v", gotBands, bands)
	}
	for _, v := range gotBands {
		bd := v.(map[string]any)
		want := bands[bd["band"].(string)]
		if int(num(bd["closed"])) != want.closed || int(num(bd["won"])) != want.won {
			t.Errorf("band %v: want %+v", bd, want)
		}
		near(fmt.Sprint("band ", bd["band"], " win rate"), bd["win_rate"], rate(want))
	}
	if bands["60–69"] != (tally{2, 1}) || bands["90–99"] != (tally{2, 2}) {
		t.Errorf("expected bands are off: %v", bands)
	}

	// Scored: won 95, 85, 62, 95; lost 10, 45, 38, 62. At 62 and at 85,
	// 7 of 8 are right with J = 3/4: the lower, 62, wins.
	for _, tc := range []struct {
		key            string
		t              int
		acc            float64
		tp, fp, tn, fn int
	}{
		{"best_threshold", 62, 7.0 / 8, 4, 1, 3, 0},
		{"sales_threshold", 70, 7.0 / 8, 3, 0, 4, 1},
		{"call_threshold", 40, 6.0 / 8, 4, 2, 2, 0},
	} {
		th, ok := rep[tc.key].(map[string]any)
		if !ok {
			t.Errorf("%s: %v", tc.key, rep[tc.key])
			continue
		}
		if int(num(th["threshold"])) != tc.t || int(num(th["true_positives"])) != tc.tp || int(num(th["false_positives"])) != tc.fp ||
			int(num(th["true_negatives"])) != tc.tn || int(num(th["false_negatives"])) != tc.fn {
			t.Errorf("%s: %v, want %+v", tc.key, th, tc)
		}
		near(tc.key+" accuracy", th["accuracy"], tc.acc)
	}

	// Without a window, the two leads closed outside it count too; by id.
	all := b.do(t, "GET", path("/v1/reports/scoring?campaign=%d&band=50", cid), store.RoleAdmin, "", nil).json(t)
	if num(all["closed"]) != float64(len(leads)) || num(all["won"]) != float64(total.won+1) || num(all["band"]) != 50 {
		t.Errorf("all time: closed %v won %v band %v", all["closed"], all["won"], all["band"])
	}

	// CSV, by Accept or ?format=csv: one table with a section column.
	for _, req := range []struct{ q, accept string }{{"&format=csv", ""}, {"", "text/csv"}} {
		res := b.do(t, "GET", path("/v1/reports/scoring?campaign=calibration&from=%s&to=%s%s", from, to, req.q), store.RoleMarketing, "", nil,
			"Accept", req.accept)
		if res.status != 200 || res.header.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("CSV %v: %d %s %s", req, res.status, res.header.Get("Content-Type"), res.body)
		}
		rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		head := rows[0]
		col := map[string]int{}
		for i, h := range head {
			col[h] = i
		}
		for _, h := range []string{"section", "name", "value", "prompt", "closed", "won", "lost", "win_rate", "accuracy", "true_positives"} {
			if _, ok := col[h]; !ok {
				t.Fatalf("CSV header %v lacks %s", head, h)
			}
		}
		find := func(section, name, value string) []string {
			for _, r := range rows[1:] {
				if r[col["section"]] == section && r[col["name"]] == name && r[col["value"]] == value {
					return r
				}
			}
			t.Errorf("CSV: no row %s/%s/%s", section, name, value)
			return nil
		}
		check := func(r []string, want tally) {
			t.Helper()
			if r == nil {
				return
			}
			wantRate := strconv.FormatFloat(rate(want), 'f', 4, 64)
			if r[col["closed"]] != strconv.Itoa(want.closed) || r[col["won"]] != strconv.Itoa(want.won) || r[col["win_rate"]] != wantRate {
				t.Errorf("CSV row %v, want %+v (win rate %s)", r, want, wantRate)
			}
		}
		check(find("total", "all", fmt.Sprintf("too few closed leads to trust: %d", inWindow)), total)
		check(find("answer", "budget", "2"), answers[[2]string{"budget", "2"}])
		check(find("answer", "seats", "10–249"), answers[[2]string{"seats", "10–249"}])
		check(find("profile_rule", "free_mail", "held"), held["free_mail"])
		check(find("profile_rule", "free_mail", "not_held"), notHeld["free_mail"])
		check(find("score_band", "score", "60–69"), bands["60–69"])
		if r := find("threshold", "best", "62"); r != nil && (r[col["accuracy"]] != "0.8750" || r[col["true_positives"]] != "4") {
			t.Errorf("CSV best threshold: %v", r)
		}
		find("threshold", "sales", "70")
		if n := 1 + len(rep["answers"].([]any)) + 2*len(rules) + len(gotBands) + 3; len(rows) != 1+n {
			t.Errorf("CSV has %d rows, want %d", len(rows), 1+n)
		}
	}
}

func TestScoringReportRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.campaign(t, "refusals", nil)
	for _, tc := range []struct {
		query  string
		role   string
		status int
		field  string
	}{
		{"campaign=nope", store.RoleMarketing, 404, ""},
		{"campaign=987654", store.RoleAdmin, 404, ""},
		{"campaign=99999999999999999999", store.RoleAdmin, 400, "campaign"},
		{"", store.RoleMarketing, 422, "campaign"},
		{"campaign=refusals&band=0", store.RoleMarketing, 422, "band"},
		{"campaign=refusals&band=1001", store.RoleMarketing, 422, "band"},
		{"campaign=refusals&band=ten", store.RoleMarketing, 422, "band"},
		{"campaign=refusals&from=yesterday", store.RoleMarketing, 422, "from"},
		{"campaign=refusals&to=2026-13-01T00:00:00Z", store.RoleMarketing, 422, "to"},
		{"campaign=refusals&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", store.RoleMarketing, 422, "to"},
		{"campaign=refusals&format=xml", store.RoleMarketing, 422, "format"},
		{"campaign=refusals&stage=won", store.RoleMarketing, 422, "stage"},
		{"campaign=refusals", store.RoleSales, 403, ""},
		{"campaign=refusals", store.RoleIntake, 403, ""},
		{"campaign=refusals", "", 401, ""},
	} {
		problem(t, tc.query+" as "+tc.role, b.do(t, "GET", "/v1/reports/scoring?"+tc.query, tc.role, "", nil), tc.status, tc.field)
	}
	// No closed leads: an empty report, not an error.
	res := b.do(t, "GET", "/v1/reports/scoring?campaign=refusals", store.RoleMarketing, "", nil)
	rep := res.json(t)
	if res.status != 200 || rep["closed"] != 0.0 || rep["win_rate"] != nil || rep["best_threshold"] != nil || rep["note"] != "too few closed leads to trust: 0" ||
		len(rep["answers"].([]any)) != 0 || len(rep["profile_rules"].([]any)) != 4 {
		t.Errorf("empty report: %d %s", res.status, res.body)
	}
}

func leadIDByPhone(t *testing.T, b *bundle, phone string) int64 {
	t.Helper()
	var id int64
	if err := b.st.Pool().QueryRow(context.Background(), `SELECT id FROM leads WHERE phone = $1`, phone).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
