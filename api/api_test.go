package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/qualdial/qualdial/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// downDB is a database that never answers.
type downDB struct{}

func (downDB) Ping(ctx context.Context) error { return errors.New("connection refused") }

// slowDB answers only when its context ends.
type slowDB struct{}

func (slowDB) Ping(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

func get(t *testing.T, h http.Handler, method, path string) (int, map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var body map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func TestProbes(t *testing.T) {
	t.Parallel()
	// A generous bound: the probe of a real database must not fail on a loaded machine.
	real, err := New(Config{DB: pgtest.DB(t), Version: "v1.2.3", ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	down, _ := New(Config{DB: downDB{}})
	slow, _ := New(Config{DB: slowDB{}, ReadyTimeout: 50 * time.Millisecond})

	for _, tc := range []struct {
		name   string
		h      http.Handler
		method string
		path   string
		code   int
		status string
	}{
		{"ready with a real database", real, "GET", "/readyz", 200, "ready"},
		{"alive", real, "GET", "/healthz", 200, "ok"},
		{"database down: not ready", down, "GET", "/readyz", 503, "unavailable"},
		{"database down: still alive", down, "GET", "/healthz", 200, "ok"},
		{"database hangs: not ready in time", slow, "GET", "/readyz", 503, "unavailable"},
		{"wrong method", real, "POST", "/readyz", 405, ""},
		{"unknown path", real, "GET", "/nope", 404, ""},
	} {
		code, body := get(t, tc.h, tc.method, tc.path)
		if code != tc.code || body["status"] != tc.status {
			t.Errorf("%s: %d %v; want %d status %q", tc.name, code, body, tc.code, tc.status)
		}
	}
	if _, body := get(t, real, "GET", "/healthz"); body["version"] != "v1.2.3" {
		t.Errorf("healthz version = %q", body["version"])
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config without DB")
	}
	if _, err := New(Config{DB: downDB{}, ReadyTimeout: -time.Second}); err == nil {
		t.Error("New accepted a negative ReadyTimeout")
	}
}
