package queue_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type bundle struct {
	store *store.Store
	queue *queue.Queue
	phone *softphone.Phone
	camp  *store.Campaign
	now   func() time.Time
	skew  *atomic.Int64 // moves the clock forward (days of a recall)
}

// setup runs the whole dialing path on real PostgreSQL, River and SIP, on
// the tests' clock (real time, or QUALDIAL_TEST_CLOCK): leads are placed in
// zones where it is day or night at that clock, so the suite passes at any
// hour.
func setup(t testing.TB, personas map[string]softphone.Persona, cp store.CampaignParams) *bundle {
	t.Helper()
	return setupWith(t, personas, cp, nil)
}

// setupWith is setup with the queue's configuration changed by tune.
func setupWith(t testing.TB, personas map[string]softphone.Persona, cp store.CampaignParams, tune func(*queue.Config)) *bundle {
	t.Helper()
	ctx := context.Background()
	base, skew := fixture.Clock(), new(atomic.Int64)
	now := func() time.Time { return base().Add(time.Duration(skew.Load())) }
	st := store.New(pgtest.DB(t), store.Config{Now: now})
	phone, err := softphone.Start(softphone.Config{Personas: personas})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	drv, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: phone.Addr().String(), Prompts: fixture.Hum(0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })

	cfg := queue.Config{Drivers: map[string]dialer.Driver{"sip": drv}, DispatchIdle: 2 * time.Second,
		SoftStopTimeout: 5 * time.Second, ReconcileInterval: time.Hour, RecallInterval: 500 * time.Millisecond, WriteRetry: 100 * time.Millisecond}
	if tune != nil {
		tune(&cfg)
	}
	q, err := queue.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(sctx)
	})
	cp.Name, cp.ScriptID, cp.CallerID = "e2e", "bant-en", "+15550100"
	cp.WindowDays, cp.WindowStart, cp.WindowEnd = []int{1, 2, 3, 4, 5, 6, 7}, 9*time.Hour, 20*time.Hour
	c, err := st.CreateCampaign(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("../scripts/bant-en.yaml")
	if err := st.StartCampaign(ctx, c.ID, ivr.MustParse("bant-en.yaml", src), src); err != nil {
		t.Fatal(err)
	}
	return &bundle{store: st, queue: q, phone: phone, camp: c, now: now, skew: skew}
}

