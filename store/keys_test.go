package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// TestAPIKeyListRevokeTouch: keys are listed without secrets, revoking is
// idempotent and stops authentication, and uses are recorded at most once a
// minute.
func TestAPIKeyListRevokeTouch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	admin, ak, err := s.CreateAPIKey(ctx, store.RoleAdmin, "Ann")
	if err != nil {
		t.Fatal(err)
	}
	form, fk, err := s.CreateAPIKey(ctx, store.RoleIntake, "spring form")
	if err != nil {
		t.Fatal(err)
	}
	hmacSecret, err := s.RequireSignature(ctx, fk.ID)
	if err != nil {
		t.Fatal(err)
	}

	keys, err := s.ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != ak.ID || keys[0].Role != "admin" || keys[0].Name != "Ann" || keys[0].Prefix != ak.Prefix ||
		keys[0].Signed || !keys[1].Signed || keys[0].CreatedAt.IsZero() || keys[0].LastUsedAt != nil || keys[0].RevokedAt != nil {
		t.Fatalf("keys: %+v", keys)
	}
	js, _ := json.Marshal(keys)
	for _, secret := range []string{admin, form, hmacSecret, admin[len(ak.Prefix)+1:]} {
		if strings.Contains(string(js), secret) {
			t.Fatalf("listing shows a secret: %s", js)
		}
	}
	for _, field := range []string{`"id"`, `"name"`, `"role"`, `"prefix"`, `"signed"`, `"created_at"`, `"last_used_at":null`, `"revoked_at":null`} {
		if !strings.Contains(string(js), field) {
			t.Errorf("JSON lacks %s: %s", field, js)
		}
	}

	// Uses are recorded, but not more than once a minute.
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{t0, t0.Add(30 * time.Second), t0.Add(59 * time.Second)} {
		if err := s.TouchAPIKey(ctx, ak.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	if keys, _ = s.ListAPIKeys(ctx); keys[0].LastUsedAt == nil || !keys[0].LastUsedAt.Equal(t0) {
		t.Fatalf("last used %v, want %v", keys[0].LastUsedAt, t0)
	}
	if err := s.TouchAPIKey(ctx, ak.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if keys, _ = s.ListAPIKeys(ctx); !keys[0].LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("last used %v after a minute", keys[0].LastUsedAt)
	}

	// Revoking stops the key; revoking again keeps the first time.
	if _, err := s.Authenticate(ctx, admin); err != nil {
		t.Fatal(err)
	}
	k, err := s.RevokeAPIKey(ctx, ak.ID, t0)
	if err != nil || k.RevokedAt == nil || !k.RevokedAt.Equal(t0) || k.Name != "Ann" {
		t.Fatalf("revoke: %+v %v", k, err)
	}
	if _, err := s.Authenticate(ctx, admin); !errors.Is(err, store.ErrBadKey) {
		t.Fatalf("revoked key authenticates: %v", err)
	}
	if k, err = s.RevokeAPIKey(ctx, ak.ID, t0.Add(time.Hour)); err != nil || !k.RevokedAt.Equal(t0) {
		t.Fatalf("second revoke: %+v %v", k, err)
	}
	if _, err := s.Authenticate(ctx, form); err != nil {
		t.Fatalf("the other key stopped working: %v", err)
	}
	if _, err := s.RevokeAPIKey(ctx, 999999, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
}
