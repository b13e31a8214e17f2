// Package pgtest gives every test its own clean, migrated PostgreSQL
// database, so tests that touch data run against the real thing, in
// parallel.
//
// The server is chosen once per test binary, in this order:
//  1. TEST_DATABASE_URL, if set (any database on the server; pgtest creates
//     its own);
//  2. a local server at 127.0.0.1:5432 (user postgres, trust auth), if one
//     answers;
//  3. a private cluster started from the system's PostgreSQL binaries in a
//     temporary directory (as an unprivileged user when running as root),
//     stopped and removed by [Main].
//
// QUALDIAL_TEST_PG=private skips 1 and 2. Each database is cloned from a
// template migrated once per schema version, and dropped when its test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qualdial/qualdial/internal/pgcluster"
	"github.com/qualdial/qualdial/migrations"
)

const localURL = "postgres://postgres@127.0.0.1:5432/postgres?connect_timeout=2"

var (
	setupOnce sync.Once
	setupErr  error
	adminURL  string // a maintenance database on the chosen server
	template  string // migrated template database name
	cluster   *pgcluster.Cluster
	tmpDir    string
)

// Main runs the package's tests and then stops a private cluster if one was
// started. Use it from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		_ = cluster.Stop(context.Background())
		_ = os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// DB returns a pool on a new migrated database that belongs to this test
// alone. The pool is closed and the database dropped when the test ends.
func DB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), URL(t))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the drop registered by URL
	return pool
}

// URL creates a new migrated database for this test and returns its
// connection string, for code under test that connects by itself. The
// database is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	return create(t, "")
}

// EmptyURL is URL without the migrations: for tests of migrating itself.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return create(t, "template0")
}

func create(t testing.TB, from string) string {
	t.Helper()
	setupOnce.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("pgtest: no PostgreSQL for tests: %v", setupErr)
	}
	ctx := context.Background()
	name := "qd_test_" + randomHex(6)
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	if from == "" {
		from = template
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, from)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("pgtest: connect to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(adminURL, name)
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	switch {
	case os.Getenv("QUALDIAL_TEST_PG") == "private":
	case os.Getenv("TEST_DATABASE_URL") != "":
		adminURL = os.Getenv("TEST_DATABASE_URL")
	default:
		if conn, err := pgx.Connect(ctx, localURL); err == nil {
			conn.Close(ctx)
			adminURL = localURL
		}
	}
	if adminURL == "" {
		dir, err := os.MkdirTemp("", "qd-pgtest-")
		if err != nil {
			return err
		}
		tmpDir = dir
		if err := os.Chmod(dir, 0o755); err != nil { // the cluster's user must enter it
			return err
		}
		cluster, err = pgcluster.Start(ctx, pgcluster.Config{DataDir: filepath.Join(dir, "pg"), Database: "postgres", Ephemeral: true})
		if err != nil {
			return err
		}
		adminURL = cluster.URL()
	}
	return ensureTemplate(ctx)
}

// ensureTemplate builds the migrated template database once per schema
// fingerprint. An advisory lock keeps parallel test binaries from building it
// twice.
func ensureTemplate(ctx context.Context) error {
	template = "qd_tmpl_" + fingerprint()
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(adminURL), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(7117)"); err != nil {
		return err
	}
	defer admin.Exec(ctx, "SELECT pg_advisory_unlock(7117)")
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", template).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	building := template + "_build"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, withDatabase(adminURL, building))
	if err != nil {
		return err
	}
	_, err = migrations.Up(ctx, pool, nil)
	pool.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	_, err = admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, template))
	return err
}

// fingerprint changes whenever the migrations or River's version change.
func fingerprint() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.Files, path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/riverqueue/river" {
				h.Write([]byte(dep.Version))
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(base, db string) string {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return base + " dbname=" + db // keyword/value form: the last dbname wins
	}
	u.Path = "/" + db
	return u.String()
}

func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(database URL)"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
