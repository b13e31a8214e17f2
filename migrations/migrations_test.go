package migrations_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestUpIsIdempotentAndSafeConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	if n, err := migrations.Pending(ctx, pool); err != nil || n == 0 {
		t.Fatalf("Pending on an empty database = %d, %v; want > 0", n, err)
	}
	// Three replicas starting at once.
	var wg sync.WaitGroup
	results := make([]migrations.Status, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() { results[i], errs[i] = migrations.Up(ctx, pool, nil) })
	}
	wg.Wait()
	applied, riverApplied := 0, 0
	for i := range 3 {
		if errs[i] != nil {
			t.Fatalf("Up %d: %v", i, errs[i])
		}
		applied += len(results[i].Applied)
		riverApplied += len(results[i].RiverApplied)
		if results[i].Version < 1 {
			t.Errorf("Up %d: version %d", i, results[i].Version)
		}
	}
	if applied == 0 || riverApplied == 0 {
		t.Fatalf("applied %d qualdial and %d River migrations in all; want both > 0", applied, riverApplied)
	}
	again, err := migrations.Up(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Applied) != 0 || len(again.RiverApplied) != 0 {
		t.Fatalf("second Up applied %v / %v; want nothing", again.Applied, again.RiverApplied)
	}
	if n, err := migrations.Pending(ctx, pool); err != nil || n != 0 {
		t.Fatalf("Pending after Up = %d, %v; want 0", n, err)
	}
	var riverTable bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('river_job') IS NOT NULL").Scan(&riverTable); err != nil || !riverTable {
		t.Fatalf("river_job table missing after Up (%v)", err)
	}
}

// TestConstraintsProtectTheData checks that the schema itself rejects
// data that would break qualdial's promises.
func TestConstraintsProtectTheData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.DB(t)
	var campaignID, leadID int64
	err := pool.QueryRow(ctx, `INSERT INTO campaigns (name, script_id, caller_id, created_at, updated_at) VALUES ('spring', 'bant-en', '+15550100', now(), now()) RETURNING id`).Scan(&campaignID)
	if err != nil {
		t.Fatal(err)
	}
	err = pool.QueryRow(ctx, `INSERT INTO leads (campaign_id, phone, external_id, created_at, updated_at) VALUES ($1, '+12125550123', 'crm-1', now(), now()) RETURNING id`, campaignID).Scan(&leadID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, started_at) VALUES ($1, $2, 1, 'sip', now())`, leadID, campaignID); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		sql  string
		code string // SQLSTATE
	}{
		{"duplicate phone in campaign", `INSERT INTO leads (campaign_id, phone, created_at, updated_at) VALUES ($1, '+12125550123', now(), now())`, "23505"},
		{"duplicate external id in campaign", `INSERT INTO leads (campaign_id, phone, external_id, created_at, updated_at) VALUES ($1, '+12125550199', 'crm-1', now(), now())`, "23505"},
		{"phone not E.164", `INSERT INTO leads (campaign_id, phone, created_at, updated_at) VALUES ($1, '212-555-0123', now(), now())`, "23514"},
		{"unknown lead status", `INSERT INTO leads (campaign_id, phone, status, created_at, updated_at) VALUES ($1, '+12125550124', 'maybe', now(), now())`, "23514"},
		{"lead of a missing campaign", `INSERT INTO leads (campaign_id, phone, created_at, updated_at) VALUES ($1 + 1000, '+12125550125', now(), now())`, "23503"},
		{"sales stage without SLA deadline", `INSERT INTO leads (campaign_id, phone, sales_stage, created_at, updated_at) VALUES ($1, '+12125550126', 'open', now(), now())`, "23514"},
		{"lead without its time (one clock: no default now())", `INSERT INTO leads (campaign_id, phone) VALUES ($1, '+12125550127')`, "23502"},
		{"event without its time", `INSERT INTO lead_events (lead_id, actor, kind) SELECT id, 'test', 'x' FROM leads WHERE campaign_id = $1`, "23502"},
		{"calling window past 21:00", `INSERT INTO campaigns (name, script_id, caller_id, window_end, created_at, updated_at) VALUES ('late' || $1::bigint::text, 'x', '+1', '22:00', now(), now())`, "23514"},
		{"ring timeout under 15s", `INSERT INTO campaigns (name, script_id, caller_id, ring_timeout, created_at, updated_at) VALUES ('short' || $1::bigint::text, 'x', '+1', '10 seconds', now(), now())`, "23514"},
		{"active campaign without pinned script", `INSERT INTO campaigns (name, script_id, caller_id, status, created_at, updated_at) VALUES ('act' || $1::bigint::text, 'x', '+1', 'active', now(), now())`, "23514"},
		{"unknown disposition", `UPDATE call_attempts SET disposition = 'maybe' WHERE campaign_id = $1`, "23514"},
		{"finished attempt without disposition", `UPDATE call_attempts SET state = 'finished' WHERE campaign_id = $1`, "23514"},
		{"second open attempt for a lead", `INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, started_at) SELECT id, campaign_id, 2, 'sip', now() FROM leads WHERE campaign_id = $1`, "23505"},
		{"unknown API key role", `INSERT INTO api_keys (name, role, prefix, secret_hash, created_at) VALUES ('k' || $1::bigint::text, 'root', 'qd_x', sha256('x'), now())`, "23514"},
		{"DNC entry not E.164", `INSERT INTO dnc (phone, source, campaign_id, created_at) VALUES ('5550123', 'manual', $1, now())`, "23514"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pool.Exec(ctx, tc.sql, campaignID)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != tc.code {
				t.Fatalf("got %v; want SQLSTATE %s", err, tc.code)
			}
		})
	}

	// Deleting a campaign removes its leads and attempts with it.
	if _, err := pool.Exec(ctx, `DELETE FROM campaigns WHERE id = $1`, campaignID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM leads) + (SELECT count(*) FROM call_attempts)`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("rows left after deleting the campaign: %d (%v)", left, err)
	}
}
