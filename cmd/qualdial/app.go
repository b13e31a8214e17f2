package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"riverqueue.com/riverui"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/twilio"
	"github.com/qualdial/qualdial/internal/requestid"
	"github.com/qualdial/qualdial/mailer"
	"github.com/qualdial/qualdial/metrics"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
	"github.com/qualdial/qualdial/web"
)

// appConfig is one qualdial process: what "serve" reads from its flags and
// environment, and what "demo" sets for its one machine. runApp wires every
// component from it.
type appConfig struct {
	DB databaseConfig
	// HTTPAddr is the API's listen address; empty: no HTTP server (the
	// process ends when Main returns).
	HTTPAddr string
	// ShutdownTimeout bounds how long calls in progress may take to finish
	// after the first signal.
	ShutdownTimeout time.Duration
	// LogFormat is text or json; LogLevel is debug, info, warn or error.
	LogFormat, LogLevel string
	// SIP configures the SIP driver; Workers false runs the API only.
	SIP sipFlags
	// Twilio configures the Twilio driver (when an account SID is set).
	Twilio  twilioFlags
	Workers bool
	// MaxCalls is how many calls this process places at once.
	MaxCalls int
	// SIPChannels caps the calls in progress through the SIP trunk across
	// every replica and campaign; 0: no cap beyond each campaign's.
	SIPChannels int
	// NumberCap caps calls to one number per 24 h across campaigns.
	NumberCap int
	// RulesFile is a table of calling rules by jurisdiction replacing the
	// project's (jurisdiction/rules.yaml); "" keeps the project's.
	RulesFile string
	// DTMF is how keys are taken in campaigns that say auto.
	DTMF string
	// AudioDir is where the recorded audio of campaign scripts is (their
	// `audio:` paths are relative to it); empty: none.
	AudioDir string
	// PlaceholderPrompts lets a call play a placeholder hum for a prompt
	// that cannot be rendered (no espeak-ng): for the demo's softphones,
	// never for real people.
	PlaceholderPrompts bool
	// DBConnsHTTP and DBConnsWorkers size the database pools of the API's
	// requests and of the dial workers (River included), apart so that
	// neither starves the other; /readyz has a connection of its own.
	DBConnsHTTP, DBConnsWorkers int
	// Webhooks says which CRM webhook targets beyond public https ones are
	// allowed.
	Webhooks webhookFlags
	// AlertMail e-mails SLA breaches to the sales managers; zero: no
	// e-mail.
	AlertMail mailer.Config
	// PublicURL is the web UI's base URL as users reach it, for links in
	// alert e-mails; empty: no links.
	PublicURL string
	// MetricsAddr serves /metrics (Prometheus) without authentication on a
	// listener of its own, for a scraper inside the network; empty: none.
	MetricsAddr string
	// MetricsToken lets scrapers read /metrics on HTTPAddr with this bearer
	// token; admins signed in to the web UI can read it there anyway.
	MetricsToken string
	// Heartbeat is how often this process tells the others it is alive;
	// DeadAfter how long the reconciler waits for another's heartbeat
	// before it settles its calls; ReconcileInterval how often it looks.
	// Zero: 10s, 3 heartbeats, 1m.
	Heartbeat, DeadAfter, ReconcileInterval time.Duration
	// AbandonPauseAt is the 30-day abandonment rate at which a campaign is
	// paused (0: 0.025); AbandonMinCalls the answered calls it takes first
	// (0: 20).
	AbandonPauseAt  float64
	AbandonMinCalls int
	// SecureCookies marks the web UI's session cookie Secure (users reach it over HTTPS).
	SecureCookies bool
	// Retention is how long serve keeps what it keeps only for a while;
	// zero: the defaults (the demo's).
	Retention retentionConfig
	// TestCallerID, with a SIP trunk, lets the script editor place test
	// calls to the user's phone, presenting this number (E.164).
	TestCallerID string
	// Starting runs once the HTTP port is taken, before the database opens
	// (the demo says what it starts).
	Starting func()
	// Prepare runs once the database is migrated, before any driver or
	// worker starts; it may change a.cfg (the demo starts its softphone
	// farm here and points the SIP trunk at it).
	Prepare func(ctx context.Context, a *app) error
	// Main runs once everything is started. When it fails, or when there is
	// no HTTP server, the process shuts down as it returns; otherwise it
	// serves until ctx is done. Nil: serve until ctx is done.
	Main func(ctx context.Context, a *app) error
}

