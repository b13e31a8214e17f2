package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/twilio"
	"github.com/qualdial/qualdial/internal/pgcluster"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/migrations"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// databaseConfig says where the data lives.
type databaseConfig struct {
	// URL of an existing PostgreSQL database. Empty: a private cluster in
	// DataDir.
	URL string
	// DataDir holds the private cluster when URL is empty.
	DataDir string
	// RunAs is the OS user of the private cluster when running as root.
	RunAs string
}

func (c *databaseConfig) validate() error {
	if c.URL == "" && c.DataDir == "" {
		return errors.New("no database: set QUALDIAL_DATABASE_URL (or --database-url), or --data-dir for a private PostgreSQL")
	}
	if c.URL == "" && !filepath.IsAbs(c.DataDir) {
		return fmt.Errorf("--data-dir %q must be an absolute path", c.DataDir)
	}
	return nil
}

// serveConfig configures "qualdial serve".
type serveConfig struct {
	DB databaseConfig
	// HTTPAddr is the API's listen address.
	HTTPAddr string
	// ShutdownTimeout bounds the graceful stop after SIGTERM.
	ShutdownTimeout time.Duration
	// LogFormat is text or json; LogLevel is debug, info, warn or error.
	LogFormat, LogLevel string
	// SIP configures the SIP driver; Workers false runs the API only.
	SIP sipFlags
	// Twilio configures the Twilio driver (when an account SID is set).
	Twilio  twilioFlags
	Workers bool
	// MaxCalls is this process's share of the trunk's channels.
	MaxCalls int
	// NumberCap caps calls to one number per 24 h across campaigns.
	NumberCap int
	// DTMF is how keys are taken in campaigns that say auto.
	DTMF string
	// AudioDir is where the recorded audio of campaign scripts is (their
	// `audio:` paths are relative to it); empty: none.
	AudioDir string
	// DBConnsHTTP and DBConnsWorkers size the database pools of the API's
	// requests and of the dial workers (River included), apart so that
	// neither starves the other; /readyz has a connection of its own.
	DBConnsHTTP, DBConnsWorkers int
	// Webhooks says which CRM webhook targets beyond public https ones are
	// allowed.
	Webhooks webhookFlags
}

// webhookFlags are the outbound webhook settings.
type webhookFlags struct {
	// AllowHTTP allows plain http:// webhook URLs.
	AllowHTTP bool
	// AllowNets are networks webhooks may reach although they are not
	// public (an on-prem CRM).
	AllowNets prefixList
}

// prefixList is a flag of network prefixes: repeat it or separate with
// commas (10.20.0.0/16,fd00::/8).
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	parts := make([]string, len(*l))
	for i, p := range *l {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func (l *prefixList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return fmt.Errorf("%q is not a network like 10.20.0.0/16", part)
		}
		*l = append(*l, p.Masked())
	}
	return nil
}

func (l *prefixList) Type() string { return "networks" }

func (c *serveConfig) validate() error {
	if err := c.DB.validate(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("--http %q (env QUALDIAL_HTTP_ADDR) must be host:port, like 127.0.0.1:8080 or :8080", c.HTTPAddr)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout %s (env QUALDIAL_SHUTDOWN_TIMEOUT) must be positive", c.ShutdownTimeout)
	}
	if c.MaxCalls < 1 {
		return fmt.Errorf("--max-calls %d (env QUALDIAL_MAX_CALLS) must be at least 1", c.MaxCalls)
	}
	if c.NumberCap < 1 {
		return fmt.Errorf("--number-cap %d (env QUALDIAL_NUMBER_CAP) must be at least 1", c.NumberCap)
	}
	if c.DBConnsHTTP < 2 || c.DBConnsWorkers < 4 {
		return fmt.Errorf("--db-conns-http must be at least 2 and --db-conns-workers at least 4 (River needs some of them)")
	}
	return nil
}

// defaultDataDir is where the private PostgreSQL lives by default: the
// user's state directory, or /var/lib/qualdial for root (whose home the
// cluster's unprivileged user cannot enter).
func (e *env) defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/qualdial/postgres"
	}
	if d := e.getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "qualdial", "postgres")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "qualdial", "postgres")
	}
	return filepath.Join(os.TempDir(), "qualdial", "postgres")
}

