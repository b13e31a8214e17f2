// Package queue runs campaign dialing. The leads table is the schedule:
// a lead waiting to be called has its due time (next_attempt_at). One
// dispatcher per driver, across every process, hands the due leads of its
// active campaigns to dial jobs on River — fresh leads first, campaigns in
// turn, as many as their concurrency, the trunk's channels and their pace
// allow — after the pre-dial checks (DNC, consent, calling window, attempt
// caps). A dial job places one call through a dialer.Driver and writes the
// result, with the lead's next due time, in one transaction; a call that
// ends wakes the dispatcher. Periodic jobs watch the sales SLA, start
// nurture recalls and reconcile what a crashed process left behind.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/jurisdiction"
	"github.com/qualdial/qualdial/mailer"
	"github.com/qualdial/qualdial/metrics"
	"github.com/qualdial/qualdial/store"
)

// The River queues: one per kind of work, so that none waits behind
// another — a hanging CRM endpoint never delays the SLA watcher, and a
// process works only the dial queues of the drivers it has (DialQueue).
const (
	// QueueWebhooks holds CRM webhook deliveries.
	QueueWebhooks = "webhooks"
	// QueueAlerts holds alert e-mails, one at a time: a hanging SMTP
	// server holds that one worker, never the maintenance jobs.
	QueueAlerts = "alerts"
	// Maintenance jobs (SLA watcher, reconciler, recalls, webhook
	// dispatch) run on River's default queue.
)

// DialArgs is the job that calls one lead once: the dispatcher inserts it
// when the lead is due and a slot is free, and records its id on the lead;
// only that job may call the lead.
type DialArgs struct {
	LeadID int64 `json:"lead_id"`
}

// Kind implements river.JobArgs.
func (DialArgs) Kind() string { return "dial_lead" }

// InsertOpts: infrastructure errors (the database away) retry; the queue is
// the campaign driver's, set by the dispatcher.
func (DialArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 20} }

