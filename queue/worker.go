package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

// dialWorker calls one lead per job run.
type dialWorker struct {
	river.WorkerDefaults[DialArgs]
	q *Queue

	mu      sync.Mutex
	engines map[engineKey]*ivr.Engine // pinned scripts, parsed once
}

type engineKey struct {
	campaign int64
	version  int
}

// Timeout covers the longest call (max_call_length ≤ 1 h, by the schema)
// plus ringing and pacing, and stays below River's stuck-job rescue (2 h).
func (w *dialWorker) Timeout(*river.Job[DialArgs]) time.Duration { return 75 * time.Minute }

// NextRetry backs off infrastructure errors (database down, no driver).
func (w *dialWorker) NextRetry(job *river.Job[DialArgs]) time.Time {
	return time.Now().Add(time.Duration(min(job.Attempt, 10)) * 30 * time.Second)
}

// snooze waits until t (River's scheduler picks it up within 5 s).
func snooze(now, t time.Time) error { return river.JobSnooze(max(t.Sub(now), time.Second)) }

// Work runs the pre-dial checks, places the call when allowed and records
// the outcome. Waits (window, pacing, retries) snooze the job; they do not
// count as River attempts.
func (w *dialWorker) Work(ctx context.Context, job *river.Job[DialArgs]) error {
	q := w.q
	db := q.store.Pool()
	log := q.cfg.Logger.With("lead_id", job.Args.LeadID, "job_id", job.ID)
	lead, err := store.GetLead(ctx, db, job.Args.LeadID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted
	}
	if err != nil {
		return err
	}
	camp, err := q.store.Campaign(ctx, lead.CampaignID)
	if err != nil {
		return err
	}
	log = log.With("campaign_id", camp.ID, "phone", dialer.MaskPhone(lead.Phone))
	now := q.store.Now()

	// An attempt left open by a crashed process is settled, never redialled now.
	if a, err := store.OpenAttempt(ctx, db, lead.ID); err == nil {
		next, err := q.reconcile(ctx, a, lead, camp)
		if err != nil || next == nil {
			return err
		}
		return snooze(now, *next)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	switch lead.Status {
	case StatusQualified, StatusOptedOut, StatusUnreachable, StatusRejected, StatusInvalidNumber, StatusBlocked, StatusFailed:
		return nil // nothing more to do for this lead
	}
	if lead.NextAttemptAt != nil && lead.NextAttemptAt.After(now) {
		return snooze(now, *lead.NextAttemptAt)
	}
	switch camp.Status {
	case "draft", "paused":
		_ = q.store.SetLeadStatus(ctx, db, lead.ID, StatusQueued, "campaign "+camp.Status, nil)
		return river.JobSnooze(30 * time.Second)
	case "finished":
		return q.store.SetLeadStatus(ctx, db, lead.ID, StatusQueued, "campaign finished before this lead was called", nil)
	}

	check, err := q.preDial(ctx, lead, camp, now)
	if err != nil {
		return err
	}
	if check.block != "" {
		log.Info("lead blocked", "reason", check.block)
		return q.store.Tx(ctx, func(tx pgx.Tx) error {
			if err := q.store.SetLeadStatus(ctx, tx, lead.ID, StatusBlocked, check.block, nil); err != nil {
				return err
			}
			return q.store.AddEvent(ctx, tx, lead.ID, "system", "lead.blocked", map[string]any{"reason": check.block})
		})
	}
	if check.waitUntil.After(now) {
		next := check.waitUntil
		if err := q.store.SetLeadStatus(ctx, db, lead.ID, StatusScheduled, check.reason, &next); err != nil {
			return err
		}
		return snooze(now, next)
	}

	eng, script, err := w.engine(camp)
	if err != nil {
		return river.JobCancel(err) // the pinned script no longer parses: nothing a retry fixes
	}
	drv := q.cfg.Drivers[camp.Driver]
	if drv == nil {
		return fmt.Errorf("campaign %d uses driver %q, which this process does not run", camp.ID, camp.Driver)
	}

	// Take a call slot: this process's, then the campaign's (concurrency and
	// calls per second, shared by every process through the database).
	select {
	case q.calls <- struct{}{}:
	case <-time.After(q.cfg.PaceWait):
		return river.JobSnooze(time.Second)
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-q.calls }()
	attempt, wait, err := q.startAttempt(ctx, lead, camp, script)
	if err != nil {
		return err
	}
	if attempt == nil {
		_ = q.store.SetLeadStatus(ctx, db, lead.ID, StatusQueued, "waiting for a free line (campaign concurrency or pace)", nil)
		return river.JobSnooze(wait)
	}
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	return q.dial(ctx, log, drv, eng, script, lead, camp, check.zones, attempt)
}

func (w *dialWorker) engine(c *store.Campaign) (*ivr.Engine, *ivr.Script, error) {
	key := engineKey{c.ID, c.ScriptVersion}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.engines[key]; ok {
		return e, e.Script(), nil
	}
	s, ds := ivr.Parse(c.ScriptID+".yaml", []byte(c.ScriptYAML))
	if s == nil {
		return nil, nil, fmt.Errorf("campaign %d: pinned script: %w", c.ID, ds.Err())
	}
	if w.engines == nil {
		w.engines = make(map[engineKey]*ivr.Engine)
	}
	e := ivr.NewEngine(s)
	w.engines[key] = e
	return e, s, nil
}

// preDialCheck says whether a lead may be called now.
type preDialCheck struct {
	block     string    // never call: why
	waitUntil time.Time // not before
	reason    string    // why waiting
	zones     []*time.Location
}

// preDial runs every compliance check, in one place, right before dialing.
func (q *Queue) preDial(ctx context.Context, lead *store.Lead, c *store.Campaign, now time.Time) (preDialCheck, error) {
	db := q.store.Pool()
	if on, err := store.OnDNC(ctx, db, lead.Phone); err != nil || on {
		return preDialCheck{block: "on the do-not-call list"}, err
	}
	if c.RequireConsent && !lead.HasConsent {
		return preDialCheck{block: "no consent captured, and the campaign requires it"}, nil
	}
	zones, err := Zones(lead.TimeZone, lead.Region, lead.Country, lead.Phone)
	if err != nil {
		return preDialCheck{block: err.Error()}, nil
	}
	w := Window{Days: c.WindowDays, Start: c.WindowStart, End: c.WindowEnd}
	next, ok := w.NextOpen(now, zones)
	if !ok {
		return preDialCheck{block: fmt.Sprintf("the calling window %s is never open in all of the lead's time zones at once", w)}, nil
	}
	if next.After(now) {
		return preDialCheck{waitUntil: next, zones: zones,
			reason: fmt.Sprintf("outside calling hours (%s in %s); next call %s", w, zoneNames(zones), next.UTC().Format(time.RFC3339))}, nil
	}
	if q.cfg.NumberCapPer24h > 0 {
		starts, err := store.AttemptStartsSince(ctx, db, lead.Phone, now.Add(-24*time.Hour))
		if err != nil {
			return preDialCheck{}, err
		}
		if len(starts) >= q.cfg.NumberCapPer24h {
			until := starts[len(starts)-q.cfg.NumberCapPer24h].Add(24 * time.Hour)
			if open, ok := w.NextOpen(until, zones); ok {
				until = open
			}
			return preDialCheck{waitUntil: until, zones: zones,
				reason: fmt.Sprintf("%d calls to this number in 24 hours across campaigns (the cap); next call %s", len(starts), until.UTC().Format(time.RFC3339))}, nil
		}
	}
	return preDialCheck{zones: zones}, nil
}

func zoneNames(zones []*time.Location) string {
	if len(zones) == 1 {
		return zones[0].String()
	}
	return fmt.Sprintf("all %d of the number's time zones", len(zones))
}

// startAttempt takes the campaign's concurrency and pacing slots and writes
// the attempt row, atomically under a per-campaign lock shared by every
// process. It returns the attempt and how long to wait for its pacing slot,
// or no attempt and how long to snooze when the campaign is full.
func (q *Queue) startAttempt(ctx context.Context, lead *store.Lead, c *store.Campaign, script *ivr.Script) (*store.Attempt, time.Duration, error) {
	deadline := time.Now().Add(q.cfg.PaceWait)
	for {
		var attempt *store.Attempt
		var wait time.Duration
		full := false
		err := q.store.Tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7114, $1::int)`, c.ID); err != nil {
				return err
			}
			open, err := store.CountOpenAttempts(ctx, tx, c.ID)
			if err != nil {
				return err
			}
			if open >= c.MaxConcurrent {
				full = true
				return nil
			}
			if wait, err = q.store.TakePaceSlot(ctx, tx, c.ID, c.CallsPerSecond); err != nil {
				return err
			}
			if cps := q.cfg.DriverCPS[c.Driver]; cps > 0 {
				account, err := q.store.TakeDriverSlot(ctx, tx, c.Driver, cps)
				if err != nil {
					return err
				}
				wait = max(wait, account)
			}
			if wait > q.cfg.PaceWait {
				full = true
				return errRollback
			}
			attempt, err = q.store.StartAttempt(ctx, tx, lead.ID, c.ID, c.Driver, q.cfg.Worker, script)
			return err
		})
		if errors.Is(err, errRollback) {
			err = nil
		}
		if err != nil || !full {
			return attempt, wait, err
		}
		if time.Now().After(deadline) {
			return nil, time.Second, nil
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

var errRollback = errors.New("rollback")

// dial places the call, runs the script and records everything.
func (q *Queue) dial(ctx context.Context, log *slog.Logger, drv dialer.Driver, eng *ivr.Engine, script *ivr.Script,
	lead *store.Lead, c *store.Campaign, zones []*time.Location, a *store.Attempt) error {
	db := q.store.Pool()
	log = log.With("attempt", a.No)
	log.Info("dialing")
	call, err := drv.Dial(ctx, dialer.DialRequest{To: lead.Phone, CallerID: c.CallerID, CallerName: c.CallerName,
		RingTimeout: c.RingTimeout, MaxDuration: c.MaxCallLength, Language: script.Language, Voice: script.Voice, Logger: log,
		Script: []byte(c.ScriptYAML), Lead: lead.Fields(), MachineDetection: c.MachineDetection})
	res := store.AttemptResult{AttemptID: a.ID, LeadID: lead.ID, Actor: "worker:" + q.cfg.Worker}
	var outcome string
	if err != nil {
		de := dialer.AsDialError(err)
		res.Disposition, res.SIPCode, res.Reason, res.Ambiguous, res.ProviderCode = string(de.Disposition), de.SIPCode, de.Reason, de.Ambiguous, de.ProviderCode
		log.Info("not answered", "disposition", de.Disposition, "sip_code", de.SIPCode)
	} else {
		if err := q.store.MarkAnswered(ctx, db, a.ID, call.ID()); err != nil {
			log.Warn("cannot mark the attempt answered", "error", err)
		}
		out := dialer.RunCall(ctx, call, eng, dialer.RunOptions{Lead: lead.Fields(), Now: q.store.Now,
			OnEnd: func(ctx context.Context, st ivr.State) error {
				if st.Outcome != ivr.OutcomeOptedOut {
					return nil
				}
				// On the list before the goodbye is said.
				return q.store.AddDNC(context.WithoutCancel(ctx), db, lead.Phone, "opt_out", "pressed the opt-out key", c.ID, lead.ID)
			}})
		if out.Err != nil {
			log.Warn("call ended with an error", "error", out.Err)
		}
		res.Disposition, res.SIPCode, res.Result = string(dialer.Answered), 200, &out.Result
		outcome = string(out.Result.Outcome)
		res.SLA = out.Result.SLA.Std()
		log.Info("call finished", "outcome", out.Result.Outcome, "class", out.Result.Class, "total", out.Result.Total)
	}
	if res.SLA == 0 {
		res.SLA = c.SLA
	}
	ended := q.store.Now()
	verdict := policy(c).Decide(dialer.Disposition(res.Disposition), outcome, res.Ambiguous, a.No, ended)
	res.Status, res.Why = verdict.Status, verdict.Reason
	if verdict.Retry {
		next, ok := Window{Days: c.WindowDays, Start: c.WindowStart, End: c.WindowEnd}.NextOpen(verdict.RetryAt, zones)
		if !ok {
			next = verdict.RetryAt
		}
		res.Next = &next
	}
	// Write the outcome even when the job's context ended (shutdown).
	wctx := context.WithoutCancel(ctx)
	if err := q.store.Tx(wctx, func(tx pgx.Tx) error { return q.store.FinishAttempt(wctx, tx, res) }); err != nil {
		return fmt.Errorf("record attempt %d: %w", a.ID, err)
	}
	if res.Next != nil {
		return snooze(ended, *res.Next)
	}
	return nil
}

// reconcile settles an attempt whose process died: the person may have been
// reached, so it is not redialled now; the lead is retried as incomplete.
func (q *Queue) reconcile(ctx context.Context, a *store.Attempt, lead *store.Lead, c *store.Campaign) (*time.Time, error) {
	now := q.store.Now()
	v := policy(c).Decide(dialer.Failed, "", true, a.No, now)
	res := store.AttemptResult{AttemptID: a.ID, LeadID: lead.ID, Disposition: string(dialer.Failed), Ambiguous: true,
		Reason: "interrupted: the process placing the call stopped (worker " + a.Worker + ")",
		Status: v.Status, Why: "last call was interrupted; " + v.Reason, Actor: "reconciler:" + q.cfg.Worker}
	if v.Retry {
		res.Next = &v.RetryAt
	}
	q.cfg.Logger.Warn("reconciled an interrupted attempt", "lead_id", lead.ID, "attempt", a.No, "worker", a.Worker)
	err := q.store.Tx(ctx, func(tx pgx.Tx) error { return q.store.FinishAttempt(ctx, tx, res) })
	return res.Next, err
}

func policy(c *store.Campaign) RetryPolicy {
	return RetryPolicy{MaxAttempts: c.MaxAttempts, Busy: c.RetryBusy, NoAnswer: c.RetryNoAnswer,
		Congestion: c.RetryCongest, Incomplete: c.RetryIncompl, Machine: c.RetryMachine}
}

// DialStatus says whether a lead will be called now, later, or never.
type DialStatus struct {
	Status string     // queued, scheduled, blocked
	Reason string     // why not now, in words
	Next   *time.Time // when, for scheduled
}

// Explain runs the pre-dial checks for a lead without dialing, so intake
// can answer "queued now" or "scheduled for T because …".
func (q *Queue) Explain(ctx context.Context, lead *store.Lead, c *store.Campaign) (DialStatus, error) {
	if c.Status != "active" {
		return DialStatus{Status: StatusQueued, Reason: "campaign " + c.Status}, nil
	}
	check, err := q.preDial(ctx, lead, c, q.store.Now())
	switch {
	case err != nil:
		return DialStatus{}, err
	case check.block != "":
		return DialStatus{Status: StatusBlocked, Reason: check.block}, nil
	case !check.waitUntil.IsZero():
		next := check.waitUntil
		return DialStatus{Status: StatusScheduled, Reason: check.reason, Next: &next}, nil
	}
	return DialStatus{Status: StatusQueued, Reason: "dialing now"}, nil
}
