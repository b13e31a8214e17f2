package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/store"
)

// TestFencedInstanceStartsNoCall: a process another took for dead (its
// instance row stopped) cannot start a call, even for a lead still handed
// to it; a live one, and a worker with no instance row, can.
func TestFencedInstanceStartsNoCall(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	c := campaign(t, s, "fenced")
	now := s.Now()
	for _, id := range []string{"host-a/1/aaaaaaaa", "host-b/1/bbbbbbbb"} {
		if err := s.RegisterInstance(ctx, store.Instance{ID: id, Host: "h", PID: 1, StartedAt: now, HeartbeatAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.StopInstance(ctx, "host-a/1/aaaaaaaa", "taken for dead: no heartbeat"); err != nil {
		t.Fatal(err)
	}
	start := func(phone, worker string) error {
		id := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: phone})
		return s.Tx(ctx, func(tx pgx.Tx) error {
			_, err := s.StartAttempt(ctx, tx, store.AttemptParams{LeadID: id, CampaignID: c.ID, Phone: phone, Driver: "sip", Worker: worker, Script: script(t)})
			return err
		})
	}
	if err := start("+12125550161", "host-a/1/aaaaaaaa"); !errors.Is(err, store.ErrDispatchRevoked) {
		t.Errorf("a fenced instance started a call: %v", err)
	}
	if err := start("+12125550162", "host-b/1/bbbbbbbb"); err != nil {
		t.Errorf("a live instance: %v", err)
	}
	if err := start("+12125550163", "test"); err != nil {
		t.Errorf("a worker with no instance row: %v", err)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM call_attempts WHERE worker = 'host-a/1/aaaaaaaa'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("attempts of the fenced instance: %d %v", n, err)
	}
}

// TestFenceSilentInstances: a process silent for longer than the bound is
// stopped although it holds no work; a live one and a stopped one are left.
func TestFenceSilentInstances(t *testing.T) {
	t.Parallel()
	s, clock := newStore(t)
	ctx := context.Background()
	now := s.Now()
	for _, id := range []string{"idle/1/silent00", "live/1/heartbt0", "done/1/stopped0"} {
		if err := s.RegisterInstance(ctx, store.Instance{ID: id, Host: "h", PID: 1, StartedAt: now, HeartbeatAt: now, MaxGap: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.StopInstance(ctx, "done/1/stopped0", "clean stop"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if alive, err := s.InstanceHeartbeat(ctx, "live/1/heartbt0"); err != nil || !alive {
		t.Fatalf("heartbeat: %v %v", alive, err)
	}
	ids, judged, err := s.FenceSilentInstances(ctx, "live/1/heartbt0", s.Now().Add(-30*time.Second))
	if err != nil || !judged || len(ids) != 1 || ids[0] != "idle/1/silent00" {
		t.Fatalf("fenced %v (judged %v) %v, want the silent one only", ids, judged, err)
	}
	in, err := s.GetInstance(ctx, "idle/1/silent00")
	if err != nil || in.StoppedAt == nil || !strings.HasPrefix(in.StopReason, "no heartbeat since ") {
		t.Fatalf("the silent instance: %+v %v", in, err)
	}
	if alive, _ := s.InstanceHeartbeat(ctx, "idle/1/silent00"); alive {
		t.Error("a fenced process is not told at its next heartbeat")
	}
	if again, _, _ := s.FenceSilentInstances(ctx, "live/1/heartbt0", s.Now().Add(-30*time.Second)); len(again) != 0 {
		t.Errorf("fenced twice: %v", again)
	}
}

// TestNoFencingAfterDatabaseStall: the database stalls for longer than the
// dead-after bound, so every heartbeat is late when it comes back. No
// process is taken for dead — neither by a reconciler that runs before its
// own heartbeat lands, nor by one whose heartbeats just resumed — until
// the asking process has been healthy for the bound again; then the one
// that really died in the stall is fenced, and the live ones are not.
func TestNoFencingAfterDatabaseStall(t *testing.T) {
	t.Parallel()
	s, clock := newStore(t)
	ctx := context.Background()
	const heartbeat, deadAfter = 10 * time.Second, 30 * time.Second
	a, b, c := "a/1/aaaaaaaa", "b/1/bbbbbbbb", "c/1/cccccccc"
	for _, id := range []string{a, b, c} {
		if err := s.RegisterInstance(ctx, store.Instance{ID: id, Host: "h", PID: 1, MaxGap: deadAfter - heartbeat}); err != nil {
			t.Fatal(err)
		}
	}
	beat := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if alive, err := s.InstanceHeartbeat(ctx, id); err != nil || !alive {
				t.Fatalf("heartbeat of %s: %v %v", id, alive, err)
			}
		}
	}
	fence := func(when string, wantJudged bool, want ...string) {
		t.Helper()
		ids, judged, err := s.FenceSilentInstances(ctx, a, s.Now().Add(-deadAfter))
		if err != nil || judged != wantJudged || strings.Join(ids, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: fenced %v (judged %v) %v; want %v (judged %v)", when, ids, judged, err, want, wantJudged)
		}
	}
	// Just started: a cannot tell yet.
	fence("at start", false)
	for range 4 {
		clock.Advance(heartbeat)
		beat(a, b, c)
	}
	fence("all healthy", true)

	// The database stalls for 40 s: nobody's heartbeat lands.
	clock.Advance(4 * heartbeat)
	fence("before a's own heartbeat landed", false)
	if known, gone, err := s.InstanceStates(ctx, a, []string{b, c}, s.Now().Add(-deadAfter)); err != nil || !known[b] || gone[b] || gone[c] {
		t.Fatalf("after the stall, states known %v gone %v %v; want both running", known, gone, err)
	}
	beat(a)
	fence("a's heartbeats just resumed", false)
	if in, err := s.GetInstance(ctx, a); err != nil || !in.HealthySince.Equal(in.HeartbeatAt) || !in.HealthySince.After(in.StartedAt) {
		t.Fatalf("a after the stall: %+v %v; want healthy since its last heartbeat", in, err)
	}
	// b heartbeats again; c died in the stall.
	clock.Advance(time.Second)
	beat(b)
	for range 2 {
		clock.Advance(heartbeat)
		beat(a, b)
	}
	fence("healthy for less than dead-after", false)
	clock.Advance(heartbeat)
	beat(a, b)
	fence("healthy for dead-after", true, c)
	for _, id := range []string{a, b} {
		if in, err := s.GetInstance(ctx, id); err != nil || in.StoppedAt != nil {
			t.Errorf("live %s: %+v %v", id, in, err)
		}
	}
	// A judge never fences itself, even when its own row looks silent to
	// a shorter bound than its own gap.
	if ids, _, err := s.FenceSilentInstances(ctx, a, s.Now().Add(time.Minute)); err != nil || strings.Join(ids, ",") != b {
		t.Errorf("fenced %v %v; want b only (not a itself)", ids, err)
	}
}
