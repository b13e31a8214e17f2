package queue_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// openAttempt puts a lead of b's campaign on a call placed by worker: an
// unfinished attempt, as a process leaves it when it dies mid-call.
func openAttempt(t *testing.T, b *bundle, phone, worker string) (leadID, attemptID int64) {
	t.Helper()
	ctx := context.Background()
	src, _ := os.ReadFile("../scripts/bant-en.yaml")
	script := ivr.MustParse("bant-en.yaml", src)
	err := b.store.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		if leadID, _, err = b.store.InsertLead(ctx, tx, store.LeadParams{CampaignID: b.camp.ID, Phone: phone, TimeZone: fixture.DaytimeZone(b.now())}); err != nil {
			return err
		}
		a, err := b.store.StartAttempt(ctx, tx, store.AttemptParams{LeadID: leadID, CampaignID: b.camp.ID, Phone: phone, Driver: "sip",
			Worker: worker, Script: script})
		if err != nil {
			return err
		}
		attemptID = a.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return leadID, attemptID
}

// handedOut puts a lead of b's campaign in the hands of a dial job that
// worker's River client is running, before it started the call.
func handedOut(t *testing.T, b *bundle, phone, worker string) (leadID int64) {
	t.Helper()
	ctx := context.Background()
	err := b.store.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		if leadID, _, err = b.store.InsertLead(ctx, tx, store.LeadParams{CampaignID: b.camp.ID, Phone: phone, TimeZone: fixture.DaytimeZone(b.now())}); err != nil {
			return err
		}
		// River's own clock is the database's: a job attempted at the
		// test's clock (hours away under QUALDIAL_TEST_CLOCK) would be
		// rescued as stuck by River, and its lead given back.
		var job int64
		if err := tx.QueryRow(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, attempt, attempted_at, attempted_by)
			VALUES ('{}', 'dial', 1, 'dial_sip', 'running', 1, now(), ARRAY[$1::text]) RETURNING id`, worker+"#1").Scan(&job); err != nil {
			return err
		}
		return b.store.Dispatch(ctx, tx, leadID, job, "handed to a dial job")
	})
	if err != nil {
		t.Fatal(err)
	}
	return leadID
}

// givenBack says whether the reconciler put a dialing lead back in the
// schedule.
func givenBack(t *testing.T, b *bundle, leadID int64) bool {
	t.Helper()
	var n int
	if err := b.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM lead_events WHERE lead_id = $1 AND actor LIKE 'reconciler:%'
		AND kind = 'lead.status' AND data->>'from' = 'dialing' AND data->>'to' = 'queued'`, leadID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func attemptState(t *testing.T, b *bundle, id int64) (state, reason string) {
	t.Helper()
	err := b.store.Pool().QueryRow(context.Background(), `SELECT state, coalesce(reason, '') FROM call_attempts WHERE id = $1`, id).Scan(&state, &reason)
	if err != nil {
		t.Fatal(err)
	}
	return state, reason
}

// TestSilentInstanceIsReclaimed: two processes registered; one stops
// heartbeating (its heartbeat never runs, and the clock moves past the
// bound). The live one's reconciler then settles the silent one's call and
// gives back the lead its dial job had not called yet and fails its import
// — not the live one's — and fences it: its next heartbeat learns it was
// taken for dead.
func TestSilentInstanceIsReclaimed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil, store.CampaignParams{})
	host, _ := os.Hostname()
	live, silent := store.NewInstanceID(host, os.Getpid()), store.NewInstanceID(host, os.Getpid())
	for _, id := range []string{live, silent} {
		// Heartbeats of an hour: they never run during the test.
		in, err := queue.StartInstance(ctx, b.store, queue.InstanceConfig{ID: id, Heartbeat: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Stop(context.Background()) })
	}
	_, liveAttempt := openAttempt(t, b, "+12125550601", live)
	silentLead, silentAttempt := openAttempt(t, b, "+12125550602", silent)
	liveHanded, silentHanded := handedOut(t, b, "+12125550603", live), handedOut(t, b, "+12125550604", silent)
	imports := map[string]int64{}
	for _, w := range []string{live, silent} {
		var id int64
		if err := b.store.Pool().QueryRow(ctx, `INSERT INTO imports (campaign_id, worker, started_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id`,
			b.camp.ID, w, b.now()).Scan(&id); err != nil {
			t.Fatal(err)
		}
		imports[w] = id
	}

	// A minute later only the live one has said it is alive.
	b.skew.Add(int64(time.Minute))
	if ok, err := b.store.InstanceHeartbeat(ctx, live); err != nil || !ok {
		t.Fatalf("live heartbeat: %v, %v", ok, err)
	}
	gone, err := queue.WorkersGone(ctx, b.store, live, []string{live}, 30*time.Second)
	if err != nil || gone[live] {
		t.Fatalf("live instance gone: %v, %v", gone, err)
	}

	// The live process (healthy all along) reconciles.
	q, err := queue.New(b.store, queue.Config{Drivers: map[string]dialer.Driver{"sip": nil}, Worker: live, DeadAfter: 30 * time.Second, ReconcileInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })

	if state, _ := attemptState(t, b, liveAttempt); state == "finished" {
		t.Error("the live instance's call was settled")
	}
	state, reason := attemptState(t, b, silentAttempt)
	if state != "finished" || !strings.Contains(reason, "interrupted") || !strings.Contains(reason, silent) {
		t.Errorf("silent instance's attempt: %s, %q; want finished, interrupted, naming %s", state, reason, silent)
	}
	lead, err := store.GetLead(ctx, b.store.Pool(), silentLead)
	if err != nil {
		t.Fatal(err)
	}
	if lead.Status == "dialing" {
		t.Errorf("lead of the silent instance still %s (%s)", lead.Status, lead.StatusReason)
	}
	// The lead handed to the silent one's dial job, not called yet, goes
	// back to the schedule; the live one's stays with its job.
	if !givenBack(t, b, silentHanded) || givenBack(t, b, liveHanded) {
		t.Errorf("given back: silent instance's lead %v, live one's %v; want only the silent one's", givenBack(t, b, silentHanded), givenBack(t, b, liveHanded))
	}
	// Its import is failed (nothing of it was kept); the live one's runs.
	for w, want := range map[string]string{live: "running", silent: "failed"} {
		var status string
		if err := b.store.Pool().QueryRow(ctx, `SELECT status FROM imports WHERE id = $1`, imports[w]).Scan(&status); err != nil || status != want {
			t.Errorf("import of %s: %s %v; want %s", w, status, err, want)
		}
	}
	in, err := b.store.GetInstance(ctx, silent)
	if err != nil || in.StoppedAt == nil || !strings.HasPrefix(in.StopReason, "no heartbeat since ") {
		t.Fatalf("silent instance %+v, %v: want stopped for want of heartbeats", in, err)
	}
	// Fenced: should it still run, its heartbeat tells it.
	if ok, err := b.store.InstanceHeartbeat(ctx, silent); err != nil || ok {
		t.Errorf("heartbeat of the fenced instance: %v, %v; want false", ok, err)
	}
}

