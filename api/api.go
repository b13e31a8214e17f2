// Package api is qualdial's HTTP interface: web-form intake, call-list
// uploads, campaigns, the do-not-call list, and the sales pull, plus health
// and readiness probes. Every endpoint checks the API key's role; errors are
// RFC 9457 problem+json. HTTP status codes are chosen here and nowhere else.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/calllist"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// Pinger reports whether the database answers; *pgxpool.Pool implements it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Dialer is what the API needs of the dialing queue.
type Dialer interface {
	EnqueueTx(ctx context.Context, tx pgx.Tx, leadID int64) error
	EnqueueManyTx(ctx context.Context, tx pgx.Tx, leadIDs []int64) error
	// WakeTx wakes a campaign's dispatcher in the caller's transaction
	// (an import's, once, when it accepted leads).
	WakeTx(ctx context.Context, tx pgx.Tx, campaignID int64) error
	Explain(ctx context.Context, db store.DB, lead *store.Lead, c *store.Campaign) (queue.DialStatus, error)
	// Rescore applies a campaign's thresholds to a locked lead whose score
	// changed (added activities just recorded, or a conversion).
	Rescore(ctx context.Context, tx pgx.Tx, l *store.Lead, c *store.Campaign, added int, conversion bool, actor string) (queue.Rescored, error)
	// RescoreMany is Rescore for many leads at once (an activity batch).
	RescoreMany(ctx context.Context, tx pgx.Tx, changes []queue.ScoreChange, actor string) ([]queue.Rescored, error)
}

// Config configures the handler.
type Config struct {
	// Store is the database. Required for the /v1 API; without it only the
	// probes are served.
	Store *store.Store
	// Dialer schedules calls for new leads. Required with Store.
	Dialer Dialer
	// DB is checked by /readyz; default Store's pool.
	DB Pinger
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Version is reported by /healthz.
	Version string
	// ReadyTimeout bounds the database check of /readyz; default 2s. Give
	// DB a connection of its own (not the request pool), so that /readyz
	// answers while every request connection is busy.
	ReadyTimeout time.Duration
	// DBTimeout bounds one request's database work: a database that is
	// down, hung or locked answers 503 with Retry-After instead of holding
	// the request; default 2s. Imports and exports, which stream, get
	// StreamTimeout instead (default 30m), which also bounds an import
	// running in the background.
	DBTimeout, StreamTimeout time.Duration
	// RetryAfter is what a 503 tells clients to wait; default 5s.
	RetryAfter time.Duration
	// CheckPrompts, when set, says whether every prompt of a script can be
	// played by a driver (recorded audio present, speech available): a
	// campaign that fails it is not started. nil checks nothing.
	CheckPrompts func(ctx context.Context, driver string, sc *ivr.Script) error
	// MaxBody bounds JSON and form bodies; default 1 MiB.
	MaxBody int64
	// MaxUpload bounds call-list uploads; default 2 GiB.
	MaxUpload int64
	// WebhookAllowHTTP accepts plain http:// CRM webhook URLs; default false
	// (https only). Give the queue the same setting, which delivers them.
	WebhookAllowHTTP bool
	// WebhookAllowNets are non-public networks CRM webhook URLs may name as
	// IP addresses (an on-prem CRM's 10.20.0.0/16); default none. Give the
	// queue the same list: it checks every connection after DNS.
	WebhookAllowNets []netip.Prefix
}

func (c *Config) validate() error {
	if c.DB == nil && c.Store == nil {
		return errors.New("api: Config.Store (or DB for probes only) is required")
	}
	if c.Store != nil && c.Dialer == nil {
		return errors.New("api: Config.Dialer is required with Store")
	}
	if c.ReadyTimeout < 0 || c.MaxBody < 0 || c.MaxUpload < 0 || c.DBTimeout < 0 || c.StreamTimeout < 0 || c.RetryAfter < 0 {
		return errors.New("api: timeouts and limits must not be negative")
	}
	for _, n := range c.WebhookAllowNets {
		if !n.IsValid() {
			return fmt.Errorf("api: WebhookAllowNets has an invalid network %v", n)
		}
	}
	return nil
}

//go:embed openapi.yaml
var openAPI []byte

// Server is the HTTP API. The imports it accepted run in the background
// until they end or Close stops them.
type Server struct {
	http.Handler
	s *server
}

// Close stops the imports still running — each ends failed, saying the
// server shut down, with nothing of it kept — and waits until they have
// recorded that, or ctx ends. Call it after the HTTP server's Shutdown.
func (s *Server) Close(ctx context.Context) error {
	if s.s.imports == nil {
		return nil
	}
	return s.s.imports.Close(ctx)
}

// ForgetAPIKey makes this API refuse a key revoked elsewhere in the process
// (the web UI's API keys page) at once, rather than within keyTTL (3 s). Safe for
// concurrent use.
func (s *Server) ForgetAPIKey(id int64) { s.s.keys.forget(id) }

