// Package web is qualdial's web UI for marketing, sales and admins:
// server-rendered HTML (html/template) with htmx, served by `qualdial
// serve` and `qualdial demo` at /. Its handlers call the same store
// functions as the HTTP API; there is no second path to the data.
//
// Users log in with an e-mail and an argon2id-hashed password; sessions
// live in PostgreSQL (alexedwards/scs) behind an HttpOnly, SameSite=Lax
// cookie; every state-changing request passes Go's cross-origin protection
// (Sec-Fetch-Site / Origin). Every asset is embedded: no CDN, no build
// step.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/calllist"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/jurisdiction"
	"github.com/qualdial/qualdial/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// assetFS is what /assets/ serves: the style sheet, the inbox's script and the vendored
// bundles (web/assets/src, the editor bundle's source, is not served).
//
//go:embed assets/app.css assets/inbox.js assets/vendor
var assetFS embed.FS

// Config configures the web UI.
type Config struct {
	// Store is the database. Required.
	Store *store.Store
	// Logger receives request errors; default slog.Default().
	Logger *slog.Logger
	// Rules are the calling rules by jurisdiction the lead pages show
	// in the calling window (the queue's); default jurisdiction.Default().
	Rules *jurisdiction.Table
	// SecureCookies marks the session cookie Secure: set it when users
	// reach qualdial over HTTPS (a proxy in front).
	SecureCookies bool
	// SessionLifetime is how long a login lasts at most (default 12h);
	// SessionIdle logs a user out after this long without a request
	// (default 2h).
	SessionLifetime, SessionIdle time.Duration
	// LiveEvery is how often live pages get new numbers (default 5s).
	LiveEvery time.Duration
	// CheckPrompts refuses to start a campaign whose prompts cannot all be
	// played (the API's check); nil checks nothing.
	CheckPrompts func(ctx context.Context, driver string, sc *ivr.Script) error
	// Dialer is the dialing queue the pages hand leads to (the API's):
	// imported leads wake their campaign's dispatcher, re-checked leads
	// are queued again. Nil wakes nobody: leads wait for the dispatcher's
	// next pass.
	Dialer Dialer
	// MaxUpload bounds a call-list upload; default 2 GiB.
	MaxUpload int64
	// WebhookAllowHTTP accepts plain http:// webhook URLs, and
	// WebhookAllowNets the non-public networks they may name (the API's
	// settings: a subscription is checked the same way from either).
	WebhookAllowHTTP bool
	WebhookAllowNets []netip.Prefix
	// KeyRevoked is told of each API key revoked on the pages, so that
	// the API of this process refuses it at once (api.Server's
	// ForgetAPIKey). Other processes' APIs refuse it within their key
	// cache's few seconds, as after "qualdial apikey revoke"; so does
	// this one's when KeyRevoked is nil.
	KeyRevoked func(keyID int64)
	// TestCall places a test call of a script (the script editor's "Test
	// call to my phone"): phone is E.164, scriptYAML a script without
	// errors. It returns a line for the user (what was placed: a call id,
	// a queued job) once the call is placed, not when it ends; ctx ends
	// after 30 s. Nil hides the button: set it where a trunk is
	// configured (serve --test-caller-id). Each user may place one test
	// call a minute; a number on the do-not-call list is refused first.
	TestCall func(ctx context.Context, phone string, scriptYAML []byte) (string, error)
	// Metrics serves /metrics (Prometheus) to admins signed in, and to
	// scrapers that send MetricsToken as a bearer token (when it is set).
	// Nil: no /metrics on this server.
	Metrics      http.Handler
	MetricsToken string
	// QueueUI is the job queue's UI (River UI, built for the path prefix
	// /admin/queue), served to admins only. Nil: none.
	QueueUI http.Handler
}

