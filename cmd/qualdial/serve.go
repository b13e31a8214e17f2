package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/dialer/twilio"
	"github.com/qualdial/qualdial/internal/pgcluster"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/mailer"
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

// e164Number is a number as a caller ID is given.
var e164Number = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func (c *appConfig) validate() error {
	if err := c.DB.validate(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("--http %q (env QUALDIAL_HTTP_ADDR) must be host:port, like 127.0.0.1:8080 or :8080", c.HTTPAddr)
	}
	if c.MetricsAddr != "" {
		_, port, err := net.SplitHostPort(c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr %q (env QUALDIAL_METRICS_ADDR) must be host:port, like :9464 or 10.0.0.5:9464", c.MetricsAddr)
		}
		if _, httpPort, _ := net.SplitHostPort(c.HTTPAddr); port == httpPort && port != "0" {
			return fmt.Errorf("--metrics-addr %q has the HTTP address's port (--http %q): metrics are served there already (to admins, or with --metrics-token); give another port", c.MetricsAddr, c.HTTPAddr)
		}
	}
	// A token read from a file (a Kubernetes Secret) often ends in a
	// newline that no scraper sends.
	c.MetricsToken = strings.TrimSpace(c.MetricsToken)
	if c.MetricsToken != "" && (len(c.MetricsToken) < 16 || strings.ContainsAny(c.MetricsToken, " \t\r\n")) {
		return errors.New("--metrics-token (env QUALDIAL_METRICS_TOKEN) must be at least 16 characters without spaces: anyone who guesses it reads the metrics")
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout %s (env QUALDIAL_SHUTDOWN_TIMEOUT) must be positive", c.ShutdownTimeout)
	}
	if c.SIPChannels < 0 {
		return fmt.Errorf("--sip-channels %d (env QUALDIAL_SIP_CHANNELS) must not be negative (0: no limit)", c.SIPChannels)
	}
	if c.TestCallerID != "" && !e164Number.MatchString(c.TestCallerID) {
		return fmt.Errorf("--test-caller-id %q (env QUALDIAL_TEST_CALLER_ID) must be an E.164 number: + and 7 to 15 digits, e.g. +15550100", c.TestCallerID)
	}
	if c.TestCallerID != "" && c.SIP.trunk == "" {
		return fmt.Errorf("--test-caller-id needs --sip-trunk (env QUALDIAL_SIP_TRUNK): test calls go to phone numbers through the trunk")
	}
	if c.MaxCalls < 1 {
		return fmt.Errorf("--max-calls %d (env QUALDIAL_MAX_CALLS) must be at least 1", c.MaxCalls)
	}
	if c.NumberCap < 1 {
		return fmt.Errorf("--number-cap %d (env QUALDIAL_NUMBER_CAP) must be at least 1", c.NumberCap)
	}
	if c.Heartbeat < 100*time.Millisecond {
		return fmt.Errorf("--heartbeat %s (env QUALDIAL_HEARTBEAT) must be at least 100ms", c.Heartbeat)
	}
	if c.ReconcileInterval < time.Second {
		return fmt.Errorf("--reconcile-interval %s (env QUALDIAL_RECONCILE_INTERVAL) must be at least 1s", c.ReconcileInterval)
	}
	if c.DeadAfter != 0 && c.DeadAfter < 2*c.Heartbeat {
		return fmt.Errorf("--dead-after %s (env QUALDIAL_DEAD_AFTER) must be at least twice --heartbeat %s, or 0 for 3 heartbeats: a process must not be taken for dead between two heartbeats",
			c.DeadAfter, c.Heartbeat)
	}
	if !(c.AbandonPauseAt >= 0 && c.AbandonPauseAt <= 0.03) { // NaN too
		return fmt.Errorf("--abandon-pause-at %g (env QUALDIAL_ABANDON_PAUSE_AT) must be a rate above 0 and at most 0.03 (0: the default 0.025): the rule allows 3%% of answered calls per campaign per 30 days", c.AbandonPauseAt)
	}
	if c.AbandonMinCalls < 0 {
		return fmt.Errorf("--abandon-min-calls %d (env QUALDIAL_ABANDON_MIN_CALLS) must be at least 1 (0: the default 20)", c.AbandonMinCalls)
	}
	if c.DBConnsHTTP < 2 || c.DBConnsWorkers < 4 {
		return fmt.Errorf("--db-conns-http must be at least 2 and --db-conns-workers at least 4 (River needs some of them)")
	}
	if err := c.AlertMail.Validate(); err != nil {
		return fmt.Errorf("e-mail alerts: %w\n(Addr is --smtp-addr or QUALDIAL_SMTP_ADDR; Username and Password --smtp-user, --smtp-password or QUALDIAL_SMTP_USER, QUALDIAL_SMTP_PASSWORD; "+
			"From --smtp-from or QUALDIAL_SMTP_FROM; To --alert-email-to or QUALDIAL_ALERT_EMAIL_TO; TLS --smtp-tls or QUALDIAL_SMTP_TLS)", err)
	}
	if err := queue.CheckPublicURL(c.PublicURL); err != nil {
		return fmt.Errorf("--public-url (env QUALDIAL_PUBLIC_URL): %w", err)
	}
	return c.Retention.validate()
}

