package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// DefaultAbandonPauseAt is the 30-day abandonment rate at which a campaign
// is paused unless configured otherwise: under the rule's 3 %, so that
// the pause comes before the limit is crossed.
const DefaultAbandonPauseAt = 0.025

// AbandonWatchArgs is the periodic job that computes each active
// campaign's 30-day abandonment rate and pauses those that reach
// Config.AbandonPauseAt.
type AbandonWatchArgs struct{}

// Kind implements river.JobArgs.
func (AbandonWatchArgs) Kind() string { return "abandon_watch" }

type abandonWorker struct {
	river.WorkerDefaults[AbandonWatchArgs]
	q *Queue
}

// Timeout bounds a run (see maintenanceTimeout).
func (w *abandonWorker) Timeout(*river.Job[AbandonWatchArgs]) time.Duration {
	return maintenanceTimeout
}

func (w *abandonWorker) Work(ctx context.Context, _ *river.Job[AbandonWatchArgs]) error {
	_, err := w.q.WatchAbandonment(ctx)
	return err
}

// WatchAbandonment computes every active campaign's 30-day abandonment
// rate (kept with the campaign) and pauses each one that has at least
// Config.AbandonMinCalls answered calls and a rate at or above
// Config.AbandonPauseAt, saying why. It returns the ids it paused.
func (q *Queue) WatchAbandonment(ctx context.Context) ([]int64, error) {
	rates, err := q.store.ComputeAbandonment(ctx)
	if err != nil {
		return nil, err
	}
	var paused []int64
	for id, a := range rates {
		if a.Answered < q.cfg.AbandonMinCalls || !(a.Rate() >= q.cfg.AbandonPauseAt) || a.Late == 0 {
			continue
		}
		reason := fmt.Sprintf("paused by qualdial: abandonment rate %.1f%% over 30 days (%d of %d answered calls without the identification within 2 s), at or above %.1f%%; the limit is 3%% (47 CFR 64.1200(a)(7)). Resume once the cause is fixed: the rate falls as late calls leave the 30 days",
			100*a.Rate(), a.Late, a.Answered, 100*q.cfg.AbandonPauseAt)
		ok, err := q.store.PauseCampaignFor(ctx, id, reason)
		if err != nil {
			return paused, err
		}
		if ok {
			paused = append(paused, id)
			q.cfg.Logger.Warn("campaign paused: abandonment rate", "campaign_id", id, "rate", a.Rate(), "late", a.Late, "answered", a.Answered)
		}
	}
	return paused, nil
}
