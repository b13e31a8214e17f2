package queue_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/twilio"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/internal/twiliotest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// TestTwilioCampaign: the same campaign machinery, switched to the Twilio
// driver by configuration alone, qualifies, records opt-outs and retries.
func TestTwilioCampaign(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	fake := twiliotest.New(t, map[string]twiliotest.Persona{
		"+12125550501": {Steps: []string{"1", "1", "1", "1", "120#", "1"}},
		"+12125550502": {Steps: []string{"9"}},
		"+12125550503": {Answer: "busy"},
	})
	var handler http.Handler
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer hooks.Close()
	tw, err := twilio.New(twilio.Config{AccountSID: fake.SID, AuthToken: fake.Token, PublicURL: hooks.URL, APIBaseURL: fake.URL(), Sessions: st})
	if err != nil {
		t.Fatal(err)
	}
	handler = tw.Handler()
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"twilio": tw}, DriverCPS: map[string]float64{"twilio": 2}, ReconcileInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: "tw", ScriptID: "bant-en", CallerID: "+15550100", Driver: "twilio",
		WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 8 * time.Hour, WindowEnd: 21 * time.Hour, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("../scripts/bant-en.yaml")
	if err := st.StartCampaign(ctx, c.ID, ivr.MustParse("bant-en.yaml", src), src); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	zone := fixture.DaytimeZone(st.Now())
	err = st.Tx(ctx, func(tx pgx.Tx) error {
		for _, p := range []string{"+12125550501", "+12125550502", "+12125550503"} {
			id, _, err := st.InsertLead(ctx, tx, store.LeadParams{CampaignID: c.ID, Phone: p, TimeZone: zone})
			if err != nil {
				return err
			}
			ids[p] = id
			if err := q.EnqueueTx(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"+12125550501": queue.StatusCompleted, "+12125550502": queue.StatusOptedOut, "+12125550503": queue.StatusUnreachable}
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := true
		for p, id := range ids {
			l, _ := store.GetLead(ctx, st.Pool(), id)
			done = done && l.Status == want[p]
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			for p, id := range ids {
				l, _ := store.GetLead(ctx, st.Pool(), id)
				t.Logf("%s: %s (%s)", p, l.Status, l.StatusReason)
			}
			t.Fatal("leads did not settle")
		}
		time.Sleep(100 * time.Millisecond)
	}
	hot, _ := store.GetLead(ctx, st.Pool(), ids["+12125550501"])
	if hot.Class != "sql" || hot.SalesStage != "open" || *hot.Total != 90 {
		t.Errorf("hot lead %+v", hot)
	}
	if on, _ := store.OnDNC(ctx, st.Pool(), "+12125550502"); !on {
		t.Error("opt-out not on the DNC list")
	}
	// The account's 2 calls per second held, though the campaign allows
	// more: on the send times the pacing gate recorded.
	rows, _ := st.Pool().Query(ctx, `SELECT dialed_at FROM call_attempts ORDER BY dialed_at`)
	times, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil || len(times) != len(fake.CallTimes()) {
		t.Fatalf("%d send times recorded for %d Calls.json requests: %v", len(times), len(fake.CallTimes()), err)
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 500*time.Millisecond {
			t.Errorf("calls %d and %d sent only %s apart", i-1, i, gap)
		}
	}
	var sid string
	st.Pool().QueryRow(ctx, `SELECT provider_call_id FROM call_attempts WHERE lead_id = $1`, ids["+12125550501"]).Scan(&sid)
	if len(sid) != 34 || sid[:2] != "CA" {
		t.Errorf("attempt's provider call id %q, want the CallSid", sid)
	}
}
