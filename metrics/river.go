package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// JobMiddleware is River worker middleware that counts and times every job
// this process works, by kind and queue. Add it to river.Config.Middleware.
type JobMiddleware struct {
	river.MiddlewareDefaults
	m *Metrics
}

// Jobs returns the job middleware of m (nil m: a middleware that records
// nothing).
func (m *Metrics) Jobs() *JobMiddleware { return &JobMiddleware{m: m} }

// Work implements rivertype.WorkerMiddleware.
func (j *JobMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if j.m == nil {
		return doInner(ctx)
	}
	start := time.Now()
	err := doInner(ctx)
	j.m.jobDuration.WithLabelValues(job.Kind, job.Queue).Observe(time.Since(start).Seconds())
	j.m.jobs.WithLabelValues(job.Kind, job.Queue, jobResult(err)).Inc()
	return err
}

// jobResult names how a job's work ended.
func jobResult(err error) string {
	var snooze *river.JobSnoozeError
	var cancel *river.JobCancelError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &snooze):
		return "snoozed"
	case errors.As(err, &cancel):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "error"
	}
}
