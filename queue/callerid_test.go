package queue_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// TestCallerIDPoolOverSIP: over SIP, each lead sees the campaign's caller
// ID of its own area code (local presence) in the INVITE's From, the others
// the least used; with every caller ID at its daily cap, the remaining lead
// waits, saying why, and is not called. Each attempt keeps the caller ID
// it presented and, where the trunk reported it (an Identity header's
// PASSporT in the 200 OK), its STIR/SHAKEN attestation.
func TestCallerIDPoolOverSIP(t *testing.T) {
	t.Parallel()
	personas := map[string]softphone.Persona{"default": {Keys: "9"},
		"+13055550801": {Keys: "9", Attestation: "A"}, "+12125550802": {Keys: "9", Attestation: "C"}}
	b := setup(t, personas, store.CampaignParams{ // caller_id +15550100
		CallerIDPool: []string{"+13055550100"}, CallerIDDailyCap: 2, MaxConcurrent: 1})
	ids := b.addLeads(t, store.LeadParams{Phone: "+13055550801"}, store.LeadParams{Phone: "+12125550802"})
	b.waitStatuses(t, ids, map[string]store.LeadStatus{"+13055550801": queue.StatusOptedOut, "+12125550802": queue.StatusOptedOut}, time.Minute)
	// Two more: a Miami lead (Miami's number has one call left) and one
	// from Chicago (the campaign's caller_id has one left).
	more := b.addLeads(t, store.LeadParams{Phone: "+13055550803"}, store.LeadParams{Phone: "+13125550804"})
	b.waitStatuses(t, more, map[string]store.LeadStatus{"+13055550803": queue.StatusOptedOut, "+13125550804": queue.StatusOptedOut}, time.Minute)
	last := b.addLeads(t, store.LeadParams{Phone: "+13055550805"})
	got := b.waitStatuses(t, last, map[string]store.LeadStatus{"+13055550805": queue.StatusScheduled}, time.Minute)
	if l := got["+13055550805"]; l.AttemptCount != 0 || l.NextAttemptAt == nil || l.NextAttemptAt.Sub(b.now()) < 23*time.Hour ||
		!strings.Contains(l.StatusReason, "caller_id_daily_cap") {
		t.Errorf("lead with every caller ID at its cap: %+v", l)
	}
	from := map[string]string{}
	for _, c := range b.phone.Calls() {
		from[c.User] = c.From
	}
	want := map[string]string{"+13055550801": "+13055550100", "+12125550802": "+15550100", "+13055550803": "+13055550100",
		"+13125550804": "+15550100"}
	for user, f := range want {
		if from[user] != f {
			t.Errorf("%s saw caller ID %q; want %s", user, from[user], f)
		}
	}
	if _, called := from["+13055550805"]; called || len(from) != 4 {
		t.Errorf("calls: %v", from)
	}
	// What the lead's history (its API and page) says of each call.
	attested := map[string]string{"+13055550801": "A", "+12125550802": "C", "+13055550803": "", "+13125550804": ""}
	maps.Copy(ids, more)
	for phone, wantAttest := range attested {
		attempts, _, err := b.store.LeadHistory(t.Context(), ids[phone])
		if err != nil {
			t.Fatal(err)
		}
		if len(attempts) != 1 || attempts[0].CallerID != want[phone] || attempts[0].Attestation != wantAttest {
			t.Errorf("%s's calls: %+v; want caller ID %s, attestation %q", phone, attempts, want[phone], wantAttest)
		}
	}
}
