package store_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func script(t *testing.T) *ivr.Script {
	t.Helper()
	src, err := os.ReadFile("../scripts/bant-en.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return ivr.MustParse("bant-en.yaml", src)
}

func TestCampaignLeadAttemptLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A clock the test moves: 25 hours later the sales deadline has passed.
	clock := fixture.Clock()
	var skew time.Duration
	now := func() time.Time { return clock().Add(skew) }
	s := store.New(pgtest.DB(t), store.Config{Now: now})
	busy := 2 * time.Second
	c, err := s.CreateCampaign(ctx, store.CampaignParams{Name: "spring", ScriptID: "bant-en", CallerID: "+15550100",
		WindowStart: 8 * time.Hour, WindowEnd: 21 * time.Hour, RetryBusy: &busy, MaxConcurrent: 3, CallsPerSecond: 2.5})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != "draft" || c.MaxAttempts != 4 || c.RetryBusy != busy || c.RetryNoAnswer != 2*time.Hour ||
		c.WindowStart != 8*time.Hour || len(c.WindowDays) != 6 || c.CallsPerSecond != 2.5 || c.RingTimeout != 25*time.Second || c.SLA != 24*time.Hour {
		t.Fatalf("campaign %+v", c)
	}
	sc := script(t)
	if err := s.StartCampaign(ctx, c.ID, sc, []byte("yaml")); err != nil {
		t.Fatal(err)
	}
	if c, _ = s.Campaign(ctx, c.ID); c.Status != "active" || c.ScriptVersion != 3 || c.ScriptYAML != "yaml" {
		t.Fatalf("started campaign %+v", c)
	}

	id, created, err := s.InsertLead(ctx, s.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550123", FirstName: "Ann",
		ExternalID: "crm-1", Attributes: map[string]string{"plan": "pro"}})
	if err != nil || !created {
		t.Fatal(err, created)
	}
	for _, dup := range []store.LeadParams{{CampaignID: c.ID, Phone: "+12125550123"}, {CampaignID: c.ID, Phone: "+12125550999", ExternalID: "crm-1"}} {
		again, created, err := s.InsertLead(ctx, s.Pool(), dup)
		if err != nil || created || again != id {
			t.Fatalf("duplicate %+v: %d %v %v", dup, again, created, err)
		}
	}
	lead, err := store.GetLead(ctx, s.Pool(), id)
	if err != nil || lead.Fields()["plan"] != "pro" || lead.Fields()["first_name"] != "Ann" || lead.Country != "US" {
		t.Fatalf("lead %+v %v", lead, err)
	}

	start := func() (*store.Attempt, error) {
		var a *store.Attempt
		err := s.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			a, err = s.StartAttempt(ctx, tx, store.AttemptParams{LeadID: id, CampaignID: c.ID, Phone: "+12125550123", Driver: "sip", Worker: "test", Script: sc})
			return err
		})
		return a, err
	}
	a, err := start()
	if err != nil || a.No != 1 {
		t.Fatal(a, err)
	}
	if _, err := start(); !errors.Is(err, store.ErrAttemptOpen) {
		t.Fatalf("second open attempt: %v", err)
	}
	if n, _ := store.CountOpenAttempts(ctx, s.Pool(), c.ID); n != 1 {
		t.Errorf("open attempts %d", n)
	}
	eng := ivr.NewEngine(sc)
	st, _ := eng.Start(map[string]string{"seats": "120"}) // a form's answer: the seats question is not asked
	for _, k := range []string{"1", "1", "1", "1", "1"} {
		st, _, _ = eng.Next(st, ivr.Input{Keys: k})
	}
	res := eng.Result(st)
	if err := s.FinishAttempt(ctx, s.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: id, Disposition: "answered", SIPCode: 200,
		Result: &res, Status: "completed", SLA: 24 * time.Hour, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	lead, _ = store.GetLead(ctx, s.Pool(), id)
	if lead.Status != "completed" || lead.Class != "sql" || lead.Route != "sales" || lead.SalesStage != "open" ||
		lead.SLADueAt == nil || lead.SLADueAt.Sub(now()) < 23*time.Hour || *lead.Total != 90 || lead.AttemptCount != 1 {
		t.Fatalf("lead after the call %+v", lead)
	}
	var answers int
	var kinds []string
	s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM answers WHERE lead_id = $1),
		(SELECT array_agg(kind ORDER BY id) FROM lead_events WHERE lead_id = $1)`, id).Scan(&answers, &kinds)
	if want := []string{"lead.created", "call.started", "lead.status", "call.ended", "lead.qualified"}; answers != 6 || !slices.Equal(kinds, want) {
		t.Errorf("answers %d, events %v; want 6 and %v", answers, kinds, want)
	}
	attempts, _, err := s.LeadHistory(ctx, id)
	if err != nil || len(attempts) != 1 || len(attempts[0].Answers) != 6 || attempts[0].Answers[4].Question != "seats" ||
		!attempts[0].Answers[4].FromForm || attempts[0].Answers[3].FromForm {
		t.Errorf("history %+v %v; want the seats answer marked from the form", attempts, err)
	}
	if ids, err := s.MarkSLABreaches(ctx, s.Pool()); err != nil || len(ids) != 0 {
		t.Errorf("breaches before the deadline: %v %v", ids, err)
	}
	if starts, _ := store.AttemptStartsSince(ctx, s.Pool(), "+12125550123", now().Add(-time.Hour)); len(starts) != 1 {
		t.Errorf("attempts in the last hour: %d", len(starts))
	}
	skew = 25 * time.Hour
	if ids, err := s.MarkSLABreaches(ctx, s.Pool()); err != nil || len(ids) != 1 || ids[0] != id {
		t.Errorf("breaches %v %v", ids, err)
	}
	if starts, _ := store.AttemptStartsSince(ctx, s.Pool(), "+12125550123", now().Add(-time.Hour)); len(starts) != 0 {
		t.Errorf("attempts in the last hour: %d", len(starts))
	}
	if added, err := s.AddDNC(ctx, s.Pool(), store.DNCEntry{Phone: "+12125550123", Source: store.DNCOptOut, CampaignID: c.ID, LeadID: id}); err != nil || !added {
		t.Fatal(err)
	}
	if added, err := s.AddDNC(ctx, s.Pool(), store.DNCEntry{Phone: "+12125550123", Source: store.DNCManual}); err != nil || added {
		t.Fatalf("adding twice: %v", err)
	}
	if on, _ := store.OnDNC(ctx, s.Pool(), "+12125550123"); !on {
		t.Error("not on DNC")
	}
}