func (e *env) databaseFlags(cmd *cobra.Command, c *databaseConfig) {
	e.databaseFlagsIn(cmd, c, e.defaultDataDir(), "QUALDIAL_DATA_DIR", "QUALDIAL_DATABASE_URL", "DATABASE_URL")
}

// databaseFlagsIn adds the database flags with the private PostgreSQL's
// default data directory and its environment variable.
func (e *env) databaseFlagsIn(cmd *cobra.Command, c *databaseConfig, dataDir, dataDirEnv string, urlEnv ...string) {
	fl := cmd.Flags()
	fl.StringVar(&c.URL, "database-url", "", "PostgreSQL URL; empty starts a private PostgreSQL")
	e.bindEnv(fl, "database-url", urlEnv...)
	fl.Var(newAbsPath(&c.DataDir, dataDir), "data-dir", "data directory of the private PostgreSQL")
	e.bindEnv(fl, "data-dir", dataDirEnv)
	fl.StringVar(&c.RunAs, "pg-user", "", "OS user that runs the private PostgreSQL when qualdial runs as root (default postgres, else nobody)")
	e.bindEnv(fl, "pg-user", "QUALDIAL_PG_USER")
}

func (e *env) logFlags(cmd *cobra.Command, format, level *string) {
	fl := cmd.Flags()
	fl.Var(newChoice(format, "text", "text", "json"), "log-format", "log format: text or json")
	e.bindEnv(fl, "log-format", "QUALDIAL_LOG_FORMAT")
	fl.Var(newChoice(level, "info", "debug", "info", "warn", "error"), "log-level", "log level: debug, info, warn or error")
	e.bindEnv(fl, "log-level", "QUALDIAL_LOG_LEVEL")
}

// newLogger logs to stderr. Libraries' chatter (River's INFO records) is
// logged at DEBUG.
func (e *env) newLogger(format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(quietRiver{Handler: slog.NewTextHandler(e.stderr, opts)}), nil
	case "json":
		return slog.New(quietRiver{Handler: slog.NewJSONHandler(e.stderr, opts)}), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// openDatabase connects to the configured database, or starts the private
// cluster, and applies migrations. close releases everything.
func openDatabase(ctx context.Context, cfg databaseConfig, log *slog.Logger) (pool *pgxpool.Pool, st migrations.Status, close func(), err error) {
	pool, _, st, close, err = openDatabaseURL(ctx, cfg, log)
	return pool, st, close, err
}

// openDatabaseURL is openDatabase that also returns the database's URL, for
// more pools.
func openDatabaseURL(ctx context.Context, cfg databaseConfig, log *slog.Logger) (pool *pgxpool.Pool, url string, st migrations.Status, close func(), err error) {
	var cluster *pgcluster.Cluster
	url = cfg.URL
	if url == "" {
		cluster, err = pgcluster.Start(ctx, pgcluster.Config{DataDir: cfg.DataDir, RunAs: cfg.RunAs, Logger: log})
		if err != nil {
			return nil, "", st, nil, err
		}
		url = cluster.URL()
		log.Info("using private PostgreSQL", "data_dir", cfg.DataDir)
	}
	stopCluster := func() {
		if cluster != nil {
			if err := cluster.Stop(context.Background()); err != nil {
				log.Error("stopping private PostgreSQL", "error", err)
			}
		}
	}
	pool, err = pgxpool.New(ctx, url)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		stopCluster()
		return nil, "", st, nil, fmt.Errorf("connect to database: %w", err)
	}
	if st, err = migrations.Up(ctx, pool, log); err != nil {
		pool.Close()
		stopCluster()
		return nil, "", st, nil, err
	}
	return pool, url, st, func() { pool.Close(); stopCluster() }, nil
}

