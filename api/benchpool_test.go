package api_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qualdial/qualdial/internal/pgtest"
)

// benchAPIPool is a new database's pool sized and set like serve's pool for
// API requests (--db-conns-http, 10 by default, and its lock_timeout);
// QUALDIAL_BENCH_CONNS sizes it otherwise.
func benchAPIPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	conns := 10
	if v := os.Getenv("QUALDIAL_BENCH_CONNS"); v != "" {
		conns, _ = strconv.Atoi(v)
	}
	cfg, err := pgxpool.ParseConfig(pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = int32(conns)
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = "1s"
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}
