package queue_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

// TestAbandonmentWatchPausesBeforeTheLimit: answered SIP calls whose
// identification started late (or never, qualdial having ended the call)
// count against the campaign's 30-day rate. At 1 late in 25 (4 %) the
// watch pauses the campaign, saying why; at 1 in 50 (2 %) it does not;
// calls older than 30 days, calls of other drivers and calls the lead
// hung up before the identification do not count; and a campaign under
// the minimum of answered calls is not paused whatever its rate.
func TestAbandonmentWatchPausesBeforeTheLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil, store.CampaignParams{})
	// answered adds a finished answered attempt to campaign c, ended at
	// age ago, with its identification after ms (nil: never started).
	n := 0
	answered := func(c int64, driver string, ms *int, endedBy string, age time.Duration) {
		t.Helper()
		n++
		var lead int64
		if err := b.store.Pool().QueryRow(ctx, `INSERT INTO leads (campaign_id, phone, status, source, created_at, updated_at)
			VALUES ($1, $3, 'completed', 'api', $2, $2) RETURNING id`, c, b.now(), fmt.Sprintf("+1212555%04d", n)).Scan(&lead); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Pool().Exec(ctx, `INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, worker, script_id, script_version,
				started_at, ended_at, state, disposition, answer_to_identify_ms, ended_by)
			VALUES ($1, $2, 1, $3, 'test', 'bant-en', 3, $4, $4, 'finished', 'answered', $5, $6)`,
			lead, c, driver, b.now().Add(-age), ms, endedBy); err != nil {
			t.Fatal(err)
		}
	}
	ms := func(v int) *int { return &v }
	campaign := func(name string) int64 {
		c, err := b.store.CreateCampaign(ctx, store.CampaignParams{Name: name, ScriptID: "bant-en", CallerID: "+15550100"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Pool().Exec(ctx, `UPDATE campaigns SET status = 'active', script_version = 3 WHERE id = $1`, c.ID); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	over, under, few := campaign("over"), campaign("under"), campaign("few")
	// over: 24 on time, 1 never identified because qualdial ended the call.
	for range 24 {
		answered(over, "sip", ms(400), "qualdial", time.Hour)
	}
	answered(over, "sip", nil, "error", time.Hour)
	// Not counted: the lead hung up first; older than 30 days; Twilio.
	answered(over, "sip", nil, "lead", time.Hour)
	answered(over, "sip", ms(2500), "qualdial", 31*24*time.Hour)
	answered(over, "twilio", nil, "qualdial", time.Hour)
	// under: 49 on time, 1 late (2 %).
	for range 49 {
		answered(under, "sip", ms(900), "lead", time.Hour)
	}
	answered(under, "sip", ms(2100), "qualdial", 2*time.Hour)
	// few: 2 of 10 late, but under the 20 answered calls it takes.
	for i := range 10 {
		late := 300
		if i < 2 {
			late = 3000
		}
		answered(few, "sip", ms(late), "qualdial", time.Hour)
	}

	// The periodic watch may run meanwhile (it runs when the queue
	// starts): whichever run pauses the campaign, the state is the same.
	paused, err := b.queue.WatchAbandonment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(paused) > 1 || (len(paused) == 1 && paused[0] != over) {
		t.Fatalf("paused %v; want at most campaign %d", paused, over)
	}
	for id, want := range map[int64]struct {
		status           store.CampaignStatus
		answered, late   int
		reasonHasPercent string
	}{over: {store.CampaignPaused, 25, 1, "4.0%"}, under: {store.CampaignActive, 50, 1, ""}, few: {store.CampaignActive, 10, 2, ""}} {
		c, err := b.store.Campaign(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != want.status || c.Abandonment.Answered != want.answered || c.Abandonment.Late != want.late || c.Abandonment.At.IsZero() {
			t.Errorf("campaign %s: %s, abandonment %+v; want %s, %d of %d", c.Name, c.Status, c.Abandonment, want.status, want.late, want.answered)
		}
		if want.reasonHasPercent != "" && (!strings.Contains(c.StatusReason, want.reasonHasPercent) || !strings.Contains(c.StatusReason, "3%")) {
			t.Errorf("campaign %s: reason %q", c.Name, c.StatusReason)
		}
		if want.reasonHasPercent == "" && c.StatusReason != "" {
			t.Errorf("campaign %s: reason %q", c.Name, c.StatusReason)
		}
	}
	// Resumed by hand, the reason goes; the watch pauses it again while
	// the rate stays over.
	if err := b.store.SetCampaignStatus(ctx, over, store.CampaignActive); err != nil {
		t.Fatal(err)
	}
	if c, _ := b.store.Campaign(ctx, over); c.StatusReason != "" {
		t.Errorf("reason kept after resuming: %q", c.StatusReason)
	}
	if _, err := b.queue.WatchAbandonment(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := b.store.Campaign(ctx, over); c.Status != store.CampaignPaused || c.StatusReason == "" {
		t.Errorf("after resuming over the threshold and another watch: %s (%q); want paused again", c.Status, c.StatusReason)
	}
	// A campaign paused meanwhile is not touched.
	if paused, err := b.queue.WatchAbandonment(ctx); err != nil || len(paused) != 0 {
		t.Errorf("third watch paused %v, %v; the campaign was already paused", paused, err)
	}
}