// poolConfig is a pool of size connections on url; statement settings are
// applied to every connection (e.g. lock_timeout for API requests).
func poolConfig(url string, size int, settings map[string]string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(size)
	for k, v := range settings {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	return cfg, nil
}

// importStaleAfter is how long a running import may go without progress
// (it records some every few seconds) before it counts as interrupted, for
// imports of processes on other hosts.
const importStaleAfter = 10 * time.Minute

// servePools are serve's database connections, sized per role: the API's
// requests, the dial workers (with River), and one for /readyz, so that a
// busy API never starves calls, nor calls the API, and readiness is answered
// while every request connection is taken.
type servePools struct {
	http, workers, health *pgxpool.Pool
}

func openServePools(ctx context.Context, url string, cfg serveConfig) (*servePools, error) {
	var p servePools
	for _, spec := range []struct {
		pool     **pgxpool.Pool
		size     int
		settings map[string]string
	}{
		// A request waits at most a second for a lock, then answers 503.
		{&p.http, cfg.DBConnsHTTP, map[string]string{"lock_timeout": "1s", "application_name": "qualdial-api"}},
		{&p.workers, cfg.DBConnsWorkers, map[string]string{"application_name": "qualdial-workers"}},
		{&p.health, 1, map[string]string{"application_name": "qualdial-health"}},
	} {
		pc, err := poolConfig(url, spec.size, spec.settings)
		if err == nil {
			*spec.pool, err = pgxpool.NewWithConfig(ctx, pc)
		}
		if err != nil {
			p.close()
			return nil, fmt.Errorf("connect to database: %w", err)
		}
	}
	return &p, nil
}

func (p *servePools) close() {
	for _, pool := range []*pgxpool.Pool{p.http, p.workers, p.health} {
		if pool != nil {
			pool.Close()
		}
	}
}

func (e *env) serveCommand() *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API and workers; migrates the database on start",
		Long: `Run qualdial: the dial workers (River jobs that call leads over SIP) and the
HTTP API with /healthz and /readyz. The database is migrated on start. With no
database URL, a private PostgreSQL is started from the system's PostgreSQL binaries
in --data-dir. Several serve processes on one database share the work.

SIGTERM or Ctrl-C stops taking new calls and lets calls in progress finish (up to
--shutdown-timeout); a second signal hangs them up at once (BYE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			log, err := e.newLogger(cfg.LogFormat, cfg.LogLevel)
			if err != nil {
				return err
			}
			return e.serve(cmd.Context(), cfg, log)
		},
	}
	e.databaseFlags(cmd, &cfg.DB)
	e.logFlags(cmd, &cfg.LogFormat, &cfg.LogLevel)
	fl := cmd.Flags()
	fl.Var(newHostPort(&cfg.HTTPAddr, "127.0.0.1:8080", "127.0.0.1:8080 or :8080"), "http", "HTTP listen address")
	e.bindEnv(fl, "http", "QUALDIAL_HTTP_ADDR")
	fl.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 2*time.Minute, "how long calls in progress may take to finish on SIGTERM")
	e.bindEnv(fl, "shutdown-timeout", "QUALDIAL_SHUTDOWN_TIMEOUT")
	fl.BoolVar(&cfg.Workers, "workers", true, "run dial workers (false: API only)")
	e.bindEnv(fl, "workers", "QUALDIAL_WORKERS")
	fl.IntVar(&cfg.MaxCalls, "max-calls", 100, "calls this process places at once")
	e.bindEnv(fl, "max-calls", "QUALDIAL_MAX_CALLS")
	fl.IntVar(&cfg.NumberCap, "number-cap", 3, "calls to one number per 24 h across campaigns")
	e.bindEnv(fl, "number-cap", "QUALDIAL_NUMBER_CAP")
	fl.Var(newChoice(&cfg.DTMF, dialer.DTMFAuto, dialer.DTMFModes...), "dtmf",
		"how keys are taken in campaigns that say auto: auto (RFC 4733 events when the far end sends them, else SIP INFO, else tones), rfc4733, info or inband")
	e.bindEnv(fl, "dtmf", "QUALDIAL_DTMF")
	fl.StringVar(&cfg.AudioDir, "audio-dir", "", "directory of the recorded audio campaign scripts name (their audio: paths are relative to it)")
	e.bindEnv(fl, "audio-dir", "QUALDIAL_AUDIO_DIR")
	fl.IntVar(&cfg.DBConnsHTTP, "db-conns-http", 10, "database connections for API requests")
	e.bindEnv(fl, "db-conns-http", "QUALDIAL_DB_CONNS_HTTP")
	fl.IntVar(&cfg.DBConnsWorkers, "db-conns-workers", 20, "database connections for the dial workers and the job queue")
	e.bindEnv(fl, "db-conns-workers", "QUALDIAL_DB_CONNS_WORKERS")
	fl.BoolVar(&cfg.Webhooks.AllowHTTP, "webhook-allow-http", false, "allow plain http:// CRM webhook URLs (an on-prem CRM without TLS)")
	e.bindEnv(fl, "webhook-allow-http", "QUALDIAL_WEBHOOK_ALLOW_HTTP")
	fl.Var(&cfg.Webhooks.AllowNets, "webhook-allow-net", "networks CRM webhooks may reach although not public, e.g. 10.20.0.0/16 (repeat, or separate with commas)")
	e.bindEnv(fl, "webhook-allow-net", "QUALDIAL_WEBHOOK_ALLOW_NETS")
	e.addSIPFlags(cmd, &cfg.SIP)
	fl.StringVar(&cfg.Twilio.sid, "twilio-account-sid", "", "Twilio account SID; enables campaigns with driver twilio")
	e.bindEnv(fl, "twilio-account-sid", "QUALDIAL_TWILIO_ACCOUNT_SID")
	fl.StringVar(&cfg.Twilio.token, "twilio-auth-token", "", "Twilio auth token")
	e.bindEnv(fl, "twilio-auth-token", "QUALDIAL_TWILIO_AUTH_TOKEN")
	fl.StringVar(&cfg.Twilio.publicURL, "twilio-public-url", "", "https URL where Twilio reaches this server's /twilio/ webhooks")
	e.bindEnv(fl, "twilio-public-url", "QUALDIAL_TWILIO_PUBLIC_URL")
	fl.StringVar(&cfg.Twilio.apiURL, "twilio-api-url", "", "Twilio REST base URL override, for a proxy")
	e.bindEnv(fl, "twilio-api-url", "QUALDIAL_TWILIO_API_URL")
	fl.Float64Var(&cfg.Twilio.cps, "twilio-cps", 1, "calls per second the Twilio account allows, across all campaigns and replicas")
	e.bindEnv(fl, "twilio-cps", "QUALDIAL_TWILIO_CPS")
	fl.BoolVar(&cfg.Twilio.amd, "twilio-machine-detection", false, "hang up on answering machines")
	e.bindEnv(fl, "twilio-machine-detection", "QUALDIAL_TWILIO_MACHINE_DETECTION")
	return cmd
}

func (e *env) serve(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	// Take the port first: a port in use fails at once, before a private
	// PostgreSQL starts or a migration runs. Connections wait in the
	// backlog until the server starts below.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	migrator, url, _, closeDB, err := openDatabaseURL(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	defer closeDB()
	migrator.Close() // migrations are done; the work has pools of its own
	pools, err := openServePools(ctx, url, cfg)
	if err != nil {
		return err
	}
	defer pools.close()
	// One clock for everything this process stores: the workers' store and
	// the API's share it.
	st := store.New(pools.workers, store.Config{})
	apiStore := store.New(pools.http, store.Config{Now: st.Now})
	// An import whose process died (a crash, a deploy) has nothing kept: say
	// so instead of "running" forever.
	if n, err := apiStore.SettleInterruptedImports(ctx, queue.ProcessGone, importStaleAfter); err != nil {
		log.Warn("cannot settle interrupted imports", "error", err)
	} else if n > 0 {
		log.Warn("settled imports interrupted by a stopped process", "imports", n)
	}
	drivers := map[string]dialer.Driver{}
	prompts := e.campaignPrompts(cfg.AudioDir, log.With("component", "prompts"))
	if cfg.Twilio.sid != "" && (cfg.Twilio.token == "" || cfg.Twilio.publicURL == "") {
		return errors.New("--twilio-account-sid needs --twilio-auth-token and --twilio-public-url")
	}
	if cfg.Workers {
		sipCfg, err := cfg.SIP.config(prompts, log.With("component", "sip"))
		if err != nil {
			return err
		}
		drv, err := sip.New(sipCfg)
		if err != nil {
			return err
		}
		defer drv.Close()
		drivers["sip"] = drv
		if cfg.SIP.trunk == "" {
			log.Warn("no --sip-trunk: SIP campaigns cannot call phone numbers; their leads wait, saying so in status_reason, until a process with a trunk dials them")
		}
	}
	var twilioHooks http.Handler
	var tw *twilio.Driver
	if cfg.Twilio.sid != "" {
		var err error
		tw, err = twilio.New(twilio.Config{AccountSID: cfg.Twilio.sid, AuthToken: cfg.Twilio.token, PublicURL: cfg.Twilio.publicURL,
			APIBaseURL: cfg.Twilio.apiURL, Sessions: st, Now: st.Now, MachineDetection: cfg.Twilio.amd, Logger: log.With("component", "twilio"),
			Audio: prompts.FS})
		if err != nil {
			return err
		}
		drivers["twilio"] = tw
		twilioHooks = tw.Handler()
	}
	q, err := queue.New(st, queue.Config{Drivers: drivers, DriverCPS: map[string]float64{"twilio": cfg.Twilio.cps}, MaxCalls: cfg.MaxCalls, NumberCapPer24h: cfg.NumberCap, DTMF: cfg.DTMF,
		SoftStopTimeout: cfg.ShutdownTimeout, Logger: log.With("component", "queue"),
		WebhookAllowHTTP: cfg.Webhooks.AllowHTTP, WebhookAllowNets: cfg.Webhooks.AllowNets})
	if err != nil {
		return err
	}
	if cfg.Workers { // otherwise the queue only enqueues, for the API
		if err := q.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
		log.Info("dial workers running", "max_calls", cfg.MaxCalls)
	}
	checkPrompts := promptCheck(prompts, tw)
	apiHandler, err := api.New(api.Config{Store: apiStore, Dialer: q, DB: pools.health, Logger: log.With("component", "api"), Version: buildVersion(),
		CheckPrompts:     checkPrompts,
		WebhookAllowHTTP: cfg.Webhooks.AllowHTTP, WebhookAllowNets: cfg.Webhooks.AllowNets})
	if err != nil {
		return err
	}
	var handler http.Handler = apiHandler
	if twilioHooks != nil {
		mux := http.NewServeMux()
		mux.Handle("/twilio/", twilioHooks)
		mux.Handle("/", apiHandler)
		handler = mux
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("qualdial serving", "addr", ln.Addr().String(), "version", buildVersion())

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: no new calls; calls in progress may finish", "timeout", cfg.ShutdownTimeout.String())
	// A second signal hangs up calls in progress at once.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout+10*time.Second)
	defer cancel()
	if cfg.Workers {
		stopped := make(chan error, 1)
		go func() { stopped <- q.Stop(sctx) }()
		select {
		case err := <-stopped:
			if err != nil {
				log.Warn("workers did not stop cleanly", "error", err)
			}
		case <-again:
			log.Warn("second signal: hanging up calls in progress")
			if err := q.StopAndCancel(sctx); err != nil {
				log.Warn("workers did not stop cleanly", "error", err)
			}
		}
	}
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	// Imports still running end failed, saying the server shut down.
	if err := apiHandler.Close(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func (e *env) migrateCommand() *cobra.Command {
	var (
		cfg               databaseConfig
		logFormat, logLvl string
	)
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations (River's included)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			log, err := e.newLogger(logFormat, logLvl)
			if err != nil {
				return err
			}
			_, st, closeDB, err := openDatabase(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			closeDB()
			fmt.Fprintf(e.stdout, "database is up to date: schema version %d (applied now: %d qualdial, %d River migrations)\n",
				st.Version, len(st.Applied), len(st.RiverApplied))
			return nil
		},
	}
	e.databaseFlags(cmd, &cfg)
	e.logFlags(cmd, &logFormat, &logLvl)
	return cmd
}

// twilioFlags are the Twilio driver's settings.
type twilioFlags struct {
	sid, token, publicURL, apiURL string
	amd                           bool
	cps                           float64
}

// promptCheck says whether a campaign's prompts can be played on its
// driver, before it calls anyone: SIP renders every prompt to audio; Twilio
// speaks texts itself, and plays recorded audio it must be able to fetch.
func promptCheck(prompts *prompt.Source, tw *twilio.Driver) func(ctx context.Context, driver string, sc *ivr.Script) error {
	return func(ctx context.Context, driver string, sc *ivr.Script) error {
		switch {
		case driver == "sip":
			return prompts.Check(ctx, sc)
		case driver == "twilio" && tw != nil:
			return tw.CheckPrompts(ctx, sc)
		}
		return nil
	}
}
