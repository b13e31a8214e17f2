package queue

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/qualdial/qualdial/store"
)

// SLAWatchArgs is the periodic job that marks sales-ready leads whose
// follow-up deadline passed without contact.
type SLAWatchArgs struct{}

// Kind implements river.JobArgs.
func (SLAWatchArgs) Kind() string { return "sla_watch" }

type slaWorker struct {
	river.WorkerDefaults[SLAWatchArgs]
	q *Queue
}

func (w *slaWorker) Work(ctx context.Context, job *river.Job[SLAWatchArgs]) error {
	var ids []int64
	err := w.q.store.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		ids, err = store.MarkSLABreaches(ctx, tx, w.q.cfg.Now())
		return err
	})
	if len(ids) > 0 {
		w.q.cfg.Logger.Warn("sales follow-up SLA breached", "leads", len(ids), "lead_ids", ids)
	}
	return err
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

// staleAfter is longer than any call can last (ring + max call length ≤
// about 1 h) before an unfinished attempt counts as abandoned.
const staleAfter = 75 * time.Minute

func (w *reconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	q := w.q
	stale, err := store.StaleAttempts(ctx, q.store.Pool(), q.cfg.Now().Add(-staleAfter))
	if err != nil {
		return err
	}
	for _, a := range stale {
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
		// Make sure the lead has a dial job for its retry (a no-op when its
		// job still exists).
		if _, err := q.client.Insert(ctx, DialArgs{LeadID: lead.ID}, nil); err != nil {
			return err
		}
	}
	return nil
}
