package queue_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// TestRetentionJob: the periodic retention job, run by River, deletes a
// Twilio session older than the configured days, keeps a recent one, and
// logs what it deleted per table.
func TestRetentionJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := fixture.Clock()
	pool := pgtest.DB(t)
	st := store.New(pool, store.Config{Now: clock})
	past := store.New(pool, store.Config{Now: func() time.Time { return clock().Add(-3 * 24 * time.Hour) }})
	if err := past.CreateSession(ctx, "tok-old-000000000000", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, "tok-new-000000000000", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	logs := &fixture.SyncBuffer{}
	if _, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"sip": nil}, Retention: store.Retention{ComplianceDays: 365}}); err == nil ||
		!strings.Contains(err.Error(), "at least 1826") {
		t.Errorf("compliance records kept a year: %v; want refused", err)
	}
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"sip": nil}, ReconcileInterval: time.Hour,
		Retention: store.Retention{TwilioSessionDays: 2}, RetentionInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()) })
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "retention deleted expired rows"); {
		if time.Now().After(deadline) {
			t.Fatalf("no retention run logged:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "twilio_sessions=1") {
		t.Errorf("the log does not count the session deleted:\n%s", logs.String())
	}
	if _, err := st.Session(ctx, "tok-old-000000000000"); err == nil {
		t.Error("the 3-day-old session is still there")
	}
	if _, err := st.Session(ctx, "tok-new-000000000000"); err != nil {
		t.Errorf("the recent session: %v", err)
	}
}
