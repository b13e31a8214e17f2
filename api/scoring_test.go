package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

// activities posts a batch of activities and returns the answer.
func (b *bundle) activities(t *testing.T, role string, acts ...map[string]any) map[string]any {
	t.Helper()
	res := b.do(t, "POST", "/v1/activities", role, "application/json", jsonBody(map[string]any{"activities": acts}))
	if res.status != http.StatusOK {
		t.Fatalf("activities: %d %s", res.status, res.body)
	}
	return res.json(t)
}

// leadResult is the first lead of an activity's result.
func leadResult(t *testing.T, m map[string]any, i int) map[string]any {
	t.Helper()
	r := m["results"].([]any)[i].(map[string]any)
	leads, _ := r["leads"].([]any)
	if len(leads) == 0 {
		t.Fatalf("result %d has no lead: %v", i, r)
	}
	return leads[0].(map[string]any)
}

// TestScoreThresholdsAct follows one web-form lead through a campaign with
// a call threshold (20) and a sales threshold (60): its profile alone does
// not earn a call, a download does, an unsubscribe takes the call back,
// two webinars route it to sales without a call.
func TestScoreThresholdsAct(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "scored", map[string]any{"call_threshold": 20, "sales_threshold": 60,
		"activity_points": map[string]any{"download": map[string]any{"points": 15}, "webinar": map[string]any{"points": 30},
			"unsubscribe": map[string]any{"points": -25}, "old_news": map[string]any{"points": 16, "half_life_days": 10}}})

	// The campaign's table is over the defaults.
	camp := b.do(t, "GET", fmt.Sprintf("/v1/campaigns/%d", cid), store.RoleMarketing, "", nil).json(t)
	table := camp["activity_points"].(map[string]any)
	if table["webinar"].(map[string]any)["points"] != 30.0 || table["page_view"].(map[string]any)["points"] != 1.0 {
		t.Errorf("activity points in force: %v", table)
	}

	// Profile: senior title +10, 120 employees +5 = 15, below 20.
	res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", jsonBody(map[string]any{"campaign": cid,
		"phone": "+12125550147", "email": "ann@corp.example", "job_title": "VP Sales", "company_size": "120"}))
	if res.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	m := res.json(t)
	id := int64(m["lead"].(map[string]any)["id"].(float64))
	dial := m["dial"].(map[string]any)
	if dial["status"] != "new" || !strings.Contains(dial["reason"].(string), "score 15 is below the call threshold 20") {
		t.Fatalf("a lead below the call threshold: dial %v", dial)
	}
	if m["result"] != "created" {
		t.Errorf("result %v", m["result"])
	}

	// A download (by e-mail, any case) earns the call.
	m = b.activities(t, store.RoleIntake, map[string]any{"email": "ANN@corp.example", "type": "download", "id": "d1", "detail": "guide.pdf"})
	lr := leadResult(t, m, 0)
	if lr["points"] != 15.0 || lr["score"] != 30.0 || lr["action"] != "call_scheduled" {
		t.Fatalf("download: %v", lr)
	}
	if l := b.lead(t, id); l.Status != store.LeadQueued || !b.due(t, id) {
		t.Fatalf("after the download: %s (%s)", l.Status, l.StatusReason)
	}

	// An unsubscribe drops it below the threshold: the call is held.
	m = b.activities(t, store.RoleMarketing, map[string]any{"phone": "+12125550147", "type": "unsubscribe"})
	if lr := leadResult(t, m, 0); lr["score"] != 5.0 || lr["action"] != "call_held" {
		t.Fatalf("unsubscribe: %v", lr)
	}
	if l := b.lead(t, id); l.Status != store.LeadNew || !strings.Contains(l.StatusReason, "below the call threshold") {
		t.Fatalf("after the unsubscribe: %s (%s)", l.Status, l.StatusReason)
	}

	// A decayed activity counts half after its half-life; a bad one and an
	// unknown lead in the same batch do not stop the others.
	at := b.st.Now().Add(-10 * 24 * time.Hour).UTC().Format(time.RFC3339) // on the product's clock
	m = b.activities(t, store.RoleIntake,
		map[string]any{"lead_id": id, "type": "old_news", "at": at},
		map[string]any{"lead_id": id, "type": "Not A Type"},
		map[string]any{"email": "nobody@corp.example", "type": "download"},
		map[string]any{"lead_id": id, "phone": "+12125550147", "type": "download"},
	)
	if m["recorded"] != 1.0 || m["rejected"] != 2.0 || m["unknown_leads"] != 1.0 {
		t.Fatalf("mixed batch: %v", m)
	}
	if lr := leadResult(t, m, 0); lr["score"] != 13.0 || lr["action"] != "none" { // 5 + 16/2
		t.Fatalf("decayed activity: %v", lr)
	}
	results := m["results"].([]any)
	if e := results[1].(map[string]any)["errors"].([]any)[0].(map[string]any); e["field"] != "type" {
		t.Errorf("bad type: %v", e)
	}
	if e := results[3].(map[string]any)["errors"].([]any)[0].(map[string]any); e["field"] != "lead" {
		t.Errorf("two references: %v", e)
	}

	// Two webinars: 13 + 60 = 73 reaches the sales threshold, no call.
	m = b.activities(t, store.RoleIntake, map[string]any{"lead_id": id, "type": "webinar", "id": "w1"},
		map[string]any{"lead_id": id, "type": "webinar", "id": "w2"})
	if lr := leadResult(t, m, 1); lr["score"] != 73.0 || lr["action"] != "routed_to_sales" {
		t.Fatalf("webinars: %v", lr)
	}
	l := b.lead(t, id)
	if l.Route != "sales" || l.Class != "sql" || l.Outcome != "scored" || l.SalesStage != store.StageOpen || l.AttemptCount != 0 ||
		l.Status != store.LeadNew || l.SLADueAt == nil || l.Score == nil || *l.Score != 73 {
		t.Fatalf("routed to sales: route %s class %s outcome %s stage %s status %s attempts %d due %v score %v",
			l.Route, l.Class, l.Outcome, l.SalesStage, l.Status, l.AttemptCount, l.SLADueAt, l.Score)
	}
	if got, want := l.SLADueAt.Sub(*l.ScoreAt), 24*time.Hour; got != want {
		t.Errorf("SLA runs %v from the routing, want %v", got, want)
	}
	if ev := b.events(t, id); !strings.Contains(strings.Join(ev, ","), "lead.qualified") {
		t.Errorf("events %v", ev)
	}

	// Sales finds it in its export, with its score.
	res = b.do(t, "GET", "/v1/leads/export.csv", store.RoleSales, "", nil)
	if want := fmt.Sprintf("\n%d,%d,+12125550147,", id, cid); res.status != 200 || !strings.Contains(string(res.body), want) ||
		!strings.Contains(string(res.body), ",73,0,,scored") {
		t.Errorf("export: %d %s", res.status, res.body)
	}

	// The same webinar sent again is a duplicate: the score does not move.
	m = b.activities(t, store.RoleIntake, map[string]any{"lead_id": id, "type": "webinar", "id": "w1"})
	if m["duplicates"] != 1.0 || b.lead(t, id).Score == nil || *b.lead(t, id).Score != 73 {
		t.Fatalf("resent webinar: %v", m)
	}
	// null in a PATCH goes back to the default table.
	res = b.do(t, "PATCH", fmt.Sprintf("/v1/campaigns/%d", cid), store.RoleMarketing, "application/json", strings.NewReader(`{"activity_points": null}`))
	if pts := res.json(t)["activity_points"].(map[string]any); res.status != 200 || pts["webinar"].(map[string]any)["points"] != 15.0 || pts["old_news"] != nil {
		t.Errorf("reset to the defaults: %d %s", res.status, res.body)
	}

	// The behaviour score is derivable from the events alone.
	var points int
	if err := b.st.Pool().QueryRow(context.Background(), `SELECT sum((data->>'points')::int) FROM lead_events
		WHERE lead_id = $1 AND kind = 'lead.activity'`, id).Scan(&points); err != nil || points != 15-25+16+60 {
		t.Errorf("activity points in the events: %d %v", points, err)
	}
}

func TestActivitiesInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.campaign(t, "input", nil)
	many := make([]map[string]any, 1001)
	for i := range many {
		many[i] = map[string]any{"lead_id": 1, "type": "page_view"}
	}
	for _, tc := range []struct {
		name, role, body string
		status           int
		field            string
	}{
		{"too many", store.RoleIntake, jsonString(map[string]any{"activities": many}), 422, "activities"},
		{"none", store.RoleIntake, `{"activities": []}`, 422, "activities"},
		{"missing", store.RoleIntake, `{}`, 422, "activities"},
		{"unknown field", store.RoleIntake, `{"activities": [{"lead_id": 1, "type": "x"}], "extra": 1}`, 422, "extra"},
		{"unknown campaign", store.RoleIntake, `{"campaign": "nope", "activities": [{"lead_id": 1, "type": "x"}]}`, 422, "campaign"},
		{"not JSON", store.RoleIntake, `{"activities": [`, 400, ""},
		{"sales may not", store.RoleSales, `{"activities": [{"lead_id": 1, "type": "x"}]}`, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := b.do(t, "POST", "/v1/activities", tc.role, "application/json", strings.NewReader(tc.body))
			problem(t, tc.name, res, tc.status, tc.field)
		})
	}
}

// TestConversionsReengage: a known lead submitting a form again converts
// again — a nurture lead is called again once (a new round, after the
// re-call interval), a sales-ready lead's SLA runs from the conversion, an
// opted-out lead stays out.
func TestConversionsReengage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	cid := b.campaign(t, "convert", nil)
	form := func(phone string, extra ...string) map[string]any {
		t.Helper()
		body := map[string]any{"campaign": cid, "phone": phone}
		for i := 0; i+1 < len(extra); i += 2 {
			body[extra[i]] = extra[i+1]
		}
		res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", jsonBody(body))
		if res.status != http.StatusAccepted && res.status != http.StatusOK {
			t.Fatalf("form: %d %s", res.status, res.body)
		}
		return res.json(t)
	}

	// A nurture lead (an MQL after its call).
	nurture := leadID(t, b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
		jsonBody(map[string]any{"campaign": cid, "phone": "+12125550160"})))
	b.called(t, cid, nurture, "+12125550160", "1", "1", "2", "2", "5#", "3") // 15 + 15 + 5 = 35: mql
	if l := b.lead(t, nurture); l.Class != "mql" || l.Route != "nurture" {
		t.Fatalf("nurture lead: %s %s", l.Class, l.Route)
	}
	m := form("+12125550160", "job_title", "Head of IT")
	sc := m["scoring"].(map[string]any)
	if m["result"] != "converted_again" || sc["action"] != "call_scheduled" || !strings.Contains(sc["why"].(string), "re-call interval") {
		t.Fatalf("nurture conversion: %v", m)
	}
	if ev := strings.Join(b.events(t, nurture), ","); !strings.Contains(ev, "lead.converted") || !strings.Contains(ev, "lead.activity") {
		t.Errorf("a conversion is an event and a form_submit activity: %s", ev)
	}
	if sc["score"] != sc["before"].(float64)+10 { // form_submit: 10 by default
		t.Errorf("conversion score %v → %v", sc["before"], sc["score"])
	}
	l := b.lead(t, nurture)
	if l.Status != store.LeadScheduled || l.RoundAttempts != 0 || l.Conversions != 1 || l.Attributes["job_title"] != "Head of IT" ||
		l.NextAttemptAt == nil || !l.NextAttemptAt.Equal(l.LastAttemptAt.Add(7*24*time.Hour)) {
		t.Fatalf("after the conversion: %s round %d conversions %d attrs %v next %v last %v", l.Status, l.RoundAttempts, l.Conversions,
			l.Attributes, l.NextAttemptAt, l.LastAttemptAt)
	}
	// Converting again before that call: still one call.
	m = form("+12125550160")
	if sc := m["scoring"].(map[string]any); sc["action"] != "none" {
		t.Fatalf("second conversion: %v", m)
	}
	var waiting int
	if err := b.st.Pool().QueryRow(ctx, `SELECT count(*) FROM lead_events WHERE lead_id = $1 AND kind = 'lead.scored'
		AND data->>'action' = 'call_scheduled'`, nurture).Scan(&waiting); err != nil || waiting != 1 {
		t.Errorf("calls scheduled: %d %v", waiting, err)
	}
	if l := b.lead(t, nurture); l.Conversions != 2 || l.Status != store.LeadScheduled {
		t.Errorf("after two conversions: %d %s", l.Conversions, l.Status)
	}

	// A nurture lead last called 8 days ago is called at once.
	old := leadID(t, b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
		jsonBody(map[string]any{"campaign": cid, "phone": "+12125550161"})))
	b.called(t, cid, old, "+12125550161", "1", "1", "2", "2", "5#", "3")
	if _, err := b.st.Pool().Exec(ctx, `UPDATE leads SET last_attempt_at = last_attempt_at - interval '8 days' WHERE id = $1`, old); err != nil {
		t.Fatal(err)
	}
	form("+12125550161")
	if l := b.lead(t, old); l.Status != store.LeadQueued || !b.due(t, old) {
		t.Errorf("old nurture lead: %s (%s)", l.Status, l.StatusReason)
	}

	// A sales-ready lead: its follow-up is due an SLA after the conversion.
	hot := leadID(t, b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
		jsonBody(map[string]any{"campaign": cid, "phone": "+12125550162"})))
	b.salesReady(t, cid, hot, "+12125550162", time.Hour)
	m = form("+12125550162")
	if sc := m["scoring"].(map[string]any); sc["action"] != "sla_restarted" {
		t.Fatalf("sales conversion: %v", m)
	}
	if l := b.lead(t, hot); l.ConvertedAt == nil || l.SLADueAt == nil || !l.SLADueAt.Equal(l.ConvertedAt.Add(24*time.Hour)) {
		t.Errorf("SLA due %v, converted %v", l.SLADueAt, l.ConvertedAt)
	}
	if ev := strings.Join(b.events(t, hot), ","); !strings.Contains(ev, "lead.converted") {
		t.Errorf("events %s", ev)
	}

	// Found by its external id with another phone: the lead keeps its own,
	// and the answer says so.
	crm := leadID(t, b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
		jsonBody(map[string]any{"campaign": cid, "phone": "+12125550164", "external_id": "crm-9"})))
	m = form("+12125550165", "external_id", "crm-9")
	if w := fmt.Sprint(m["warnings"]); m["result"] != "converted_again" || !strings.Contains(w, "keeps it") || b.lead(t, crm).Phone != "+12125550164" {
		t.Errorf("conversion by external_id with another phone: %v", m)
	}

	// An opted-out lead stays out, whatever it submits.
	out := leadID(t, b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
		jsonBody(map[string]any{"campaign": cid, "phone": "+12125550163"})))
	b.called(t, cid, out, "+12125550163", "9")
	m = form("+12125550163")
	if sc := m["scoring"].(map[string]any); sc["action"] != "none" || !strings.Contains(sc["why"].(string), "knocked out") {
		t.Fatalf("opted-out conversion: %v", m)
	}
	if l := b.lead(t, out); l.Status != store.LeadOptedOut {
		t.Errorf("opted-out lead: %s", l.Status)
	}
}

