package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer/amd/amdcorpus"
	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// TestMachineDetectedOnSIP: a campaign with machine_detection hangup calls
// a voicemail and a person. The voicemail's attempt ends with disposition
// machine, its verdict stored, no answers, and the lead is called again
// later by the campaign's machine retry; the person's questionnaire is
// scored as usual, with a human verdict stored.
func TestMachineDetectedOnSIP(t *testing.T) {
	t.Parallel()
	amdcorpus.Need(t)
	ctx := context.Background()
	greeting, _, err := amdcorpus.Greeting(ctx, &prompt.Source{}, "The person you are calling is unavailable. Please leave a message after the tone.", 950, "en-us")
	if err != nil {
		t.Fatal(err)
	}
	hello, err := (&prompt.Source{}).Speak(ctx, "Hello?", "en-US", "en-us")
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, map[string]softphone.Persona{
		"+12125550801": {GreetingAudio: greeting},
		"+12125550802": {GreetingAudio: hello, Keys: "1,1,1,1,120#,1"},
	}, store.CampaignParams{MachineDetection: "hangup"})
	ids := b.addLeads(t, store.LeadParams{Phone: "+12125550801"}, store.LeadParams{Phone: "+12125550802"})
	got := b.waitStatuses(t, ids, map[string]store.LeadStatus{"+12125550801": queue.StatusRetryWait, "+12125550802": queue.StatusCompleted}, time.Minute)
	if l := got["+12125550801"]; l.NextAttemptAt == nil || l.NextAttemptAt.Sub(b.now()) < time.Hour || !strings.Contains(l.StatusReason, "machine") {
		t.Errorf("the voicemail's lead: %s next %v (%s); want a retry hours later, for a machine", l.Status, l.NextAttemptAt, l.StatusReason)
	}
	if l := got["+12125550802"]; l.Class != "sql" {
		t.Errorf("the person's lead: class %q", l.Class)
	}
	for phone, want := range map[string]struct{ disposition, verdict string }{"+12125550801": {"machine", "machine"}, "+12125550802": {"answered", "human"}} {
		var disposition, verdict, cause, reason, callerID string
		var ms, answers int
		if err := b.store.Pool().QueryRow(ctx, `SELECT disposition, coalesce(amd_verdict, ''), coalesce(amd_cause, ''), coalesce(amd_ms, -1), coalesce(reason, ''),
			(SELECT count(*) FROM answers WHERE lead_id = $1), coalesce(caller_id, '') FROM call_attempts WHERE lead_id = $1`, ids[phone]).
			Scan(&disposition, &verdict, &cause, &ms, &reason, &answers, &callerID); err != nil {
			t.Fatal(err)
		}
		if callerID != "+15550100" {
			t.Errorf("%s: caller ID %q kept with the attempt; want the campaign's", phone, callerID)
		}
		if disposition != want.disposition || verdict != want.verdict || cause == "" || ms <= 0 || ms > 5000 {
			t.Errorf("%s: disposition %s, verdict %s (%s after %d ms); want %s, %s", phone, disposition, verdict, cause, ms, want.disposition, want.verdict)
		}
		if want.verdict == "machine" && (answers != 0 || !strings.Contains(reason, "answering machine")) {
			t.Errorf("%s: %d answers, reason %q", phone, answers, reason)
		}
	}
	// The lead's history (the API's GET /v1/leads/{id}) shows them too.
	attempts, _, err := b.store.LeadHistory(ctx, ids["+12125550801"])
	if err != nil || len(attempts) != 1 || attempts[0].AMDVerdict != "machine" || attempts[0].CallerID != "+15550100" || attempts[0].AMDMS == nil {
		t.Errorf("history of the voicemail's lead: %+v, %v", attempts, err)
	}
	attempts, _, err = b.store.LeadHistory(ctx, ids["+12125550802"])
	if err != nil || len(attempts) != 1 || attempts[0].AMDVerdict != "human" || attempts[0].AnswerToIdentifyMS == nil {
		t.Errorf("history of the person's lead: %+v, %v", attempts, err)
	}
	if n := len(b.phone.Calls()); n != 2 {
		t.Errorf("%d calls; want 2", n)
	}
}
