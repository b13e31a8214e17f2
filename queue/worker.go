package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/jurisdiction"
	"github.com/qualdial/qualdial/store"
)

// dialWorker calls the lead it was handed, once.
type dialWorker struct {
	river.WorkerDefaults[DialArgs]
	q *Queue
}

type engineKey struct {
	campaign int64
	version  int
}

// Timeout covers the longest call (max_call_length ≤ 1 h, by the schema)
// plus ringing and pacing, and stays below River's stuck-job rescue (2 h).
func (w *dialWorker) Timeout(*river.Job[DialArgs]) time.Duration { return 75 * time.Minute }

// NextRetry backs off infrastructure errors (the database away).
func (w *dialWorker) NextRetry(job *river.Job[DialArgs]) time.Time {
	return time.Now().Add(time.Duration(min(job.Attempt, 10)) * 30 * time.Second)
}

// Work places the call of a lead the dispatcher handed to this job, and
// records the outcome with the lead's next due time (or its end). A job
// whose lead is no longer its to call does nothing.
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
	if lead.Status != StatusDialing || lead.DialJob != job.ID {
		return nil // given back to the schedule meanwhile, or settled
	}
	camp, err := q.store.Campaign(ctx, lead.CampaignID)
	if err != nil {
		return err
	}
	log = log.With("campaign_id", camp.ID, "phone", dialer.MaskPhone(lead.Phone))
	actor := q.actor()

	// This job started a call and its process stopped (River ran it again):
	// the attempt is settled from what was heard, never redialled now.
	if a, err := store.OpenAttempt(ctx, db, lead.ID); err == nil {
		// A Twilio call runs on in the webhooks: settle it once it ended.
		if live, err := store.TwilioCallLive(ctx, db, a.ID); err != nil {
			return err
		} else if live && a.StartedAt.After(q.store.Now().Add(-staleAfter)) {
			return river.JobSnooze(30 * time.Second)
		}
		_, err := q.reconcile(ctx, a, lead, camp)
		return err
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	giveBack := func(status store.LeadStatus, why string, next *time.Time) error {
		err := q.store.GiveBack(ctx, lead.ID, job.ID, actor, status, why, next)
		if errors.Is(err, store.ErrDispatchRevoked) {
			return nil
		}
		return err
	}
	if camp.Status != store.CampaignActive {
		return giveBack(StatusQueued, "campaign "+string(camp.Status), nil)
	}
	eng, script, err := q.engine(camp)
	if err != nil {
		// The pinned script no longer parses: nothing a retry fixes.
		log.Error("cannot dial: the campaign's script", "error", err)
		return giveBack(StatusFailed, err.Error(), nil)
	}
	drv := q.cfg.Drivers[string(camp.Driver)]
	if drv == nil {
		return fmt.Errorf("campaign %d uses driver %q, which this process does not run", camp.ID, camp.Driver)
	}
	zones, _ := q.zones(lead)
	if p, ok := drv.(dialer.Preflight); ok {
		if err := p.CanDial(lead.Phone); err != nil {
			// A configuration problem of this process, not of the lead: no
			// attempt is spent; the lead waits a minute and is handed out again.
			log.Warn("cannot dial: fix the dialer's configuration", "error", err)
			next := q.store.Now().Add(time.Minute)
			return giveBack(StatusQueued, "cannot dial: "+err.Error(), &next)
		}
	}

	// This process's call slots.
	select {
	case q.calls <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-q.calls }()
	var attempt *store.Attempt
	err = q.store.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		attempt, err = q.store.StartAttempt(ctx, tx, store.AttemptParams{LeadID: lead.ID, CampaignID: camp.ID, Phone: lead.Phone, CallerID: camp.CallerID,
			Driver: camp.Driver, Worker: q.cfg.Worker, Script: script, NumberCap: q.numberCap(q.window(camp, lead).Law), DialJob: job.ID,
			LocalZone: firstZone(zones), CallerIDs: camp.CallerIDs(), CallerIDCap: camp.CallerIDDailyCap})
		return err
	})
	var capped *store.CappedError
	var noCallerID *store.CallerIDsCappedError
	switch {
	case errors.As(err, &noCallerID):
		// Every caller ID made its calls today: the lead waits for one.
		until := noCallerID.Until
		if open, ok := q.window(camp, lead).NextOpen(until, zones); ok {
			until = open
		}
		q.cfg.Metrics.PreDialBlocked("caller_id_cap")
		return giveBack(StatusScheduled, noCallerID.Error(), &until)
	case errors.As(err, &capped):
		// Another campaign took the number's last call meanwhile.
		until := capped.Until
		if open, ok := q.window(camp, lead).NextOpen(until, zones); ok {
			until = open
		}
		return giveBack(StatusScheduled, capped.Error(), &until)
	case errors.Is(err, store.ErrDispatchRevoked):
		return nil
	case err != nil:
		return err
	}
	q.sendGate(ctx, camp, attempt)
	return q.dial(ctx, log, drv, eng, script, lead, camp, zones, attempt)
}