// Config configures the dialing queue.
type Config struct {
	// Drivers places calls, by campaign driver name ("sip", "twilio").
	Drivers map[string]dialer.Driver
	// MaxCalls is how many calls this process places at once; default 100.
	MaxCalls int
	// TrunkChannels caps the calls in progress through a driver's trunk or
	// account across every process and campaign, e.g. {"sip": 30}: a SIP
	// trunk's channels, the second legs of live transfers to numbers
	// included. Missing or 0: only each campaign's concurrency
	// limits. The dispatcher of the process that holds the driver's
	// dispatch lock applies its own value: give every process the same.
	TrunkChannels map[string]int
	// DriverCPS caps calls per second per driver account across all
	// campaigns and processes, e.g. {"twilio": 1} (Twilio's default limit).
	DriverCPS map[string]float64
	// DTMF is how this process takes keys in campaigns that say auto
	// (dialer.DTMFAuto…): a trunk known to send only SIP INFO, say; default
	// auto.
	DTMF string
	// NumberCapPer24h caps attempts to one number in 24 hours across all
	// campaigns; default 3. A jurisdiction's lower cap wins.
	NumberCapPer24h int
	// Rules are the calling rules by jurisdiction applied at dial time on
	// top of each campaign's window; default jurisdiction.Default().
	Rules *jurisdiction.Table
	// WriteRetry is the first wait before a finished call's result is
	// written again when the database refused it (doubling, about two
	// minutes in all by default); default 1s.
	WriteRetry time.Duration
	// DispatchIdle is the longest a dispatcher sleeps without a wake-up
	// before it looks at its active campaigns again (a safety net for a
	// lost notification or a clock that jumped: one query per active
	// campaign); default 30s.
	DispatchIdle time.Duration
	// FetchCooldown is River's minimum gap between fetches; default 20ms
	// (speed to lead).
	FetchCooldown time.Duration
	// SLAWatchInterval, ReconcileInterval and RecallInterval run the
	// periodic jobs (SLA breaches, interrupted calls, nurture recalls);
	// default 1m each.
	SLAWatchInterval, ReconcileInterval, RecallInterval time.Duration
	// AbandonPauseAt is the 30-day abandonment rate at which the
	// abandonment watch pauses a campaign (the rule's limit is 3 %);
	// default 0.025. AbandonMinCalls is how many answered calls a campaign
	// needs in the 30 days before it can be paused for its rate (default
	// 20: one late call of the first few is not a rate);
	// AbandonWatchInterval how often the rates are computed, default 1m.
	AbandonPauseAt       float64
	AbandonMinCalls      int
	AbandonWatchInterval time.Duration
	// Retention says how long what qualdial keeps only for a while is
	// kept (store.Retention; zero: the defaults); RetentionInterval how
	// often the retention job runs, default 1h.
	Retention         store.Retention
	RetentionInterval time.Duration
	// SoftStopTimeout bounds how long Stop lets calls in progress finish;
	// default 2m.
	SoftStopTimeout time.Duration
	// WebhookInterval is how often pending CRM webhooks are dispatched;
	// default 2s. WebhookBackoff is the first retry delay, doubling after;
	// default 5s.
	WebhookInterval, WebhookBackoff time.Duration
	// WebhookWorkers is how many webhook deliveries this process makes at
	// once; default 8. WebhookPerEndpoint caps those to one subscription's
	// endpoint, so that a hanging CRM holds that many, not the queue;
	// default 2.
	WebhookWorkers, WebhookPerEndpoint int
	// WebhookAllowHTTP lets webhooks use plain http:// URLs; default false
	// (https only). For an on-prem CRM without TLS, and tests.
	WebhookAllowHTTP bool
	// WebhookAllowNets are networks webhooks may reach although they are not
	// public (loopback, RFC 1918, ULA, link-local, CGNAT…), e.g. an on-prem
	// CRM's 10.20.0.0/16; default none. Every connection's address is
	// checked after DNS; cloud metadata addresses are refused regardless.
	// The API's Config takes the same list, to accept such URLs.
	WebhookAllowNets []netip.Prefix
	// AlertMail sends each SLA watcher run's new breaches as one e-mail
	// (to the sales managers); zero: no e-mail (the lead.sla_breached
	// webhook event and the log line remain).
	AlertMail mailer.Config
	// PublicURL is the web UI's base URL as users reach it, e.g.
	// https://qualdial.example.com: alert e-mails link each lead's page
	// under it. Empty: no links.
	PublicURL string
	// Worker names this process in attempts and River: its instance id
	// (see StartInstance); default store.DefaultWorker().
	Worker string
	// DeadAfter is how long a process's instance may go without a
	// heartbeat before the reconciler takes it for dead and settles its
	// calls; default DefaultDeadAfter (3 heartbeats of 10s). Every
	// process must heartbeat well within it.
	DeadAfter time.Duration
	// KeepInstances is how long the rows of stopped (or long silent)
	// instances are kept, for the record; default 7 days.
	KeepInstances time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Metrics counts calls, dials stopped by a check, webhook deliveries,
	// SLA breaches and River jobs; nil counts nothing.
	Metrics *metrics.Metrics
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.MaxCalls == 0 {
		out.MaxCalls = 100
	}
	if out.NumberCapPer24h == 0 {
		out.NumberCapPer24h = store.DefaultNumberCapPer24h
	}
	if out.WriteRetry == 0 {
		out.WriteRetry = time.Second
	}
	if out.DispatchIdle == 0 {
		out.DispatchIdle = 30 * time.Second
	}
	if out.FetchCooldown == 0 {
		out.FetchCooldown = 20 * time.Millisecond
	}
	if out.SLAWatchInterval == 0 {
		out.SLAWatchInterval = time.Minute
	}
	if out.ReconcileInterval == 0 {
		out.ReconcileInterval = time.Minute
	}
	if out.RecallInterval == 0 {
		out.RecallInterval = time.Minute
	}
	if out.AbandonPauseAt == 0 {
		out.AbandonPauseAt = DefaultAbandonPauseAt
	}
	if out.AbandonMinCalls == 0 {
		out.AbandonMinCalls = 20
	}
	if out.AbandonWatchInterval == 0 {
		out.AbandonWatchInterval = time.Minute
	}
	if out.RetentionInterval == 0 {
		out.RetentionInterval = time.Hour
	}
	if out.SoftStopTimeout == 0 {
		out.SoftStopTimeout = 2 * time.Minute
	}
	if out.WebhookInterval == 0 {
		out.WebhookInterval = 2 * time.Second
	}
	if out.WebhookBackoff == 0 {
		out.WebhookBackoff = 5 * time.Second
	}
	if out.WebhookWorkers == 0 {
		out.WebhookWorkers = 8
	}
	if out.WebhookPerEndpoint == 0 {
		out.WebhookPerEndpoint = 2
	}
	if out.Worker == "" {
		out.Worker = store.DefaultWorker()
	}
	if out.DeadAfter == 0 {
		out.DeadAfter = DefaultDeadAfter
	}
	if out.KeepInstances == 0 {
		out.KeepInstances = 7 * 24 * time.Hour
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

func (c *Config) validate() error {
	if c.DTMF != "" && !slices.Contains(dialer.DTMFModes, c.DTMF) {
		return fmt.Errorf("queue: DTMF %q: use %s", c.DTMF, strings.Join(dialer.DTMFModes, ", "))
	}
	if c.MaxCalls < 0 || c.NumberCapPer24h < 0 || c.DispatchIdle < 0 || c.WriteRetry < 0 || c.DeadAfter < 0 || c.KeepInstances < 0 {
		return errors.New("queue: limits must not be negative")
	}
	if !(c.AbandonPauseAt >= 0 && c.AbandonPauseAt <= 0.03) { // NaN too
		return fmt.Errorf("queue: abandonment pause at %.4g: give a rate above 0 and at most 0.03 (the rule's 3 %%)", c.AbandonPauseAt)
	}
	if c.AbandonMinCalls < 0 {
		return errors.New("queue: abandonment minimum calls must not be negative")
	}
	for d, n := range c.TrunkChannels {
		if n < 0 {
			return fmt.Errorf("queue: trunk channels of %s: %d: must not be negative", d, n)
		}
	}
	if err := c.AlertMail.Validate(); err != nil {
		return fmt.Errorf("queue: alert e-mail: %w", err)
	}
	if err := c.Retention.Validate(); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if err := CheckPublicURL(c.PublicURL); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return c.validateWebhooks()
}

// Queue is the dialing machinery of one process.
type Queue struct {
	cfg    Config
	store  *store.Store
	client *river.Client[pgx.Tx]
	calls  chan struct{}  // this process's call slots
	mail   *mailer.Mailer // nil: no alert e-mails

	mu      sync.Mutex
	engines map[engineKey]*ivr.Engine // pinned scripts, parsed once

	stopDispatch context.CancelFunc // ends this process's dispatchers
	dispatchers  sync.WaitGroup
}

// New builds the River client and its workers; Start begins working. A
// Queue that is never started (an API-only process) still enqueues.
func New(st *store.Store, cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	q := &Queue{cfg: cfg, store: st, calls: make(chan struct{}, cfg.MaxCalls)}
	var err error
	if q.mail, err = mailer.New(cfg.AlertMail); err != nil {
		return nil, fmt.Errorf("queue: alert e-mail: %w", err)
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &dialWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &slaWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &slaMailWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &reconcileWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &recallWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &compactWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &retentionWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &webhookDispatchWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, newWebhookWorker(q)); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &abandonWorker{q: q}); err != nil {
		return nil, err
	}
	queues := map[string]river.QueueConfig{
		QueueWebhooks:      {MaxWorkers: cfg.WebhookWorkers},
		QueueAlerts:        {MaxWorkers: 1},
		river.QueueDefault: {MaxWorkers: 4},
	}
	for name := range cfg.Drivers {
		queues[DialQueue(name)] = river.QueueConfig{MaxWorkers: cfg.MaxCalls}
	}
	clientID := fmt.Sprintf("%s#%d", cfg.Worker, clientSeq.Add(1))
	client, err := river.NewClient(riverpgxv5.New(st.Pool()), &river.Config{
		ID:                   clientID[max(0, len(clientID)-100):],
		Queues:               queues,
		Workers:              workers,
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    time.Second,
		JobTimeout:           -1, // per worker: dial jobs set their own from the campaign
		RescueStuckJobsAfter: 2 * time.Hour,
		SoftStopTimeout:      cfg.SoftStopTimeout,
		Logger:               cfg.Logger.With("subsystem", "river"),
		Middleware:           []rivertype.Middleware{cfg.Metrics.Jobs()},
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.SLAWatchInterval),
				func() (river.JobArgs, *river.InsertOpts) { return SLAWatchArgs{}, nil }, &river.PeriodicJobOpts{ID: "sla_watch", RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.ReconcileInterval),
				func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil }, &river.PeriodicJobOpts{ID: "reconcile", RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.RecallInterval),
				func() (river.JobArgs, *river.InsertOpts) { return RecallArgs{}, nil }, &river.PeriodicJobOpts{ID: "nurture_recall", RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
				func() (river.JobArgs, *river.InsertOpts) { return CompactRollupsArgs{}, nil }, &river.PeriodicJobOpts{ID: "compact_rollups"}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.RetentionInterval),
				func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil }, &river.PeriodicJobOpts{ID: "retention"}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.WebhookInterval),
				func() (river.JobArgs, *river.InsertOpts) { return WebhookDispatchArgs{}, nil }, &river.PeriodicJobOpts{ID: "webhook_dispatch", RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.AbandonWatchInterval),
				func() (river.JobArgs, *river.InsertOpts) { return AbandonWatchArgs{}, nil }, &river.PeriodicJobOpts{ID: "abandon_watch", RunOnStart: true}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.client = client
	return q, nil
}

