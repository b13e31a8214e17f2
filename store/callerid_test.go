package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// TestCallerIDRotation: a call presents a caller ID in the lead's area code
// when the campaign has one (local presence), else the least used; no
// caller ID presents more than its daily cap, even when many processes
// start calls at once; with all at their cap the attempt is refused with
// the moment one is free again. The health report counts what was
// presented.
func TestCallerIDRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := fixture.Clock()
	s := store.New(pgtest.DB(t), store.Config{Now: now})
	c, err := s.CreateCampaign(ctx, store.CampaignParams{Name: "pool", ScriptID: "bant-en", CallerID: "+12125550100",
		CallerIDPool: []string{"+13055550100", "+14155550100"}, CallerIDDailyCap: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CallerIDs(); len(got) != 3 || got[0] != "+12125550100" || c.CallerIDDailyCap != 3 {
		t.Fatalf("caller IDs %v, cap %d", got, c.CallerIDDailyCap)
	}
	sc := script(t)
	if err := s.StartCampaign(ctx, c.ID, sc, []byte("yaml")); err != nil {
		t.Fatal(err)
	}
	start := func(phone string) (*store.Attempt, error) {
		id, _, err := s.InsertLead(ctx, s.Pool(), store.LeadParams{CampaignID: c.ID, Phone: phone})
		if err != nil {
			return nil, err
		}
		var a *store.Attempt
		err = s.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			a, err = s.StartAttempt(ctx, tx, store.AttemptParams{LeadID: id, CampaignID: c.ID, Phone: phone, Driver: "sip", Worker: "test",
				Script: sc, CallerID: c.CallerID, CallerIDs: c.CallerIDs(), CallerIDCap: c.CallerIDDailyCap})
			return err
		})
		return a, err
	}
	// Local presence: a Miami lead sees the Miami number, a San Francisco
	// lead the San Francisco one.
	for phone, want := range map[string]string{"+13055550001": "+13055550100", "+14155550002": "+14155550100", "+13055550003": "+13055550100"} {
		a, err := start(phone)
		if err != nil || a.CallerID != want {
			t.Fatalf("lead %s presented %v (%v); want %s", phone, a, err, want)
		}
	}
	// No local number: the least used — New York's, unused so far; then
	// New York's again, tied with San Francisco's at 1 call and first in
	// the campaign's order; Miami's (2 calls) is not taken.
	for i, want := range []string{"+12125550100", "+12125550100"} {
		if a, err := start(fmt.Sprintf("+1646555%04d", i)); err != nil || a.CallerID != want {
			t.Fatalf("non-local lead %d presented %v (%v); want %s", i, a, err, want)
		}
	}
	// Miami's number has 2 calls of 3: a Miami lead still sees it.
	if a, err := start("+13055550004"); err != nil || a.CallerID != "+13055550100" {
		t.Fatalf("third Miami lead: %v (%v)", a, err)
	}
	// Miami's is at its cap: the next Miami lead takes the least used other.
	if a, err := start("+13055550005"); err != nil || a.CallerID != "+14155550100" {
		t.Fatalf("Miami lead with Miami's number at its cap: %v (%v)", a, err)
	}
	// Used so far: Miami 3, San Francisco 2, New York 2: two calls left.
	// Eight processes start calls at once: two get a caller ID.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, capped int
	var until time.Time
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := start(fmt.Sprintf("+1917555%04d", i))
			var ce *store.CallerIDsCappedError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &ce):
				capped, until = capped+1, ce.Until
			case err != nil:
				t.Error(err)
			case a.CallerID == "":
				t.Error("an attempt without a caller ID")
			default:
				ok++
			}
		}()
	}
	wg.Wait()
	if ok != 2 || capped != 6 || until.Sub(now()) < 23*time.Hour {
		t.Errorf("8 calls at once with 2 left: %d placed, %d refused (free again %s)", ok, capped, until)
	}
	stats, err := store.CallerIDHealth(ctx, s.Pool(), now().Add(-48*time.Hour), now())
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 3 {
		t.Fatalf("health of %d caller IDs: %+v", len(stats), stats)
	}
	for _, st := range stats {
		if st.Dials != 3 || st.Dials24h != 3 || st.DailyCap != 3 || len(st.Campaigns) != 1 || st.Campaigns[0] != c.ID {
			t.Errorf("caller ID %s: %+v", st.CallerID, st)
		}
	}
}