// actor names this process in events.
func (q *Queue) actor() string { return "worker:" + q.cfg.Worker }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// sendGate holds the INVITE until the campaign's (and the driver account's)
// previous one went out 1/calls-per-second ago, in every process, and
// records when it goes. A cancelled ctx lets it go at once: the dial then
// fails as canceled without reaching the wire.
func (q *Queue) sendGate(ctx context.Context, c *store.Campaign, a *store.Attempt) {
	g := store.SendGate{AttemptID: a.ID, CampaignID: c.ID, CallsPerSecond: c.CallsPerSecond, Driver: c.Driver, DriverCPS: q.cfg.DriverCPS[string(c.Driver)]}
	for ctx.Err() == nil {
		wait, err := q.store.PassSendGate(ctx, g)
		if err != nil {
			q.cfg.Logger.Warn("pacing gate unavailable; dialing on the reserved slot", "attempt_id", a.ID, "error", err)
			return
		}
		if wait <= 0 {
			return
		}
		sleep(ctx, wait)
	}
}

// engine returns the engine of a campaign's pinned script, parsed once.
func (q *Queue) engine(c *store.Campaign) (*ivr.Engine, *ivr.Script, error) {
	key := engineKey{c.ID, c.ScriptVersion}
	q.mu.Lock()
	defer q.mu.Unlock()
	if e, ok := q.engines[key]; ok {
		return e, e.Script(), nil
	}
	s, ds := ivr.Parse(c.ScriptID+".yaml", []byte(c.ScriptYAML))
	if s == nil {
		return nil, nil, fmt.Errorf("campaign %d: pinned script: %w", c.ID, ds.Err())
	}
	if q.engines == nil {
		q.engines = make(map[engineKey]*ivr.Engine)
	}
	e := ivr.NewEngine(s)
	q.engines[key] = e
	return e, s, nil
}

// preDialCheck says whether a lead may be called now.
type preDialCheck struct {
	block     string    // never call: why
	hold      string    // not called until its score earns it: why
	waitUntil time.Time // not before
	reason    string    // why waiting
	zones     []*time.Location
	// code names the check that stopped or delayed the dial, from a
	// closed set (a metrics label): dnc, no_consent, destination,
	// time_zone, window_never_open, below_threshold, outside_hours,
	// number_cap, jurisdiction_cap.
	code string
}

// window is when a campaign may call a lead: its calling window and the
// rules of the lead's jurisdictions for the campaign's purpose.
func (q *Queue) window(c *store.Campaign, l *store.Lead) Window {
	return CallWindow(q.cfg.Rules, c, place(l))
}

// place is what the lead says of where it is.
func place(l *store.Lead) Place {
	return Place{TimeZone: l.TimeZone, Region: l.Region, PostalCode: l.PostalCode, Country: l.Country, Phone: l.Phone}
}

// numberCap is the calls a number may get in 24 hours: this process's cap
// across campaigns, or the law's when lower.
func (q *Queue) numberCap(law jurisdiction.Applied) int {
	if law.MaxCallsPer24h > 0 && (q.cfg.NumberCapPer24h == 0 || law.MaxCallsPer24h < q.cfg.NumberCapPer24h) {
		return law.MaxCallsPer24h
	}
	return q.cfg.NumberCapPer24h
}

// rulesCiting names the rules of law that set field, for a reason.
func rulesCiting(law jurisdiction.Applied, set func(*jurisdiction.Rule) bool) string {
	var out []string
	for _, r := range law.Rules {
		if set(r) {
			out = append(out, r.Jurisdiction+": "+r.Source)
		}
	}
	return strings.Join(out, "; ")
}