func (b *bundle) addLeads(t testing.TB, leads ...store.LeadParams) map[string]int64 {
	t.Helper()
	ids := map[string]int64{}
	err := b.store.Tx(context.Background(), func(tx pgx.Tx) error {
		for _, l := range leads {
			l.CampaignID = b.camp.ID
			if l.TimeZone == "" {
				l.TimeZone = fixture.DaytimeZone(b.now())
			}
			id, _, err := b.store.InsertLead(context.Background(), tx, l)
			if err != nil {
				return err
			}
			if err := b.queue.EnqueueTx(context.Background(), tx, id); err != nil {
				return err
			}
			ids[l.Phone] = id
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitStatuses polls until every lead has its wanted status.
func (b *bundle) waitStatuses(t *testing.T, ids map[string]int64, want map[string]store.LeadStatus, within time.Duration) map[string]*store.Lead {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := map[string]*store.Lead{}
		done := true
		for phone, id := range ids {
			l, err := store.GetLead(context.Background(), b.store.Pool(), id)
			if err != nil {
				t.Fatal(err)
			}
			got[phone] = l
			if w, ok := want[phone]; ok && l.Status != w {
				done = false
			}
		}
		if done {
			return got
		}
		if time.Now().After(deadline) {
			for phone, l := range got {
				t.Logf("%s: status %s (%s), attempts %d, class %s", phone, l.Status, l.StatusReason, l.AttemptCount, l.Class)
			}
			t.Fatal("leads did not reach their statuses in time")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestCampaignEndToEnd(t *testing.T) {
	t.Parallel()
	hot := "1,1,1,1,120#,1"
	personas := map[string]softphone.Persona{
		"+12125550101": {Keys: hot},
		"+12125550102": {Keys: "1,1,2,2,120#,2", DTMF: softphone.DTMFInfo},
		"+12125550103": {Keys: "9"},
		"+12125550104": {Answer: "reject", Code: 603},
		"+12125550105": {Code: 486, AnswerAfter: 1, Keys: hot},
		"+12125550106": {Answer: "reject", Code: 480}, // not answered (temporarily unavailable): a no-answer, without ringing 15 s
		"+12125550107": {Keys: "1,1,hangup"},
		"+12125550108": {Keys: hot}, // on the DNC list: must never ring
		"+12125550109": {Keys: hot}, // in a zone where it is night: must not ring
		"+12125550110": {Answer: "reject", Code: 404},
	}
	second, zero := time.Second, time.Duration(0)
	b := setup(t, personas, store.CampaignParams{MaxAttempts: 2, RetryBusy: &zero, RetryNoAnswer: &zero, RetryIncompl: &second,
		RingTimeout: 15 * time.Second, MaxConcurrent: 4, CallsPerSecond: 5})
	ctx := context.Background()
	if _, err := b.store.AddDNC(ctx, b.store.Pool(), store.DNCEntry{Phone: "+12125550108", Source: store.DNCManual, Reason: "asked by email"}); err != nil {
		t.Fatal(err)
	}
	var leads []store.LeadParams
	for phone := range personas {
		lp := store.LeadParams{Phone: phone, FirstName: "Lead", Source: "api"}
		if phone == "+12125550109" {
			lp.TimeZone = fixture.NightZone(b.now())
		}
		leads = append(leads, lp)
	}
	ids := b.addLeads(t, leads...)
	got := b.waitStatuses(t, ids, map[string]store.LeadStatus{
		"+12125550101": queue.StatusCompleted,
		"+12125550102": queue.StatusCompleted,
		"+12125550103": queue.StatusOptedOut,
		"+12125550104": queue.StatusRejected,
		"+12125550105": queue.StatusCompleted,
		"+12125550106": queue.StatusUnreachable,
		"+12125550107": queue.StatusUnreachable,
		"+12125550108": queue.StatusBlocked,
		"+12125550109": queue.StatusScheduled,
		"+12125550110": queue.StatusInvalidNumber,
	}, 2*time.Minute)

	for phone, want := range map[string]struct {
		class    string
		attempts int
	}{
		"+12125550101": {"sql", 1}, "+12125550102": {"mql", 1}, "+12125550103": {"opted_out", 1},
		"+12125550104": {"", 1}, "+12125550105": {"sql", 2}, "+12125550106": {"", 2}, "+12125550107": {"", 2},
		"+12125550108": {"", 0}, "+12125550109": {"", 0}, "+12125550110": {"", 1},
	} {
		l := got[phone]
		if l.Class != want.class || l.AttemptCount != want.attempts {
			t.Errorf("%s: class %q attempts %d; want %q %d (%s)", phone, l.Class, l.AttemptCount, want.class, want.attempts, l.StatusReason)
		}
	}
	if l := got["+12125550101"]; l.SalesStage != "open" || l.SLADueAt == nil || l.Route != "sales" {
		t.Errorf("hot lead: stage %q route %q sla %v", l.SalesStage, l.Route, l.SLADueAt)
	}
	if on, _ := store.OnDNC(ctx, b.store.Pool(), "+12125550103"); !on {
		t.Error("opted-out number not on the DNC list")
	}
	if l := got["+12125550109"]; l.NextAttemptAt == nil || l.StatusReason == "" {
		t.Errorf("night-time lead does not say when it will be called: %+v", l)
	}
	// Every INVITE was its own attempt: never two for one call, never to the
	// DNC or night-time numbers.
	invites := map[string]int{}
	for _, c := range b.phone.Calls() {
		if c.Invites != 1 {
			t.Errorf("call %s to %s got %d INVITEs", c.CallID, c.User, c.Invites)
		}
		invites[c.User]++
	}
	for phone, l := range got {
		if invites[phone] != l.AttemptCount {
			t.Errorf("%s: %d calls reached the phone, %d attempts recorded", phone, invites[phone], l.AttemptCount)
		}
	}
	// The opted-out number is never called again, even if re-added.
	ids2 := b.addLeads(t, store.LeadParams{Phone: "+12125550103", ExternalID: "again"})
	if id := ids2["+12125550103"]; id != ids["+12125550103"] {
		t.Errorf("re-added lead got a new id %d", id)
	}
	// Who ended each answered call is recorded: the script's end, or the lead.
	for phone, want := range map[string]string{"+12125550101": "qualdial", "+12125550107": "lead"} {
		var endedBy []string
		rows, _ := b.store.Pool().Query(ctx, `SELECT coalesce(ended_by, '') FROM call_attempts WHERE lead_id = $1 AND disposition = 'answered'`, ids[phone])
		endedBy, _ = pgx.CollectRows(rows, pgx.RowTo[string])
		for _, e := range endedBy {
			if e != want {
				t.Errorf("%s: an answered call ended by %q, want %q", phone, e, want)
			}
		}
		if len(endedBy) == 0 {
			t.Errorf("%s: no answered call", phone)
		}
	}
	var answers int
	b.store.Pool().QueryRow(ctx, `SELECT count(*) FROM answers WHERE lead_id = $1`, ids["+12125550107"]).Scan(&answers)
	if answers != 4 { // two answers per incomplete attempt are kept
		t.Errorf("hang-up lead: %d partial answers kept, want 4", answers)
	}
}

func TestConsentAndPause(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, map[string]softphone.Persona{"default": {Keys: "9"}}, store.CampaignParams{RequireConsent: true})
	ids := b.addLeads(t,
		store.LeadParams{Phone: "+12125550201"}, // no consent captured
		store.LeadParams{Phone: "+12125550202", Consent: store.Consent{Source: "web_form", Text: "I agree to be called", At: b.now()}},
	)
	got := b.waitStatuses(t, ids, map[string]store.LeadStatus{"+12125550201": queue.StatusBlocked, "+12125550202": queue.StatusOptedOut}, time.Minute)
	if got["+12125550201"].StatusReason != "no consent captured, and the campaign requires it" {
		t.Errorf("blocked lead says %q", got["+12125550201"].StatusReason)
	}
	// Pausing stops new dials at once.
	if err := b.store.SetCampaignStatus(ctx, b.camp.ID, "paused"); err != nil {
		t.Fatal(err)
	}
	ids = b.addLeads(t, store.LeadParams{Phone: "+12125550203", Consent: store.Consent{Source: "web_form", At: b.now()}})
	time.Sleep(3 * time.Second)
	l, _ := store.GetLead(ctx, b.store.Pool(), ids["+12125550203"])
	if l.AttemptCount != 0 || l.StatusReason != "campaign paused" {
		t.Fatalf("lead of a paused campaign: %+v", l)
	}
	for _, c := range b.phone.Calls() {
		if c.User == "+12125550201" || c.User == "+12125550203" {
			t.Errorf("%s was called", c.User)
		}
	}
}

// TestNumberCapAcrossCampaigns: a number called in one campaign counts
// against the 24-hour cap in every campaign.
func TestNumberCapAcrossCampaigns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, map[string]softphone.Persona{"default": {Answer: "reject", Code: 603}}, store.CampaignParams{})
	ids := b.addLeads(t, store.LeadParams{Phone: "+12125550601"})
	b.waitStatuses(t, ids, map[string]store.LeadStatus{"+12125550601": queue.StatusRejected}, 30*time.Second)

	// A second campaign on the same database, same number, with a cap of 1.
	q2, err := queue.New(b.store, queue.Config{Drivers: map[string]dialer.Driver{"sip": nil}, NumberCapPer24h: 1})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := b.store.CreateCampaign(ctx, store.CampaignParams{Name: "second", ScriptID: "bant-en", CallerID: "+15550100",
		WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 9 * time.Hour, WindowEnd: 20 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("../scripts/bant-en.yaml")
	if err := b.store.StartCampaign(ctx, c2.ID, ivr.MustParse("bant-en.yaml", src), src); err != nil {
		t.Fatal(err)
	}
	id, _, err := b.store.InsertLead(ctx, b.store.Pool(), store.LeadParams{CampaignID: c2.ID, Phone: "+12125550601", TimeZone: fixture.DaytimeZone(b.now())})
	if err != nil {
		t.Fatal(err)
	}
	lead, _ := store.GetLead(ctx, b.store.Pool(), id)
	st, err := q2.Explain(ctx, b.store.Pool(), lead, mustCampaign(t, b.store, c2.ID))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != queue.StatusScheduled || !strings.Contains(st.Reason, "calls to this number in 24 hours") || st.Next == nil ||
		st.Next.Sub(b.now()) < 23*time.Hour {
		t.Fatalf("second campaign's lead: %+v", st)
	}
}

func mustCampaign(t *testing.T, st *store.Store, id int64) *store.Campaign {
	t.Helper()
	c, err := st.Campaign(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNurtureRecall: a nurture lead (class mql, recall_after 30d) is called
// again when its recall time comes, as a new attempt with its own answers
// and result, and is then recalled again later.
func TestNurtureRecall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, map[string]softphone.Persona{"default": {Keys: "1,1,2,2,120#,2"}}, store.CampaignParams{})
	ids := b.addLeads(t, store.LeadParams{Phone: "+12125550701"})
	id := ids["+12125550701"]
	got := b.waitStatuses(t, ids, map[string]store.LeadStatus{"+12125550701": queue.StatusCompleted}, time.Minute)
	first := got["+12125550701"]
	if first.Class != "mql" || first.Route != "nurture" || first.RecallAt == nil || first.NextAttemptAt == nil ||
		!first.NextAttemptAt.Equal(*first.RecallAt) || first.RecallAt.Sub(b.now()) < 29*24*time.Hour {
		t.Fatalf("after the first call: %+v", first)
	}
	if !strings.Contains(first.StatusReason, "called again from") {
		t.Errorf("status reason %q does not say when it is called again", first.StatusReason)
	}
	time.Sleep(2 * time.Second) // recall checks run meanwhile: not yet due
	if n := len(b.phone.Calls()); n != 1 {
		t.Fatalf("%d calls before the recall time; want 1", n)
	}
	b.skew.Add(int64(31 * 24 * time.Hour))
	deadline := time.Now().Add(time.Minute)
	for {
		l, _ := store.GetLead(ctx, b.store.Pool(), id)
		if l.AttemptCount == 2 && l.Status == queue.StatusCompleted {
			if l.Class != "mql" || l.RecallAt == nil || !l.RecallAt.After(*first.RecallAt) || l.RoundAttempts != 1 {
				t.Errorf("after the recall: %+v", l)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recalled: %+v", l)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var answered, answers int
	b.store.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM call_attempts WHERE lead_id = $1 AND disposition = 'answered'),
		(SELECT count(DISTINCT attempt_id) FROM answers WHERE lead_id = $1)`, id).Scan(&answered, &answers)
	if answered != 2 || answers != 2 || len(b.phone.Calls()) != 2 {
		t.Errorf("%d answered attempts with answers on %d, %d calls; want 2, 2, 2", answered, answers, len(b.phone.Calls()))
	}
	var recalled int
	b.store.Pool().QueryRow(ctx, `SELECT count(*) FROM lead_events WHERE lead_id = $1 AND kind = 'lead.recalled'`, id).Scan(&recalled)
	if recalled != 1 {
		t.Errorf("%d lead.recalled events; want 1", recalled)
	}
}

// TestResultSavedThroughDatabaseErrors: the database refuses the first
// writes of a finished call's answers (a fault injected in the real
// database); the write is retried, nothing is lost, and the lead is called
// once.
func TestResultSavedThroughDatabaseErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, map[string]softphone.Persona{"default": {Keys: "1,1,1,1,120#,1"}}, store.CampaignParams{})
	if _, err := b.store.Pool().Exec(ctx, `CREATE SEQUENCE injected_faults;
		CREATE FUNCTION refuse_answers() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('injected_faults') <= 3 THEN RAISE EXCEPTION 'injected fault: the database is failing over'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_answers BEFORE INSERT ON answers FOR EACH ROW EXECUTE FUNCTION refuse_answers();`); err != nil {
		t.Fatal(err)
	}
	ids := b.addLeads(t, store.LeadParams{Phone: "+12125550702"})
	got := b.waitStatuses(t, ids, map[string]store.LeadStatus{"+12125550702": queue.StatusCompleted}, time.Minute)
	l := got["+12125550702"]
	var answers, faults int
	b.store.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM answers WHERE lead_id = $1), (SELECT last_value FROM injected_faults)`,
		l.ID).Scan(&answers, &faults)
	if l.Class != "sql" || l.AttemptCount != 1 || answers != 6 || faults < 4 || len(b.phone.Calls()) != 1 {
		t.Errorf("class %q, %d attempts, %d answers, %d writes tried, %d calls; want sql, 1, 6, ≥ 4, 1",
			l.Class, l.AttemptCount, answers, faults, len(b.phone.Calls()))
	}
}

// TestDestinationsCheckedBeforeDial: a lead whose number the campaign may
// not call — a premium-rate number, another country — is blocked with the
// reason and never rings, even when it got into the campaign without intake's
// check (inserted directly, or allowed before a PATCH narrowed the campaign).
func TestDestinationsCheckedBeforeDial(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]softphone.Persona{"default": {Keys: "9"}}, store.CampaignParams{})
	ids := b.addLeads(t,
		store.LeadParams{Phone: "+19002345678"},  // premium rate
		store.LeadParams{Phone: "+442071838750"}, // another country
		store.LeadParams{Phone: "+12125550703"},  // fine: opts out
	)
	got := b.waitStatuses(t, ids, map[string]store.LeadStatus{"+19002345678": queue.StatusBlocked, "+442071838750": queue.StatusBlocked,
		"+12125550703": queue.StatusOptedOut}, time.Minute)
	if r := got["+19002345678"].StatusReason; !strings.Contains(r, "premium_rate") {
		t.Errorf("premium-rate lead blocked because %q", r)
	}
	if r := got["+442071838750"].StatusReason; !strings.Contains(r, "GB") {
		t.Errorf("foreign lead blocked because %q", r)
	}
	for _, c := range b.phone.Calls() {
		if c.User != "+12125550703" {
			t.Errorf("%s was called", c.User)
		}
	}
}

// TestNoTrunkSpendsNoAttempt: a dialer without a SIP trunk cannot call phone
// numbers. That is its configuration, not the lead's number: no attempt is
// spent, the lead is never marked invalid, and it says why it waits.
func TestNoTrunkSpendsNoAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	drv, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Prompts: fixture.Hum(0)}) // no trunk
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"sip": drv}, ReconcileInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: "no-trunk", ScriptID: "bant-en", CallerID: "+15550100",
		WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 8 * time.Hour, WindowEnd: 21 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("../scripts/bant-en.yaml")
	if err := st.StartCampaign(ctx, c.ID, ivr.MustParse("bant-en.yaml", src), src); err != nil {
		t.Fatal(err)
	}
	var id int64
	err = st.Tx(ctx, func(tx pgx.Tx) error {
		id, _, err = st.InsertLead(ctx, tx, store.LeadParams{CampaignID: c.ID, Phone: "+12125550704", TimeZone: fixture.DaytimeZone(st.Now())})
		if err != nil {
			return err
		}
		return q.EnqueueTx(ctx, tx, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, _ := store.GetLead(ctx, st.Pool(), id)
		if strings.Contains(l.StatusReason, "no SIP trunk") {
			if l.Status != queue.StatusQueued || l.AttemptCount != 0 {
				t.Errorf("lead %s after %d attempts (%s); want queued, none spent", l.Status, l.AttemptCount, l.StatusReason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lead %s (%s), attempts %d", l.Status, l.StatusReason, l.AttemptCount)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
