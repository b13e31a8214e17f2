package migrations_test

import (
	"context"
	"io/fs"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/migrations"
)

// TestDispatchMigrationMovesLiveDialJobs: a database of the one-job-per-lead
// design (version 12) with waiting and running dial jobs moves to the
// leads-table schedule: waiting jobs are gone and their leads are due;
// a running job stays, on its driver's queue, and its lead names it.
func TestDispatchMigrationMovesLiveDialJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rm, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrations.Files, "sql")
	p, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(pool), sub,
		goose.WithTableName(migrations.Table), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 12); err != nil {
		t.Fatal(err)
	}
	p.Close()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO campaigns (id, name, status, script_id, script_version, script_yaml, caller_id, created_at, updated_at)
		OVERRIDING SYSTEM VALUE VALUES (1, 'old', 'active', 'bant-en', 1, '', '+15550100', now(), now())`)
	exec(`INSERT INTO leads (id, campaign_id, phone, status, next_attempt_at, created_at, updated_at) OVERRIDING SYSTEM VALUE VALUES
		(1, 1, '+12125550101', 'queued', NULL, now(), now()),
		(2, 1, '+12125550102', 'dialing', NULL, now(), now()),
		(3, 1, '+12125550103', 'retry_wait', now() + interval '2 hours', now(), now()),
		(4, 1, '+12125550104', 'completed', NULL, now(), now())`)
	exec(`INSERT INTO river_job (args, kind, max_attempts, queue, state, scheduled_at, attempt, attempted_at, attempted_by) VALUES
		('{"lead_id": 1}', 'dial_lead', 20, 'dial', 'available', now(), 0, NULL, NULL),
		('{"lead_id": 2}', 'dial_lead', 20, 'dial', 'running', now(), 1, now(), '{gone/1}'),
		('{"lead_id": 3}', 'dial_lead', 20, 'dial', 'scheduled', now() + interval '2 hours', 0, NULL, NULL)`)

	if _, err := migrations.Up(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	var jobs, runningLead int64
	var queue string
	if err := pool.QueryRow(ctx, `SELECT count(*), max(queue), max((args->>'lead_id')::bigint) FROM river_job WHERE kind = 'dial_lead'`).
		Scan(&jobs, &queue, &runningLead); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 || queue != "dial_sip" || runningLead != 2 {
		t.Errorf("dial jobs after the migration: %d, queue %q, lead %d; want only the running one, on dial_sip", jobs, queue, runningLead)
	}
	var due1, due3, named2 bool
	if err := pool.QueryRow(ctx, `SELECT
			(SELECT next_attempt_at IS NOT NULL FROM leads WHERE id = 1),
			(SELECT next_attempt_at > now() + interval '1 hour' FROM leads WHERE id = 3),
			(SELECT dial_job = (SELECT id FROM river_job WHERE kind = 'dial_lead') FROM leads WHERE id = 2)`).Scan(&due1, &due3, &named2); err != nil {
		t.Fatal(err)
	}
	if !due1 || !due3 || !named2 {
		t.Errorf("queued lead due %v, retry keeps its time %v, dialing lead names its running job %v; want all", due1, due3, named2)
	}
}
