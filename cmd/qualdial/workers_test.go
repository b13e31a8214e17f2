package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// campaignWithLeads creates an active BANT campaign open all day and week,
// and its leads with their dial jobs, in a migrated database.
func campaignWithLeads(t *testing.T, url string, cp store.CampaignParams, phones []string) (*store.Store, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := store.New(pool, store.Config{})
	return st, addCampaign(t, st, "workers", cp, phones)
}

// addCampaign creates another active BANT campaign open all day and week,
// with its leads in the schedule.
func addCampaign(t testing.TB, st *store.Store, name string, cp store.CampaignParams, phones []string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	cp.Name, cp.ScriptID, cp.CallerID = name, "bant-en", "+15550100"
	cp.WindowDays, cp.WindowStart, cp.WindowEnd = []int{1, 2, 3, 4, 5, 6, 7}, 8*time.Hour, 21*time.Hour
	c, err := st.CreateCampaign(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := scripts.Read("bant-en")
	if err := st.StartCampaign(ctx, c.ID, ivr.MustParse("bant-en.yaml", src), src); err != nil {
		t.Fatal(err)
	}
	// A queue that only enqueues (it is never started).
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"sip": nil}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	zone := fixture.DaytimeZone(time.Now())
	err = st.Tx(ctx, func(tx pgx.Tx) error {
		for _, p := range phones {
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
	return ids
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// onLongCall starts a softphone lead that answers the first two questions
// and then stays on the line without pressing anything, a campaign calling
// it, and a serve process; it returns once the call is answered.
func onLongCall(t *testing.T, phoneNumber string) (*serveProc, *softphone.Phone, *store.Store, int64, []string) {
	t.Helper()
	phone, err := softphone.Start(softphone.Config{Default: softphone.Persona{Keys: "~1,~1,timeout,timeout,timeout,timeout"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	url := pgtest.URL(t)
	st, ids := campaignWithLeads(t, url, store.CampaignParams{}, []string{phoneNumber})
	env := append(cleanEnv(), "QUALDIAL_DATABASE_URL="+url)
	p := startServe(t, env, append(fastHeartbeat, "--sip-trunk", phone.Addr().String())...)
	waitUntil(t, 30*time.Second, "the call to be answered", func() bool {
		c := phone.Calls()
		return len(c) == 1 && c[0].Answered
	})
	return p, phone, st, ids[phoneNumber], env
}

// TestCrashMidCallNeverDialsTwice kills a serve process while it is on a
// call, after the lead answered two questions, starts another one, and
// checks that the lead is not lost, not dialled again, and that its open
// attempt is settled from what was heard (the two answers are kept).
func TestCrashMidCallNeverDialsTwice(t *testing.T) {
	t.Parallel()
	a, phone, st, leadID, env := onLongCall(t, "+12125550177")
	ctx := context.Background()
	waitUntil(t, 30*time.Second, "two answers to be heard", func() bool {
		var n int
		_ = st.Pool().QueryRow(ctx, `SELECT coalesce(jsonb_array_length(engine_state->'answers'), 0) FROM call_attempts WHERE lead_id = $1`,
			leadID).Scan(&n)
		return n == 2
	})
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.logDone
	_ = a.cmd.Wait()
	if _, err := store.OpenAttempt(ctx, st.Pool(), leadID); err != nil {
		t.Fatalf("no open attempt after the crash: %v", err)
	}

	b := startServe(t, env, append(fastHeartbeat, "--sip-trunk", phone.Addr().String())...)
	defer b.stop(t)
	// The new process judges the dead one only once it has itself been
	// healthy for --dead-after, as River's leader (elected anew: the dead
	// one led), at its next reconcile.
	waitUntil(t, 60*time.Second, "the attempt to be settled", func() bool {
		_, err := store.OpenAttempt(ctx, st.Pool(), leadID)
		return err == store.ErrNotFound
	})
	var disposition, outcome string
	var ambiguous bool
	var answers int
	if err := st.Pool().QueryRow(ctx, `SELECT disposition, ambiguous, coalesce(outcome, ''), (SELECT count(*) FROM answers WHERE lead_id = $1)
		FROM call_attempts WHERE lead_id = $1`, leadID).Scan(&disposition, &ambiguous, &outcome, &answers); err != nil {
		t.Fatal(err)
	}
	lead, _ := store.GetLead(ctx, st.Pool(), leadID)
	if disposition != "answered" || !ambiguous || outcome != "incomplete" || answers != 2 || lead.Status != queue.StatusRetryWait ||
		lead.NextAttemptAt == nil || time.Until(*lead.NextAttemptAt) < 23*time.Hour {
		t.Fatalf("attempt %s ambiguous=%v outcome %q with %d answers; lead %s next %v (%s)", disposition, ambiguous, outcome, answers,
			lead.Status, lead.NextAttemptAt, lead.StatusReason)
	}
	time.Sleep(6 * time.Second) // River's scheduler would have picked up a redial by now
	if n := len(phone.Calls()); n != 1 {
		t.Fatalf("the lead was called %d times; want once", n)
	}
}

// TestSeveralServeProcessesShareTheWork runs three serve processes on one
// database with two campaigns on a SIP trunk of 3 channels: every lead is
// called exactly once, each campaign's limits of 2 concurrent calls and 2
// calls per second hold across the processes, and so does the trunk's.
func TestSeveralServeProcessesShareTheWork(t *testing.T) {
	t.Parallel()
	phone, err := softphone.Start(softphone.Config{Default: softphone.Persona{Keys: "~1,~2"}}) // student knock-out: a short call
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	var phones, others []string
	// Six leads a campaign: a call lasts about 8 s, so the 12 calls take
	// four rounds of the trunk's 3 channels.
	for i := range 6 {
		phones = append(phones, fmt.Sprintf("+1646555%04d", 100+i))
		others = append(others, fmt.Sprintf("+1718555%04d", 100+i))
	}
	url := pgtest.URL(t)
	limits := store.CampaignParams{MaxConcurrent: 2, CallsPerSecond: 2}
	st, ids := campaignWithLeads(t, url, limits, phones)
	for p, id := range addCampaign(t, st, "second", limits, others) {
		ids[p] = id
	}
	env := append(cleanEnv(), "QUALDIAL_DATABASE_URL="+url)
	for range 3 {
		// Two calls per process at most, so that one process cannot take
		// every call: the limits must hold across them.
		p := startServe(t, env, "--sip-trunk", phone.Addr().String(), "--max-calls", "2", "--sip-channels", "3")
		defer p.stop(t)
	}
	ctx := context.Background()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var n int
		_ = st.Pool().QueryRow(ctx, `SELECT count(*) FROM leads WHERE status = 'completed'`).Scan(&n)
		if n == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			var statuses string
			_ = st.Pool().QueryRow(ctx, `SELECT string_agg(status || ': ' || n, ', ') FROM
				(SELECT status, count(*) AS n FROM leads GROUP BY status) s`).Scan(&statuses)
			t.Fatalf("timed out waiting for every lead to be qualified: leads %s; %d calls reached the phone", statuses, len(phone.Calls()))
		}
	}
	calls := phone.Calls()
	users := map[string]int{}
	for _, c := range calls {
		users[c.User]++
		if c.Invites != 1 {
			t.Errorf("call to %s got %d INVITEs", c.User, c.Invites)
		}
	}
	for p, id := range ids {
		if users[p] != 1 {
			t.Errorf("%s was called %d times", p, users[p])
		}
		if l, _ := store.GetLead(ctx, st.Pool(), id); l.AttemptCount != 1 {
			t.Errorf("%s: %d attempts", p, l.AttemptCount)
		}
	}
	// The limits hold on what the product recorded, across the processes:
	// never more than 2 attempts of a campaign open at once nor 3 in all,
	// and a campaign's INVITEs sent (dialed_at, recorded by the pacing gate)
	// at least 1/2 s apart. These are the times the limiter decides on; the
	// softphone's receive times also carry the scheduling noise of a loaded
	// machine.
	type attempt struct {
		campaign                int64
		started, ended, dialled time.Time
	}
	rows, err := st.Pool().Query(ctx, `SELECT campaign_id, started_at, ended_at, dialed_at FROM call_attempts ORDER BY dialed_at`)
	if err != nil {
		t.Fatal(err)
	}
	var all []attempt
	for rows.Next() {
		var a attempt
		var ended, dialled *time.Time
		if err := rows.Scan(&a.campaign, &a.started, &ended, &dialled); err != nil {
			t.Fatal(err)
		}
		if ended == nil || dialled == nil {
			t.Fatalf("attempt without its times: ended %v dialed %v", ended, dialled)
		}
		a.ended, a.dialled = *ended, *dialled
		all = append(all, a)
	}
	if len(all) != len(ids) {
		t.Errorf("%d INVITEs recorded; want %d", len(all), len(ids))
	}
	peak := func(of func(attempt) bool) int {
		type edge struct {
			at    time.Time
			delta int
		}
		var edges []edge
		for _, a := range all {
			if of(a) {
				edges = append(edges, edge{a.started, 1}, edge{a.ended, -1})
			}
		}
		sort.Slice(edges, func(i, j int) bool {
			if edges[i].at.Equal(edges[j].at) {
				return edges[i].delta < edges[j].delta
			}
			return edges[i].at.Before(edges[j].at)
		})
		up, top := 0, 0
		for _, e := range edges {
			up += e.delta
			top = max(top, up)
		}
		return top
	}
	if n := peak(func(attempt) bool { return true }); n > 3 {
		t.Errorf("%d calls were up at once; the trunk has 3 channels", n)
	}
	campaigns := map[int64]bool{}
	for _, a := range all {
		campaigns[a.campaign] = true
	}
	for c := range campaigns {
		if n := peak(func(a attempt) bool { return a.campaign == c }); n > 2 {
			t.Errorf("campaign %d: %d calls were up at once; it allows 2", c, n)
		}
		var last time.Time
		for _, a := range all {
			if a.campaign != c {
				continue
			}
			if gap := a.dialled.Sub(last); !last.IsZero() && gap < 500*time.Millisecond {
				t.Errorf("campaign %d: INVITEs sent %s apart; it paces 2 calls/s", c, gap)
			}
			last = a.dialled
		}
	}
	var workers int
	_ = st.Pool().QueryRow(ctx, `SELECT count(DISTINCT worker) FROM call_attempts`).Scan(&workers)
	if workers < 2 {
		t.Errorf("only %d process did the work", workers)
	}
}

// TestKillDispatcherMidDispatch kills -9 the process that dispatches the
// SIP campaigns while it hands out leads, and starts another in its place
// (as an orchestrator would): the other process takes the dispatch over,
// no lead is lost (every one is called or settled) and none is dialled
// twice.
func TestKillDispatcherMidDispatch(t *testing.T) {
	t.Parallel()
	phone, err := softphone.Start(softphone.Config{Default: softphone.Persona{Keys: "~1,~2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	var phones []string
	for i := range 30 {
		phones = append(phones, fmt.Sprintf("+1917555%04d", 100+i))
	}
	url := pgtest.URL(t)
	st, ids := campaignWithLeads(t, url, store.CampaignParams{MaxConcurrent: 4, CallsPerSecond: 4}, phones)
	env := append(cleanEnv(), "QUALDIAL_DATABASE_URL="+url)
	procs := map[int]*serveProc{}
	for range 2 {
		p := startServe(t, env, append(fastHeartbeat, "--sip-trunk", phone.Addr().String())...)
		procs[p.cmd.Process.Pid] = p
	}
	defer func() {
		for _, p := range procs {
			p.stop(t)
		}
	}()
	ctx := context.Background()
	waitUntil(t, 60*time.Second, "a few calls", func() bool { return len(phone.Calls()) >= 6 })
	// The dispatcher's connection names its process (host/pid/instance).
	var app string
	if err := st.Pool().QueryRow(ctx, `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.classid = 7116 AND l.granted AND a.datname = current_database()`).Scan(&app); err != nil {
		t.Fatal(err)
	}
	var pid int
	if parts := strings.Split(app[strings.LastIndex(app, " ")+1:], "/"); len(parts) == 3 {
		pid, _ = strconv.Atoi(parts[1])
	}
	leader := procs[pid]
	if leader == nil {
		t.Fatalf("dispatcher %q is none of the processes %v", app, procs)
	}
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-leader.logDone
	_ = leader.cmd.Wait()
	delete(procs, pid)
	replacement := startServe(t, env, append(fastHeartbeat, "--sip-trunk", phone.Addr().String())...)
	defer replacement.stop(t)

	// Every lead called, or its interrupted call settled (retried in a day).
	waitUntil(t, 2*time.Minute, "every lead called or settled", func() bool {
		var n int
		_ = st.Pool().QueryRow(ctx, `SELECT count(*) FROM leads WHERE status = 'completed'
			OR (status = 'retry_wait' AND next_attempt_at > $1)`, time.Now().Add(time.Hour)).Scan(&n)
		return n == len(phones)
	})
	users := map[string]int{}
	for _, c := range phone.Calls() {
		users[c.User]++
		if c.Invites != 1 {
			t.Errorf("call to %s got %d INVITEs", c.User, c.Invites)
		}
	}
	var givenBack, interrupted int
	_ = st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM lead_events WHERE actor LIKE 'reconciler:%' AND kind = 'lead.status'
		AND data->>'from' = 'dialing' AND data->>'to' = 'queued'), (SELECT count(*) FROM call_attempts WHERE reason LIKE 'interrupted%')`).
		Scan(&givenBack, &interrupted)
	t.Logf("after the kill: %d leads handed out but not called were given back, %d calls in progress were settled", givenBack, interrupted)
	// A call the killed process had started may not have reached the phone
	// yet; it counts as interrupted all the same (nobody can tell that an
	// INVITE never left), and is retried in a day, not now.
	for _, p := range phones {
		l, _ := store.GetLead(ctx, st.Pool(), ids[p])
		interruptedCall := l.Status == queue.StatusRetryWait && strings.Contains(l.StatusReason, "interrupted")
		if users[p] > 1 || l.AttemptCount != 1 || (users[p] == 0 && !interruptedCall) {
			t.Errorf("%s was called %d times, with %d attempts (%s: %s)", p, users[p], l.AttemptCount, l.Status, l.StatusReason)
		}
	}
}

// TestShutdownLetsCallsFinishThenHangsUpOnSecondSignal: SIGTERM stops
// taking calls but leaves the call in progress up; a second SIGTERM hangs it
// up politely (BYE) and the attempt is recorded, not left open.
func TestShutdownLetsCallsFinishThenHangsUpOnSecondSignal(t *testing.T) {
	t.Parallel()
	p, phone, st, leadID, _ := onLongCall(t, "+12125550166")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.logDone:
		t.Fatalf("serve exited at the first SIGTERM with a call in progress:\n%s", p.Log())
	case <-time.After(2 * time.Second):
	}
	if c := phone.Calls()[0]; c.ByeFrom != "" {
		t.Fatalf("the call was hung up by %q at the first signal", c.ByeFrom)
	}
	p.stop(t) // the second SIGTERM
	if c := phone.Calls()[0]; c.ByeFrom != "caller" {
		t.Errorf("after the second signal the call ended by %q, want a BYE from the caller", c.ByeFrom)
	}
	ctx := context.Background()
	if _, err := store.OpenAttempt(ctx, st.Pool(), leadID); err != store.ErrNotFound {
		t.Errorf("attempt left open: %v", err)
	}
	l, _ := store.GetLead(ctx, st.Pool(), leadID)
	if l.Status != queue.StatusRetryWait {
		t.Errorf("lead %s (%s); want retry_wait after an interrupted call", l.Status, l.StatusReason)
	}
}

// TestDemoStopsOnSIGTERMLikeServe: demo is wired and stopped by the same
// code as serve. SIGTERM while its campaign has calls in progress takes the
// same orderly path (no new calls, calls in progress finish or are hung up,
// HTTP drains, the pools close): the process ends and no attempt is left
// open.
func TestDemoStopsOnSIGTERMLikeServe(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	cmd := exec.Command(os.Args[0], "demo", "--log-level", "info", "--http", "127.0.0.1:0")
	cmd.Env = append(cleanEnv(), "QUALDIAL_TEST_RUN_MAIN=1", "QUALDIAL_DEMO_DATABASE_URL="+url)
	var out, errOut fixture.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	open := func() int {
		var n int
		_ = pool.QueryRow(t.Context(), `SELECT count(*) FROM call_attempts WHERE state <> 'finished'`).Scan(&n)
		return n
	}
	waitUntil(t, 2*time.Minute, "the demo's calls to be in progress", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("demo exited (%v) before calling:\n%s\n%s", err, out.String(), errOut.String())
		default:
		}
		return open() > 0
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("demo did not stop within 60s of SIGTERM:\n%s", errOut.String())
	}
	log := errOut.String()
	for _, want := range []string{"shutting down: no new calls; calls in progress may finish", "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("demo's log lacks %q (serve's shutdown):\n%s", want, log)
		}
	}
	if strings.Contains(log, "did not stop cleanly") {
		t.Errorf("demo's workers did not stop cleanly:\n%s", log)
	}
	if n := open(); n != 0 {
		t.Errorf("%d attempts left open after the demo stopped", n)
	}
}
