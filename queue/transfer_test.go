package queue_test

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// hotTransferScript is bant-en whose sql class puts the lead through to to.
func hotTransferScript(t *testing.T, to string) []byte {
	t.Helper()
	src, err := os.ReadFile("../scripts/bant-en.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const sql = `  - {name: sql, when: "total >= 70 && budget > 0 && authority > 0", route: sales, sla: 24h, say: "A specialist will call you within one business day."}`
	return []byte(strings.Replace(string(src), sql, `  - name: sql
    when: "total >= 70 && budget > 0 && authority > 0"
    route: sales
    sla: 24h
    say: "Let me connect you with a specialist now."
    transfer: {to: "`+to+`", timeout: 5s, whisper: "Hot lead {{first_name|}}: score {{total}}.", fallback_sla: 1h}
`, 1))
}

// TestLiveTransferOverSIP: a campaign whose sales-ready class transfers
// the lead, over SIP with two softphones (the leads' and the sales rep's):
// a lead put through is contacted at once (its sales deadline met, the
// attempt says connected with the rep's wait and talk times); when the rep
// does not answer, the lead is told a specialist calls back, and its
// deadline is the fallback's hour, not the class's day.
func TestLiveTransferOverSIP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rep, err := softphone.Start(softphone.Config{ListenAddr: "127.0.0.1:0",
		Default:  softphone.Persona{Ring: time.Second, Keys: "timeout", GreetingAudio: voice(4 * time.Second)},
		Personas: map[string]softphone.Persona{"away": {Answer: "noanswer"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	// The leads answer as sales-ready, wait through "let me connect you",
	// and hang up once the rep has spoken to them.
	b := setup(t, map[string]softphone.Persona{"default": {Keys: "~1,~1,~1,~1,~250#,~1,timeout,hangup"}}, store.CampaignParams{})
	campaign := func(name, to string) int64 {
		src := hotTransferScript(t, to)
		c, err := b.store.CreateCampaign(ctx, store.CampaignParams{Name: name, ScriptID: "bant-en", CallerID: "+15550100",
			WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 9 * time.Hour, WindowEnd: 20 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.store.StartCampaign(ctx, c.ID, ivr.MustParse("hot.yaml", src), src); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	taken, away := campaign("taken", rep.URI("sales")), campaign("away", rep.URI("away"))
	ids := map[string]int64{}
	err = b.store.Tx(ctx, func(tx pgx.Tx) error {
		for phone, c := range map[string]int64{"+12125550901": taken, "+12125550902": away} {
			id, _, err := b.store.InsertLead(ctx, tx, store.LeadParams{CampaignID: c, Phone: phone, FirstName: "Ann", TimeZone: fixture.DaytimeZone(b.now())})
			if err != nil {
				return err
			}
			ids[phone] = id
			if err := b.queue.EnqueueTx(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := b.waitStatuses(t, ids, map[string]store.LeadStatus{"+12125550901": queue.StatusCompleted, "+12125550902": queue.StatusCompleted}, 90*time.Second)

	connected, missed := got["+12125550901"], got["+12125550902"]
	_, events, err := b.store.LeadHistory(ctx, connected.ID)
	if err != nil {
		t.Fatal(err)
	}
	attempts, _, _ := b.store.LeadHistory(ctx, connected.ID)
	tr := attempts[0].Transfer
	if connected.Class != "sql" || tr == nil || tr.Status != "connected" || tr.To != rep.URI("sales") || tr.WaitMS == nil || tr.TalkMS == nil ||
		tr.EndedBy == "" {
		t.Fatalf("transferred lead %s (%s), transfer %+v", connected.Class, connected.StatusReason, tr)
	}
	// A rep's own SIP address is called directly: no trunk channel held.
	var viaTrunk, started bool
	if err := b.store.Pool().QueryRow(ctx, `SELECT transfer_via_trunk, transfer_started_at IS NOT NULL FROM call_attempts WHERE lead_id = $1`,
		connected.ID).Scan(&viaTrunk, &started); err != nil || viaTrunk || !started {
		t.Errorf("the transferred attempt: via trunk %v, start recorded %v (%v)", viaTrunk, started, err)
	}
	var stage, sla string
	_ = b.store.Pool().QueryRow(ctx, `SELECT sales_stage, sla_status FROM leads WHERE id = $1`, connected.ID).Scan(&stage, &sla)
	if stage != "contacted" || sla != "met" {
		t.Errorf("transferred lead: sales stage %s, SLA %s", stage, sla)
	}
	kinds := map[string]bool{}
	for _, e := range events {
		kinds[e.Kind] = true
	}
	if !kinds["lead.transferred"] || !kinds["lead.contacted"] {
		t.Errorf("events %v", kinds)
	}

	attempts, _, _ = b.store.LeadHistory(ctx, missed.ID)
	if tr := attempts[0].Transfer; tr == nil || tr.Status != "no_answer" || tr.TalkMS != nil {
		t.Fatalf("missed transfer %+v", tr)
	}
	var deadline time.Duration
	_ = b.store.Pool().QueryRow(ctx, `SELECT sales_stage, sla_status, sla_due_at - qualified_at FROM leads WHERE id = $1`, missed.ID).Scan(&stage, &sla, &deadline)
	if stage != "open" || sla != "pending" || deadline != time.Hour {
		t.Errorf("missed transfer: stage %s, SLA %s due %s after qualification; want an hour", stage, sla, deadline)
	}
	calls := map[string]int{}
	for _, c := range rep.Calls() {
		calls[c.User]++
	}
	if calls["sales"] != 1 || calls["away"] != 1 {
		t.Errorf("the rep's phone got %v", calls)
	}
}

// voice is a rep's "hello": a 1 kHz tone.
func voice(d time.Duration) []int16 {
	out := make([]int16, int(d.Seconds()*8000))
	for i := range out {
		out[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	return out
}

// TestTransferLegHoldsATrunkChannel: a live transfer to a number goes out
// through the trunk, so its second leg holds one of the trunk's channels.
// With two channels, a lead put through to a rep (two channels in use)
// keeps a lead that arrives meanwhile waiting until the transferred call
// is over; without the leg counted, it would be called at once.
func TestTransferLegHoldsATrunkChannel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const repNumber, hot, late = "+12125550960", "+12125550961", "+12125550962"
	b := setupWith(t, map[string]softphone.Persona{
		hot:       {Keys: "~1,~1,~1,~1,~250#,~1,timeout,hangup"}, // sales-ready; hangs up once the rep has spoken
		late:      {Keys: "9"},
		repNumber: {Ring: time.Second, Keys: "timeout", GreetingAudio: voice(4 * time.Second)},
	}, store.CampaignParams{}, func(c *queue.Config) { c.TrunkChannels = map[string]int{"sip": 2} })
	src := hotTransferScript(t, repNumber)
	c, err := b.store.CreateCampaign(ctx, store.CampaignParams{Name: "through the trunk", ScriptID: "bant-en", CallerID: "+15550100",
		WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 9 * time.Hour, WindowEnd: 20 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.StartCampaign(ctx, c.ID, ivr.MustParse("hot.yaml", src), src); err != nil {
		t.Fatal(err)
	}
	add := func(phone string) int64 {
		var id int64
		err := b.store.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			if id, _, err = b.store.InsertLead(ctx, tx, store.LeadParams{CampaignID: c.ID, Phone: phone, FirstName: "Ann",
				TimeZone: fixture.DaytimeZone(b.now())}); err != nil {
				return err
			}
			return b.queue.EnqueueTx(ctx, tx, id)
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	ids := map[string]int64{hot: add(hot)}
	// Once the rep has answered (the lead and the rep: two channels), a
	// new lead arrives.
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		answered := false
		for _, r := range b.phone.Calls() {
			answered = answered || (r.User == repNumber && r.Answered)
		}
		if answered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rep was never put through; calls %+v", b.phone.Calls())
		}
	}
	ids[late] = add(late)
	b.waitStatuses(t, ids, map[string]store.LeadStatus{hot: queue.StatusCompleted, late: queue.StatusOptedOut}, 2*time.Minute)

	calls := map[string]softphone.Record{}
	for _, r := range b.phone.Calls() {
		calls[r.User] = r
	}
	if r := calls[repNumber]; !r.Answered || r.Started.After(calls[hot].Ended) {
		t.Fatalf("the rep's call %+v, the lead's %+v", r, calls[hot])
	}
	// On what qualdial recorded: the late lead's attempt started once the
	// transferred one had finished (its channels freed in that commit).
	var lateStarted, hotEnded time.Time
	if err := b.store.Pool().QueryRow(ctx, `SELECT (SELECT started_at FROM call_attempts WHERE lead_id = $1),
		(SELECT ended_at FROM call_attempts WHERE lead_id = $2)`, ids[late], ids[hot]).Scan(&lateStarted, &hotEnded); err != nil {
		t.Fatal(err)
	}
	if lateStarted.Before(hotEnded) {
		t.Errorf("the late lead was called at %s, while the transferred call (over at %s) and its rep's leg held both channels",
			lateStarted.Format("15:04:05.000"), hotEnded.Format("15:04:05.000"))
	}
	var viaTrunk, started bool
	if err := b.store.Pool().QueryRow(ctx, `SELECT transfer_via_trunk, transfer_started_at IS NOT NULL FROM call_attempts WHERE lead_id = $1`,
		ids[hot]).Scan(&viaTrunk, &started); err != nil || !viaTrunk || !started {
		t.Errorf("the transferred attempt: via trunk %v, start recorded %v (%v)", viaTrunk, started, err)
	}
}
