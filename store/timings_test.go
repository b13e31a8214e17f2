package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/store"
)

// TestAttemptComplianceTimings: an attempt keeps its timings, and one over
// the 2-second rule on either is marked late; unmeasured ones are not.
func TestAttemptComplianceTimings(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	c := campaign(t, s, "timings")
	ms := func(n int) *int { return &n }
	for i, tc := range []struct {
		toID, toOpt *int
		late        bool
	}{
		{ms(120), ms(15), false},
		{ms(2001), ms(15), true},
		{ms(300), ms(2500), true},
		{nil, nil, false},
	} {
		phone := "+1212555018" + string(rune('0'+i))
		id := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: phone})
		var a *store.Attempt
		if err := s.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			a, err = s.StartAttempt(ctx, tx, store.AttemptParams{LeadID: id, CampaignID: c.ID, Phone: phone, Driver: "sip", Worker: "test", Script: script(t)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishAttempt(ctx, s.Pool(), store.AttemptResult{AttemptID: a.ID, LeadID: id, Disposition: "answered", SIPCode: 200,
			Status: store.LeadRetryWait, Actor: "test", AnswerToIdentifyMS: tc.toID, IdentifyToOptOutMS: tc.toOpt, PostDialDelayMS: ms(800)}); err != nil {
			t.Fatal(err)
		}
		var toID, toOpt, pdd *int
		var late bool
		if err := s.Pool().QueryRow(ctx, `SELECT answer_to_identify_ms, identify_to_opt_out_ms, post_dial_delay_ms, compliance_late
			FROM call_attempts WHERE id = $1`, a.ID).Scan(&toID, &toOpt, &pdd, &late); err != nil {
			t.Fatal(err)
		}
		if late != tc.late || (toID == nil) != (tc.toID == nil) || (toID != nil && *toID != *tc.toID) || pdd == nil || *pdd != 800 {
			t.Errorf("case %d: stored %v/%v/%v late %v, want late %v", i, toID, toOpt, pdd, late, tc.late)
		}
	}
}