// Dialer is what the pages need of the dialing queue.
type Dialer interface {
	// WakeTx wakes a campaign's dispatcher in the caller's transaction.
	WakeTx(ctx context.Context, tx pgx.Tx, campaignID int64) error
	// EnqueueManyTx queues leads for their pre-dial checks in the
	// caller's transaction.
	EnqueueManyTx(ctx context.Context, tx pgx.Tx, leadIDs []int64) error
}

// idleDialer is the Dialer of a UI given none.
type idleDialer struct{}

func (idleDialer) WakeTx(context.Context, pgx.Tx, int64) error          { return nil }
func (idleDialer) EnqueueManyTx(context.Context, pgx.Tx, []int64) error { return nil }

func (c *Config) validate() error {
	if c.Store == nil {
		return errors.New("web: Config.Store is required")
	}
	if c.SessionLifetime < 0 || c.SessionIdle < 0 || c.LiveEvery < 0 || c.MaxUpload < 0 {
		return errors.New("web: durations must not be negative")
	}
	return nil
}

// Server serves the web UI.
type Server struct {
	cfg      Config
	store    *store.Store
	sessions *scs.SessionManager
	pages    map[string]*template.Template
	handler  http.Handler
	// testCalls limits each user's test calls.
	testCalls callLimiter
	// stop ends the live streams (Close).
	stop     chan struct{}
	stopOnce sync.Once
	// uploads are the upload wizard's spooled files; imports run the
	// imports it started (Close stops them).
	uploads *uploads
	imports *calllist.Runner
}

// Close ends the live streams, so the HTTP server's shutdown does not
// wait for them (pages reconnect to another process), stops the imports
// still running — each ends failed, saying the server shut down, with
// nothing of it kept — and removes the uploads not imported. Idempotent.
func (s *Server) Close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.closeUploads()
	})
}

// New builds the web UI.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = 12 * time.Hour
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 2 * time.Hour
	}
	if cfg.LiveEvery == 0 {
		cfg.LiveEvery = 5 * time.Second
	}
	if cfg.MaxUpload == 0 {
		cfg.MaxUpload = 2 << 30
	}
	if cfg.Dialer == nil {
		cfg.Dialer = idleDialer{}
	}
	sm := scs.New()
	sm.Store = cfg.Store.Sessions()
	sm.Lifetime, sm.IdleTimeout = cfg.SessionLifetime, cfg.SessionIdle
	sm.Cookie.Name = "qualdial_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = cfg.SecureCookies
	sm.Cookie.Path = "/"
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		cfg.Logger.Error("session", "error", err, "path", r.URL.Path)
		http.Error(w, "the session store is unavailable: try again", http.StatusServiceUnavailable)
	}
	s := &Server{cfg: cfg, store: cfg.Store, sessions: sm, stop: make(chan struct{}), uploads: newUploads(),
		imports: calllist.NewRunner(importTimeout)}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	s.routes(mux)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused: use qualdial's own pages", http.StatusForbidden)
	}))
	s.handler = securityHeaders(cop.Handler(sm.LoadAndSave(mux)))
	return s, nil
}

// ServeHTTP serves the UI.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes(mux *http.ServeMux) {
	assets, _ := fs.Sub(assetFS, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheAssets(http.FileServerFS(assets))))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.Handle("GET /password", s.user(s.passwordPage))
	mux.Handle("POST /password", s.user(s.changePassword))
	mux.Handle("GET /{$}", s.user(s.home))
	mkt := []string{store.RoleAdmin, store.RoleMarketing}
	mux.Handle("GET /campaigns", s.role(s.campaignsPage, mkt...))
	mux.Handle("GET /campaigns/rows", s.role(s.campaignRows, mkt...))
	mux.Handle("GET /campaigns/stream", s.role(s.streamCampaigns, mkt...))
	mux.Handle("GET /campaigns/{id}", s.role(s.campaignPage, mkt...))
	mux.Handle("POST /campaigns/{id}/{action}", s.role(s.campaignAction, mkt...))
	mux.Handle("GET /users", s.role(s.usersPage, store.RoleAdmin))
	mux.Handle("POST /users", s.role(s.createUser, store.RoleAdmin))
	s.campaignFormRoutes(mux)
	s.scriptRoutes(mux)
	s.leadRoutes(mux)
	s.inboxRoutes(mux)
	s.exportRoutes(mux)
	s.dashboardRoutes(mux)
	s.dncRoutes(mux)
	s.adminRoutes(mux)
	s.uploadRoutes(mux)
	s.opsRoutes(mux)
	mux.HandleFunc("/", s.notFound)
}

