package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scoring"
)

// Attempt is a call attempt.
type Attempt struct {
	ID         int64
	LeadID     int64
	CampaignID int64
	No         int
	State      string
	Worker     string
	StartedAt  time.Time
	// CallerID is the number the call presents (StartAttempt's choice).
	CallerID string
	// EngineState is the script's state as last saved during the call (nil
	// before the first answer): what a crashed call is settled from.
	EngineState []byte
}

const attemptColumns = `id, lead_id, campaign_id, attempt_no, state, coalesce(worker, ''), started_at, engine_state`

func scanAttempt(row pgx.Row) (Attempt, error) {
	var a Attempt
	err := row.Scan(&a.ID, &a.LeadID, &a.CampaignID, &a.No, &a.State, &a.Worker, &a.StartedAt, &a.EngineState)
	return a, err
}

// OpenAttempt returns the lead's unfinished attempt, or ErrNotFound.
func OpenAttempt(ctx context.Context, db DB, leadID int64) (*Attempt, error) {
	a, err := scanAttempt(db.QueryRow(ctx, `SELECT `+attemptColumns+` FROM call_attempts WHERE lead_id = $1 AND state <> 'finished'`, leadID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// OpenAttempts lists every unfinished attempt, oldest first.
func OpenAttempts(ctx context.Context, db DB) ([]Attempt, error) {
	rows, err := db.Query(ctx, `SELECT `+attemptColumns+` FROM call_attempts WHERE state <> 'finished' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Attempt, error) { return scanAttempt(row) })
}

// AttemptParams starts an attempt.
type AttemptParams struct {
	LeadID, CampaignID int64
	// Phone is the lead's number, for the cap across campaigns.
	Phone  string
	Driver DriverName
	Worker string
	Script *ivr.Script
	// NumberCap is the most attempts to Phone in 24 hours across all
	// campaigns; 0 means no cap.
	NumberCap int
	// DialJob, when set, is the dial job the lead was handed to: the
	// attempt starts only if the lead is still that job's to call
	// (ErrDispatchRevoked otherwise).
	DialJob int64
	// LocalZone is the lead's time zone when it is called, for reports by
	// the lead's local weekday and hour; nil when unknown.
	LocalZone *time.Location
	// CallerID is the number the call presents, kept with the attempt;
	// with CallerIDs, the one chosen among them (local presence first,
	// then the least used) under CallerIDCap calls in 24 hours each.
	CallerID    string
	CallerIDs   []string
	CallerIDCap int
}

// CappedError says that a number had its share of calls in the last 24
// hours (across campaigns) and when the next one is allowed.
type CappedError struct {
	Calls int
	Until time.Time
}

func (e *CappedError) Error() string {
	return fmt.Sprintf("%d calls to this number in 24 hours across campaigns (the cap); next call %s", e.Calls, e.Until.UTC().Format(time.RFC3339))
}

// numberLock serialises attempt starts to one number across campaigns and
// processes (the 24-hour cap holds under concurrency).
const numberLock = 7115

// StartAttempt writes the attempt row before the call is placed, in tx. It
// fails with ErrDispatchRevoked when the lead is no longer the dial job's,
// or when p.Worker names an instance marked stopped (a process taken for
// dead starts no call), with ErrAttemptOpen when another attempt of the
// lead is unfinished,
// and with a *CappedError when the number had NumberCap calls in the last 24
// hours — checked under a lock on the number, so two campaigns can never both
// take the last call — or a *CallerIDsCappedError when every caller ID had
// its CallerIDCap.
func (s *Store) StartAttempt(ctx context.Context, tx pgx.Tx, p AttemptParams) (*Attempt, error) {
	now := s.now()
	if p.NumberCap > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, numberLock, p.Phone); err != nil {
			return nil, fmt.Errorf("lock number: %w", err)
		}
		starts, err := AttemptStartsSince(ctx, tx, p.Phone, now.Add(-24*time.Hour))
		if err != nil {
			return nil, err
		}
		if len(starts) >= p.NumberCap {
			return nil, &CappedError{Calls: len(starts), Until: starts[len(starts)-p.NumberCap].Add(24 * time.Hour)}
		}
	}
	a := Attempt{LeadID: p.LeadID, CampaignID: p.CampaignID, State: "dialing", Worker: p.Worker, CallerID: p.CallerID}
	if len(p.CallerIDs) > 0 {
		n, err := pickCallerID(ctx, tx, p.CallerIDs, p.CallerIDCap, p.Phone, now)
		if err != nil {
			return nil, err
		}
		a.CallerID = n
	}
	var weekday, hour any // unknown without a zone
	if p.LocalZone != nil {
		local := now.In(p.LocalZone)
		weekday, hour = (int(local.Weekday())+6)%7+1, local.Hour()
	}
	// After its first call a lead is retry work, not a fresh lead.
	err := tx.QueryRow(ctx, `WITH bumped AS (
			UPDATE leads SET attempt_count = attempt_count + 1, last_attempt_at = $7, status = 'dialing',
				first_dialled_at = coalesce(first_dialled_at, $7),
				status_reason = 'calling: attempt ' || (attempt_count + 1), next_attempt_at = NULL, priority = 1, updated_at = $7
			WHERE id = $1 AND ($8::bigint = 0 OR (status = 'dialing' AND dial_job IS NOT DISTINCT FROM $8::bigint))
				-- A process another took for dead (fenced) starts no call.
				AND NOT EXISTS (SELECT 1 FROM instances WHERE id = $4 AND stopped_at IS NOT NULL)
			RETURNING attempt_count)
		INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, worker, script_id, script_version, started_at,
			local_weekday, local_hour, caller_id)
		SELECT $1, $2, attempt_count, $3, $4, $5, $6, $7, $9, $10, $11 FROM bumped RETURNING id, attempt_no, started_at`,
		p.LeadID, p.CampaignID, p.Driver, p.Worker, p.Script.ID, p.Script.Version, now, p.DialJob, weekday, hour, nullString(a.CallerID)).Scan(&a.ID, &a.No, &a.StartedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("start attempt for lead %d: %w", p.LeadID, ErrDispatchRevoked)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "call_attempts_one_open" {
		return nil, ErrAttemptOpen
	}
	if err != nil {
		return nil, fmt.Errorf("start attempt for lead %d: %w", p.LeadID, err)
	}
	return &a, s.AddEvent(ctx, tx, p.LeadID, "worker:"+p.Worker, EventCallStarted,
		map[string]any{"attempt_id": a.ID, "attempt": a.No, "driver": p.Driver})
}

// CountOpenAttempts counts a campaign's calls in progress, in every process.
func CountOpenAttempts(ctx context.Context, db DB, campaignID int64) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM call_attempts WHERE campaign_id = $1 AND state <> 'finished'`, campaignID).Scan(&n)
	return n, err
}

// MarkAnswered records that the call was answered.
func (s *Store) MarkAnswered(ctx context.Context, db DB, attemptID int64, callID string) error {
	_, err := db.Exec(ctx, `UPDATE call_attempts SET state = 'in_progress', answered_at = $3, provider_call_id = $2
		WHERE id = $1 AND state = 'dialing'`, attemptID, nullString(callID), s.now())
	return err
}

// SaveAttemptState keeps the script's state of a call in progress on its
// attempt, after every answer: if the process dies, or the result cannot be
// written, the attempt is settled from what was heard.
func (s *Store) SaveAttemptState(ctx context.Context, db DB, attemptID int64, st ivr.State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, `UPDATE call_attempts SET engine_state = $2 WHERE id = $1 AND state <> 'finished'`, attemptID, b)
	if err != nil {
		return fmt.Errorf("save state of attempt %d: %w", attemptID, err)
	}
	return nil
}

// AttemptResult is everything an attempt produced.
type AttemptResult struct {
	AttemptID    int64
	LeadID       int64
	Disposition  string
	SIPCode      int
	Reason       string
	Ambiguous    bool
	ProviderCode int
	Result       *ivr.Result // nil when the call was not answered
	// Lead status afterwards, why, and when the next attempt is due.
	Status LeadStatus
	Why    string
	Next   *time.Time
	// SLA applies to a lead routed to sales (the class's, else the campaign's).
	SLA time.Duration
	// RecallAt is when a nurture lead is called again (nil: never).
	RecallAt *time.Time
	// EndedBy says who ended an answered call (dialer.EndedBy…), and
	// DTMFMethod how its keys arrived; empty when unknown.
	EndedBy, DTMFMethod string
	// Actor is who writes the result (worker:host/pid).
	Actor string
	// AnswerToIdentifyMS, IdentifyToOptOutMS and PostDialDelayMS are the
	// call's compliance timings in milliseconds (nil: not measured): answer
	// → start of the identification, its end → start of the opt-out offer,
	// and the post-dial delay.
	AnswerToIdentifyMS, IdentifyToOptOutMS, PostDialDelayMS *int
	// AMDVerdict (human, machine, unsure), AMDCause and AMDMS are what
	// machine detection made of an answered call; empty: it did not listen.
	AMDVerdict, AMDCause string
	AMDMS                *int64
	// Attestation is the caller ID's STIR/SHAKEN attestation (A, B, C) as
	// the trunk or provider reported it; empty: not reported.
	Attestation string
	// Transfer is the live transfer the call tried (nil: none). Connected,
	// the lead of route sales counts as contacted (the sales deadline is
	// met by the rep who took it).
	Transfer *Transfer
}

// Transfer is how an attempt's live transfer went.
type Transfer struct {
	To, Status, EndedBy string
	WaitMS, TalkMS      *int64
}

// MarkTransferStarted records that an open attempt's live transfer began
// and whether its second leg goes out through the trunk: such a leg holds
// a trunk channel until the attempt finishes (see Dialing).
func (s *Store) MarkTransferStarted(ctx context.Context, db DB, attemptID int64, viaTrunk bool) error {
	if _, err := db.Exec(ctx, `UPDATE call_attempts SET transfer_started_at = $2, transfer_via_trunk = $3
		WHERE id = $1 AND state <> 'finished'`, attemptID, s.now(), viaTrunk); err != nil {
		return fmt.Errorf("mark transfer of attempt %d: %w", attemptID, err)
	}
	return nil
}

// FinishAttempt writes an attempt's outcome: the attempt, its answers, the
// lead's status and result (with the sales deadline for sales-ready leads)
// and the events — in the caller's transaction. An attempt already finished
// is left alone (ErrNotFound), so a retried write cannot save twice.
func (s *Store) FinishAttempt(ctx context.Context, db DB, r AttemptResult) error {
	now := s.now()
	var outcome, class, lastQuestion any
	if r.Result != nil {
		outcome, class = string(r.Result.Outcome), r.Result.Class
		// Where an unfinished call dropped off, for the dashboards.
		if n := len(r.Result.Answers); n > 0 && r.Disposition == "answered" && r.Result.Outcome != ivr.OutcomeCompleted {
			lastQuestion = r.Result.Answers[n-1].Question
		}
	}
	var tr struct {
		To, Status, EndedBy any
		WaitMS, TalkMS      *int64
	}
	if t := r.Transfer; t != nil {
		tr.To, tr.Status, tr.EndedBy, tr.WaitMS, tr.TalkMS = nullString(t.To), nullString(t.Status), nullString(t.EndedBy), t.WaitMS, t.TalkMS
	}
	tag, err := db.Exec(ctx, `UPDATE call_attempts SET state = 'finished', disposition = $2, sip_code = $3, reason = $4,
		ambiguous = $5, provider_code = $6, outcome = $7, class = $8, ended_at = $9, ended_by = $10, dtmf_method = $11, last_question = $12,
		answer_to_identify_ms = $13, identify_to_opt_out_ms = $14, post_dial_delay_ms = $15,
		amd_verdict = $16, amd_cause = $17, amd_ms = $18,
		transfer_to = $19, transfer_status = $20, transfer_wait_ms = $21, transfer_talk_ms = $22, transfer_ended_by = $23,
		attestation = $24
		WHERE id = $1 AND state <> 'finished'`,
		r.AttemptID, r.Disposition, zeroNull(r.SIPCode), nullString(r.Reason), r.Ambiguous, zeroNull(r.ProviderCode), outcome, class, now,
		nullString(r.EndedBy), nullString(r.DTMFMethod), lastQuestion, r.AnswerToIdentifyMS, r.IdentifyToOptOutMS, r.PostDialDelayMS,
		nullString(r.AMDVerdict), nullString(r.AMDCause), r.AMDMS, tr.To, tr.Status, tr.WaitMS, tr.TalkMS, tr.EndedBy,
		nullString(r.Attestation))
	if err != nil {
		return fmt.Errorf("finish attempt %d: %w", r.AttemptID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("finish attempt %d: %w (already finished)", r.AttemptID, ErrNotFound)
	}
	if r.Disposition == "answered" { // a person answered: the lead was reached
		if _, err := db.Exec(ctx, `UPDATE leads SET reached_at = coalesce(reached_at,
			(SELECT answered_at FROM call_attempts WHERE id = $2), $3) WHERE id = $1`, r.LeadID, r.AttemptID, now); err != nil {
			return fmt.Errorf("finish attempt %d: %w", r.AttemptID, err)
		}
	}
	event := map[string]any{"attempt_id": r.AttemptID, "disposition": r.Disposition, "status": r.Status}
	if r.SIPCode != 0 {
		event["sip_code"] = r.SIPCode
	}
	if r.Result == nil {
		if err := s.SetLeadStatus(ctx, db, r.LeadID, r.Actor, r.Status, r.Why, r.Next); err != nil {
			return err
		}
		return s.AddEvent(ctx, db, r.LeadID, r.Actor, EventCallEnded, event)
	}
	res := r.Result
	if len(res.Answers) > 0 { // in one statement: the dashboards count them once
		questions, keys := make([]string, len(res.Answers)), make([]string, len(res.Answers))
		values, points := make([]*int64, len(res.Answers)), make([]string, len(res.Answers))
		fromForm := make([]bool, len(res.Answers))
		for i, a := range res.Answers {
			p, _ := json.Marshal(a.Points)
			questions[i], keys[i], values[i], points[i], fromForm[i] = a.Question, a.Keys, a.Value, string(p), a.FromForm
		}
		if _, err := db.Exec(ctx, `INSERT INTO answers (attempt_id, seq, lead_id, question, keys, value, points, answered_at, from_form)
			SELECT $1, a.seq, $2, a.question, a.keys, a.value, a.points::jsonb, $3, a.from_form
			FROM unnest($4::text[], $5::text[], $6::bigint[], $7::text[], $8::boolean[]) WITH ORDINALITY AS a(question, keys, value, points, from_form, seq)`,
			r.AttemptID, r.LeadID, now, questions, keys, values, points, fromForm); err != nil {
			return fmt.Errorf("save answers: %w", err)
		}
	}
	scores, _ := json.Marshal(res.Scores)
	event["outcome"], event["class"], event["total"] = res.Outcome, res.Class, res.Total
	if res.Outcome == ivr.OutcomeIncomplete {
		// Partial answers stay with the attempt; the lead keeps any earlier result.
		if err := s.SetLeadStatus(ctx, db, r.LeadID, r.Actor, r.Status, r.Why, r.Next); err != nil {
			return err
		}
		return s.AddEvent(ctx, db, r.LeadID, r.Actor, EventCallEnded, event)
	}
	route := res.Route
	if err := s.SetLeadStatus(ctx, db, r.LeadID, r.Actor, r.Status, r.Why, r.Next); err != nil {
		return err
	}
	// The lead score: the call's total plus the lead's behaviour points.
	acts, err := ActivitiesOf(ctx, db, []int64{r.LeadID})
	if err != nil {
		return err
	}
	if _, err := db.Exec(ctx, `UPDATE leads SET outcome = $2, class = $3,
		route = $4, scores = $5, total = $6, script_id = $7, script_version = $8,
		qualified_at = CASE WHEN $2 = 'completed' THEN $11 ELSE qualified_at END,
		recall_at = $9,
		sales_stage = CASE WHEN $4 = 'sales' THEN 'open' ELSE sales_stage END,
		assigned_to = CASE WHEN $4 = 'sales' THEN NULL ELSE assigned_to END,
		sla_due_at = CASE WHEN $4 = 'sales' THEN $11 + $10::interval ELSE sla_due_at END,
		sla_status = CASE WHEN $4 = 'sales' THEN 'pending' ELSE sla_status END,
		score = $6::int + $12::int, score_at = $11,
		updated_at = $11 WHERE id = $1`,
		r.LeadID, string(res.Outcome), res.Class, route, scores, res.Total,
		res.ScriptID, res.ScriptVersion, r.RecallAt, r.SLA, now, scoring.Behavior(acts[r.LeadID], now)); err != nil {
		return fmt.Errorf("save result of lead %d: %w", r.LeadID, err)
	}
	if route == ivr.RouteSales { // a new open lead, maybe below a claim floor
		s.floors.reset()
	}
	if err := s.AddEvent(ctx, db, r.LeadID, r.Actor, EventCallEnded, event); err != nil {
		return err
	}
	switch {
	case route == ivr.RouteSales:
		if err := s.AddEvent(ctx, db, r.LeadID, r.Actor, EventLeadQualified, map[string]any{"class": res.Class, "sla_hours": r.SLA.Hours()}); err != nil {
			return err
		}
		return s.transferred(ctx, db, r, now)
	case res.Outcome == ivr.OutcomeOptedOut:
		return s.AddEvent(ctx, db, r.LeadID, r.Actor, EventLeadOptedOut, nil)
	}
	return nil
}

// MarkSLABreaches flags sales-ready leads whose follow-up deadline passed
// without contact, and returns their ids (each gets an event).
func (s *Store) MarkSLABreaches(ctx context.Context, db DB) ([]int64, error) {
	rows, err := db.Query(ctx, `UPDATE leads SET sla_status = 'breached', updated_at = $1
		WHERE sla_status = 'pending' AND sla_due_at < $1 AND sales_stage IN ('open', 'accepted') RETURNING id`, s.now())
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := s.AddEvent(ctx, db, id, "system", EventLeadSLABreached, nil); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// DueRecalls starts a new round of calls for up to limit nurture leads of
// active campaigns whose recall time has come (a class's recall_after, or a
// recycle's recall_at): each becomes queued and due now, with its attempts
// counted afresh, and gets a lead.recalled event; their campaigns'
// dispatchers are woken. It returns their ids.
func (s *Store) DueRecalls(ctx context.Context, tx pgx.Tx, limit int) ([]int64, error) {
	now := s.now()
	rows, err := tx.Query(ctx, `WITH due AS (
			SELECT l.id, l.status, l.class, l.recall_at FROM leads l JOIN campaigns c ON c.id = l.campaign_id
			WHERE l.recall_at <= $1 AND l.status IN ('completed', 'new') AND l.route = 'nurture' AND c.status = 'active'
			ORDER BY l.recall_at, l.id FOR UPDATE OF l SKIP LOCKED LIMIT $2)
		UPDATE leads l SET status = 'queued', status_reason = 'nurture recall: a new round of calls', next_attempt_at = $1,
			recall_at = NULL, round_base = l.attempt_count, updated_at = $1
		FROM due WHERE l.id = due.id RETURNING l.id, coalesce(due.class, ''), due.recall_at, l.campaign_id, due.status`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("due recalls: %w", err)
	}
	type due struct {
		id       int64
		class    string
		at       time.Time
		campaign int64
		status   string
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (due, error) {
		var d due
		err := row.Scan(&d.id, &d.class, &d.at, &d.campaign, &d.status)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("due recalls: %w", err)
	}
	ids := make([]int64, len(ds))
	woken := map[int64]bool{}
	for i, d := range ds {
		ids[i] = d.id
		if !woken[d.campaign] {
			woken[d.campaign] = true
			if err := Wake(ctx, tx, d.campaign); err != nil {
				return nil, err
			}
		}
		if err := s.AddEvent(ctx, tx, d.id, "system", EventLeadRecalled,
			map[string]any{"class": d.class, "recall_at": d.at.UTC(), "from": d.status, "to": "queued"}); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// AttemptStartsSince lists when calls to a number started, across
// campaigns, oldest first.
func AttemptStartsSince(ctx context.Context, db DB, phone string, since time.Time) ([]time.Time, error) {
	rows, err := db.Query(ctx, `SELECT a.started_at FROM call_attempts a JOIN leads l ON l.id = a.lead_id
		WHERE l.phone = $1 AND a.started_at >= $2 ORDER BY a.started_at`, phone, since)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[time.Time])
}

// perSecond is the gap between calls at a rate.
func perSecond(rate float64) time.Duration { return time.Duration(float64(time.Second) / rate) }

// SendGate is the pacing an INVITE must respect as it goes out.
type SendGate struct {
	AttemptID  int64
	CampaignID int64
	// CallsPerSecond is the campaign's pace.
	CallsPerSecond float64
	// Driver and DriverCPS pace the driver's account across campaigns
	// (DriverCPS 0: no account limit).
	Driver    DriverName
	DriverCPS float64
}

// PassSendGate lets an attempt's INVITE go out now — recording now as its
// dialed_at — if the campaign's previous INVITE (and the driver account's)
// went out at least 1/calls-per-second ago, in every process; otherwise it
// records nothing and returns how long to wait before asking again. The
// recorded times are therefore exactly paced, however late a loaded machine
// wakes a dialer for its reserved slot.
func (s *Store) PassSendGate(ctx context.Context, g SendGate) (wait time.Duration, err error) {
	err = s.Tx(ctx, func(tx pgx.Tx) error {
		now := s.now()
		var sent *time.Time
		if err := tx.QueryRow(ctx, `SELECT pace_sent_at FROM campaigns WHERE id = $1 FOR UPDATE`, g.CampaignID).Scan(&sent); err != nil {
			return fmt.Errorf("pace campaign %d: %w", g.CampaignID, err)
		}
		if sent != nil {
			wait = max(wait, sent.Add(perSecond(g.CallsPerSecond)).Sub(now))
		}
		if g.DriverCPS > 0 {
			var dsent *time.Time
			err := tx.QueryRow(ctx, `INSERT INTO driver_pacing (driver) VALUES ($1) ON CONFLICT (driver) DO UPDATE SET driver = EXCLUDED.driver
				RETURNING sent_at`, g.Driver).Scan(&dsent)
			if err != nil {
				return fmt.Errorf("pace driver %s: %w", g.Driver, err)
			}
			if dsent != nil {
				wait = max(wait, dsent.Add(perSecond(g.DriverCPS)).Sub(now))
			}
		}
		if wait > 0 {
			return errRollback
		}
		if _, err := tx.Exec(ctx, `UPDATE campaigns SET pace_sent_at = $2 WHERE id = $1`, g.CampaignID, now); err != nil {
			return err
		}
		if g.DriverCPS > 0 {
			if _, err := tx.Exec(ctx, `UPDATE driver_pacing SET sent_at = $2 WHERE driver = $1`, g.Driver, now); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE call_attempts SET dialed_at = $2 WHERE id = $1`, g.AttemptID, now)
		return err
	})
	if errors.Is(err, errRollback) {
		return wait, nil
	}
	return 0, err
}

// errRollback ends a transaction that decided to change nothing.
var errRollback = errors.New("rollback")

// transferred records a sales-ready lead's live transfer: the event, and
// for a lead put through to a rep, the sales stage contacted (the deadline
// met), as a rep's "contacted" would.
func (s *Store) transferred(ctx context.Context, db DB, r AttemptResult, now time.Time) error {
	t := r.Transfer
	if t == nil {
		return nil
	}
	data := map[string]any{"attempt_id": r.AttemptID, "to": t.To, "status": t.Status}
	if t.WaitMS != nil {
		data["wait_ms"] = *t.WaitMS
	}
	if t.TalkMS != nil {
		data["talk_ms"] = *t.TalkMS
	}
	if err := s.AddEvent(ctx, db, r.LeadID, r.Actor, EventLeadTransferred, data); err != nil {
		return err
	}
	if t.Status != "connected" {
		return nil
	}
	if _, err := db.Exec(ctx, `UPDATE leads SET sales_stage = 'contacted', contacted_at = $2, sla_status = 'met', updated_at = $2
		WHERE id = $1 AND sales_stage = 'open'`, r.LeadID, now); err != nil {
		return fmt.Errorf("lead %d contacted by transfer: %w", r.LeadID, err)
	}
	return s.AddEvent(ctx, db, r.LeadID, r.Actor, EventLeadContacted, map[string]any{"by": "transfer", "to": t.To})
}
