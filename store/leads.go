package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/qualdial/qualdial/ivr"
)

// LeadParams creates a lead. Phone must already be E.164.
type LeadParams struct {
	CampaignID int64
	Phone      string
	FirstName  string
	LastName   string
	Email      string
	Company    string
	TimeZone   string
	Region     string
	PostalCode string
	Source     string // api, web_form, import, cli, manual, recall
	ExternalID string
	Attributes map[string]string
	Consent    Consent
}

// Consent is the lead's permission to be called, as captured.
type Consent struct {
	Source  string
	Text    string
	Version string
	At      time.Time
	IP      netip.Addr
	Page    string
}

// Lead is a lead with its dialing state and result.
type Lead struct {
	ID            int64
	CampaignID    int64
	Phone         string
	FirstName     string
	LastName      string
	Email         string
	Company       string
	TimeZone      string
	Region        string
	Country       string // the campaign's default country
	Attributes    map[string]string
	HasConsent    bool
	Status        string
	StatusReason  string
	NextAttemptAt *time.Time
	AttemptCount  int
	Outcome       string
	Class         string
	Route         string
	Total         *int
	SalesStage    string
	SLADueAt      *time.Time
	CreatedAt     time.Time
}

// Fields returns the lead's fields for script placeholders.
func (l *Lead) Fields() map[string]string {
	f := map[string]string{"first_name": l.FirstName, "last_name": l.LastName, "company": l.Company, "email": l.Email}
	for k, v := range l.Attributes {
		if _, ok := f[k]; !ok {
			f[k] = v
		}
	}
	return f
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// InsertLead adds a lead to a campaign. A lead whose phone (or external id)
// is already in the campaign is not inserted again: the existing id is
// returned with created false.
func (s *Store) InsertLead(ctx context.Context, db DB, p LeadParams) (id int64, created bool, err error) {
	attrs, err := json.Marshal(orEmpty(p.Attributes))
	if err != nil {
		return 0, false, err
	}
	var consentAt, consentIP any
	if !p.Consent.At.IsZero() {
		consentAt = p.Consent.At
	}
	if p.Consent.IP.IsValid() {
		consentIP = p.Consent.IP
	}
	source := p.Source
	if source == "" {
		source = "api"
	}
	err = db.QueryRow(ctx, `INSERT INTO leads (campaign_id, phone, first_name, last_name, email, company, time_zone, region,
		postal_code, source, external_id, attributes, consent_source, consent_text, consent_version, consent_at, consent_ip, consent_page,
		created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)
		ON CONFLICT DO NOTHING RETURNING id`,
		p.CampaignID, p.Phone, nullString(p.FirstName), nullString(p.LastName), nullString(p.Email), nullString(p.Company),
		nullString(p.TimeZone), nullString(p.Region), nullString(p.PostalCode), source, nullString(p.ExternalID), attrs,
		nullString(p.Consent.Source), nullString(p.Consent.Text), nullString(p.Consent.Version), consentAt, consentIP,
		nullString(p.Consent.Page), s.now()).Scan(&id)
	if err == nil {
		return id, true, s.AddEvent(ctx, db, id, "system", "lead.created", map[string]any{"source": source})
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("insert lead: %w", err)
	}
	err = db.QueryRow(ctx, `SELECT id FROM leads WHERE campaign_id = $1 AND (phone = $2 OR external_id = $3) ORDER BY id LIMIT 1`,
		p.CampaignID, p.Phone, nullString(p.ExternalID)).Scan(&id)
	if err != nil {
		return 0, false, fmt.Errorf("find duplicate lead: %w", err)
	}
	return id, false, nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

const leadColumns = `l.id, l.campaign_id, l.phone, coalesce(l.first_name, ''), coalesce(l.last_name, ''), coalesce(l.email, ''),
	coalesce(l.company, ''), coalesce(l.time_zone, ''), coalesce(l.region, ''), c.default_country, l.attributes,
	l.consent_at IS NOT NULL OR l.consent_source IS NOT NULL, l.status, coalesce(l.status_reason, ''), l.next_attempt_at,
	l.attempt_count, coalesce(l.outcome, ''), coalesce(l.class, ''), coalesce(l.route, ''), l.total,
	coalesce(l.sales_stage, ''), l.sla_due_at, l.created_at`

func scanLead(row pgx.Row) (*Lead, error) {
	var l Lead
	var attrs []byte
	err := row.Scan(&l.ID, &l.CampaignID, &l.Phone, &l.FirstName, &l.LastName, &l.Email, &l.Company, &l.TimeZone, &l.Region,
		&l.Country, &attrs, &l.HasConsent, &l.Status, &l.StatusReason, &l.NextAttemptAt, &l.AttemptCount, &l.Outcome,
		&l.Class, &l.Route, &l.Total, &l.SalesStage, &l.SLADueAt, &l.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	_ = json.Unmarshal(attrs, &l.Attributes)
	return &l, nil
}

// GetLead loads a lead.
func GetLead(ctx context.Context, db DB, id int64) (*Lead, error) {
	return scanLead(db.QueryRow(ctx, `SELECT `+leadColumns+` FROM leads l JOIN campaigns c ON c.id = l.campaign_id WHERE l.id = $1`, id))
}

// Leads lists a campaign's leads by id.
func (s *Store) Leads(ctx context.Context, campaignID int64) ([]*Lead, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+leadColumns+` FROM leads l JOIN campaigns c ON c.id = l.campaign_id
		WHERE l.campaign_id = $1 ORDER BY l.id`, campaignID)
	if err != nil {
		return nil, err
	}
	return collectLeads(rows)
}

func collectLeads(rows pgx.Rows) ([]*Lead, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Lead, error) { return scanLead(row) })
}