// alertFlags adds the flags of the SLA breach e-mails.
func (e *env) alertFlags(cmd *cobra.Command, c *appConfig) {
	fl := cmd.Flags()
	fl.StringVar(&c.AlertMail.Addr, "smtp-addr", "", "SMTP server (host:port) that sends SLA breach e-mails, e.g. smtp.example.com:587; empty: no e-mails")
	e.bindEnv(fl, "smtp-addr", "QUALDIAL_SMTP_ADDR")
	fl.StringVar(&c.AlertMail.Username, "smtp-user", "", "SMTP login user (empty: no login)")
	e.bindEnv(fl, "smtp-user", "QUALDIAL_SMTP_USER")
	fl.StringVar(&c.AlertMail.Password, "smtp-password", "", "SMTP login password (prefer the environment variable)")
	e.bindEnv(fl, "smtp-password", "QUALDIAL_SMTP_PASSWORD")
	fl.StringVar(&c.AlertMail.From, "smtp-from", "", `sender of alert e-mails, e.g. "qualdial <alerts@example.com>"`)
	e.bindEnv(fl, "smtp-from", "QUALDIAL_SMTP_FROM")
	fl.StringSliceVar(&c.AlertMail.To, "alert-email-to", nil, "recipients of SLA breach e-mails (the sales managers): repeat, or separate with commas")
	e.bindEnv(fl, "alert-email-to", "QUALDIAL_ALERT_EMAIL_TO")
	fl.Var(newChoice(&c.AlertMail.TLS, mailer.TLSStartTLS, mailer.TLSModes...), "smtp-tls",
		"starttls (required STARTTLS, port 587), tls (implicit TLS, port 465) or none (clear text, only to a relay on this host)")
	e.bindEnv(fl, "smtp-tls", "QUALDIAL_SMTP_TLS")
	fl.DurationVar(&c.AlertMail.Timeout, "smtp-timeout", 30*time.Second, "bound on connecting to the SMTP server and on each command")
	e.bindEnv(fl, "smtp-timeout", "QUALDIAL_SMTP_TIMEOUT")
	fl.StringVar(&c.PublicURL, "public-url", "", "the web UI's base URL as users reach it, e.g. https://qualdial.example.com: alert e-mails link each lead's page")
	e.bindEnv(fl, "public-url", "QUALDIAL_PUBLIC_URL")
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
// logged at DEBUG; lines logged while serving a request carry its
// request_id.
func (e *env) newLogger(format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(quietRiver{Handler: requestAttrs{slog.NewTextHandler(e.stderr, opts)}}), nil
	case "json":
		return slog.New(quietRiver{Handler: requestAttrs{slog.NewJSONHandler(e.stderr, opts)}}), nil
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

func (e *env) serveCommand() *cobra.Command {
	var cfg appConfig
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
			return e.runApp(cmd.Context(), cfg, log)
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
	fl.DurationVar(&cfg.Heartbeat, "heartbeat", queue.DefaultHeartbeat, "how often this process tells the other replicas it is alive")
	e.bindEnv(fl, "heartbeat", "QUALDIAL_HEARTBEAT")
	fl.DurationVar(&cfg.DeadAfter, "dead-after", 0, "how long a replica may go without a heartbeat before its calls are settled and its leads given back (0: 3 heartbeats)")
	e.bindEnv(fl, "dead-after", "QUALDIAL_DEAD_AFTER")
	fl.DurationVar(&cfg.ReconcileInterval, "reconcile-interval", time.Minute, "how often the leader looks for calls of dead replicas to settle")
	e.bindEnv(fl, "reconcile-interval", "QUALDIAL_RECONCILE_INTERVAL")
	fl.Float64Var(&cfg.AbandonPauseAt, "abandon-pause-at", queue.DefaultAbandonPauseAt, "30-day abandonment rate at which a campaign is paused (the rule's limit is 0.03)")
	e.bindEnv(fl, "abandon-pause-at", "QUALDIAL_ABANDON_PAUSE_AT")
	fl.IntVar(&cfg.AbandonMinCalls, "abandon-min-calls", 20, "answered calls a campaign needs in 30 days before its abandonment rate can pause it")
	e.bindEnv(fl, "abandon-min-calls", "QUALDIAL_ABANDON_MIN_CALLS")
	e.bindEnv(fl, "workers", "QUALDIAL_WORKERS")
	fl.IntVar(&cfg.MaxCalls, "max-calls", 100, "calls this process places at once")
	e.bindEnv(fl, "max-calls", "QUALDIAL_MAX_CALLS")
	fl.IntVar(&cfg.SIPChannels, "sip-channels", 0, "calls at once the SIP trunk allows, across all campaigns and replicas (0: no limit)")
	e.bindEnv(fl, "sip-channels", "QUALDIAL_SIP_CHANNELS")
	fl.IntVar(&cfg.NumberCap, "number-cap", store.DefaultNumberCapPer24h, "calls to one number per 24 h across campaigns")
	e.bindEnv(fl, "number-cap", "QUALDIAL_NUMBER_CAP")
	fl.StringVar(&cfg.RulesFile, "jurisdiction-rules", "", "YAML table of calling rules by country and state replacing the project's (see qualdial rules)")
	e.bindEnv(fl, "jurisdiction-rules", "QUALDIAL_JURISDICTION_RULES")
	fl.Var(newChoice(&cfg.DTMF, dialer.DTMFAuto, dialer.DTMFModes...), "dtmf",
		"how keys are taken in campaigns that say auto: auto (RFC 4733 events when the far end sends them, else SIP INFO, else tones), rfc4733, info or inband")
	e.bindEnv(fl, "dtmf", "QUALDIAL_DTMF")
	fl.StringVar(&cfg.AudioDir, "audio-dir", "", "directory of the recorded audio campaign scripts name (their audio: paths are relative to it)")
	e.bindEnv(fl, "audio-dir", "QUALDIAL_AUDIO_DIR")
	fl.IntVar(&cfg.DBConnsHTTP, "db-conns-http", defaultDBConnsHTTP, "database connections for API requests")
	e.bindEnv(fl, "db-conns-http", "QUALDIAL_DB_CONNS_HTTP")
	fl.IntVar(&cfg.DBConnsWorkers, "db-conns-workers", defaultDBConnsWorkers, "database connections for the dial workers and the job queue")
	e.bindEnv(fl, "db-conns-workers", "QUALDIAL_DB_CONNS_WORKERS")
	fl.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve /metrics (Prometheus) without authentication on this address too, e.g. :9464 inside a private network; empty: none")
	e.bindEnv(fl, "metrics-addr", "QUALDIAL_METRICS_ADDR")
	fl.StringVar(&cfg.MetricsToken, "metrics-token", "", "bearer token that lets a scraper read /metrics on the HTTP address (admins signed in always can); prefer the environment variable")
	e.bindEnv(fl, "metrics-token", "QUALDIAL_METRICS_TOKEN")
	fl.BoolVar(&cfg.SecureCookies, "secure-cookies", false, "mark the web UI's session cookie Secure: set it when users reach qualdial over HTTPS (a proxy in front)")
	e.bindEnv(fl, "secure-cookies", "QUALDIAL_SECURE_COOKIES")
	fl.StringVar(&cfg.TestCallerID, "test-caller-id", "", "with --sip-trunk: the number (E.164) the script editor's test calls present; enables its \"Test call to my phone\"")
	e.bindEnv(fl, "test-caller-id", "QUALDIAL_TEST_CALLER_ID")
	fl.BoolVar(&cfg.Webhooks.AllowHTTP, "webhook-allow-http", false, "allow plain http:// CRM webhook URLs (an on-prem CRM without TLS)")
	e.bindEnv(fl, "webhook-allow-http", "QUALDIAL_WEBHOOK_ALLOW_HTTP")
	fl.Var(&cfg.Webhooks.AllowNets, "webhook-allow-net", "networks CRM webhooks may reach although not public, e.g. 10.20.0.0/16 (repeat, or separate with commas)")
	e.bindEnv(fl, "webhook-allow-net", "QUALDIAL_WEBHOOK_ALLOW_NETS")
	e.alertFlags(cmd, &cfg)
	e.retentionFlags(cmd, &cfg.Retention)
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
