package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

func newStore(t *testing.T) (*store.Store, *fixture.MovableClock) {
	t.Helper()
	c := fixture.NewMovableClock()
	return store.New(pgtest.DB(t), store.Config{Now: c.Now}), c
}

func campaign(t *testing.T, s *store.Store, name string) *store.Campaign {
	t.Helper()
	ctx := context.Background()
	c, err := s.CreateCampaign(ctx, store.CampaignParams{Name: name, ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartCampaign(ctx, c.ID, script(t), []byte("yaml")); err != nil {
		t.Fatal(err)
	}
	return c
}

func lead(t *testing.T, s *store.Store, p store.LeadParams) int64 {
	t.Helper()
	id, _, err := s.InsertLead(context.Background(), s.Pool(), p)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func kinds(t *testing.T, s *store.Store, leadID int64) []string {
	t.Helper()
	var ks []string
	if err := s.Pool().QueryRow(context.Background(), `SELECT coalesce(array_agg(kind ORDER BY id), '{}') FROM lead_events WHERE lead_id = $1`,
		leadID).Scan(&ks); err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestNumberCapHoldsUnderConcurrency: ten campaigns try to call the same
// number at the same moment with a cap of 3 calls per 24 hours: exactly
// three attempts start, the others learn when the next call is allowed.
func TestNumberCapHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	s, clock := newStore(t)
	ctx := context.Background()
	sc := script(t)
	const phone = "+12125550777"
	var leads [][2]int64
	for i := range 10 {
		c := campaign(t, s, fmt.Sprintf("c%d", i))
		leads = append(leads, [2]int64{c.ID, lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: phone})})
	}
	var started, capped atomic.Int32
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for _, l := range leads {
		wg.Go(func() {
			<-gate
			err := s.Tx(ctx, func(tx pgx.Tx) error {
				_, err := s.StartAttempt(ctx, tx, store.AttemptParams{CampaignID: l[0], LeadID: l[1], Phone: phone, Driver: "sip",
					Worker: "test", Script: sc, NumberCap: 3})
				return err
			})
			var ce *store.CappedError
			switch {
			case err == nil:
				started.Add(1)
			case errors.As(err, &ce):
				capped.Add(1)
				if ce.Calls != 3 || ce.Until.Sub(clock.Now()) < 23*time.Hour {
					t.Errorf("capped: %+v", ce)
				}
			default:
				t.Error(err)
			}
		})
	}
	close(gate)
	wg.Wait()
	if started.Load() != 3 || capped.Load() != 7 {
		t.Fatalf("%d attempts started, %d capped; want 3 and 7", started.Load(), capped.Load())
	}
}

// TestSendGatePacesRecordedDialTimes: INVITEs recorded through the gate are
// at least 1/calls-per-second apart, for the campaign and for the driver's
// account, however the dialers ask.
func TestSendGatePacesRecordedDialTimes(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	sc := script(t)
	a, b := campaign(t, s, "a"), campaign(t, s, "b")
	var attempts []store.SendGate
	for i, c := range []*store.Campaign{a, a, a, b, b, b} {
		id := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: fmt.Sprintf("+1212555%04d", i)})
		err := s.Tx(ctx, func(tx pgx.Tx) error {
			att, err := s.StartAttempt(ctx, tx, store.AttemptParams{CampaignID: c.ID, LeadID: id, Phone: fmt.Sprintf("+1212555%04d", i),
				Driver: "twilio", Worker: "test", Script: sc})
			if err == nil {
				// Campaign a: 5 calls/s; the account: 4 calls/s across both.
				attempts = append(attempts, store.SendGate{AttemptID: att.ID, CampaignID: c.ID, CallsPerSecond: 5, Driver: "twilio", DriverCPS: 4})
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, g := range attempts {
		wg.Go(func() {
			for {
				wait, err := s.PassSendGate(ctx, g)
				if err != nil {
					t.Error(err)
					return
				}
				if wait <= 0 {
					return
				}
				time.Sleep(wait)
			}
		})
	}
	wg.Wait()
	var dialed []time.Time
	rows, _ := s.Pool().Query(ctx, `SELECT dialed_at FROM call_attempts ORDER BY dialed_at`)
	dialed, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil || len(dialed) != 6 {
		t.Fatalf("%d dial times recorded: %v", len(dialed), err)
	}
	for i := 1; i < len(dialed); i++ {
		if gap := dialed[i].Sub(dialed[i-1]); gap < 250*time.Millisecond {
			t.Errorf("dials %d and %d recorded %s apart; the account allows 4 calls/s", i-1, i, gap)
		}
	}
}

// TestDNCChangesAreEvents: adding and removing a number is recorded with who
// did it, in the list's history and on every lead with that number.
func TestDNCChangesAreEvents(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	c1, c2 := campaign(t, s, "one"), campaign(t, s, "two")
	l1 := lead(t, s, store.LeadParams{CampaignID: c1.ID, Phone: "+12125550888"})
	l2 := lead(t, s, store.LeadParams{CampaignID: c2.ID, Phone: "+12125550888"})
	if added, err := s.AddDNC(ctx, s.Pool(), store.DNCEntry{Phone: "+12125550888", Source: store.DNCAPI, Reason: "asked by email", Actor: "api_key:7"}); err != nil || !added {
		t.Fatal(added, err)
	}
	if added, err := s.AddDNC(ctx, s.Pool(), store.DNCEntry{Phone: "+12125550888", Source: store.DNCManual, Actor: "api_key:8"}); err != nil || added {
		t.Fatalf("second add: %v %v", added, err)
	}
	if removed, err := s.RemoveDNC(ctx, s.Pool(), "+12125550888", "api_key:1", "added by mistake"); err != nil || !removed {
		t.Fatal(removed, err)
	}
	if removed, _ := s.RemoveDNC(ctx, s.Pool(), "+12125550888", "api_key:1", ""); removed {
		t.Error("removed twice")
	}
	for _, id := range []int64{l1, l2} {
		if got, want := kinds(t, s, id), []string{"lead.created", "dnc.added", "dnc.removed"}; !slices.Equal(got, want) {
			t.Errorf("lead %d events %v; want %v", id, got, want)
		}
	}
	var history []string
	rows, _ := s.Pool().Query(ctx, `SELECT action || ' by ' || actor FROM dnc_changes ORDER BY id`)
	history, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	if want := []string{"added by api_key:7", "removed by api_key:1"}; !slices.Equal(history, want) {
		t.Errorf("history %v; want %v", history, want)
	}
}

// TestConsentDefinition: consent needs a source and a time, and neither may
// say no.
func TestConsentDefinition(t *testing.T) {
	t.Parallel()
	s, clock := newStore(t)
	c := campaign(t, s, "consent")
	at := clock.Now()
	for i, tc := range []struct {
		consent store.Consent
		want    bool
	}{
		{store.Consent{Source: "web_form", At: at}, true},
		{store.Consent{Source: "web_form", Text: "I agree to be called", At: at}, true},
		{store.Consent{Source: "web_form"}, false},      // when?
		{store.Consent{At: at, Text: "I agree"}, false}, // from where?
		{store.Consent{Source: "no", At: at}, false},    // a refusal
		{store.Consent{Source: " No ", At: at}, false},  // a refusal
		{store.Consent{Source: "web_form", Text: "false", At: at}, false},
		{store.Consent{Source: "paper form", Text: "yes", At: at}, true},
	} {
		id := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: fmt.Sprintf("+1212555%04d", i), Consent: tc.consent})
		l, err := store.GetLead(context.Background(), s.Pool(), id)
		if err != nil || l.HasConsent != tc.want {
			t.Errorf("%+v: has consent %v; want %v (%v)", tc.consent, l.HasConsent, tc.want, err)
		}
	}
}

// TestStatusChangesAreEvents: the dialer's status changes are lead.status
// events; setting the same status and reason again is not.
func TestStatusChangesAreEvents(t *testing.T) {
	t.Parallel()
	s, clock := newStore(t)
	ctx := context.Background()
	c := campaign(t, s, "status")
	id := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550999"})
	next := clock.Now().Add(time.Hour)
	for range 3 {
		if err := s.SetLeadStatus(ctx, s.Pool(), id, "worker:x", "queued", "campaign paused", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetLeadStatus(ctx, s.Pool(), id, "worker:x", "scheduled", "outside calling hours", &next); err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(t, s, id), []string{"lead.created", "lead.status", "lead.status"}; !slices.Equal(got, want) {
		t.Errorf("events %v; want %v", got, want)
	}
}

// TestDueRecalls: a nurture lead is recalled when its time comes — not
// before, not in a paused campaign — with its round of attempts restarted.
func TestDueRecalls(t *testing.T) {
	t.Parallel()
	s, clock := newStore(t)
	ctx := context.Background()
	c := campaign(t, s, "recall")
	id := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125551000"})
	sc := script(t)
	var att *store.Attempt
	err := s.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		att, err = s.StartAttempt(ctx, tx, store.AttemptParams{CampaignID: c.ID, LeadID: id, Phone: "+12125551000", Driver: "sip", Worker: "t", Script: sc})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	recall := clock.Now().Add(30 * 24 * time.Hour)
	res := ivr.Result{ScriptID: sc.ID, ScriptVersion: sc.Version, Outcome: ivr.OutcomeCompleted, Class: "mql", Route: ivr.RouteNurture,
		Scores: map[string]int{"budget": 15}, Total: 40}
	if err := s.FinishAttempt(ctx, s.Pool(), store.AttemptResult{AttemptID: att.ID, LeadID: id, Disposition: "answered", Result: &res,
		Status: "completed", Why: "nurture", Next: &recall, RecallAt: &recall, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	due := func() []int64 {
		var ids []int64
		if err := s.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			ids, err = s.DueRecalls(ctx, tx, 10)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if ids := due(); len(ids) != 0 {
		t.Fatalf("recalled before its time: %v", ids)
	}
	clock.Advance(31 * 24 * time.Hour)
	if err := s.SetCampaignStatus(ctx, c.ID, "paused"); err != nil {
		t.Fatal(err)
	}
	if ids := due(); len(ids) != 0 {
		t.Fatalf("recalled in a paused campaign: %v", ids)
	}
	if err := s.SetCampaignStatus(ctx, c.ID, "active"); err != nil {
		t.Fatal(err)
	}
	if ids := due(); !slices.Equal(ids, []int64{id}) {
		t.Fatalf("recalled %v; want [%d]", ids, id)
	}
	l, _ := store.GetLead(ctx, s.Pool(), id)
	if l.Status != "queued" || l.RecallAt != nil || l.RoundAttempts != 0 || l.AttemptCount != 1 || l.Class != "mql" {
		t.Errorf("recalled lead %+v", l)
	}
	if ids := due(); len(ids) != 0 {
		t.Errorf("recalled twice: %v", ids)
	}
}
