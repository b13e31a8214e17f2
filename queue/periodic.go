package queue

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/qualdial/qualdial/store"
)

// SLAWatchArgs is the periodic job that marks sales-ready leads whose
// follow-up deadline passed without contact: each gets a lead.sla_breached
// event (CRM webhooks deliver it), and, when alert e-mail is configured,
// the run's breaches get one e-mail job in the same transaction.
type SLAWatchArgs struct{}

// Kind implements river.JobArgs.
func (SLAWatchArgs) Kind() string { return "sla_watch" }

// maintenanceTimeout bounds one run of a maintenance job.
const maintenanceTimeout = 2 * time.Minute

type slaWorker struct {
	river.WorkerDefaults[SLAWatchArgs]
	q *Queue
}

// Timeout bounds a run: a maintenance job that hangs must not hold its
// worker (River's default queue runs every maintenance job).
func (w *slaWorker) Timeout(*river.Job[SLAWatchArgs]) time.Duration { return maintenanceTimeout }

func (w *slaWorker) Work(ctx context.Context, job *river.Job[SLAWatchArgs]) error {
	var ids []int64
	err := w.q.store.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		if ids, err = w.q.store.MarkSLABreaches(ctx, tx); err != nil {
			return err
		}
		return w.q.enqueueBreachEmailTx(ctx, tx, ids)
	})
	if len(ids) > 0 {
		w.q.cfg.Metrics.SLABreached(len(ids))
		w.q.cfg.Logger.Warn("sales follow-up SLA breached", "leads", len(ids), "lead_ids", ids)
	}
	return err
}

// CompactRollupsArgs is the periodic job that folds the dashboards'
// rollups (rows of differences appended by triggers) into one row per key.
type CompactRollupsArgs struct{}

// Kind implements river.JobArgs.
func (CompactRollupsArgs) Kind() string { return "compact_rollups" }

type compactWorker struct {
	river.WorkerDefaults[CompactRollupsArgs]
	q *Queue
}

// Timeout bounds a run, as for every maintenance job.
func (w *compactWorker) Timeout(*river.Job[CompactRollupsArgs]) time.Duration {
	return maintenanceTimeout
}

func (w *compactWorker) Work(ctx context.Context, _ *river.Job[CompactRollupsArgs]) error {
	return w.q.store.CompactRollups(ctx)
}

// RecallArgs is the periodic job that starts nurture recalls whose time
// has come: each lead gets a new round of calls, due at once.
type RecallArgs struct{}

// Kind implements river.JobArgs.
func (RecallArgs) Kind() string { return "nurture_recall" }

type recallWorker struct {
	river.WorkerDefaults[RecallArgs]
	q *Queue
}

// Timeout bounds a run: a maintenance job that hangs must not hold its
// worker (River's default queue runs every maintenance job).
func (w *recallWorker) Timeout(*river.Job[RecallArgs]) time.Duration { return maintenanceTimeout }

func (w *recallWorker) Work(ctx context.Context, job *river.Job[RecallArgs]) error {
	n := 0
	for {
		var ids []int64
		err := w.q.store.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			ids, err = w.q.store.DueRecalls(ctx, tx, claimBatch)
			return err
		})
		n += len(ids)
		if err != nil || len(ids) < claimBatch {
			break
		}
	}
	if n > 0 {
		w.q.cfg.Logger.Info("nurture recalls started", "leads", n)
	}
	return nil
}

// claimBatch is how many rows one transaction of enqueueClaimed takes.
const claimBatch = 500

// enqueueClaimed turns rows that claim marks as taken (pending webhook
// deliveries, due recalls) into jobs, in the claim's transaction, a batch at
// a time until none are left. It returns how many it enqueued.
func (q *Queue) enqueueClaimed(ctx context.Context, claim func(ctx context.Context, tx pgx.Tx, limit int) ([]int64, error),
	args func(id int64) river.JobArgs) (int, error) {
	total := 0
	for {
		n := 0
		err := q.store.Tx(ctx, func(tx pgx.Tx) error {
			ids, err := claim(ctx, tx, claimBatch)
			if err != nil || len(ids) == 0 {
				return err
			}
			n = len(ids)
			params := make([]river.InsertManyParams, len(ids))
			for i, id := range ids {
				params[i] = river.InsertManyParams{Args: args(id)}
			}
			_, err = q.client.InsertManyTx(ctx, tx, params)
			return err
		})
		total += n
		if err != nil || n < claimBatch {
			return total, err
		}
	}
}

// ReconcileArgs is the periodic job that settles attempts left open by a
// process that died mid-call.
type ReconcileArgs struct{}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "reconcile_attempts" }

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	q *Queue
}

// Timeout bounds a run: a maintenance job that hangs must not hold its
// worker (River's default queue runs every maintenance job).
func (w *reconcileWorker) Timeout(*river.Job[ReconcileArgs]) time.Duration { return maintenanceTimeout }

// importStaleAfter is how long a running import may go without progress
// (it records some every few seconds) before it counts as interrupted, for
// imports of processes without an instance row (a CLI import).
const importStaleAfter = 10 * time.Minute

