package store_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

const day = 24 * time.Hour

// TestRetentionValidate: negative values, values below a field's least
// (compliance records below five years above all) and batch sizes out of
// bounds are refused, each saying what to do; zero is the default.
func TestRetentionValidate(t *testing.T) {
	t.Parallel()
	if err := (store.Retention{}).Validate(); err != nil {
		t.Errorf("zero: %v", err)
	}
	d := store.Retention{}.WithDefaults()
	if d.TwilioSessionDays != 7 || d.WebhookDeliveryDays != 30 || d.ImportRejectDays != 30 || d.IdempotencyKeyDays != 7 ||
		d.EventDays != 400 || d.ComplianceDays != 1826 || d.BatchSize != 5000 {
		t.Errorf("defaults %+v", d)
	}
	for _, c := range []struct {
		r    store.Retention
		want string
	}{
		{store.Retention{ComplianceDays: 365}, "ComplianceDays (consent, opt-out, DNC and call records) 365 days: at least 1826, because consent, opt-outs and calls must be provable for five years"},
		{store.Retention{EventDays: 7}, "EventDays (lead events) 7 days: at least 30"},
		{store.Retention{TwilioSessionDays: -1}, "TwilioSessionDays (Twilio call sessions) -1: must not be negative (0: the default, 7 days)"},
		{store.Retention{BatchSize: 10}, "BatchSize 10: use 100 to 50000 rows"},
	} {
		if err := c.r.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want %q", c.r, err, c.want)
		}
	}
	if err := (store.Retention{ComplianceDays: 3650, EventDays: 30, TwilioSessionDays: 1}).Validate(); err != nil {
		t.Errorf("longer than the least: %v", err)
	}
}

// TestPurgeExpired: rows past their retention go, a batch at a time (more
// rows than a batch), and nothing else: recent rows, pending webhook
// deliveries, a running import's rejects, compliance events younger than
// five years, leads and calls all stay. The dashboards' rollups stay exact
// (nothing retention deletes is counted in them).
func TestPurgeExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clock := newStore(t)
	c := campaign(t, s, "retention")
	if _, err := s.CreateSubscription(ctx, "https://crm.example/hook", []string{"lead.qualified"}); err != nil {
		t.Fatal(err)
	}
	// Six years ago: a call with its Twilio session, a qualified lead
	// (webhook delivered), 250 status events and an import with rejects.
	clock.Advance(-6 * 365 * day)
	old := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550100"})
	a := callLead(t, s, c, old, "+12125550100")
	if err := s.CreateSession(ctx, "tok-old-000000000000", []byte(fmt.Sprintf(`{"attempt_id": "%d"}`, a.ID))); err != nil {
		t.Fatal(err)
	}
	for i := range 250 {
		if err := s.AddEvent(ctx, s.Pool(), old, "test", store.EventLeadStatus, map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx, `UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $1`, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportLeads(ctx, store.ImportParams{CampaignID: c.ID}, rowsOf(c.ID, "+12125550100", "+12125550101"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDNC(ctx, s.Pool(), store.DNCEntry{Phone: "+12125550100", Source: store.DNCManual, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	// Three years ago: compliance events (kept five years) and status
	// events (kept 400 days).
	clock.Advance(3 * 365 * day)
	mid := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550200"})
	for range 3 {
		if err := s.AddEvent(ctx, s.Pool(), mid, "test", store.EventLeadStatus, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Now: everything recent stays, a pending delivery too.
	clock.Advance(3 * 365 * day)
	recent := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550300"})
	callLead(t, s, c, recent, "+12125550300")
	if err := s.CreateSession(ctx, "tok-new-000000000000", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	imp, err := s.ImportLeads(ctx, store.ImportParams{CampaignID: c.ID}, rowsOf(c.ID, "+12125550300"), nil, nil)
	if err != nil || imp.Duplicates != 1 {
		t.Fatalf("recent import %+v %v", imp, err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO webhook_deliveries (subscription_id, event_id, state, created_at)
		SELECT (SELECT min(id) FROM webhook_subscriptions), id, 'pending', $2 FROM lead_events WHERE lead_id = $1 AND kind = 'lead.created'`,
		recent, clock.Now().Add(-6*365*day)); err != nil {
		t.Fatal(err)
	}
	count := func() map[string]int {
		out := map[string]int{}
		for _, table := range []string{"twilio_sessions", "webhook_deliveries", "import_rejects", "lead_events", "leads", "call_attempts", "answers",
			"dnc", "dnc_changes"} {
			var n int
			if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[table] = n
		}
		return out
	}
	// Events by lead and kind: compliance ones or not.
	var oldCompliance, oldOther, midCompliance, midOther int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE lead_id = $1 AND kind = ANY($3)), count(*) FILTER (WHERE lead_id = $1 AND kind <> ALL($3)),
		count(*) FILTER (WHERE lead_id = $2 AND kind = ANY($3)), count(*) FILTER (WHERE lead_id = $2 AND kind <> ALL($3))
		FROM lead_events`, old, mid, store.ComplianceEvents).Scan(&oldCompliance, &oldOther, &midCompliance, &midOther); err != nil {
		t.Fatal(err)
	}
	before := count()

	n, err := s.PurgeExpired(ctx, store.Retention{BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	// Six years old: the old lead's events, compliance ones too (past five
	// years), its Twilio session, its delivered webhook (the pending one
	// stays), the import's reject, the DNC list's history. Three years
	// old: the status events go, the compliance events stay.
	want := map[string]int64{store.PurgedTwilioSessions: 1, store.PurgedWebhookDeliveries: 1, store.PurgedImportRejects: 1,
		store.PurgedEvents: int64(oldOther + midOther), store.PurgedComplianceEvents: int64(oldCompliance), store.PurgedDNCChanges: 1}
	if !maps.Equal(n, want) || oldOther < 250 || midOther != 3 || midCompliance == 0 {
		t.Errorf("purged %v; want %v (%d, %d, %d)", n, want, oldOther, midOther, midCompliance)
	}
	after := count()
	for table, d := range map[string]int{"twilio_sessions": 1, "webhook_deliveries": 1, "import_rejects": 1, "lead_events": oldOther + midOther + oldCompliance,
		"dnc_changes": 1} {
		if before[table]-after[table] != d {
			t.Errorf("%s: %d rows before, %d after; want %d fewer", table, before[table], after[table], d)
		}
	}
	for _, table := range []string{"leads", "call_attempts", "answers", "dnc"} {
		if before[table] != after[table] {
			t.Errorf("%s: %d rows before, %d after: retention deleted what it never deletes", table, before[table], after[table])
		}
	}
	if got := eventsOf(t, s, mid); got != midCompliance {
		t.Errorf("events of three years ago: %d left; want its %d compliance events", got, midCompliance)
	}
	rollupsExact(t, s)
	// A second run finds nothing.
	if n, err := s.PurgeExpired(ctx, store.Retention{}); err != nil || len(n) != 0 {
		t.Errorf("second run: %v %v", n, err)
	}
	// A canceled run stops at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.PurgeExpired(cctx, store.Retention{}); err == nil {
		t.Error("a canceled run did not stop")
	}
}

func eventsOf(t *testing.T, s *store.Store, leadID int64) int {
	t.Helper()
	return len(kinds(t, s, leadID))
}
