package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/scoring"
	"github.com/qualdial/qualdial/store"
)

// TestCallThresholdGatesTheDispatcher: in a campaign with a call threshold
// the dispatcher calls the leads whose profile earns a call and holds the
// others (never dialled) until activities lift their score; then they are
// called over SIP like any lead.
func TestCallThresholdGatesTheDispatcher(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	threshold := 10
	b := setup(t, map[string]softphone.Persona{"default": {Keys: "9"}}, store.CampaignParams{Scoring: store.Scoring{CallThreshold: &threshold}})
	ids := b.addLeads(t,
		store.LeadParams{Phone: "+12125550301", Attributes: map[string]string{"job_title": "CTO"}}, // senior title: +10
		store.LeadParams{Phone: "+12125550302", Attributes: map[string]string{"job_title": "Analyst"}},
	)
	got := b.waitStatuses(t, ids, map[string]store.LeadStatus{"+12125550301": store.LeadOptedOut, "+12125550302": store.LeadNew}, time.Minute)
	if r := got["+12125550302"].StatusReason; !strings.Contains(r, "score 0 is below the call threshold 10") {
		t.Errorf("held lead says %q", r)
	}

	activity := func(typ string) queue.Rescored {
		t.Helper()
		var r queue.Rescored
		err := b.store.Tx(ctx, func(tx pgx.Tx) error {
			l, err := store.LockLead(ctx, tx, ids["+12125550302"])
			if err != nil {
				return err
			}
			rule := scoring.DefaultTable()[typ]
			if _, err := b.store.AddActivity(ctx, tx, l.ID, "test", store.Activity{Type: typ, Rule: rule}); err != nil {
				return err
			}
			r, err = b.queue.Rescore(ctx, tx, l, b.camp, 1, false, "test")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := activity(scoring.Download); r.Score != 8 || r.Action != scoring.None {
		t.Fatalf("download: %+v", r)
	}
	time.Sleep(2500 * time.Millisecond) // the dispatcher's idle pass: still held
	for _, c := range b.phone.Calls() {
		if c.User == "+12125550302" {
			t.Fatal("a lead below the call threshold was called")
		}
	}
	if r := activity(scoring.Webinar); r.Score != 23 || r.Action != scoring.ScheduleCall {
		t.Fatalf("webinar: %+v", r)
	}
	got = b.waitStatuses(t, ids, map[string]store.LeadStatus{"+12125550302": store.LeadOptedOut}, time.Minute)
	if l := got["+12125550302"]; l.AttemptCount != 1 {
		t.Errorf("called %d times", l.AttemptCount)
	}
}
