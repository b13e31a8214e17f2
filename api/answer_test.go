package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/store"
)

// TestIntakeAnswerAgreesWithTheLead: the dial status of an intake answer is
// the lead's own status — blocked, scheduled or queued, with its reason and
// time — never a prediction that the lead's status contradicts.
func TestIntakeAnswerAgreesWithTheLead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.campaign(t, "consent", map[string]any{"require_consent": true})
	night := fixture.NightZone(b.st.Now())
	for _, tc := range []struct {
		name, body, status string
	}{
		{"no consent", `{"campaign": "consent", "phone": "+12125550181"}`, "blocked"},
		{"at night", fmt.Sprintf(`{"campaign": "consent", "phone": "+12125550182", "consent_text": "yes, call me", "timezone": %q}`, night), "scheduled"},
		{"now", fmt.Sprintf(`{"campaign": "consent", "phone": "+12125550183", "consent_text": "yes, call me", "timezone": %q}`,
			fixture.DaytimeZone(b.st.Now())), "queued"},
	} {
		res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", strings.NewReader(tc.body))
		if res.status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", tc.name, res.status, res.body)
		}
		body := res.json(t)
		lead, dial := body["lead"].(map[string]any), body["dial"].(map[string]any)
		if dial["status"] != tc.status || lead["status"] != tc.status || dial["reason"] != lead["status_reason"] ||
			dial["next_attempt_at"] != lead["next_attempt_at"] {
			t.Errorf("%s: dial %v, lead status %v (%v, next %v); want both %s", tc.name, dial, lead["status"], lead["status_reason"],
				lead["next_attempt_at"], tc.status)
		}
		// And what the lead says later is what the answer said.
		l, err := store.GetLead(context.Background(), b.st.Pool(), int64(lead["id"].(float64)))
		if err != nil || l.Status != tc.status {
			t.Errorf("%s: stored lead %v (%v)", tc.name, l, err)
		}
	}
}

// TestFinishedCampaignTakesNoLeads: a form or a list sent to a finished
// campaign is told so (409), instead of leads that would wait forever.
func TestFinishedCampaignTakesNoLeads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.campaign(t, "old", nil)
	if res := b.do(t, "POST", fmt.Sprintf("/v1/campaigns/%d/finish", id), store.RoleMarketing, "", nil); res.status != http.StatusOK {
		t.Fatalf("finish: %d %s", res.status, res.body)
	}
	res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", strings.NewReader(`{"campaign": "old", "phone": "+12125550184"}`))
	problem(t, "lead into a finished campaign", res, http.StatusConflict, "", "finished")
	res = b.do(t, "POST", "/v1/campaigns/old/imports", store.RoleMarketing, "text/csv", strings.NewReader("phone\n+12125550185\n"))
	problem(t, "import into a finished campaign", res, http.StatusConflict, "", "finished")
	var n int
	b.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM leads`).Scan(&n)
	if n != 0 {
		t.Errorf("%d leads stored in a finished campaign", n)
	}
}
