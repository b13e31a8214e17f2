package queue_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
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
// driver by configuration alone, qualifies, records opt-outs and retries;
// its calls present the pool's local caller ID, and keep the attestation
// Twilio reports.
func TestTwilioCampaign(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	fake := twiliotest.New(t, map[string]twiliotest.Persona{
		"+12125550501": {Steps: []string{"1", "1", "1", "1", "120#", "1"}, Attestation: "A"},
		"+12125550502": {Steps: []string{"9"}},
		"+12125550503": {Answer: "busy"},
		"+12125550504": {Answer: "machine"},
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
		CallerIDPool: []string{"+13055550100", "+12125550100"},
		WindowDays:   []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 8 * time.Hour, WindowEnd: 21 * time.Hour, MaxAttempts: 1, MachineDetection: "hangup"})
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
		for _, p := range []string{"+12125550501", "+12125550502", "+12125550503", "+12125550504"} {
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
	want := map[string]store.LeadStatus{"+12125550501": queue.StatusCompleted, "+12125550502": queue.StatusOptedOut, "+12125550503": queue.StatusUnreachable,
		"+12125550504": queue.StatusUnreachable}
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
	// Twilio's machine detection: the attempt is a machine's, with the
	// verdict kept as SIP's is.
	var disposition, verdict, cause string
	if err := st.Pool().QueryRow(ctx, `SELECT disposition, coalesce(amd_verdict, ''), coalesce(amd_cause, '') FROM call_attempts WHERE lead_id = $1`,
		ids["+12125550504"]).Scan(&disposition, &verdict, &cause); err != nil || disposition != "machine" || verdict != "machine" || !strings.HasPrefix(cause, "machine") {
		t.Errorf("the machine's attempt: %s, verdict %q (%q), %v", disposition, verdict, cause, err)
	}
	// Every lead is in 212: each call presented the pool's New York number
	// (local presence), and the attempt kept it, with the attestation
	// Twilio's status callbacks gave (none for the others).
	for _, form := range fake.Calls() {
		if form.Get("From") != "+12125550100" {
			t.Errorf("a call to %s presented %s", form.Get("To"), form.Get("From"))
		}
	}
	for p, want := range map[string]string{"+12125550501": "A", "+12125550502": ""} {
		var callerID, attestation string
		if err := st.Pool().QueryRow(ctx, `SELECT caller_id, coalesce(attestation, '') FROM call_attempts WHERE lead_id = $1`,
			ids[p]).Scan(&callerID, &attestation); err != nil || callerID != "+12125550100" || attestation != want {
			t.Errorf("%s's attempt: caller ID %s, attestation %q (%v); want +12125550100, %q", p, callerID, attestation, err, want)
		}
	}
	var sid string
	st.Pool().QueryRow(ctx, `SELECT provider_call_id FROM call_attempts WHERE lead_id = $1`, ids["+12125550501"]).Scan(&sid)
	if len(sid) != 34 || sid[:2] != "CA" {
		t.Errorf("attempt's provider call id %q, want the CallSid", sid)
	}
}

// TestTwilioOptOutWithoutWorker: the worker that placed a Twilio call is
// gone right after the answer (its context cancelled, nothing more runs in
// it). The lead opts out in the webhooks: the number is on the do-not-call
// list before the goodbye is said, the next process settles the attempt
// from what the webhooks saved (opted out), and the lead is never dialled
// again.
func TestTwilioOptOutWithoutWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const number = "+12125550521"
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	fake := twiliotest.New(t, map[string]twiliotest.Persona{number: {Steps: []string{"1", "9"}}})
	dncAtGoodbye := make(chan bool, 1)
	fake.OnHear = func(to, text string) {
		if to == number && strings.Contains(text, "We will not call you again") {
			on, err := store.OnDNC(ctx, st.Pool(), number)
			dncAtGoodbye <- on && err == nil
		}
	}
	tw, src, leadID, attempt := orphanedTwilioAttempt(t, st, fake, "tw-crash", number)
	wctx, gone := context.WithCancel(ctx)
	call, err := tw.Dial(wctx, dialer.DialRequest{To: number, CallerID: "+15550100", Script: src, Language: "en-US", AttemptID: attempt.ID})
	if err != nil {
		t.Fatal(err)
	}
	gone() // the worker is gone: no RunCall, no result written by it
	_ = call

	select {
	case on := <-dncAtGoodbye:
		if !on {
			t.Error("the goodbye was said before the number was on the do-not-call list")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the lead never heard the goodbye")
	}
	// The call ends (status callback); then a process starts and settles
	// what the dead worker left.
	deadline := time.Now().Add(20 * time.Second)
	for {
		live, err := store.TwilioCallLive(ctx, st.Pool(), attempt.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call never ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"twilio": tw}, ReconcileInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	l, err := store.GetLead(ctx, st.Pool(), leadID)
	if err != nil {
		t.Fatal(err)
	}
	if l.Status != queue.StatusOptedOut {
		t.Errorf("lead %s (%s), want %s", l.Status, l.StatusReason, queue.StatusOptedOut)
	}
	// Its dial job runs (the reconciler made sure there is one) and calls
	// no one.
	err = st.Tx(ctx, func(tx pgx.Tx) error { return q.EnqueueTx(ctx, tx, leadID) })
	if err != nil {
		t.Fatal(err)
	}
	for {
		var pending int
		err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'dial_lead' AND (args->>'lead_id')::bigint = $1
			AND state NOT IN ('completed', 'cancelled', 'discarded')`, leadID).Scan(&pending)
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lead's dial job did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var sid, disposition string
	st.Pool().QueryRow(ctx, `SELECT coalesce(provider_call_id, ''), coalesce(disposition, '') FROM call_attempts WHERE id = $1`, attempt.ID).Scan(&sid, &disposition)
	if len(sid) != 34 || sid[:2] != "CA" || disposition != "answered" {
		t.Errorf("attempt settled with call id %q, disposition %q; want the CallSid, answered", sid, disposition)
	}
	if n := len(fake.Calls()); n != 1 {
		t.Errorf("%d calls placed; the opted-out lead was dialled again", n)
	}
	if on, _ := store.OnDNC(ctx, st.Pool(), number); !on {
		t.Error("not on the do-not-call list")
	}
}

// TestTwilioMachineWithoutWorker: the worker is gone while machine
// detection listens; the webhooks hang up on the machine, and the attempt
// is settled from the Twilio session as the machine disposition (not as an
// answered, incomplete call).
func TestTwilioMachineWithoutWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const number = "+12125550522"
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	fake := twiliotest.New(t, map[string]twiliotest.Persona{number: {Answer: "machine"}})
	tw, src, _, attempt := orphanedTwilioAttempt(t, st, fake, "tw-machine", number)
	// The worker's Dial sees the machine; the worker then dies before it
	// writes anything.
	_, err := tw.Dial(ctx, dialer.DialRequest{To: number, CallerID: "+15550100", Script: src, Language: "en-US", AttemptID: attempt.ID, MachineDetection: "hangup"})
	var de *dialer.DialError
	if !errors.As(err, &de) || de.Disposition != dialer.Machine {
		t.Fatalf("dial: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		live, err := store.TwilioCallLive(ctx, st.Pool(), attempt.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call never ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"twilio": tw}, ReconcileInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	var disposition string
	var ambiguous bool
	st.Pool().QueryRow(ctx, `SELECT coalesce(disposition, ''), ambiguous FROM call_attempts WHERE id = $1`, attempt.ID).Scan(&disposition, &ambiguous)
	if disposition != "machine" || ambiguous {
		t.Errorf("attempt settled as %q (ambiguous %v), want machine", disposition, ambiguous)
	}
}

// orphanedTwilioAttempt readies a Twilio call of a bant-en campaign whose
// attempt is owned by a process of this host that has since died: the
// driver (webhooks served), the script, the lead and the attempt.
func orphanedTwilioAttempt(t *testing.T, st *store.Store, fake *twiliotest.Twilio, name, number string) (*twilio.Driver, []byte, int64, *store.Attempt) {
	t.Helper()
	ctx := context.Background()
	var handler http.Handler
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(hooks.Close)
	tw, err := twilio.New(twilio.Config{AccountSID: fake.SID, AuthToken: fake.Token, PublicURL: hooks.URL, APIBaseURL: fake.URL(), Sessions: st,
		Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	handler = tw.Handler()
	c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: name, ScriptID: "bant-en", CallerID: "+15550100", Driver: "twilio",
		WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 8 * time.Hour, WindowEnd: 21 * time.Hour, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("../scripts/bant-en.yaml")
	script := ivr.MustParse("bant-en.yaml", src)
	if err := st.StartCampaign(ctx, c.ID, script, src); err != nil {
		t.Fatal(err)
	}
	// The worker: a process of this host that has since died.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	var leadID int64
	var attempt *store.Attempt
	err = st.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		if leadID, _, err = st.InsertLead(ctx, tx, store.LeadParams{CampaignID: c.ID, Phone: number, TimeZone: fixture.DaytimeZone(st.Now())}); err != nil {
			return err
		}
		attempt, err = st.StartAttempt(ctx, tx, store.AttemptParams{LeadID: leadID, CampaignID: c.ID, Phone: number, Driver: "twilio",
			Worker: fmt.Sprintf("%s/%d", host, dead.ProcessState.Pid()), Script: script})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tw, src, leadID, attempt
}