// TestCleanStopMarksInstanceStopped: a process that stops cleanly is gone
// at once, without waiting for its heartbeat to age.
func TestCleanStopMarksInstanceStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil, store.CampaignParams{})
	host, _ := os.Hostname()
	id := store.NewInstanceID(host, os.Getpid())
	in, err := queue.StartInstance(ctx, b.store, queue.InstanceConfig{ID: id, Heartbeat: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// It heartbeats by itself.
	first, err := b.store.GetInstance(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a heartbeat", func() bool {
		now, err := b.store.GetInstance(ctx, id)
		return err == nil && now.HeartbeatAt.After(first.HeartbeatAt)
	})
	if gone, err := queue.WorkersGone(ctx, b.store, id, []string{id}, time.Hour); err != nil || gone[id] {
		t.Fatalf("running instance gone: %v, %v", gone, err)
	}
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.GetInstance(ctx, id)
	if err != nil || got.StoppedAt == nil || got.StopReason != "stopped cleanly" || got.PID != os.Getpid() || got.Host != host {
		t.Fatalf("after Stop: %+v, %v", got, err)
	}
	if gone, err := queue.WorkersGone(ctx, b.store, id, []string{id}, time.Hour); err != nil || !gone[id] {
		t.Fatalf("stopped instance not gone: %v, %v", gone, err)
	}
	// Kept a while for the record, then deleted.
	if n, err := b.store.PruneInstances(ctx, b.now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("pruned %d, %v; want the recent row kept", n, err)
	}
	if n, err := b.store.PruneInstances(ctx, b.now().Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
}

// TestRestartedContainerSeesPredecessorGone: a container restarts as PID 1
// on the same host name — here: this very process's host and pid, alive.
// To a replica healthy all along, its predecessor's instance, silent
// since, is gone; the new one is not; and an old-style host/pid worker
// name of a live process is still alive.
func TestRestartedContainerSeesPredecessorGone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil, store.CampaignParams{})
	host, _ := os.Hostname()
	before, after := store.NewInstanceID(host, os.Getpid()), store.NewInstanceID(host, os.Getpid())
	if before == after || !strings.HasPrefix(before, host+"/") {
		t.Fatalf("instance ids %q and %q", before, after)
	}
	replica := store.NewInstanceID("replica", 1)
	for _, in := range []store.Instance{{ID: before, Host: host, PID: os.Getpid()}, {ID: replica, Host: "replica", PID: 1, MaxGap: time.Hour}} {
		if err := b.store.RegisterInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	b.skew.Add(int64(time.Minute)) // the restart
	if err := b.store.RegisterInstance(ctx, store.Instance{ID: after, Host: host, PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.store.InstanceHeartbeat(ctx, replica); err != nil || !ok {
		t.Fatalf("heartbeat: %v, %v", ok, err)
	}
	legacy := host + "/" + strings.Split(before, "/")[1]
	gone, err := queue.WorkersGone(ctx, b.store, replica, []string{before, after, legacy}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !gone[before] || gone[after] || gone[legacy] {
		t.Errorf("gone %v: want only the predecessor %s", gone, before)
	}
}

// TestFencedInstanceIsTold: a process taken for dead by another learns it
// at its next heartbeat.
func TestFencedInstanceIsTold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil, store.CampaignParams{})
	host, _ := os.Hostname()
	fenced := make(chan struct{})
	in, err := queue.StartInstance(ctx, b.store, queue.InstanceConfig{ID: store.NewInstanceID(host, os.Getpid()), Heartbeat: 20 * time.Millisecond,
		Fenced: func() { close(fenced) }})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop(ctx)
	// Another process, healthy, finds it silent (its clock a minute ahead).
	judge := store.NewInstanceID("judge", 1)
	if err := b.store.RegisterInstance(ctx, store.Instance{ID: judge, Host: "judge", PID: 1}); err != nil {
		t.Fatal(err)
	}
	if _, gone, err := b.store.InstanceStates(ctx, judge, []string{in.ID()}, b.now().Add(time.Minute)); err != nil || !gone[in.ID()] {
		t.Fatalf("gone %v, %v", gone, err)
	}
	select {
	case <-fenced:
	case <-time.After(30 * time.Second):
		t.Fatal("the fenced instance was not told")
	}
}
