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
		if err := s.RegisterInstance(ctx, store.Instance{ID: id, Host: "h", PID: 1, StartedAt: now, HeartbeatAt: now}); err != nil {
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
	ids, err := s.FenceSilentInstances(ctx, s.Now().Add(-30*time.Second))
	if err != nil || len(ids) != 1 || ids[0] != "idle/1/silent00" {
		t.Fatalf("fenced %v %v, want the silent one only", ids, err)
	}
	in, err := s.GetInstance(ctx, "idle/1/silent00")
	if err != nil || in.StoppedAt == nil || !strings.HasPrefix(in.StopReason, "no heartbeat since ") {
		t.Fatalf("the silent instance: %+v %v", in, err)
	}
	if alive, _ := s.InstanceHeartbeat(ctx, "idle/1/silent00"); alive {
		t.Error("a fenced process is not told at its next heartbeat")
	}
	if again, _ := s.FenceSilentInstances(ctx, s.Now().Add(-30*time.Second)); len(again) != 0 {
		t.Errorf("fenced twice: %v", again)
	}
}