// preDial runs every compliance check, in one place, right before dialing.
// It reads through db: the caller's transaction, so a request never
// waits for a second connection while holding one.
func (q *Queue) preDial(ctx context.Context, db store.DB, lead *store.Lead, c *store.Campaign, now time.Time) (preDialCheck, error) {
	if on, err := store.OnDNC(ctx, db, lead.Phone); err != nil || on {
		return preDialCheck{block: "on the do-not-call list", code: "dnc"}, err
	}
	if c.RequireConsent && !lead.HasConsent {
		return preDialCheck{block: "no consent captured, and the campaign requires it", code: "no_consent"}, nil
	}
	w := q.window(c, lead)
	if w.Law.WrittenConsent && !lead.HasConsent {
		return preDialCheck{block: "no consent captured, and the law where the lead may be requires prior express written consent for telemarketing calls (" +
			rulesCiting(w.Law, func(r *jurisdiction.Rule) bool { return r.WrittenConsent }) + ")", code: "no_consent"}, nil
	}
	// The campaign's destinations may have changed since the lead came in.
	if err := c.Destinations().Check(lead.Phone); err != nil {
		return preDialCheck{block: err.Error(), code: "destination"}, nil
	}
	zones, err := q.zones(lead)
	if err != nil {
		return preDialCheck{block: err.Error(), code: "time_zone"}, nil
	}
	if why, err := q.belowCallThreshold(ctx, db, lead, c); err != nil || why != "" {
		return preDialCheck{hold: why, code: "below_threshold"}, err
	}
	next, ok := w.NextOpen(now, zones)
	if !ok {
		return preDialCheck{block: fmt.Sprintf("the calling window %s is never open in all of the lead's time zones at once", w), code: "window_never_open"}, nil
	}
	if next.After(now) {
		return preDialCheck{waitUntil: next, zones: zones, code: "outside_hours",
			reason: fmt.Sprintf("outside calling hours (%s in %s); next call %s", w, zoneNames(zones), next.UTC().Format(time.RFC3339))}, nil
	}
	if limit := q.numberCap(w.Law); limit > 0 {
		starts, err := store.AttemptStartsSince(ctx, db, lead.Phone, now.Add(-24*time.Hour))
		if err != nil {
			return preDialCheck{}, err
		}
		if len(starts) >= limit {
			until := starts[len(starts)-limit].Add(24 * time.Hour)
			if open, ok := w.NextOpen(until, zones); ok {
				until = open
			}
			code, whose := "number_cap", "the cap"
			if limit < q.cfg.NumberCapPer24h || q.cfg.NumberCapPer24h == 0 {
				code, whose = "jurisdiction_cap", "the law's cap: "+rulesCiting(w.Law, func(r *jurisdiction.Rule) bool { return r.MaxCallsPer24h == limit })
			}
			return preDialCheck{waitUntil: until, zones: zones, code: code,
				reason: fmt.Sprintf("%d calls to this number in 24 hours across campaigns (%s); next call %s", len(starts), whose, until.UTC().Format(time.RFC3339))}, nil
		}
	}
	return preDialCheck{zones: zones}, nil
}

// zones are the time zones a lead may be in.
func (q *Queue) zones(l *store.Lead) ([]*time.Location, error) {
	return Zones(place(l))
}

// firstZone is the first of a lead's zones (nil without one).
func firstZone(zones []*time.Location) *time.Location {
	if len(zones) == 0 {
		return nil
	}
	return zones[0]
}

func zoneNames(zones []*time.Location) string {
	if len(zones) == 1 {
		return zones[0].String()
	}
	return fmt.Sprintf("all %d of the number's time zones", len(zones))
}

// saveTimeout bounds one write of a call's progress; finishTries bounds how
// often a finished call's result is written when the database refuses it
// (waits from Config.WriteRetry, doubling to 16 times it: about two minutes
// by default), before the job is left to River's retry, which settles the
// attempt from its saved state.
const (
	saveTimeout = 2 * time.Second
	finishTries = 8
)

