package queue_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// listCampaign creates a campaign of n leads due now, loaded the way an
// import loads them (set-based), numbered in the area code given, and starts it
// unless status says draft or paused.
func listCampaign(t testing.TB, st *store.Store, name string, status store.CampaignStatus, n int, area string, cp store.CampaignParams) *store.Campaign {
	t.Helper()
	ctx := context.Background()
	cp.Name, cp.ScriptID, cp.CallerID = name, "bant-en", "+15550100"
	cp.WindowDays, cp.WindowStart, cp.WindowEnd = []int{1, 2, 3, 4, 5, 6, 7}, 9*time.Hour, 20*time.Hour
	c, err := st.CreateCampaign(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Pool().Exec(ctx, `INSERT INTO leads (campaign_id, phone, source, time_zone, status, status_reason, next_attempt_at, priority, created_at, updated_at)
		SELECT $1, '+1' || $2 || (2000000 + g)::text, 'import', $3, 'queued', 'waiting for a dialer', $4, 1, $4, $4 FROM generate_series(0, $5 - 1) g`,
		c.ID, area, fixture.DaytimeZone(st.Now()), st.Now(), n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `ANALYZE leads`); err != nil {
		t.Fatal(err)
	}
	if status == "draft" {
		return c
	}
	src, _ := os.ReadFile("../scripts/bant-en.yaml")
	if err := st.MoveCampaign(ctx, c.ID, status, []store.CampaignStatus{store.CampaignDraft}, ivr.MustParse("bant-en.yaml", src), src); err != nil {
		t.Fatal(err)
	}
	return c
}

// attempts counts a campaign's call attempts.
func attempts(t testing.TB, st *store.Store, campaignID int64) int {
	t.Helper()
	var n int
	if err := st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM call_attempts WHERE campaign_id = $1`, campaignID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// maxOverlap is the most call attempts that were in progress at once.
func maxOverlap(t testing.TB, st *store.Store) int {
	t.Helper()
	var n int
	err := st.Pool().QueryRow(context.Background(), `WITH ev AS (
			SELECT started_at AS at, 1 AS d FROM call_attempts
			UNION ALL SELECT coalesce(ended_at, 'infinity'), -1 FROM call_attempts)
		SELECT coalesce(max(open), 0) FROM (SELECT sum(d) OVER (ORDER BY at, d) AS open FROM ev) x`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFreshLeadsFirst is the starvation scenario: a web-form campaign beside
// a 1M-lead list campaign that is being dialled, and a paused campaign of
// 200k leads, sharing a trunk of 4 channels. Every web-form lead is dialled
// within seconds of arriving (before: minutes behind the list's jobs), the
// list keeps being dialled meanwhile (fair sharing), the trunk's channels
// are never exceeded, and the paused campaign costs nothing: no job, no
// change to its leads.
func TestFreshLeadsFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	busy := softphone.Persona{Answer: "reject", Code: 486}
	b := setupWith(t, map[string]softphone.Persona{"default": busy}, store.CampaignParams{MaxConcurrent: 2, CallsPerSecond: 20},
		func(c *queue.Config) { c.TrunkChannels = map[string]int{"sip": 4} })
	paused := listCampaign(t, b.store, "paused list", "paused", 200_000, "646", store.CampaignParams{})
	list := listCampaign(t, b.store, "big list", "active", 1_000_000, "718", store.CampaignParams{MaxConcurrent: 10, CallsPerSecond: 30})
	var pausedSeen time.Time
	if err := b.store.Pool().QueryRow(ctx, `SELECT max(updated_at) FROM leads WHERE campaign_id = $1`, paused.ID).Scan(&pausedSeen); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 2*time.Minute, "the list being dialled", func() bool { return attempts(t, b.store, list.ID) >= 20 })
	listBefore := attempts(t, b.store, list.ID)
	var early, dialing []int
	web := map[string]int64{}
	for i := range 20 {
		phone := "+1212555" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + "00"
		for k, v := range b.addLeads(t, store.LeadParams{Phone: phone, Source: "web_form"}) {
			web[k] = v
		}
		// A dial job exists only for a lead about to be dialled.
		var e, d int
		if err := b.store.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job j JOIN leads l ON l.id = (j.args->>'lead_id')::bigint
			WHERE j.kind = 'dial_lead' AND j.state IN ('available', 'scheduled', 'retryable', 'pending')
			AND l.status IN ('queued', 'scheduled', 'retry_wait')`).Scan(&e); err != nil {
			t.Fatal(err)
		}
		if err := b.store.Pool().QueryRow(ctx, `SELECT count(*) FROM leads WHERE status = 'dialing'`).Scan(&d); err != nil {
			t.Fatal(err)
		}
		early, dialing = append(early, e), append(dialing, d)
		time.Sleep(150 * time.Millisecond)
	}
	// Dialled: its INVITE sent (an attempt is written just before).
	waitFor(t, time.Minute, "every web-form lead dialled", func() bool {
		var n int
		if err := b.store.Pool().QueryRow(ctx, `SELECT count(*) FROM call_attempts WHERE campaign_id = $1 AND attempt_no = 1
			AND dialed_at IS NOT NULL`, b.camp.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n >= len(web)
	})

	var waits []time.Duration
	rows, err := b.store.Pool().Query(ctx, `SELECT a.dialed_at - l.created_at FROM call_attempts a JOIN leads l ON l.id = a.lead_id
		WHERE a.campaign_id = $1 AND a.attempt_no = 1 AND a.dialed_at IS NOT NULL`, b.camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d time.Duration
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		waits = append(waits, d)
	}
	slices.Sort(waits)
	t.Logf("web-form lead → INVITE: min %v, median %v, max %v; list attempts during the test %d; leads dialing, sampled %v",
		waits[0], waits[len(waits)/2], waits[len(waits)-1], attempts(t, b.store, list.ID)-listBefore, dialing)
	if len(waits) != len(web) || waits[len(waits)-1] > 5*time.Second {
		t.Errorf("web-form leads waited %v for their first INVITE; want all %d within 5s", waits, len(web))
	}
	if n := attempts(t, b.store, list.ID); n < listBefore+10 {
		t.Errorf("the list made %d calls while the web-form leads came in; it must keep its share", n-listBefore)
	}
	if n := maxOverlap(t, b.store); n > 4 {
		t.Errorf("%d calls at once on a trunk of 4 channels", n)
	}
	if m := slices.Max(dialing); m > 4 {
		t.Errorf("%d leads dialing at once on a trunk of 4 channels", m)
	}
	if m := slices.Max(early); m > 0 {
		t.Errorf("%d dial jobs waiting for leads that are not due; only a lead about to be dialled has one", m)
	}
	var touched, pausedJobs int
	if err := b.store.Pool().QueryRow(ctx, `SELECT count(*) FROM leads WHERE campaign_id = $1 AND (updated_at > $2 OR status <> 'queued')`,
		paused.ID, pausedSeen).Scan(&touched); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job j JOIN leads l ON l.id = (j.args->>'lead_id')::bigint
		WHERE j.kind = 'dial_lead' AND l.campaign_id = $1`, paused.ID).Scan(&pausedJobs); err != nil {
		t.Fatal(err)
	}
	if touched != 0 || pausedJobs != 0 || attempts(t, b.store, paused.ID) != 0 {
		t.Errorf("paused campaign: %d leads touched, %d dial jobs; want none", touched, pausedJobs)
	}
}

// waitFor polls ok until it holds or within passes.
func waitFor(t testing.TB, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
