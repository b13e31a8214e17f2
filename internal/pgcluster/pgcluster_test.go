package pgcluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestStartCreatesAndRestartsCluster(t *testing.T) {
	t.Parallel()
	if _, err := findBinDir(""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL binaries are required in CI: %v", err)
		}
		t.Skip(err)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "qd-pgc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: filepath.Join(dir, "data"), Database: "app", Ephemeral: true}

	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	write := func(url string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS kept (v int); INSERT INTO kept VALUES (1)"); err != nil {
			t.Fatal(err)
		}
	}
	write(c.URL())

	// A second Start on the same directory joins the running server and
	// does not stop it.
	joined, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if joined.owned {
		t.Fatal("second Start claims to own a server the first one started")
	}
	if err := joined.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	write(c.URL())

	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := pgx.Connect(ctx, c.URL()); err == nil {
		t.Fatal("server still accepts connections after Stop")
	}

	// Restart on the existing directory keeps the data.
	again, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop(ctx)
	conn, err := pgx.Connect(ctx, again.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("rows after restart = %d, want 2", n)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no dir", Config{}},
		{"relative dir", Config{DataDir: "data"}},
		{"socket path too long", Config{DataDir: "/" + string(make([]byte, 120))}},
	} {
		cfg := tc.cfg.withDefaults()
		if err := cfg.validate(); err == nil {
			t.Errorf("%s: validate accepted %+v", tc.name, tc.cfg)
		}
	}
}