// dial places the call, runs the script and records everything.
func (q *Queue) dial(ctx context.Context, log *slog.Logger, drv dialer.Driver, eng *ivr.Engine, script *ivr.Script,
	lead *store.Lead, c *store.Campaign, zones []*time.Location, a *store.Attempt) error {
	db := q.store.Pool()
	log = log.With("attempt", a.No, "attempt_id", a.ID)
	log.Info("dialing")
	res := store.AttemptResult{AttemptID: a.ID, LeadID: lead.ID, Actor: q.actor()}
	driver := string(c.Driver)
	q.cfg.Metrics.CallStarted(driver, c.ID)
	defer func() { q.cfg.Metrics.CallEnded(driver, c.ID, res.Disposition) }()
	if a.No == 1 && !lead.CreatedAt.IsZero() {
		q.cfg.Metrics.FirstDial(lead.Source, q.store.Now().Sub(lead.CreatedAt))
	}
	dtmf := c.DTMF
	if dtmf == "" || dtmf == dialer.DTMFAuto {
		dtmf = q.cfg.DTMF // this process's trunk may know better
	}
	started, _ := eng.Start(lead.Fields())
	req, err := dialer.DialRequest{To: lead.Phone, CallerID: a.CallerID, CallerName: c.CallerName,
		RingTimeout: c.RingTimeout, MaxDuration: c.MaxCallLength, Language: script.Language, Voice: script.Voice, Logger: log,
		Script: []byte(c.ScriptYAML), Lead: lead.Fields(), MachineDetection: c.MachineDetection, Voicemail: eng.Voicemail(started),
		DTMF: dtmf, AttemptID: a.ID}.Prepared()
	var call dialer.Call
	if err == nil {
		call, err = drv.Dial(ctx, req)
	}
	var outcome string
	if err != nil {
		de := dialer.AsDialError(err)
		res.Disposition, res.SIPCode, res.Reason, res.Ambiguous, res.ProviderCode = string(de.Disposition), de.SIPCode, de.Reason, de.Ambiguous, de.ProviderCode
		log.Info("not answered", "disposition", de.Disposition, "sip_code", de.SIPCode)
		if de.Disposition == dialer.Machine { // the provider's detection (Twilio) said so before the script ran
			cause := cmp.Or(de.Reason, "machine")
			res.AMDVerdict, res.AMDCause = "machine", cause[:min(len(cause), 64)]
			q.cfg.Metrics.MachineDetected(driver, &dialer.AMD{Verdict: "machine", Cause: cause})
		}
	} else {
		log = log.With("call_id", call.ID())
		if err := q.store.MarkAnswered(ctx, db, a.ID, call.ID()); err != nil {
			log.Warn("cannot mark the attempt answered", "error", err)
		}
		out := dialer.RunCall(ctx, call, eng, dialer.RunOptions{Lead: lead.Fields(), Now: q.store.Now,
			OnTurn: func(ctx context.Context, st ivr.State) {
				// What was heard so far: a crash settles from it.
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
				defer cancel()
				if err := q.store.SaveAttemptState(sctx, db, a.ID, st); err != nil {
					log.Warn("cannot save the call's progress", "error", err)
				}
			},
			OnTransfer: func(ctx context.Context, to string) {
				// A number is called through the trunk: that leg holds a
				// channel the dispatcher must not hand out meanwhile.
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
				defer cancel()
				if err := q.store.MarkTransferStarted(sctx, db, a.ID, dialer.IsE164(to)); err != nil {
					log.Warn("cannot record the transfer's start", "error", err)
				}
			},
			OnEnd: func(ctx context.Context, st ivr.State) error {
				if st.Outcome != ivr.OutcomeOptedOut {
					return nil
				}
				// On the list before the goodbye is said.
				return q.optOut(context.WithoutCancel(ctx), lead, c)
			}})
		if out.Err != nil {
			log.Warn("call ended with an error", "error", out.Err)
		}
		res.Disposition, res.SIPCode, res.Result = string(dialer.Answered), 200, &out.Result
		res.EndedBy, res.DTMFMethod, res.Attestation = out.EndedBy, out.DTMFMethod, out.Attestation
		outcome = string(out.Result.Outcome)
		res.SLA = out.Result.SLA.Std()
		if t := out.Result.Transfer; t != nil && out.Result.Outcome == ivr.OutcomeCompleted {
			res.Transfer = transferOf(out.Transfer, t.To)
			q.cfg.Metrics.Transferred(driver, res.Transfer.Status)
			if res.Transfer.Status != dialer.TransferConnected {
				// Nobody took the lead: it was told a specialist calls back.
				res.SLA = t.FallbackSLA.Std()
			}
			log.Info("transfer", "status", res.Transfer.Status, "to", dialer.MaskPhone(t.To))
		}
		q.cfg.Metrics.MachineDetected(driver, out.AMD)
		if a := out.AMD; a != nil {
			res.AMDVerdict, res.AMDCause, res.AMDMS = a.Verdict, a.Cause, &a.AfterMS
		}
		if out.AMD.IsMachine() {
			// An answering machine took the call: no questionnaire, no
			// outcome; called again as the campaign's machine retry says.
			res.Disposition, res.Result, outcome, res.SLA = string(dialer.Machine), nil, "", 0
			res.Reason = "answering machine (" + out.AMD.Cause + ")"
			if out.AMD.MessageLeft {
				res.Reason += "; message left after the greeting (" + out.AMD.GreetingEnd + ")"
			}
		}
		q.cfg.Metrics.CallTimed(driver, out.Timings)
		tm := out.Timings
		res.AnswerToIdentifyMS = msBetween(tm.Answered, tm.Identify)
		res.IdentifyToOptOutMS = msBetween(tm.IdentifyEnd, tm.OptOutOffer)
		res.PostDialDelayMS = msBetween(tm.Sent, cmp.Or(tm.Ringing, tm.Answered))
		q.cfg.Metrics.KeysHeard(out.DTMFMethod, keyPresses(out))
		q.cfg.Metrics.LeadClassified(c.ID, outcome, out.Result.Class)
		log.Info("call finished", "outcome", out.Result.Outcome, "class", out.Result.Class, "total", out.Result.Total)
	}
	q.decide(&res, c, q.window(c, lead), zones, outcome, lead.RoundAttempts+1)
	// Write the outcome even when the job's context ended (shutdown), and
	// retry while the database is away: the answers must not be lost.
	wctx := context.WithoutCancel(ctx)
	var werr error
	for try := range finishTries {
		werr = q.store.Tx(wctx, func(tx pgx.Tx) error { return q.store.FinishAttempt(wctx, tx, res) })
		if werr == nil || errors.Is(werr, store.ErrNotFound) {
			werr = nil
			break
		}
		log.Warn("cannot record the call; retrying", "error", werr, "try", try+1)
		sleep(wctx, q.cfg.WriteRetry<<min(try, 4))
	}
	if werr != nil {
		return fmt.Errorf("record attempt %d: %w", a.ID, werr)
	}
	return nil // the lead's row says what comes next, and when
}

