package queue_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/jurisdiction"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// TestJurisdictionRulesAtDialTime: the rules of the lead's state narrow the
// campaign's window at dial time (Florida 08:00–20:00; no calls in
// Louisiana on Thanksgiving), telemarketing needs written consent, an
// informational campaign is bound only by the rules for it, and the law's
// cap of calls in 24 hours wins over a higher cap of the process. The
// store's clock is set, so the verdicts hold at any hour.
func TestJurisdictionRulesAtDialTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var clock atomic.Pointer[time.Time]
	set := func(s string) {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		clock.Store(&ts)
	}
	set("2026-12-02T20:30:00-05:00") // a Wednesday, 20:30 in Miami and New York
	st := store.New(pgtest.DB(t), store.Config{Now: func() time.Time { return *clock.Load() }})
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"sip": nil}, NumberCapPer24h: 5})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("../scripts/bant-en.yaml")
	campaign := func(name, purpose string) *store.Campaign {
		c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: name, ScriptID: "bant-en", CallerID: "+15550100", Purpose: purpose,
			WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 8 * time.Hour, WindowEnd: 21 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.StartCampaign(ctx, c.ID, ivr.MustParse("bant-en.yaml", src), src); err != nil {
			t.Fatal(err)
		}
		return mustCampaign(t, st, c.ID)
	}
	sales, info, legacy := campaign("sales", "telemarketing"), campaign("service", "informational"), campaign("legacy", "")
	if legacy.Purpose != "unspecified" {
		t.Fatalf("a campaign created without a purpose has %q", legacy.Purpose)
	}
	consent := store.Consent{Source: "web_form", Text: "I agree to be called by Acme", At: st.Now().Add(-time.Hour)}
	explain := func(c *store.Campaign, lp store.LeadParams) queue.DialStatus {
		t.Helper()
		lp.CampaignID = c.ID
		id, _, err := st.InsertLead(ctx, st.Pool(), lp)
		if err != nil {
			t.Fatal(err)
		}
		lead, _ := store.GetLead(ctx, st.Pool(), id)
		ds, err := q.Explain(ctx, st.Pool(), lead, c)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	at := func(s string) time.Time { ts, _ := time.Parse(time.RFC3339, s); return ts }

	// Telemarketing to Florida without consent: blocked, citing the laws.
	ds := explain(sales, store.LeadParams{Phone: "+13055550101"})
	if ds.Status != queue.StatusBlocked || !strings.Contains(ds.Reason, "written consent") || !strings.Contains(ds.Reason, "Fla. Stat. 501.059") {
		t.Errorf("Florida lead without consent: %+v", ds)
	}
	// With consent, at 20:30 in Miami: Florida's 20:00 end wins over the
	// campaign's 21:00; the next call is at 08:00.
	ds = explain(sales, store.LeadParams{Phone: "+13055550102", Consent: consent})
	if ds.Status != queue.StatusScheduled || ds.Next == nil || !ds.Next.Equal(at("2026-12-03T08:00:00-05:00")) || !strings.Contains(ds.Reason, "US-FL") {
		t.Errorf("Florida lead at 20:30: %+v", ds)
	}
	// A New York number at the same moment: federal hours, open until 21:00.
	if ds = explain(sales, store.LeadParams{Phone: "+12125550103", Consent: consent}); ds.Status != queue.StatusQueued {
		t.Errorf("New York lead at 20:30: %+v", ds)
	}
	// The state given with the lead binds too: a New York number living in Florida.
	ds = explain(sales, store.LeadParams{Phone: "+12125550104", Region: "FL", Consent: consent})
	if ds.Status != queue.StatusScheduled {
		t.Errorf("New York number with a Florida address at 20:30: %+v", ds)
	}
	// An informational campaign: Florida's solicitation act does not bind
	// it, nor does written consent.
	if ds = explain(info, store.LeadParams{Phone: "+13055550105"}); ds.Status != queue.StatusQueued {
		t.Errorf("informational call to Florida at 20:30 without consent: %+v", ds)
	}
	// Unspecified: the hours bind, consent is the campaign's choice.
	if ds = explain(legacy, store.LeadParams{Phone: "+13055550106"}); ds.Status != queue.StatusScheduled {
		t.Errorf("unspecified-purpose call to Florida at 20:30: %+v", ds)
	}

	// Thanksgiving in New Orleans: Louisiana forbids calls on legal holidays.
	set("2026-11-26T12:00:00-06:00")
	ds = explain(sales, store.LeadParams{Phone: "+15045550107", Consent: consent})
	if ds.Status != queue.StatusScheduled || ds.Next == nil || !ds.Next.Equal(at("2026-11-27T08:00:00-06:00")) {
		t.Errorf("Louisiana lead on Thanksgiving: %+v", ds)
	}
	// Texas on a Sunday morning: not before noon.
	set("2026-12-06T10:00:00-06:00")
	ds = explain(sales, store.LeadParams{Phone: "+12145550108", TimeZone: "America/Chicago", Consent: consent})
	if ds.Status != queue.StatusScheduled || ds.Next == nil || !ds.Next.Equal(at("2026-12-06T12:00:00-06:00")) {
		t.Errorf("Texas lead on Sunday 10:00: %+v", ds)
	}

	// Florida's cap: 3 calls in 24 hours, every campaign counted, under
	// this process's cap of 5.
	set("2026-12-02T12:00:00-05:00")
	fl := store.LeadParams{Phone: "+13055550109", Consent: consent, CampaignID: sales.ID}
	id, _, err := st.InsertLead(ctx, st.Pool(), fl)
	if err != nil {
		t.Fatal(err)
	}
	for i, ago := range []time.Duration{5 * time.Hour, 3 * time.Hour, time.Hour} {
		if _, err := st.Pool().Exec(ctx, `INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, state, disposition, started_at, ended_at)
			VALUES ($1, $2, $3, 'sip', 'finished', 'busy', $4, $4)`, id, sales.ID, i+1, st.Now().Add(-ago)); err != nil {
			t.Fatal(err)
		}
	}
	lead, _ := store.GetLead(ctx, st.Pool(), id)
	ds, err = q.Explain(ctx, st.Pool(), lead, sales)
	if err != nil {
		t.Fatal(err)
	}
	// The first of the three was 5 hours ago: the next call 19 hours from now.
	if ds.Status != queue.StatusScheduled || !strings.Contains(ds.Reason, "the law's cap: US-FL") || ds.Next == nil ||
		!ds.Next.Equal(at("2026-12-03T07:00:00-05:00").Add(time.Hour)) {
		t.Errorf("Florida lead called 3 times in 24 hours: %+v", ds)
	}
	// A New York number called as often is under the process's cap of 5.
	ny := store.LeadParams{Phone: "+12125550110", Consent: consent, CampaignID: sales.ID}
	id, _, _ = st.InsertLead(ctx, st.Pool(), ny)
	for i := range 3 {
		_, _ = st.Pool().Exec(ctx, `INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, state, disposition, started_at, ended_at)
			VALUES ($1, $2, $3, 'sip', 'finished', 'busy', $4, $4)`, id, sales.ID, i+1, st.Now().Add(-time.Hour))
	}
	lead, _ = store.GetLead(ctx, st.Pool(), id)
	if ds, _ = q.Explain(ctx, st.Pool(), lead, sales); ds.Status != queue.StatusQueued {
		t.Errorf("New York lead called 3 times in 24 hours: %+v", ds)
	}
}