// called gives a lead a finished call in which it pressed keys (see
// finishCall), with the campaign's default 24 h SLA.
func (b *bundle) called(t *testing.T, campaign, id int64, phone string, keys ...string) {
	t.Helper()
	b.finishCall(t, campaign, id, phone, 24*time.Hour, keys...)
}

func jsonString(v any) string {
	b, _ := io.ReadAll(jsonBody(v))
	return string(b)
}

// TestActivityAndIntakeInputWords: the answers a hand-written request gets
// speak of the request, not of Go.
func TestActivityAndIntakeInputWords(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "words", nil)
	id := leadID(t, b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json",
		jsonBody(map[string]any{"campaign": cid, "phone": "+12125550170"})))

	res := b.do(t, "POST", "/v1/activities", store.RoleIntake, "application/json", strings.NewReader(`[{"lead_id": 1}]`))
	problem(t, "array body", res, 400, "", "must be a JSON object", "not an array")
	if strings.Contains(string(res.body), "Go value") {
		t.Errorf("Go internals in %s", res.body)
	}
	res = b.do(t, "POST", "/v1/activities", store.RoleIntake, "application/json", strings.NewReader(`{"activities": {}}`))
	problem(t, "activities not an array", res, 422, "activities", "an array of JSON values")
	res = b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/x-www-form-urlencoded",
		strings.NewReader(fmt.Sprintf(`{"campaign": %d, "phone": "+12125550171"}`, cid)))
	problem(t, "JSON sent as a form", res, 415, "", "Content-Type: application/json")

	// A national number reads in the named campaign's country; a key given
	// twice and an impossible offset are named.
	m := b.activities(t, store.RoleIntake,
		map[string]any{"phone": "(212) 555-0170", "campaign": "words", "type": "page_view"},
		map[string]any{"phone": "(212) 555-0170", "type": "page_view"},
		map[string]any{"lead_id": id, "type": "page_view", "at": "2026-06-01T10:00:00+24:00"},
	)
	results := m["results"].([]any)
	if r := results[0].(map[string]any); r["status"] != "recorded" {
		t.Errorf("national number with its campaign: %v", r)
	}
	if r := results[1].(map[string]any); r["status"] != "rejected" || !strings.Contains(fmt.Sprint(r["errors"]), "name the campaign") {
		t.Errorf("national number without a campaign: %v", r)
	}
	if r := results[2].(map[string]any); r["status"] != "rejected" || !strings.Contains(fmt.Sprint(r["errors"]), "±23:59") {
		t.Errorf("offset +24:00: %v", r)
	}
	res = b.do(t, "POST", "/v1/activities", store.RoleIntake, "application/json",
		strings.NewReader(fmt.Sprintf(`{"activities": [{"lead_id": %d, "lead_id": 2, "type": "page_view"}]}`, id)))
	if r := res.json(t)["results"].([]any)[0].(map[string]any); !strings.Contains(fmt.Sprint(r["errors"]), "given twice") {
		t.Errorf("a key given twice in an activity: %v", r)
	}
}