// securityHeaders keeps the pages from being framed, sniffed or given
// scripts from elsewhere.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy(""))
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy is every page's policy: nothing from elsewhere,
// no inline script or style. A styleNonce also admits the <style>
// elements that carry it: the script editor's page alone has one, for the
// styles CodeMirror injects.
func contentSecurityPolicy(styleNonce string) string {
	style := "'self'"
	if styleNonce != "" {
		style += " 'nonce-" + styleNonce + "'"
	}
	return "default-src 'self'; script-src 'self'; style-src " + style + "; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// cacheAssets lets browsers keep the embedded assets (their paths carry
// their version).
func cacheAssets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

// Session keys.
const (
	sessionUser  = "user_id"
	sessionFlash = "flash"
)

type userHandler func(w http.ResponseWriter, r *http.Request, u *store.User) error

// user runs h for a logged-in user; others go to the login page. A user
// whose password an administrator gave must choose their own first.
func (s *Server) user(h userHandler) http.Handler {
	return s.role(h, store.WebRoles...)
}

// role runs h for a logged-in user with one of roles; another role gets
// 403.
func (s *Server) role(h userHandler, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := s.sessions.GetInt64(r.Context(), sessionUser)
		if id == 0 {
			s.toLogin(w, r)
			return
		}
		u, err := s.store.UserByID(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) { // disabled or deleted meanwhile
			_ = s.sessions.Destroy(r.Context())
			s.toLogin(w, r)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if u.MustChangePassword && r.URL.Path != "/password" {
			http.Redirect(w, r, "/password", http.StatusSeeOther)
			return
		}
		if !slices.Contains(roles, u.Role) {
			s.renderStatus(w, r, http.StatusForbidden, "forbidden", u, nil)
			return
		}
		if err := h(w, r, u); err != nil {
			s.fail(w, r, err)
		}
	})
}

// toLogin sends a visitor to the login page, coming back here after.
func (s *Server) toLogin(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet || !safeNext(next) {
		next = "/"
	}
	if r.Header.Get("HX-Request") == "true" { // an htmx request follows with a full page load
		w.Header().Set("HX-Redirect", "/login?next="+urlQueryEscape(next))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, "/login?next="+urlQueryEscape(next), http.StatusSeeOther)
}

// safeNext accepts only a path on this site as where to go after login.
func safeNext(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.ContainsAny(p, "\\\r\n") && len(p) <= 512
}

// fail answers an unexpected error: logged with its detail, shown without.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.Logger.ErrorContext(r.Context(), "web request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	http.Error(w, "something went wrong on our side; it has been logged", http.StatusInternalServerError)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.renderStatus(w, r, http.StatusNotFound, "notfound", nil, nil)
}

// home sends each role to its first page.
func (s *Server) home(w http.ResponseWriter, r *http.Request, u *store.User) error {
	switch u.Role {
	case store.RoleAdmin, store.RoleMarketing:
		http.Redirect(w, r, "/campaigns", http.StatusSeeOther)
	case store.RoleSales:
		http.Redirect(w, r, "/inbox", http.StatusSeeOther)
	default:
		s.render(w, r, "home", u, nil)
	}
	return nil
}

// flash keeps a one-time message for the next page.
func (s *Server) flash(r *http.Request, format string, args ...any) {
	s.sessions.Put(r.Context(), sessionFlash, fmt.Sprintf(format, args...))
}