// optOut puts the lead's number on the do-not-call list.
func (q *Queue) optOut(ctx context.Context, lead *store.Lead, c *store.Campaign) error {
	_, err := q.store.AddDNC(ctx, q.store.Pool(), store.DNCEntry{Phone: lead.Phone, Source: store.DNCOptOut,
		Reason: "pressed the opt-out key", CampaignID: c.ID, LeadID: lead.ID, Actor: q.actor()})
	return err
}

// decide fills in the lead's status after an attempt: retry (moved into the
// calling window), done, or a nurture recall. round is the attempt's number
// in the lead's current round.
func (q *Queue) decide(res *store.AttemptResult, c *store.Campaign, w Window, zones []*time.Location, outcome string, round int) {
	if res.SLA == 0 {
		res.SLA = c.SLA
	}
	now := q.store.Now()
	verdict := policy(c).Decide(dialer.Disposition(res.Disposition), outcome, res.Ambiguous, round, now)
	res.Status, res.Why = verdict.Status, verdict.Reason
	if verdict.Retry {
		next, ok := w.NextOpen(verdict.RetryAt, zones)
		if !ok {
			next = verdict.RetryAt
		}
		res.Next = &next
	}
	if r := res.Result; r != nil && r.Outcome == ivr.OutcomeCompleted {
		res.Why = fmt.Sprintf("answered the questionnaire: class %s, route %s", r.Class, r.Route)
		if r.Route == ivr.RouteNurture && r.RecallAfter > 0 {
			at := now.Add(r.RecallAfter.Std())
			res.RecallAt, res.Next = &at, &at
			res.Why += fmt.Sprintf("; nurture: called again from %s (recall_after %s)", at.UTC().Format(time.RFC3339), r.RecallAfter)
		}
	}
}

