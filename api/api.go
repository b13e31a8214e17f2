// Package api is qualdial's HTTP interface: health and readiness probes now,
// and the JSON API for web-form intake, call-list uploads and the sales pull
// as it grows. HTTP status codes are chosen here and nowhere else.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Pinger reports whether the database answers; *pgxpool.Pool implements it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config configures the handler.
type Config struct {
	// DB is checked by /readyz. Required.
	DB Pinger
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Version is reported by /healthz.
	Version string
	// ReadyTimeout bounds the database check of /readyz; default 2s.
	ReadyTimeout time.Duration
}

func (c *Config) validate() error {
	if c.DB == nil {
		return errors.New("api: Config.DB is required")
	}
	if c.ReadyTimeout < 0 {
		return errors.New("api: Config.ReadyTimeout must not be negative")
	}
	return nil
}

// New returns the HTTP handler.
func New(cfg Config) (http.Handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	s := &server{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	return mux, nil
}

type server struct {
	cfg Config
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
		s.cfg.Logger.Warn("not ready: database does not answer", "error", err)
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
