// Package queue runs campaign dialing on River: one dial job per lead,
// pre-dial checks (DNC, consent, calling window, attempt caps, campaign
// state), pacing shared by every process, the call itself through a
// dialer.Driver, the result in one transaction, and retries by snoozing the
// job. Periodic jobs watch the sales SLA and reconcile attempts left open by
// a crashed process.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

// The River queues: one per kind of work, so that none waits behind
// another — a hanging CRM endpoint never delays the SLA watcher.
const (
	// QueueDial holds dial jobs.
	QueueDial = "dial"
	// QueueWebhooks holds CRM webhook deliveries.
	QueueWebhooks = "webhooks"
	// Maintenance jobs (SLA watcher, reconciler, recalls, webhook
	// dispatch) run on River's default queue.
)

// DialArgs is the job that calls one lead, as often as the campaign's retry
// policy allows: retries snooze the same job.
type DialArgs struct {
	LeadID int64 `json:"lead_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (DialArgs) Kind() string { return "dial_lead" }

// InsertOpts: one live dial job per lead; infrastructure errors retry.
func (DialArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDial, MaxAttempts: 20, UniqueOpts: river.UniqueOpts{
		ByArgs:  true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled},
	}}
}

// Config configures the dialing queue.
type Config struct {
	// Drivers places calls, by campaign driver name ("sip", "twilio").
	Drivers map[string]dialer.Driver
	// MaxCalls is how many calls this process places at once (its share of
	// the trunk's channels); default 100.
	MaxCalls int
	// DriverCPS caps calls per second per driver account across all
	// campaigns and processes, e.g. {"twilio": 1} (Twilio's default limit).
	DriverCPS map[string]float64
	// DTMF is how this process takes keys in campaigns that say auto
	// (dialer.DTMFAuto…): a trunk known to send only SIP INFO, say; default
	// auto.
	DTMF string
	// NumberCapPer24h caps attempts to one number in 24 hours across all
	// campaigns; default 3.
	NumberCapPer24h int
	// WriteRetry is the first wait before a finished call's result is
	// written again when the database refused it (doubling, about two
	// minutes in all by default); default 1s.
	WriteRetry time.Duration
	// PaceWait is how long a dial waits in-process for a concurrency or
	// pacing slot before snoozing; default 10s.
	PaceWait time.Duration
	// FetchCooldown is River's minimum gap between fetches; default 20ms
	// (speed to lead).
	FetchCooldown time.Duration
	// SLAWatchInterval, ReconcileInterval and RecallInterval run the
	// periodic jobs (SLA breaches, interrupted calls, nurture recalls);
	// default 1m each.
	SLAWatchInterval, ReconcileInterval, RecallInterval time.Duration
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
	// Worker names this process in attempts; default host/pid, which lets
	// a restarted process on the same host see that the owner of an
	// unfinished attempt is gone.
	Worker string
	// Logger; nil discards.
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.MaxCalls == 0 {
		out.MaxCalls = 100
	}
	if out.NumberCapPer24h == 0 {
		out.NumberCapPer24h = 3
	}
	if out.WriteRetry == 0 {
		out.WriteRetry = time.Second
	}
	if out.PaceWait == 0 {
		out.PaceWait = 10 * time.Second
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
		host, _ := os.Hostname()
		out.Worker = fmt.Sprintf("%s/%d", host, os.Getpid())
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
	if c.MaxCalls < 0 || c.NumberCapPer24h < 0 || c.PaceWait < 0 || c.WriteRetry < 0 {
		return errors.New("queue: limits must not be negative")
	}
	return c.validateWebhooks()
}

// Queue is the dialing machinery of one process.
type Queue struct {
	cfg    Config
	host   string
	store  *store.Store
	client *river.Client[pgx.Tx]
	calls  chan struct{} // this process's call slots

	mu      sync.Mutex
	engines map[engineKey]*ivr.Engine // pinned scripts, parsed once
}

// New builds the River client and its workers; Start begins working. A
// Queue that is never started (an API-only process) still enqueues.
func New(st *store.Store, cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	q := &Queue{cfg: cfg, host: host, store: st, calls: make(chan struct{}, cfg.MaxCalls)}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &dialWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &slaWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &reconcileWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &recallWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &webhookDispatchWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, newWebhookWorker(q)); err != nil {
		return nil, err
	}
	client, err := river.NewClient(riverpgxv5.New(st.Pool()), &river.Config{
		Queues: map[string]river.QueueConfig{
			QueueDial:          {MaxWorkers: cfg.MaxCalls},
			QueueWebhooks:      {MaxWorkers: cfg.WebhookWorkers},
			river.QueueDefault: {MaxWorkers: 4},
		},
		Workers:              workers,
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    time.Second,
		JobTimeout:           -1, // per worker: dial jobs set their own from the campaign
		RescueStuckJobsAfter: 2 * time.Hour,
		SoftStopTimeout:      cfg.SoftStopTimeout,
		Logger:               cfg.Logger.With("component", "river"),
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.SLAWatchInterval),
				func() (river.JobArgs, *river.InsertOpts) { return SLAWatchArgs{}, nil }, &river.PeriodicJobOpts{ID: "sla_watch", RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.ReconcileInterval),
				func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil }, &river.PeriodicJobOpts{ID: "reconcile", RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.RecallInterval),
				func() (river.JobArgs, *river.InsertOpts) { return RecallArgs{}, nil }, &river.PeriodicJobOpts{ID: "nurture_recall", RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.WebhookInterval),
				func() (river.JobArgs, *river.InsertOpts) { return WebhookDispatchArgs{}, nil }, &river.PeriodicJobOpts{ID: "webhook_dispatch", RunOnStart: true}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.client = client
	return q, nil
}

// Start settles attempts left open by a dead predecessor on this host, then
// begins fetching and working jobs.
func (q *Queue) Start(ctx context.Context) error {
	if len(q.cfg.Drivers) == 0 {
		return errors.New("queue: no drivers to call with: configure SIP or Twilio")
	}
	if err := q.reconcileAbandoned(ctx); err != nil {
		return fmt.Errorf("reconcile interrupted calls: %w", err)
	}
	return q.client.Start(ctx)
}

// Stop stops taking jobs and lets calls in progress finish, up to the soft
// stop timeout; then their contexts are cancelled (calls hang up politely).
func (q *Queue) Stop(ctx context.Context) error { return q.client.Stop(ctx) }

// StopAndCancel hangs up calls in progress at once (BYE) and stops.
func (q *Queue) StopAndCancel(ctx context.Context) error { return q.client.StopAndCancel(ctx) }

// Client exposes the River client (for River UI and tests).
func (q *Queue) Client() *river.Client[pgx.Tx] { return q.client }

// EnqueueTx schedules a lead's dial job in the caller's transaction: in the
// same transaction that inserts the lead, so a lead is never without its
// job. No ScheduledAt is set, so River starts it at once; the worker itself
// snoozes it to the next legal moment if needed.
func (q *Queue) EnqueueTx(ctx context.Context, tx pgx.Tx, leadID int64) error {
	if _, err := q.client.InsertTx(ctx, tx, DialArgs{LeadID: leadID}, nil); err != nil {
		return fmt.Errorf("enqueue dial of lead %d: %w", leadID, err)
	}
	return q.store.SetLeadStatus(ctx, tx, leadID, "system", StatusQueued, "waiting for a dialer", nil)
}

// WakeTx wakes a campaign's dialing in the caller's transaction (an
// import's, once, after its leads went in queued and due).
//
// Provisional, until the campaign dispatcher exists: it enqueues a dial
// job for each of the campaign's queued leads that an import inserted and
// that has no dial job yet.
func (q *Queue) WakeTx(ctx context.Context, tx pgx.Tx, campaignID int64) error {
	rows, err := tx.Query(ctx, `SELECT l.id FROM leads l WHERE l.campaign_id = $1 AND l.import_id IS NOT NULL AND l.status = $2
		AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.kind = $3 AND (j.args->>'lead_id')::bigint = l.id)
		ORDER BY l.id`, campaignID, StatusQueued, DialArgs{}.Kind())
	if err != nil {
		return fmt.Errorf("wake campaign %d: %w", campaignID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("wake campaign %d: %w", campaignID, err)
	}
	return q.EnqueueManyTx(ctx, tx, ids)
}

// EnqueueManyTx schedules dial jobs for many new leads in the caller's
// transaction (an import), with River's COPY-based bulk insert.
func (q *Queue) EnqueueManyTx(ctx context.Context, tx pgx.Tx, leadIDs []int64) error {
	const batch = 50000
	for start := 0; start < len(leadIDs); start += batch {
		params := make([]river.InsertManyParams, 0, min(batch, len(leadIDs)-start))
		for _, id := range leadIDs[start:min(start+batch, len(leadIDs))] {
			params = append(params, river.InsertManyParams{Args: DialArgs{LeadID: id}})
		}
		if _, err := q.client.InsertManyFastTx(ctx, tx, params); err != nil {
			return fmt.Errorf("enqueue %d dial jobs: %w", len(params), err)
		}
	}
	return nil
}
