package queue

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/riverqueue/river"
)

// RetentionArgs is the periodic job that deletes what qualdial keeps only
// for a while (Config.Retention: Twilio sessions, settled webhook
// deliveries, import rejects, idempotency keys, old lead events), in
// batches, and logs how many rows it deleted per table.
type RetentionArgs struct{}

// Kind implements river.JobArgs.
func (RetentionArgs) Kind() string { return "retention" }

// retentionTimeout bounds one run: a large backlog (the first run on an
// old database) is worked off over several runs, each batch committed.
const retentionTimeout = 30 * time.Minute

type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	q *Queue
}

// Timeout bounds a run; what it deleted stays deleted.
func (w *retentionWorker) Timeout(*river.Job[RetentionArgs]) time.Duration { return retentionTimeout }

func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	return w.q.RunRetention(ctx)
}

// RunRetention deletes what Config.Retention no longer keeps, as the
// periodic retention job does, and logs the rows deleted per table (also
// when it stops early: on cancel or an error, the batches done stay done).
func (q *Queue) RunRetention(ctx context.Context) error {
	start := time.Now()
	n, err := q.store.PurgeExpired(ctx, q.cfg.Retention)
	if len(n) > 0 || err != nil {
		attrs := []any{"duration", time.Since(start).Round(time.Millisecond).String()}
		for _, k := range slices.Sorted(maps.Keys(n)) {
			attrs = append(attrs, k, n[k])
		}
		if err != nil {
			q.cfg.Logger.Warn("retention stopped early", append(attrs, "error", err)...)
		} else {
			q.cfg.Logger.Info("retention deleted expired rows", attrs...)
		}
	}
	return err
}