// SetLeadStatus records why a lead is (not yet) being called and when it
// will be.
func (s *Store) SetLeadStatus(ctx context.Context, db DB, id int64, status, reason string, next *time.Time) error {
	_, err := db.Exec(ctx, `UPDATE leads SET status = $2, status_reason = $3, next_attempt_at = $4, updated_at = $5 WHERE id = $1`,
		id, status, nullString(reason), next, s.now())
	if err != nil {
		return fmt.Errorf("lead %d status %s: %w", id, status, err)
	}
	return nil
}

// OnDNC reports whether a number is on the do-not-call list.
func OnDNC(ctx context.Context, db DB, phone string) (bool, error) {
	var on bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dnc WHERE phone = $1)`, phone).Scan(&on)
	return on, err
}

// AddDNC puts a number on the do-not-call list (idempotent).
func (s *Store) AddDNC(ctx context.Context, db DB, phone, source, reason string, campaignID, leadID int64) error {
	_, err := db.Exec(ctx, `INSERT INTO dnc (phone, source, reason, campaign_id, lead_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (phone) DO NOTHING`, phone, source, nullString(reason), zeroNull(campaignID), zeroNull(leadID), s.now())
	if err != nil {
		return fmt.Errorf("add %s to DNC: %w", phone, err)
	}
	return nil
}

// Attempt is a call attempt.
type Attempt struct {
	ID        int64
	LeadID    int64
	No        int
	State     string
	Worker    string
	StartedAt time.Time
}

// OpenAttempt returns the lead's unfinished attempt, or ErrNotFound.
func OpenAttempt(ctx context.Context, db DB, leadID int64) (*Attempt, error) {
	var a Attempt
	err := db.QueryRow(ctx, `SELECT id, lead_id, attempt_no, state, coalesce(worker, ''), started_at FROM call_attempts
		WHERE lead_id = $1 AND state <> 'finished'`, leadID).Scan(&a.ID, &a.LeadID, &a.No, &a.State, &a.Worker, &a.StartedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &a, err
}

// StartAttempt writes the attempt row before the call is placed. It fails
// with ErrAttemptOpen when another attempt of the lead is unfinished.
func (s *Store) StartAttempt(ctx context.Context, db DB, leadID, campaignID int64, driver, worker string, script *ivr.Script) (*Attempt, error) {
	a := Attempt{LeadID: leadID, State: "dialing", Worker: worker}
	err := db.QueryRow(ctx, `WITH bumped AS (
			UPDATE leads SET attempt_count = attempt_count + 1, last_attempt_at = $7, status = 'dialing',
				status_reason = NULL, next_attempt_at = NULL, updated_at = $7
			WHERE id = $1 RETURNING attempt_count)
		INSERT INTO call_attempts (lead_id, campaign_id, attempt_no, driver, worker, script_id, script_version, started_at)
		SELECT $1, $2, attempt_count, $3, $4, $5, $6, $7 FROM bumped RETURNING id, attempt_no, started_at`,
		leadID, campaignID, driver, worker, script.ID, script.Version, s.now()).Scan(&a.ID, &a.No, &a.StartedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "call_attempts_one_open" {
		return nil, ErrAttemptOpen
	}
	if err != nil {
		return nil, fmt.Errorf("start attempt for lead %d: %w", leadID, err)
	}
	return &a, nil
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
	Status string
	Why    string
	Next   *time.Time
	// SLA applies to a lead routed to sales (the class's, else the campaign's).
	SLA time.Duration
	// Actor is who writes the result (worker:host/pid).
	Actor string
}

// FinishAttempt writes an attempt's outcome: the attempt, its answers, the
// lead's status and result (with the sales deadline for sales-ready leads)
// and the events — in the caller's transaction.
func (s *Store) FinishAttempt(ctx context.Context, db DB, r AttemptResult) error {
	now := s.now()
	var outcome, class any
	if r.Result != nil {
		outcome, class = string(r.Result.Outcome), r.Result.Class
	}
	if _, err := db.Exec(ctx, `UPDATE call_attempts SET state = 'finished', disposition = $2, sip_code = $3, reason = $4,
		ambiguous = $5, provider_code = $6, outcome = $7, class = $8, ended_at = $9 WHERE id = $1`,
		r.AttemptID, r.Disposition, zeroNull(r.SIPCode), nullString(r.Reason), r.Ambiguous, zeroNull(r.ProviderCode), outcome, class, now); err != nil {
		return fmt.Errorf("finish attempt %d: %w", r.AttemptID, err)
	}
	event := map[string]any{"attempt_id": r.AttemptID, "disposition": r.Disposition, "status": r.Status}
	if r.SIPCode != 0 {
		event["sip_code"] = r.SIPCode
	}
	if r.Result == nil {
		if err := s.SetLeadStatus(ctx, db, r.LeadID, r.Status, r.Why, r.Next); err != nil {
			return err
		}
		return s.AddEvent(ctx, db, r.LeadID, r.Actor, "call.ended", event)
	}
	res := r.Result
	for i, a := range res.Answers {
		points, _ := json.Marshal(a.Points)
		if _, err := db.Exec(ctx, `INSERT INTO answers (attempt_id, seq, lead_id, question, keys, value, points, answered_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.AttemptID, i+1, r.LeadID, a.Question, a.Keys, a.Value, points, now); err != nil {
			return fmt.Errorf("save answer %s: %w", a.Question, err)
		}
	}
	scores, _ := json.Marshal(res.Scores)
	event["outcome"], event["class"], event["total"] = res.Outcome, res.Class, res.Total
	if res.Outcome == ivr.OutcomeIncomplete {
		// Partial answers stay with the attempt; the lead keeps any earlier result.
		if err := s.SetLeadStatus(ctx, db, r.LeadID, r.Status, r.Why, r.Next); err != nil {
			return err
		}
		return s.AddEvent(ctx, db, r.LeadID, r.Actor, "call.ended", event)
	}
	route := res.Route
	if _, err := db.Exec(ctx, `UPDATE leads SET status = $2, status_reason = $3, next_attempt_at = $4, outcome = $5, class = $6,
		route = $7, scores = $8, total = $9, script_id = $10, script_version = $11,
		qualified_at = CASE WHEN $5 = 'completed' THEN $14 ELSE qualified_at END,
		recall_at = CASE WHEN $12::interval > '0' THEN $14 + $12::interval END,
		sales_stage = CASE WHEN $7 = 'sales' THEN 'open' ELSE sales_stage END,
		sla_due_at = CASE WHEN $7 = 'sales' THEN $14 + $13::interval ELSE sla_due_at END,
		sla_status = CASE WHEN $7 = 'sales' THEN 'pending' ELSE sla_status END,
		updated_at = $14 WHERE id = $1`,
		r.LeadID, r.Status, nullString(r.Why), r.Next, string(res.Outcome), res.Class, route, scores, res.Total,
		res.ScriptID, res.ScriptVersion, res.RecallAfter.Std(), r.SLA, now); err != nil {
		return fmt.Errorf("save result of lead %d: %w", r.LeadID, err)
	}
	if err := s.AddEvent(ctx, db, r.LeadID, r.Actor, "call.ended", event); err != nil {
		return err
	}
	switch {
	case route == ivr.RouteSales:
		return s.AddEvent(ctx, db, r.LeadID, r.Actor, "lead.qualified", map[string]any{"class": res.Class, "sla_hours": r.SLA.Hours()})
	case res.Outcome == ivr.OutcomeOptedOut:
		return s.AddEvent(ctx, db, r.LeadID, r.Actor, "lead.opted_out", nil)
	}
	return nil
}