// The database pools' sizes unless told otherwise (serve's flags), and the
// demo's.
const (
	defaultDBConnsHTTP    = 10
	defaultDBConnsWorkers = 20
)

// app is a running qualdial process, as Prepare and Main see it.
type app struct {
	cfg appConfig
	log *slog.Logger
	// store works on the workers' pool; apiStore on the API's, with the
	// same clock.
	store, apiStore *store.Store
	// queue enqueues, and works when cfg.Workers; nil during Prepare.
	queue *queue.Queue
	// addr is where the HTTP server listens; nil without one.
	addr net.Addr
	// metrics are this process's Prometheus metrics.
	metrics *metrics.Metrics
}

// errFenced ends a process that another took for dead: its heartbeats
// were late, and its calls were settled meanwhile.
var errFenced = errors.New("taken for dead by another process (heartbeats late): its calls were settled")

// runApp wires every component from cfg — database, pools, stores, drivers,
// the queue and its workers, the API and Twilio's webhooks — runs cfg.Main,
// serves, and on ctx's end shuts down in order: no new calls; calls in
// progress finish up to cfg.ShutdownTimeout (a second signal hangs them up
// at once), then they are hung up; then the HTTP server drains (Twilio's
// webhooks serve the calls until then); then the drivers, the pools and the
// private PostgreSQL close. serve and demo both run through it.
func (e *env) runApp(ctx context.Context, cfg appConfig, log *slog.Logger) error {
	a := &app{cfg: cfg, log: log}
	// What was opened, closed in reverse order when runApp returns.
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	// Take the port first: a port in use fails at once, before a private
	// PostgreSQL starts or a migration runs. Connections wait in the
	// backlog until the server starts below.
	var ln net.Listener
	if cfg.HTTPAddr != "" {
		var err error
		if ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
		}
		closers = append(closers, func() { ln.Close() })
		a.addr = ln.Addr()
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		var err error
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("listen on %s (metrics): %w", cfg.MetricsAddr, err)
		}
		closers = append(closers, func() { metricsLn.Close() })
	}
	m := metrics.New()
	a.metrics = m
	if cfg.Starting != nil {
		cfg.Starting()
	}
	migrator, url, _, closeDB, err := openDatabaseURL(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	closers = append(closers, closeDB)
	migrator.Close() // migrations are done; the work has pools of its own
	pools, err := openServePools(ctx, url, cfg)
	if err != nil {
		return err
	}
	closers = append(closers, pools.close)
	// One clock for everything this process stores: the workers' store and
	// the API's share it.
	a.store = store.New(pools.workers, store.Config{})
	a.apiStore = store.New(pools.http, store.Config{Now: a.store.Now})
	healthStore := store.New(pools.health, store.Config{Now: a.store.Now})
	if err := m.Register(metrics.NewPoolCollector(map[string]*pgxpool.Pool{"api": pools.http, "workers": pools.workers, "health": pools.health}),
		metrics.NewStateCollector(healthStore.OpsGauges, 5*time.Second)); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	// This process, as the others see it: an instance row kept alive by a
	// heartbeat. Taken for dead by another (heartbeats late), it shuts down.
	if cfg.DeadAfter == 0 && cfg.Heartbeat > 0 {
		cfg.DeadAfter = 3 * cfg.Heartbeat
		a.cfg.DeadAfter = cfg.DeadAfter
	}
	ctx, cancelFenced := context.WithCancelCause(ctx)
	defer cancelFenced(nil)
	inst, err := queue.StartInstance(ctx, a.store, queue.InstanceConfig{Version: buildVersion(), Heartbeat: cfg.Heartbeat, DeadAfter: cfg.DeadAfter,
		Fenced: func() { cancelFenced(errFenced) }, Logger: log.With("component", "instance")})
	if err != nil {
		return err
	}
	closers = append(closers, func() { // after the workers and imports stopped
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := inst.Stop(sctx); err != nil {
			log.Warn("cannot mark this instance stopped", "error", err)
		}
	})
	log.Info("instance registered", "instance", inst.ID())
	if cfg.Prepare != nil {
		if err := cfg.Prepare(ctx, a); err != nil {
			return err
		}
		cfg = a.cfg
	}

	drivers := map[string]dialer.Driver{}
	var tests *testCalls
	prompts := e.campaignPrompts(cfg.AudioDir, log.With("component", "prompts"))
	prompts.Placeholder = cfg.PlaceholderPrompts
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
		closers = append(closers, func() { drv.Close() })
		drivers["sip"] = drv
		if cfg.TestCallerID != "" && cfg.SIP.trunk != "" {
			tests = newTestCalls(drv, a.apiStore, cfg.TestCallerID, log.With("component", "test_calls"))
			closers = append(closers, func() { // before the driver closes
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := tests.close(ctx); err != nil {
					log.Warn("test calls", "error", err)
				}
			})
		}
		if cfg.SIP.trunk == "" {
			log.Warn("no --sip-trunk: SIP campaigns cannot call phone numbers; their leads wait, saying so in status_reason, until a process with a trunk dials them")
		}
	}
	var twilioHooks http.Handler
	var tw *twilio.Driver
	if cfg.Twilio.sid != "" {
		tw, err = twilio.New(twilio.Config{AccountSID: cfg.Twilio.sid, AuthToken: cfg.Twilio.token, PublicURL: cfg.Twilio.publicURL,
			APIBaseURL: cfg.Twilio.apiURL, Sessions: a.store, Now: a.store.Now, MachineDetection: cfg.Twilio.amd, Logger: log.With("component", "twilio"),
			Audio: prompts.FS})
		if err != nil {
			return err
		}
		drivers["twilio"] = tw
		twilioHooks = tw.Handler()
	}
	rules, err := loadRules(cfg.RulesFile)
	if err != nil {
		return err
	}
	a.queue, err = queue.New(a.store, queue.Config{Drivers: drivers, Rules: rules, DriverCPS: map[string]float64{"twilio": cfg.Twilio.cps}, MaxCalls: cfg.MaxCalls,
		TrunkChannels: map[string]int{"sip": cfg.SIPChannels}, NumberCapPer24h: cfg.NumberCap, DTMF: cfg.DTMF, SoftStopTimeout: cfg.ShutdownTimeout, Logger: log.With("component", "queue"), Metrics: m,
		Worker: inst.ID(), DeadAfter: cfg.DeadAfter, ReconcileInterval: cfg.ReconcileInterval,
		AbandonPauseAt: cfg.AbandonPauseAt, AbandonMinCalls: cfg.AbandonMinCalls,
		WebhookAllowHTTP: cfg.Webhooks.AllowHTTP, WebhookAllowNets: cfg.Webhooks.AllowNets, AlertMail: cfg.AlertMail, PublicURL: cfg.PublicURL,
		Retention: cfg.Retention.Retention, RetentionInterval: cfg.Retention.Interval})
	if err != nil {
		return err
	}
	var srv *http.Server
	var apiServer *api.Server
	if ln != nil {
		apiHandler, err := api.New(api.Config{Store: a.apiStore, Dialer: a.queue, DB: pools.health, Logger: log.With("component", "api"), Version: buildVersion(),
			CheckPrompts:     promptCheck(prompts, tw),
			WebhookAllowHTTP: cfg.Webhooks.AllowHTTP, WebhookAllowNets: cfg.Webhooks.AllowNets})
		if err != nil {
			return err
		}
		apiServer = apiHandler
		queueUI, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(a.queue.Client(), nil),
			Logger: log.With("component", "river"), Prefix: "/admin/queue"})
		if err != nil {
			return fmt.Errorf("job queue UI: %w", err)
		}
		if err := queueUI.Start(ctx); err != nil {
			return fmt.Errorf("job queue UI: %w", err)
		}
		ui, err := web.New(web.Config{Store: a.apiStore, Logger: log.With("component", "web"), SecureCookies: cfg.SecureCookies, Rules: rules,
			CheckPrompts: promptCheck(prompts, tw), Dialer: a.queue, TestCall: tests.placer(), KeyRevoked: apiHandler.ForgetAPIKey,
			WebhookAllowHTTP: cfg.Webhooks.AllowHTTP, WebhookAllowNets: cfg.Webhooks.AllowNets,
			Metrics: m.Handler(), MetricsToken: cfg.MetricsToken, QueueUI: queueUI})
		if err != nil {
			return err
		}
		// The API (/v1, the probes), Twilio's webhooks and the web UI.
		mux := http.NewServeMux()
		mux.Handle("/v1/", m.HTTP("api", apiHandler))
		for _, p := range []string{"/healthz", "/readyz"} {
			mux.Handle(p, m.HTTP("probes", apiHandler))
		}
		if twilioHooks != nil {
			mux.Handle("/twilio/", m.HTTP("twilio", twilioHooks))
		}
		mux.Handle("/admin/queue/", m.HTTP("queue_ui", ui))
		mux.Handle("/metrics", m.HTTP("metrics", ui))
		mux.Handle("/", m.HTTP("web", ui))
		handler := requestid.Middleware(mux)
		srv = &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		srv.RegisterOnShutdown(ui.Close) // live pages do not hold the shutdown
	}

	// Everything is built: start working, then serving.
	if cfg.Workers { // otherwise the queue only enqueues, for the API
		if err := a.queue.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
		log.Info("dial workers running", "max_calls", cfg.MaxCalls)
	}
	var metricsSrv *http.Server
	if metricsLn != nil {
		mm := http.NewServeMux()
		mm.Handle("GET /metrics", m.Handler())
		metricsSrv = &http.Server{Handler: mm, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { _ = metricsSrv.Serve(metricsLn) }()
		defer metricsSrv.Close() // last: the drain's figures stay readable
		log.Info("metrics served", "addr", metricsLn.Addr().String())
	}
	errc := make(chan error, 1)
	if srv != nil {
		go func() { errc <- srv.Serve(ln) }()
		log.Info("qualdial serving", "addr", ln.Addr().String(), "version", buildVersion())
	}
	if cfg.Main != nil {
		err = cfg.Main(ctx, a)
	}
	if err == nil && srv != nil {
		select {
		case serr := <-errc:
			err = fmt.Errorf("http server: %w", serr)
		case <-ctx.Done():
		}
	}
	if serr := a.shutdown(ctx, srv, apiServer); err == nil {
		err = serr
	}
	if err == nil && errors.Is(context.Cause(ctx), errFenced) {
		err = errFenced
	}
	return err
}