// reconcile settles an attempt whose process died (or whose result could
// not be written): the person may have been reached, so it is not redialled
// now. What was heard — the script's state saved after every answer — is
// kept: a finished script counts as finished, a partial one as incomplete
// with its answers; a call nothing was heard on is retried as incomplete.
func (q *Queue) reconcile(ctx context.Context, a *store.Attempt, lead *store.Lead, c *store.Campaign) (*time.Time, error) {
	res := store.AttemptResult{AttemptID: a.ID, LeadID: lead.ID, Disposition: string(dialer.Failed), Ambiguous: true,
		Reason: "interrupted: the process placing the call stopped (worker " + a.Worker + ")", Actor: "reconciler:" + q.cfg.Worker}
	outcome := ""
	machine, err := store.TwilioMachine(ctx, q.store.Pool(), a.ID)
	if err != nil {
		return nil, err
	}
	if machine != "" {
		// The Twilio session says an answering machine took the call.
		res.Disposition, res.Ambiguous = string(dialer.Machine), false
		res.Reason += "; settled from the Twilio session: answered by " + machine
	} else if len(a.EngineState) > 0 {
		if r, err := q.heard(c, a.EngineState); err != nil {
			q.cfg.Logger.Warn("cannot read an interrupted call's progress", "attempt_id", a.ID, "error", err)
		} else {
			res.Disposition, res.Result, outcome = string(dialer.Answered), r, string(r.Outcome)
			res.SLA = r.SLA.Std()
			res.Reason += "; settled from what was heard"
			if r.Outcome == ivr.OutcomeOptedOut {
				if err := q.optOut(ctx, lead, c); err != nil {
					return nil, err
				}
			}
		}
	}
	zones, _ := q.zones(lead)
	q.decide(&res, c, q.window(c, lead), zones, outcome, lead.RoundAttempts)
	if res.Result == nil || res.Result.Outcome == ivr.OutcomeIncomplete {
		res.Why = "last call was interrupted; " + res.Why
	}
	q.cfg.Logger.Warn("reconciled an interrupted attempt", "lead_id", lead.ID, "attempt", a.No, "worker", a.Worker, "outcome", outcome)
	err = q.store.Tx(ctx, func(tx pgx.Tx) error { return q.store.FinishAttempt(ctx, tx, res) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // settled meanwhile by another process
	}
	if res.Status != StatusRetryWait {
		return nil, err // finished: no retry to snooze for
	}
	return res.Next, err
}

// heard turns a saved script state into the result so far: a state that
// had not ended ends as a hang-up (incomplete, with its answers).
func (q *Queue) heard(c *store.Campaign, state []byte) (*ivr.Result, error) {
	eng, _, err := q.engine(c)
	if err != nil {
		return nil, err
	}
	var st ivr.State
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, err
	}
	if !st.Done() {
		if st, _, err = eng.Next(st, ivr.Input{Hangup: true}); err != nil {
			return nil, err
		}
	}
	r := eng.Result(st)
	return &r, nil
}

func policy(c *store.Campaign) RetryPolicy {
	return RetryPolicy{MaxAttempts: c.MaxAttempts, Busy: c.RetryBusy, NoAnswer: c.RetryNoAnswer,
		Congestion: c.RetryCongest, Incomplete: c.RetryIncompl, Machine: c.RetryMachine}
}

// DialStatus says whether a lead will be called now, later, or never.
type DialStatus struct {
	Status store.LeadStatus // queued, scheduled, blocked, new (below the call threshold)
	Reason string           // why not now, in words
	Next   *time.Time       // when, for scheduled
}

// Explain runs the pre-dial checks for a lead without dialing, so intake
// can answer "queued now" or "scheduled for T because …".
func (q *Queue) Explain(ctx context.Context, db store.DB, lead *store.Lead, c *store.Campaign) (DialStatus, error) {
	if c.Status != store.CampaignActive {
		return DialStatus{Status: StatusQueued, Reason: "campaign " + string(c.Status)}, nil
	}
	check, err := q.preDial(ctx, db, lead, c, q.store.Now())
	switch {
	case err != nil:
		return DialStatus{}, err
	case check.block != "":
		return DialStatus{Status: StatusBlocked, Reason: check.block}, nil
	case check.hold != "":
		return DialStatus{Status: store.LeadNew, Reason: check.hold}, nil
	case !check.waitUntil.IsZero():
		next := check.waitUntil
		return DialStatus{Status: StatusScheduled, Reason: check.reason, Next: &next}, nil
	}
	return DialStatus{Status: StatusQueued, Reason: "dialing now"}, nil
}

// keyPresses counts the keys a call heard (120# is four).
func keyPresses(out dialer.Outcome) int {
	n := 0
	for _, k := range out.KeysHeard() {
		n += len(k)
	}
	return n
}

// msBetween is the milliseconds from a to b; nil when either was not seen
// or b is before a.
func msBetween(a, b time.Time) *int {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return nil
	}
	ms := int(b.Sub(a).Milliseconds())
	return &ms
}

// transferOf is what the attempt records of a live transfer: the call's
// result, or "lead_hung_up" when the call ended before the transfer began.
func transferOf(r *dialer.TransferResult, to string) *store.Transfer {
	if r == nil {
		return &store.Transfer{To: to, Status: dialer.TransferLeadHungUp}
	}
	return &store.Transfer{To: r.To, Status: r.Status, EndedBy: r.EndedBy, WaitMS: r.WaitMS, TalkMS: r.TalkMS}
}