// OpenAttempts lists every unfinished attempt, oldest first.
func OpenAttempts(ctx context.Context, db DB) ([]Attempt, error) {
	rows, err := db.Query(ctx, `SELECT id, lead_id, attempt_no, state, coalesce(worker, ''), started_at FROM call_attempts
		WHERE state <> 'finished' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		err := row.Scan(&a.ID, &a.LeadID, &a.No, &a.State, &a.Worker, &a.StartedAt)
		return a, err
	})
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
		if err := s.AddEvent(ctx, db, id, "system", "lead.sla_breached", nil); err != nil {
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

// TakePaceSlot reserves the campaign's next dialing slot — slots are
// 1/callsPerSecond apart, for every process — and returns how long to wait
// for it. Rolling back the transaction gives the slot back.
func (s *Store) TakePaceSlot(ctx context.Context, db DB, campaignID int64, callsPerSecond float64) (time.Duration, error) {
	now := s.now()
	var slot time.Time
	err := db.QueryRow(ctx, `UPDATE campaigns SET pace_next_at = greatest(pace_next_at, $3) + make_interval(secs => 1.0 / $2)
		WHERE id = $1 RETURNING pace_next_at - make_interval(secs => 1.0 / $2)`,
		campaignID, callsPerSecond, now).Scan(&slot)
	if err != nil {
		return 0, fmt.Errorf("pace campaign %d: %w", campaignID, err)
	}
	return max(slot.Sub(now), 0), nil
}

// AttemptView is an attempt as the lead history shows it.
type AttemptView struct {
	No          int          `json:"attempt"`
	Driver      string       `json:"driver"`
	State       string       `json:"state"`
	Disposition string       `json:"disposition,omitempty"`
	SIPCode     *int         `json:"sip_code,omitempty"`
	Reason      string       `json:"reason,omitempty"`
	Ambiguous   bool         `json:"ambiguous"`
	Outcome     string       `json:"outcome,omitempty"`
	Class       string       `json:"class,omitempty"`
	StartedAt   time.Time    `json:"started_at"`
	AnsweredAt  *time.Time   `json:"answered_at,omitempty"`
	EndedAt     *time.Time   `json:"ended_at,omitempty"`
	Answers     []AnswerView `json:"answers"`
}

// AnswerView is one answer given on a call.
type AnswerView struct {
	Question string         `json:"question"`
	Keys     string         `json:"keys"`
	Value    *int64         `json:"value,omitempty"`
	Points   map[string]int `json:"points"`
}

// EventView is one audit-trail entry.
type EventView struct {
	At    time.Time      `json:"at"`
	Actor string         `json:"actor"`
	Kind  string         `json:"kind"`
	Data  map[string]any `json:"data"`
}

// LeadHistory returns a lead's attempts with their answers, and its events.
func (s *Store) LeadHistory(ctx context.Context, leadID int64) ([]AttemptView, []EventView, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.id, a.attempt_no, a.driver, a.state, coalesce(a.disposition, ''), a.sip_code, coalesce(a.reason, ''),
		a.ambiguous, coalesce(a.outcome, ''), coalesce(a.class, ''), a.started_at, a.answered_at, a.ended_at
		FROM call_attempts a WHERE a.lead_id = $1 ORDER BY a.attempt_no`, leadID)
	if err != nil {
		return nil, nil, err
	}
	var attempts []AttemptView
	var ids []int64
	for rows.Next() {
		var a AttemptView
		var id int64
		if err := rows.Scan(&id, &a.No, &a.Driver, &a.State, &a.Disposition, &a.SIPCode, &a.Reason, &a.Ambiguous, &a.Outcome, &a.Class,
			&a.StartedAt, &a.AnsweredAt, &a.EndedAt); err != nil {
			rows.Close()
			return nil, nil, err
		}
		a.Answers = []AnswerView{}
		attempts = append(attempts, a)
		ids = append(ids, id)
	}
	rows.Close()
	for i, id := range ids {
		ar, err := s.pool.Query(ctx, `SELECT question, keys, value, points FROM answers WHERE attempt_id = $1 ORDER BY seq`, id)
		if err != nil {
			return nil, nil, err
		}
		for ar.Next() {
			var v AnswerView
			var points []byte
			if err := ar.Scan(&v.Question, &v.Keys, &v.Value, &points); err != nil {
				ar.Close()
				return nil, nil, err
			}
			_ = json.Unmarshal(points, &v.Points)
			attempts[i].Answers = append(attempts[i].Answers, v)
		}
		ar.Close()
	}
	er, err := s.pool.Query(ctx, `SELECT at, actor, kind, data FROM lead_events WHERE lead_id = $1 ORDER BY at, id`, leadID)
	if err != nil {
		return nil, nil, err
	}
	events, err := pgx.CollectRows(er, func(row pgx.CollectableRow) (EventView, error) {
		var e EventView
		var data []byte
		err := row.Scan(&e.At, &e.Actor, &e.Kind, &data)
		_ = json.Unmarshal(data, &e.Data)
		return e, err
	})
	return attempts, events, err
}