// New returns the HTTP handler.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.DBTimeout == 0 {
		cfg.DBTimeout = 2 * time.Second
	}
	if cfg.StreamTimeout == 0 {
		cfg.StreamTimeout = 30 * time.Minute
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.MaxUpload == 0 {
		cfg.MaxUpload = 2 << 30
	}
	if cfg.DB == nil {
		cfg.DB = cfg.Store.Pool()
	}
	s := &server{cfg: cfg, store: cfg.Store, keys: keyCache{log: cfg.Logger}}
	if cfg.Store != nil {
		s.imports = calllist.NewRunner(cfg.StreamTimeout)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if cfg.Store != nil {
		s.routes(mux)
	}
	return &Server{Handler: s.recoverer(s.problems(mux)), s: s}, nil
}

type server struct {
	cfg     Config
	store   *store.Store
	keys    keyCache
	imports *calllist.Runner // nil without Store
}

func (s *server) routes(mux *http.ServeMux) {
	any := []string{store.RoleAdmin, store.RoleMarketing, store.RoleSales}
	mkt := []string{store.RoleAdmin, store.RoleMarketing}
	sales := []string{store.RoleAdmin, store.RoleSales}
	route := func(pattern string, h handlerFunc, roles ...string) { mux.Handle(pattern, s.auth(h, roles)) }

	mux.HandleFunc("GET /v1/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPI)
	})
	route("POST /v1/leads", s.createLead, store.RoleAdmin, store.RoleMarketing, store.RoleIntake)
	route("POST /v1/activities", s.recordActivities, store.RoleAdmin, store.RoleMarketing, store.RoleIntake)
	route("GET /v1/leads", s.listLeads, any...)
	route("GET /v1/leads/export.csv", s.exportLeads, any...)
	route("POST /v1/leads/next", s.claimNext, sales...)
	route("GET /v1/leads/{id}", s.getLead, any...)
	route("GET /v1/leads/{id}/compliance", s.leadCompliance, mkt...)
	route("DELETE /v1/leads/{id}", s.eraseLead, store.RoleAdmin)
	route("POST /v1/leads/{id}/assign", s.assignLead, store.RoleAdmin)
	for _, action := range []string{store.ActionContacted, store.ActionWon, store.ActionLost, store.ActionRecycle, store.ActionRelease} {
		route("POST /v1/leads/{id}/"+action, s.salesAction(action), sales...)
	}
	route("POST /v1/campaigns", s.createCampaign, mkt...)
	route("GET /v1/campaigns", s.listCampaigns, any...)
	route("GET /v1/campaigns/{id}", s.getCampaign, any...)
	route("PATCH /v1/campaigns/{id}", s.updateCampaign, mkt...)
	for _, action := range []string{"start", "pause", "resume", "finish"} {
		route("POST /v1/campaigns/{id}/"+action, s.campaignAction(action), mkt...)
	}
	route("POST /v1/campaigns/{id}/recheck", s.recheckCampaign, mkt...)
	route("GET /v1/campaigns/{id}/stats", s.campaignStats, mkt...)
	route("GET /v1/reports/scoring", s.scoringReport, mkt...)
	route("GET /v1/caller-ids", s.callerIDHealth, mkt...)
	route("POST /v1/campaigns/{id}/imports", s.importLeads, mkt...)
	route("GET /v1/campaigns/{id}/imports/{import}", s.getImport, mkt...)
	route("GET /v1/campaigns/{id}/imports/{import}/rejects.csv", s.importRejects, mkt...)
	route("POST /v1/dnc", s.addDNC, mkt...)
	route("GET /v1/dnc", s.listDNC, mkt...)
	route("GET /v1/dnc/{phone}", s.checkDNC, mkt...)
	route("DELETE /v1/dnc/{phone}", s.removeDNC, store.RoleAdmin)
	route("POST /v1/webhooks", s.createWebhook, store.RoleAdmin)
	route("GET /v1/webhooks", s.listWebhooks, store.RoleAdmin)
	route("DELETE /v1/webhooks/{id}", s.deleteWebhook, store.RoleAdmin)
	route("GET /v1/apikeys", s.listAPIKeys, store.RoleAdmin)
	route("DELETE /v1/apikeys/{id}", s.revokeAPIKey, store.RoleAdmin)
}

// healthz answers as long as the process serves HTTP (liveness).
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
}

// readyz answers 200 only when the database answers (readiness).
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
	defer cancel()
	if err := s.cfg.DB.Ping(ctx); err != nil {
		s.cfg.Logger.WarnContext(r.Context(), "not ready: database does not answer", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "database": "ok"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// keyActor names an API key in events and audit rows.
func keyActor(k *store.APIKey) string { return fmt.Sprintf("api_key:%d", k.ID) }