// TestJurisdictionRulesOverSIP runs a telemarketing campaign with an
// operator's own rules table over SIP: the lead without written consent is
// never called, the one with it is, and a state cap of one call in 24 hours
// keeps a busy lead from its retry.
func TestJurisdictionRulesOverSIP(t *testing.T) {
	t.Parallel()
	rules, err := jurisdiction.Parse("ours.yaml", []byte(`
- jurisdiction: US
  written_consent: true
  source: counsel memo 2026-11, section 1
- jurisdiction: US-FL
  max_calls_per_24h: 1
  source: counsel memo 2026-11, section 2
`))
	if err != nil {
		t.Fatal(err)
	}
	b := setupWith(t, map[string]softphone.Persona{"default": {Keys: "9"}, "+13055550702": {Answer: "reject", Code: 486}},
		store.CampaignParams{Purpose: "telemarketing", RetryBusy: ptr(time.Minute)}, func(c *queue.Config) { c.Rules = rules })
	consent := store.Consent{Source: "web_form", Text: "I agree", At: b.now()}
	ids := b.addLeads(t,
		store.LeadParams{Phone: "+12125550701"},                   // no consent: never called
		store.LeadParams{Phone: "+13055550702", Consent: consent}, // busy, then capped
		store.LeadParams{Phone: "+12125550703", Consent: consent}, // called, opts out (9)
	)
	got := b.waitStatuses(t, ids, map[string]store.LeadStatus{"+12125550701": queue.StatusBlocked,
		"+13055550702": queue.StatusRetryWait, "+12125550703": queue.StatusOptedOut}, time.Minute)
	if r := got["+12125550701"].StatusReason; !strings.Contains(r, "written consent") || !strings.Contains(r, "counsel memo 2026-11, section 1") {
		t.Errorf("blocked lead says %q", r)
	}
	// The busy lead's retry comes due: the law's cap holds it for a day.
	b.skew.Add(int64(2 * time.Minute))
	got = b.waitStatuses(t, ids, map[string]store.LeadStatus{"+13055550702": queue.StatusScheduled}, time.Minute)
	if r := got["+13055550702"].StatusReason; !strings.Contains(r, "the law's cap: US-FL: counsel memo 2026-11, section 2") {
		t.Errorf("capped lead says %q", r)
	}
	calls := map[string]int{}
	for _, c := range b.phone.Calls() {
		calls[c.User]++
	}
	if calls["+12125550701"] != 0 || calls["+13055550702"] != 1 || calls["+12125550703"] != 1 {
		t.Errorf("calls by number: %v", calls)
	}
}