// CampaignByName finds a campaign by its name.
func (s *Store) CampaignByName(ctx context.Context, name string) (*Campaign, error) {
	return scanCampaign(s.pool.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE name = $1`, name))
}

// RemoveDNC takes a number off the do-not-call list; false if it was not on it.
func (s *Store) RemoveDNC(ctx context.Context, db DB, phone string) (bool, error) {
	tag, err := db.Exec(ctx, `DELETE FROM dnc WHERE phone = $1`, phone)
	return tag.RowsAffected() > 0, err
}

// TakeDriverSlot reserves the next dialing slot of a driver's account —
// slots 1/callsPerSecond apart across all campaigns and processes — and
// returns how long to wait for it. Rolling back gives it back.
func (s *Store) TakeDriverSlot(ctx context.Context, db DB, driver string, callsPerSecond float64) (time.Duration, error) {
	now := s.now()
	var slot time.Time
	err := db.QueryRow(ctx, `INSERT INTO driver_pacing AS p (driver, next_at) VALUES ($1, $3::timestamptz + make_interval(secs => 1.0 / $2))
		ON CONFLICT (driver) DO UPDATE SET next_at = greatest(p.next_at, $3) + make_interval(secs => 1.0 / $2)
		RETURNING next_at - make_interval(secs => 1.0 / $2)`, driver, callsPerSecond, now).Scan(&slot)
	if err != nil {
		return 0, fmt.Errorf("pace driver %s: %w", driver, err)
	}
	return max(slot.Sub(now), 0), nil
}