// staleAfter is longer than any call can last (ring + max call length ≤
// about 1 h) before an unfinished attempt counts as abandoned.
const staleAfter = 75 * time.Minute

func (w *reconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	return w.q.reconcileAbandoned(ctx)
}

// reconcileAbandoned settles unfinished attempts whose process is gone (its
// instance stopped, or silent for Config.DeadAfter), or that are older than
// any call can be. Every process runs it when it starts, and the River
// leader runs it periodically; it also deletes the rows of instances
// stopped long ago.
func (q *Queue) reconcileAbandoned(ctx context.Context) error {
	if _, err := q.store.PruneInstances(ctx, q.store.Now().Add(-q.cfg.KeepInstances)); err != nil {
		return err
	}
	// Every silent process is stopped, with work or without: the table
	// lists as running only the processes alive.
	// It judges only once it has itself been healthy for DeadAfter: after
	// a database stall every heartbeat is late, the live ones' too.
	if ids, judged, err := q.store.FenceSilentInstances(ctx, q.cfg.Worker, q.store.Now().Add(-q.cfg.DeadAfter)); err != nil {
		return err
	} else if len(ids) > 0 {
		q.cfg.Logger.Warn("processes taken for dead: no heartbeat", "instances", ids, "dead_after", q.cfg.DeadAfter.String())
	} else if !judged {
		q.cfg.Logger.Debug("no process taken for dead yet: this one has not been healthy for dead-after", "dead_after", q.cfg.DeadAfter.String())
	}
	// An import whose process died (a crash, a deploy) has nothing kept:
	// say so instead of "running" forever.
	if n, err := q.store.SettleInterruptedImports(ctx, WorkerGone(ctx, q.store, q.cfg.Worker, q.cfg.DeadAfter), importStaleAfter); err != nil {
		return err
	} else if n > 0 {
		q.cfg.Logger.Warn("settled imports interrupted by a stopped process", "imports", n)
	}
	open, err := store.OpenAttempts(ctx, q.store.Pool())
	if err != nil {
		return err
	}
	workers := make([]string, len(open))
	for i, a := range open {
		workers[i] = a.Worker
	}
	gone, err := WorkersGone(ctx, q.store, q.cfg.Worker, workers, q.cfg.DeadAfter)
	if err != nil {
		return err
	}
	cutoff := q.store.Now().Add(-staleAfter)
	for _, a := range open {
		// Abandoned: its process is gone, or it is older than any call
		// can be.
		if !gone[a.Worker] && a.StartedAt.After(cutoff) {
			continue
		}
		// A Twilio call goes on in the webhooks without its worker: it is
		// settled from its session once it has ended.
		if live, err := store.TwilioCallLive(ctx, q.store.Pool(), a.ID); err != nil {
			return err
		} else if live && a.StartedAt.After(cutoff) {
			continue
		}
		lead, err := store.GetLead(ctx, q.store.Pool(), a.LeadID)
		if err != nil {
			return err
		}
		c, err := q.store.Campaign(ctx, lead.CampaignID)
		if err != nil {
			return err
		}
		if _, err := q.reconcile(ctx, &a, lead, c); err != nil {
			return err
		}
	}
	return q.giveBackStranded(ctx)
}

// giveBackStranded returns to the schedule the leads handed to a dial job
// that will never call them: the job ended, or the process running it is
// gone, before it started the call. No call was made (a dial job starts its
// call only while the lead is still its own), so none is made twice.
func (q *Queue) giveBackStranded(ctx context.Context) error {
	stranded, err := store.StrandedDispatches(ctx, q.store.Pool())
	if err != nil {
		return err
	}
	var workers []string
	for _, d := range stranded {
		if len(d.AttemptedBy) > 0 {
			workers = append(workers, clientWorker(d.AttemptedBy[len(d.AttemptedBy)-1]))
		}
	}
	gone, err := WorkersGone(ctx, q.store, q.cfg.Worker, workers, q.cfg.DeadAfter)
	if err != nil {
		return err
	}
	cutoff := q.store.Now().Add(-staleAfter)
	for _, d := range stranded {
		var why string
		switch d.JobState {
		case "", "completed", "cancelled", "discarded":
			why = "its dial job ended without calling"
		case "running":
			if len(d.AttemptedBy) > 0 && gone[clientWorker(d.AttemptedBy[len(d.AttemptedBy)-1])] {
				why = "the process of its dial job stopped before calling"
			}
		}
		if why == "" && d.Since.Before(cutoff) {
			why = "its dial job did not call for too long"
		}
		if why == "" {
			continue
		}
		err := q.store.GiveBack(ctx, d.LeadID, d.JobID, "reconciler:"+q.cfg.Worker, StatusQueued, why+"; queued again", nil)
		if err != nil && !errors.Is(err, store.ErrDispatchRevoked) {
			return err
		}
		if err == nil {
			q.cfg.Logger.Warn("lead given back to the schedule", "lead_id", d.LeadID, "job_id", d.JobID, "reason", why)
		}
	}
	return nil
}

// clientWorker is the worker name (the instance id) of a River client id.
func clientWorker(clientID string) string {
	w, _, _ := strings.Cut(clientID, "#")
	return w
}
