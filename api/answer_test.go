package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
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
		if err != nil || string(l.Status) != tc.status {
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
	res = b.importList(t, "/v1/campaigns/old/imports", store.RoleMarketing, "text/csv", strings.NewReader("phone\n+12125550185\n"))
	problem(t, "import into a finished campaign", res, http.StatusConflict, "", "finished")
	var n int
	b.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM leads`).Scan(&n)
	if n != 0 {
		t.Errorf("%d leads stored in a finished campaign", n)
	}
}

// TestRecycleShowsTheRecall: a rep's recycle with recall_at says when the
// lead is called again, in next_attempt_at and its reason; a recall time
// that is not in the future is refused.
func TestRecycleShowsTheRecall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "recycle", nil)
	res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", strings.NewReader(`{"campaign": "recycle", "phone": "+12125550186"}`))
	id := leadID(t, res)
	b.salesReady(t, cid, id, "+12125550186", 24*time.Hour)
	if res := b.do(t, "POST", "/v1/leads/next", store.RoleSales, "", nil); res.status != http.StatusOK {
		t.Fatalf("claim: %d %s", res.status, res.body)
	}
	path := fmt.Sprintf("/v1/leads/%d/recycle", id)
	past := b.st.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	problem(t, "recall in the past", b.do(t, "POST", path, store.RoleSales, "application/json", strings.NewReader(`{"recall_at": "`+past+`"}`)),
		http.StatusUnprocessableEntity, "recall_at", "not in the future")
	at := b.st.Now().Add(40 * 24 * time.Hour).UTC().Truncate(time.Second)
	res = b.do(t, "POST", path, store.RoleSales, "application/json", strings.NewReader(`{"recall_at": "`+at.Format(time.RFC3339)+`"}`))
	if res.status != http.StatusOK {
		t.Fatalf("recycle: %d %s", res.status, res.body)
	}
	lead := b.do(t, "GET", fmt.Sprintf("/v1/leads/%d", id), store.RoleAdmin, "", nil).json(t)["lead"].(map[string]any)
	want := at.Format(time.RFC3339)
	if lead["next_attempt_at"] != want || lead["recall_at"] != want || lead["route"] != "nurture" ||
		!strings.Contains(lead["status_reason"].(string), "called again from "+want) {
		t.Errorf("recycled lead %v; want next_attempt_at and recall_at %s, and a reason that says so", lead, want)
	}
}

// TestJSONThatWouldBeReadWrong: input encoding/json would quietly change is
// refused with the field it concerns.
func TestJSONThatWouldBeReadWrong(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.campaign(t, "json", nil)
	post := func(body string) response {
		return b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", strings.NewReader(body))
	}
	problem(t, "lone surrogate", post(`{"campaign": "json", "phone": "+12125550187", "first_name": "A\ud800B"}`),
		http.StatusUnprocessableEntity, "first_name", "surrogate")
	problem(t, "duplicate key", post(`{"campaign": "json", "phone": "+12125550187", "phone": "+12125550188"}`),
		http.StatusUnprocessableEntity, "phone", "twice")
	problem(t, "object for a name", post(`{"campaign": "json", "phone": "+12125550187", "first_name": {"a": 1}}`),
		http.StatusUnprocessableEntity, "first_name", "not an object")
	res := post(`{"campaign": "json", "phone": "+12125550189", "first_name": "Ann \u00e9\ud83d\ude00", "utm": {"source": "ad"}}`)
	if res.status != http.StatusAccepted {
		t.Fatalf("valid escapes and a nested attribute: %d %s", res.status, res.body)
	}
	if l := res.json(t)["lead"].(map[string]any); l["first_name"] != "Ann é😀" || l["attributes"].(map[string]any)["utm"] != `{"source":"ad"}` {
		t.Errorf("lead %v", l)
	}
	problem(t, "body on next", b.do(t, "POST", "/v1/leads/next", store.RoleSales, "application/json", strings.NewReader(`{"campaign": 1}`)),
		http.StatusUnprocessableEntity, "body", "no body")
	var n int
	b.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM leads`).Scan(&n)
	if n != 1 {
		t.Errorf("%d leads stored; want only the valid one", n)
	}
}

// TestCampaignWithUnplayablePromptsDoesNotStart: a campaign whose prompts
// cannot all be played (a text nobody rendered, no espeak-ng) is not
// started — real people would hear a placeholder hum — and says why.
func TestCampaignWithUnplayablePromptsDoesNotStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	noTTS := &prompt.Source{Rendered: scripts.Prompts, ESpeak: "/nonexistent/espeak-ng"}
	b.withConfig(t, func(c *api.Config) {
		c.CheckPrompts = func(ctx context.Context, driver string, sc *ivr.Script) error { return noTTS.Check(ctx, sc) }
	})
	src, _ := scripts.Read("bant-en")
	for name, script := range map[string]string{"shipped": string(src), "reworded": strings.NewReplacer("Four quick questions", "Three quick questions", "version: 3", "version: 4").Replace(string(src))} {
		res := b.do(t, "POST", "/v1/campaigns", store.RoleMarketing, "application/json", jsonBody(map[string]any{
			"name": name, "script": script, "caller_id": "+15550100"}))
		if res.status != http.StatusCreated {
			t.Fatalf("%s: create: %d %s", name, res.status, res.body)
		}
		res = b.do(t, "POST", "/v1/campaigns/"+name+"/start", store.RoleMarketing, "", nil)
		switch name {
		case "shipped":
			if res.status != http.StatusOK {
				t.Errorf("shipped script: %d %s", res.status, res.body)
			}
		default:
			problem(t, "reworded script without speech", res, http.StatusUnprocessableEntity, "script", "cannot be played", "Three quick questions")
		}
	}
}
