package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

// TestCallerIDHealth: a campaign's caller IDs and daily cap are settings of
// the API, and GET /v1/caller-ids reports each one's calls per day, answer
// rate and cap, flagging the number answered far less than the others.
func TestCallerIDHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	res := b.do(t, "POST", "/v1/campaigns", store.RoleMarketing, "application/json", jsonBody(map[string]any{
		"name": "pool", "script_id": "bant-en", "caller_id": "+12125550100", "caller_ids": []string{"+13055550100", "+14155550100"},
		"caller_id_daily_cap": 40, "purpose": "telemarketing"}))
	c := res.json(t)
	if res.status != 201 || c["caller_id_daily_cap"] != float64(40) || len(c["caller_ids"].([]any)) != 2 || c["purpose"] != "telemarketing" {
		t.Fatalf("created %d: %s", res.status, res.body)
	}
	id := int64(c["id"].(float64))
	// A PATCH keeps what it leaves out, and [] empties the pool.
	res = b.do(t, "PATCH", path("/v1/campaigns/%d", id), store.RoleMarketing, "application/json", strings.NewReader(`{"caller_id_daily_cap": 30}`))
	if c = res.json(t); res.status != 200 || len(c["caller_ids"].([]any)) != 2 || c["caller_id_daily_cap"] != float64(30) {
		t.Fatalf("patched %d: %s", res.status, res.body)
	}
	// Calls: New York's answered 12 of 30 today, 20 of them reported
	// attested A; Miami's 2 of 25 yesterday (labelled as spam?), every one
	// attested C; San Francisco's none.
	lead, _, err := b.st.InsertLead(ctx, b.st.Pool(), store.LeadParams{CampaignID: id, Phone: "+16465550100"})
	if err != nil {
		t.Fatal(err)
	}
	now := b.st.Now()
	n := 0
	calls := func(callerID string, dials, answered int, at time.Time, attested int, level string) {
		for i := range dials {
			n++
			var answeredAt *time.Time
			if i < answered {
				answeredAt = &at
			}
			var attestation *string
			if i < attested {
				attestation = &level
			}
			if _, err := b.st.Pool().Exec(ctx, `INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, state, disposition,
				started_at, ended_at, answered_at, caller_id, attestation) VALUES ($1, $2, $3, 'sip', 'finished', 'no_answer', $4, $4, $5, $6, $7)`,
				lead, id, n, at, answeredAt, callerID, attestation); err != nil {
				t.Fatal(err)
			}
		}
	}
	calls("+12125550100", 30, 12, now.Add(-time.Minute), 20, "A")
	calls("+13055550100", 25, 2, now.Add(-26*time.Hour), 25, "C")
	res = b.do(t, "GET", "/v1/caller-ids?days=3", store.RoleMarketing, "", nil)
	rep := res.json(t)
	if res.status != 200 || rep["dials"] != float64(55) || rep["answered"] != float64(14) {
		t.Fatalf("report %d: %s", res.status, res.body)
	}
	byID := map[string]map[string]any{}
	for _, x := range rep["caller_ids"].([]any) {
		m := x.(map[string]any)
		byID[m["caller_id"].(string)] = m
	}
	ny, mia, sf := byID["+12125550100"], byID["+13055550100"], byID["+14155550100"]
	if ny == nil || mia == nil || sf == nil {
		t.Fatalf("caller IDs reported: %s", res.body)
	}
	if ny["health"] != "at_cap" || ny["dials_24h"] != float64(30) || ny["at_cap"] != true || ny["answer_rate"] != 0.4 ||
		fmt.Sprint(ny["attestations"]) != "map[A:20 B:0 C:0]" || strings.Contains(ny["why"].(string), "attest") {
		t.Errorf("New York's: %v", ny)
	}
	if mia["health"] != "low_answer_rate" || mia["dials_24h"] != float64(0) || !strings.Contains(mia["why"].(string), "spam") ||
		len(mia["days"].([]any)) != 1 || fmt.Sprint(mia["attestations"]) != "map[A:0 B:0 C:25]" ||
		!strings.Contains(mia["why"].(string), "; most calls the trunk reported were signed at attestation B or C") {
		t.Errorf("Miami's: %v", mia)
	}
	if sf["health"] != "ok" || sf["dials"] != float64(0) || !strings.Contains(sf["why"].(string), "too few") ||
		fmt.Sprint(sf["attestations"]) != "map[A:0 B:0 C:0]" {
		t.Errorf("San Francisco's: %v", sf)
	}
	problem(t, "days=0", b.do(t, "GET", "/v1/caller-ids?days=0", store.RoleMarketing, "", nil), 422, "days")
	problem(t, "sales", b.do(t, "GET", "/v1/caller-ids", store.RoleSales, "", nil), 403, "")
}

// TestGetBodyPatchesBackAfterAbandonmentComputed: a campaign's GET body,
// with the figures qualdial computes (status_reason, abandonment), can be
// sent back as a PATCH with a setting changed, however those figures moved.
func TestGetBodyPatchesBackAfterAbandonmentComputed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.campaign(t, "watched", nil)
	if _, err := b.st.Pool().Exec(context.Background(), `UPDATE campaigns SET abandon_answered = 40, abandon_late = 1, abandon_at = $2,
		status_reason = 'paused by qualdial: abandonment rate' WHERE id = $1`, id, b.st.Now()); err != nil {
		t.Fatal(err)
	}
	res := b.do(t, "GET", path("/v1/campaigns/%d", id), store.RoleMarketing, "", nil)
	c := res.json(t)
	if c["abandonment"] == nil || c["status_reason"] == nil {
		t.Fatalf("GET: %s", res.body)
	}
	c["caller_id_daily_cap"] = 25
	c["abandonment"] = map[string]any{"rate": 0.5, "answered": 2, "late": 1, "computed_at": "2026-01-01T00:00:00Z"}
	res = b.do(t, "PATCH", path("/v1/campaigns/%d", id), store.RoleMarketing, "application/json", jsonBody(c))
	if c = res.json(t); res.status != 200 || c["caller_id_daily_cap"] != float64(25) || c["abandonment"].(map[string]any)["answered"] != float64(40) {
		t.Fatalf("PATCH of the GET body: %d %s", res.status, res.body)
	}
}