func ptr[T any](v T) *T { return &v }

// BenchmarkCallWindow measures what the dispatcher adds per lead for the
// jurisdiction rules: where the lead may be (number, address), the rules
// that bind, and the next legal moment in its zones.
func BenchmarkCallWindow(b *testing.B) {
	c := &store.Campaign{WindowDays: []int{1, 2, 3, 4, 5, 6}, WindowStart: 9 * time.Hour, WindowEnd: 20 * time.Hour, Purpose: "telemarketing"}
	places := []queue.Place{{Phone: "+13055550100"}, {Phone: "+12145550100", Region: "TX"}, {Phone: "+15045550100", PostalCode: "70112"},
		{Phone: "+12125550100"}}
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	zones := make([][]*time.Location, len(places))
	for i, p := range places {
		zones[i], _ = queue.Zones(p)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % len(places)
		w := queue.CallWindow(nil, c, places[k])
		if _, ok := w.NextOpen(now, zones[k]); !ok {
			b.Fatal("never open")
		}
	}
}

// TestJurisdictions: a number's state comes from its area code even where
// the geocoder lists places only per exchange (555 numbers), the address's
// state binds beside it, and the ISO form of a state is understood.
func TestJurisdictions(t *testing.T) {
	tests := []struct {
		p    queue.Place
		want string
	}{
		{queue.Place{Phone: "+18015551234"}, "US US-UT"},
		{queue.Place{Phone: "+12065550100"}, "US US-WA"},
		{queue.Place{Phone: "+13055550100", Country: "US"}, "US US-FL"},
		{queue.Place{Phone: "+12145550100", Country: "US", Region: "US-FL"}, "US US-FL US-TX"},
		{queue.Place{Phone: "+12145550100", Country: "US", PostalCode: "33101"}, "US US-FL US-TX"},
		{queue.Place{Phone: "+18005550100"}, "US"},
		{queue.Place{Phone: "+14165550100"}, "CA CA-ON"},
		{queue.Place{Phone: "+442079460000"}, "GB"},
		{queue.Place{Phone: "+12125550100", Country: "GB"}, "US GB US-NY"},
	}
	for _, tt := range tests {
		var got []string
		for _, w := range queue.Jurisdictions(tt.p) {
			got = append(got, w.Code)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%+v: %v; want %s", tt.p, got, tt.want)
		}
	}
}
