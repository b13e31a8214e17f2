package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// pgProxy stands between the API and PostgreSQL so a test can take the
// database away: refuse new connections and cut the open ones (down), or
// keep them open and forward nothing (hung).
type pgProxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	conns []net.Conn
	mode  string // "", "down", "hung"
}

func newPGProxy(t *testing.T, dbURL string) (*pgProxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, upstream: u.Host}
	t.Cleanup(func() { p.set("down"); ln.Close() })
	go p.serve()
	u.Host = ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	return p, u.String()
}

func (p *pgProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode == "" {
			p.conns = append(p.conns, c)
		}
		p.mu.Unlock()
		switch mode {
		case "down":
			c.Close()
			continue
		case "hung":
			continue // accepted, never answered
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, up)
		p.mu.Unlock()
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies until the connection ends, or holds the bytes while hung.
func (p *pgProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			dst.Close()
			return
		}
		for p.current() == "hung" {
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			src.Close()
			return
		}
	}
}

func (p *pgProxy) current() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// set changes the mode; "down" also cuts every open connection.
func (p *pgProxy) set(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	if mode == "down" {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestDatabaseFaultsAnswer503: when the database is locked, down or hung,
// requests answer 503 with Retry-After within the request's database
// deadline — never 500, never hanging for the whole fault — and /readyz,
// on a connection of its own, reports it. When the database is back, so is
// the API.
func TestDatabaseFaultsAnswer503(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	direct := pgtest.URL(t)
	proxy, viaProxy := newPGProxy(t, direct)
	clock := fixture.Clock()

	cfg, err := pgxpool.ParseConfig(viaProxy)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = "1s" // as serve sets it for the request pool
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	health, err := pgxpool.New(ctx, withParam(t, viaProxy, "pool_max_conns", "1"))
	if err != nil {
		t.Fatal(err)
	}
	defer health.Close()
	directPool, err := pgxpool.New(ctx, direct)
	if err != nil {
		t.Fatal(err)
	}
	defer directPool.Close()

	st := store.New(pool, store.Config{Now: clock})
	q, err := queue.New(st, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Store: st, Dialer: q, DB: health, DBTimeout: time.Second, ReadyTimeout: time.Second, RetryAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	key, _, err := store.New(directPool, store.Config{Now: clock}).CreateAPIKey(ctx, store.RoleAdmin, "ops")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, http.Header, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	want503 := func(what string) {
		t.Helper()
		code, hdr, body := get("/v1/campaigns/1")
		if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "3" || hdr.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(body, "retry") {
			t.Errorf("%s: %d Retry-After %q %s; want 503 problem with Retry-After 3", what, code, hdr.Get("Retry-After"), body)
		}
	}
	if code, _, _ := get("/v1/campaigns/1"); code != http.StatusNotFound {
		t.Fatalf("healthy: %d, want 404 (no such campaign)", code)
	}

	// Locked: another session holds the table; the request gives up at the
	// lock timeout, while the lock is still held.
	locker, err := directPool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locker.Exec(ctx, `LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	want503("table locked")
	if err := locker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// Hung: connections open, nothing answers. The request deadline ends it.
	proxy.set("hung")
	want503("database hung")
	if code, _, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database hung: %d", code)
	}

	// Down: connections cut, new ones refused.
	proxy.set("down")
	want503("database down")
	if code, _, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database down: %d", code)
	}

	// Back.
	proxy.set("")
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, _ := get("/v1/campaigns/1")
		ready, _, _ := get("/readyz")
		if code == http.StatusNotFound && ready == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the database came back: %d, readyz %d", code, ready)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReadyzNeedsNoRequestConnection: with every request connection busy,
// /readyz still answers from its own.
func TestReadyzNeedsNoRequestConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	pool, err := pgxpool.New(ctx, withParam(t, dbURL, "pool_max_conns", "1"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	health, err := pgxpool.New(ctx, withParam(t, dbURL, "pool_max_conns", "1"))
	if err != nil {
		t.Fatal(err)
	}
	defer health.Close()
	st := store.New(pool, store.Config{Now: fixture.Clock()})
	q, _ := queue.New(st, queue.Config{})
	h, err := api.New(api.Config{Store: st, Dialer: q, DB: health})
	if err != nil {
		t.Fatal(err)
	}
	busy, err := pool.Acquire(ctx) // the only request connection
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Release()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("readyz with the request pool exhausted: %d %s", rec.Code, rec.Body)
	}
}

// withParam sets a query parameter of a database URL.
func withParam(t *testing.T, dbURL, k, v string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}
