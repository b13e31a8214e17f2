package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// openLeads adds n leads of a campaign waiting for sales, the first due
// first (one a minute from due), and returns their ids.
func openLeads(t *testing.T, s *store.Store, campaignID int64, n int, due time.Time) []int64 {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `INSERT INTO leads (campaign_id, phone, status, outcome, class, route, total,
			sales_stage, sla_due_at, sla_status, created_at, updated_at)
		SELECT $1::bigint, '+1555' || ($1::bigint * 100000 + g)::text, 'completed', 'completed', 'sql', 'sales', 90,
			'open', $3::timestamptz + g * interval '1 minute', 'pending', $3, $3
		FROM generate_series(1, $2) g ORDER BY g RETURNING id`, campaignID, n, due)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func rep(t *testing.T, s *store.Store, name string) int64 {
	t.Helper()
	_, k, err := s.CreateAPIKey(context.Background(), store.RoleSales, name)
	if err != nil {
		t.Fatal(err)
	}
	return k.UserID
}

// Claims go most urgent first, campaign by campaign when asked, and a lead
// opened again more urgent than the ones claimed meanwhile is claimed next:
// when this process opened it (a release), at once; when another did (here
// plain SQL), once the leads after it are gone at the latest.
func TestClaimNextOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	ann, bob := rep(t, s, "ann"), rep(t, s, "bob")
	a, _ := s.CreateCampaign(ctx, store.CampaignParams{Name: "a", ScriptID: "bant-en", CallerID: "+15550100"})
	b, _ := s.CreateCampaign(ctx, store.CampaignParams{Name: "b", ScriptID: "bant-en", CallerID: "+15550100"})
	due := s.Now().Add(time.Hour)
	// Campaign b's leads are due 30 s after a's of the same rank: a1 b1 a2 b2…
	la := openLeads(t, s, a.ID, 5, due)
	lb := openLeads(t, s, b.ID, 5, due.Add(30*time.Second))

	claim := func(user, campaign int64, want int64) {
		t.Helper()
		l, err := s.ClaimNext(ctx, user, campaign)
		if err != nil {
			t.Fatalf("claim (want %d): %v", want, err)
		}
		if l.ID != want || l.SalesStage != "accepted" || l.AssignedTo != user {
			t.Fatalf("claimed %d %s by %d, want %d accepted by %d", l.ID, l.SalesStage, l.AssignedTo, want, user)
		}
	}
	claim(ann, 0, la[0])
	claim(bob, 0, lb[0])
	claim(ann, b.ID, lb[1])
	claim(ann, a.ID, la[1])
	claim(bob, 0, la[2])

	// Ann releases her first claim: it is the most urgent again.
	if _, err := s.Transition(ctx, la[0], store.SalesActor{UserID: ann}, store.ActionRelease, nil); err != nil {
		t.Fatal(err)
	}
	claim(bob, 0, la[0])
	claim(bob, a.ID, la[3])

	// Another process releases b's first lead behind this one's back.
	if _, err := s.Pool().Exec(ctx, `UPDATE leads SET sales_stage = 'open', assigned_to = NULL, accepted_at = NULL WHERE id = $1`, lb[0]); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for {
		l, err := s.ClaimNext(ctx, ann, b.ID)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l.ID)
	}
	if fmt.Sprint(len(got)) != "4" || !contains(got, lb[0]) || !contains(got, lb[2]) || !contains(got, lb[3]) || !contains(got, lb[4]) {
		t.Fatalf("claimed %v of campaign b, want its leads 0, 2, 3, 4 (%v)", got, lb)
	}
	claim(ann, 0, la[4])
	if _, err := s.ClaimNext(ctx, ann, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("nothing left open: %v", err)
	}
	var events int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM lead_events WHERE kind = 'lead.accepted'`).Scan(&events); err != nil || events != 12 {
		t.Fatalf("%d lead.accepted events, want 12 (%v)", events, err)
	}
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Reps claiming at once never get the same lead, and every lead is
// claimed, also while a long transaction elsewhere keeps the claimed leads'
// old versions (and their index entries) from being cleaned up.
func TestClaimNextConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.DB(t)
	s := store.New(pool, store.Config{Now: fixture.Clock()})
	a, _ := s.CreateCampaign(ctx, store.CampaignParams{Name: "a", ScriptID: "bant-en", CallerID: "+15550100"})
	b, _ := s.CreateCampaign(ctx, store.CampaignParams{Name: "b", ScriptID: "bant-en", CallerID: "+15550100"})
	ids := append(openLeads(t, s, a.ID, 200, s.Now()), openLeads(t, s, b.ID, 100, s.Now())...)

	long, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = long.Rollback(ctx) }()
	if _, err := long.Exec(ctx, `SELECT txid_current()`); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for i := range 12 {
		user := rep(t, s, fmt.Sprintf("rep %d", i))
		campaign := []int64{0, a.ID, b.ID}[i%3]
		wg.Go(func() {
			for {
				l, err := s.ClaimNext(ctx, user, campaign)
				if errors.Is(err, store.ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				if campaign != 0 && l.CampaignID != campaign {
					t.Errorf("lead %d of campaign %d claimed from campaign %d", l.ID, l.CampaignID, campaign)
				}
				mu.Lock()
				claimed[l.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if claimed[id] != 1 {
			t.Errorf("lead %d claimed %d times", id, claimed[id])
		}
	}
	var open, events int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM leads WHERE sales_stage = 'open'),
		(SELECT count(*) FROM lead_events WHERE kind = 'lead.accepted')`).Scan(&open, &events); err != nil || open != 0 || events != len(ids) {
		t.Fatalf("%d leads open, %d lead.accepted events for %d leads (%v)", open, events, len(ids), err)
	}
}
