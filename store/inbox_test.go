package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

// TestResultAnswers: the inbox's answers are those of the call that gave
// the lead its result — a later incomplete call does not replace them —
// for every lead asked at once; a lead never called has none. The classes
// of the sales leads and a note are read and written as the inbox does.
func TestResultAnswers(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	sc := script(t)
	c := campaign(t, s, "spring")
	call := func(id int64, phone string, inputs ...ivr.Input) {
		t.Helper()
		var a *store.Attempt
		if err := s.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			a, err = s.StartAttempt(ctx, tx, store.AttemptParams{LeadID: id, CampaignID: c.ID, Phone: phone, Driver: "sip", Worker: "test", Script: sc})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		eng := ivr.NewEngine(sc)
		st, _ := eng.Start(nil)
		for _, in := range inputs {
			st, _, _ = eng.Next(st, in)
		}
		res := eng.Result(st)
		status := store.LeadCompleted
		if res.Outcome != ivr.OutcomeCompleted {
			status = store.LeadRetryWait
		}
		if err := s.FinishAttempt(ctx, s.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: id, Disposition: "answered", SIPCode: 200,
			Result: &res, Status: status, SLA: 24 * time.Hour, Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	keys := func(ks ...string) []ivr.Input {
		var out []ivr.Input
		for _, k := range ks {
			out = append(out, ivr.Input{Keys: k})
		}
		return out
	}
	ann := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550131"})
	call(ann, "+12125550131", keys("1", "1", "1", "2", "500#", "1")...)
	call(ann, "+12125550131", ivr.Input{Keys: "1"}, ivr.Input{Hangup: true})
	bob := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550132"})
	call(bob, "+12125550132", keys("1", "1", "2", "1", "20#", "3")...)
	never := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550133"})

	got, err := s.ResultAnswers(ctx, []int64{ann, bob, never})
	if err != nil {
		t.Fatal(err)
	}
	words := func(as []store.AnswerView) string {
		var out string
		for _, a := range as {
			out += fmt.Sprintf("%s=%s%v ", a.Question, a.Keys, a.Points)
		}
		return out
	}
	if w := words(got[ann]); w != "intro=1map[] role=1map[] budget=1map[budget:30] authority=2map[authority:15] seats=500#map[need:25] timeline=1map[timeline:20] " {
		t.Errorf("Ann's answers: %s", w)
	}
	if w := words(got[bob]); w != "intro=1map[] role=1map[] budget=2map[budget:15] authority=1map[authority:25] seats=20#map[need:15] timeline=3map[timeline:0] " {
		t.Errorf("Bob's answers: %s", w)
	}
	if _, ok := got[never]; ok || len(got) != 2 {
		t.Errorf("answers for %d leads: %v", len(got), got)
	}
	if v := got[ann][4].Value; v == nil || *v != 500 {
		t.Errorf("Ann's seats: %v", v)
	}
	if none, err := s.ResultAnswers(ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("no leads: %v %v", none, err)
	}

	if classes, err := s.SalesClasses(ctx); err != nil || fmt.Sprint(classes) != "[sql]" {
		t.Errorf("sales classes: %v %v", classes, err)
	}
	if err := s.AddNote(ctx, ann, 7, "call back Friday"); err != nil {
		t.Fatal(err)
	}
	var actor, text string
	if err := s.Pool().QueryRow(ctx, `SELECT actor, data->>'text' FROM lead_events WHERE lead_id = $1 AND kind = 'lead.note'`, ann).Scan(&actor, &text); err != nil ||
		actor != "user:7" || text != "call back Friday" {
		t.Errorf("note: %q %q %v", actor, text, err)
	}
}