// clientSeq tells apart the River clients of one process (tests run
// several).
var clientSeq atomic.Int64

// Start settles attempts left open by a dead predecessor on this host, then
// begins fetching and working jobs, and contends for the dispatch of each
// of its drivers.
func (q *Queue) Start(ctx context.Context) error {
	if len(q.cfg.Drivers) == 0 {
		return errors.New("queue: no drivers to call with: configure SIP or Twilio")
	}
	if err := q.reconcileAbandoned(ctx); err != nil {
		return fmt.Errorf("reconcile interrupted calls: %w", err)
	}
	if err := q.client.Start(ctx); err != nil {
		return err
	}
	q.cfg.Metrics.SetCallSlots(q.cfg.MaxCalls)
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.stopDispatch = cancel
	for name := range q.cfg.Drivers {
		q.dispatchers.Go(func() { q.lead(dctx, name) })
	}
	return nil
}

// haltDispatch ends this process's dispatchers (another process takes
// over) and waits for them.
func (q *Queue) haltDispatch() {
	if q.stopDispatch != nil {
		q.stopDispatch()
	}
	q.dispatchers.Wait()
}

// Stop stops handing out and taking jobs and lets calls in progress finish,
// up to the soft stop timeout; then their contexts are cancelled (calls
// hang up politely).
func (q *Queue) Stop(ctx context.Context) error {
	q.haltDispatch()
	return q.client.Stop(ctx)
}

