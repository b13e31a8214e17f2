// Package migrations holds qualdial's database schema as embedded SQL
// migrations and applies them, together with River's own migrations, with
// one call to [Up]. Several processes may call Up at once: a PostgreSQL
// advisory lock makes them take turns.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// Files holds the SQL migrations under sql/.
//
//go:embed sql/*.sql
var Files embed.FS

// advisoryLockKey serialises migrations across processes ("qualdial" in ASCII).
const advisoryLockKey int64 = 0x7175616c6469616c

// Table is where qualdial records its applied schema versions; River keeps
// its own in river_migration.
const Table = "qualdial_schema_version"

// Status is what Up did.
type Status struct {
	// Applied lists qualdial migrations applied by this call.
	Applied []string
	// RiverApplied lists River migration versions applied by this call.
	RiverApplied []int
	// Version is qualdial's schema version after the call.
	Version int64
}

// Up applies every pending migration, River's first, then qualdial's.
func Up(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (Status, error) {
	var st Status
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return st, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", advisoryLockKey); err != nil {
		return st, fmt.Errorf("migrate: take lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", advisoryLockKey)
	}()

	rm, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: log})
	if err != nil {
		return st, fmt.Errorf("migrate: river: %w", err)
	}
	res, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return st, fmt.Errorf("migrate: river: %w", err)
	}
	for _, v := range res.Versions {
		st.RiverApplied = append(st.RiverApplied, v.Version)
	}

	p, err := provider(pool)
	if err != nil {
		return st, err
	}
	defer p.Close()
	results, err := p.Up(ctx)
	if err != nil {
		return st, fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		st.Applied = append(st.Applied, r.Source.Path)
	}
	if st.Version, err = p.GetDBVersion(ctx); err != nil {
		return st, fmt.Errorf("migrate: read version: %w", err)
	}
	if len(st.Applied) > 0 || len(st.RiverApplied) > 0 {
		log.Info("migrations applied", "schema_version", st.Version, "applied", len(st.Applied), "river_applied", len(st.RiverApplied))
	}
	return st, nil
}

// Pending reports how many of qualdial's migrations are not applied yet.
func Pending(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	p, err := provider(pool)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	status, err := p.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("migration status: %w", err)
	}
	n := 0
	for _, s := range status {
		if s.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}

func provider(pool *pgxpool.Pool) (*goose.Provider, error) {
	sub, err := fs.Sub(Files, "sql")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(pool), sub,
		goose.WithTableName(Table), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}