// shutdown stops the workers (calls in progress may finish up to the soft
// stop timeout, or are hung up at once on a second signal), then drains the
// HTTP server and ends the imports still running (failed, saying why).
func (a *app) shutdown(ctx context.Context, srv *http.Server, apiServer *api.Server) error {
	log := a.log
	log.Info("shutting down: no new calls; calls in progress may finish", "timeout", a.cfg.ShutdownTimeout.String())
	// A second signal hangs up calls in progress at once.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout+10*time.Second)
	defer cancel()
	if a.cfg.Workers && errors.Is(context.Cause(ctx), errFenced) {
		// Its calls were settled by another process: their results cannot
		// be recorded, and no dial job may start one more.
		log.Error("hanging up calls in progress: " + errFenced.Error())
		if err := a.queue.StopAndCancel(sctx); err != nil {
			log.Warn("workers did not stop cleanly", "error", err)
		}
	} else if a.cfg.Workers {
		stopped := make(chan error, 1)
		go func() { stopped <- a.queue.Stop(sctx) }()
		select {
		case err := <-stopped:
			if err != nil {
				log.Warn("workers did not stop cleanly", "error", err)
			}
		case <-again:
			log.Warn("second signal: hanging up calls in progress")
			if err := a.queue.StopAndCancel(sctx); err != nil {
				log.Warn("workers did not stop cleanly", "error", err)
			}
		}
	}
	if srv != nil {
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("graceful shutdown: %w", err)
		}
		if err := apiServer.Close(sctx); err != nil {
			return fmt.Errorf("graceful shutdown: %w", err)
		}
	}
	log.Info("stopped")
	return nil
}

// servePools are serve's database connections, sized per role: the API's
// requests, the dial workers (with River), and one for /readyz, so that a
// busy API never starves calls, nor calls the API, and readiness is answered
// while every request connection is taken.
type servePools struct {
	http, workers, health *pgxpool.Pool
}

func openServePools(ctx context.Context, url string, cfg appConfig) (*servePools, error) {
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