// StopAndCancel hangs up calls in progress at once (BYE) and stops.
func (q *Queue) StopAndCancel(ctx context.Context) error {
	q.haltDispatch()
	return q.client.StopAndCancel(ctx)
}

// Client exposes the River client (for River UI and tests).
func (q *Queue) Client() *river.Client[pgx.Tx] { return q.client }

// ImportRows counts a finished import's rows in the metrics (see
// calllist.RowCounter).
func (q *Queue) ImportRows(accepted, duplicates, dnc, rejected int) {
	q.cfg.Metrics.ImportRows(accepted, duplicates, dnc, rejected)
}

// EnqueueTx puts a new lead in the schedule, due now, in the caller's
// transaction (the one that inserts it): when it commits, the campaign's
// dispatcher is woken and dials it at once if the campaign is active and
// has a free slot. The pre-dial checks run then.
func (q *Queue) EnqueueTx(ctx context.Context, tx pgx.Tx, leadID int64) error {
	why := "waiting for a dialer"
	if status, err := store.LeadCampaignStatus(ctx, tx, leadID); err != nil {
		return err
	} else if status != store.CampaignActive {
		why = "campaign " + string(status)
	}
	return q.store.SetLeadStatus(ctx, tx, leadID, "system", StatusQueued, why, nil)
}

// EnqueueManyTx wakes the dispatchers of leads put back in the schedule in
// the caller's transaction (re-checked blocked leads).
func (q *Queue) EnqueueManyTx(ctx context.Context, tx pgx.Tx, leadIDs []int64) error {
	return store.WakeLeads(ctx, tx, leadIDs)
}

// WakeTx wakes a campaign's dispatcher when the caller's transaction
// commits (an import added due leads).
func (q *Queue) WakeTx(ctx context.Context, tx pgx.Tx, campaignID int64) error {
	return store.Wake(ctx, tx, campaignID)
}
