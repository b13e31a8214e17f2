package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
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
	// Actor is who adds the lead, for its lead.created event (api_key:12);
	// default system.
	Actor string
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
	ID         int64
	CampaignID int64
	Phone      string
	FirstName  string
	LastName   string
	Email      string
	Company    string
	TimeZone   string
	Region     string
	PostalCode string
	Country    string // the campaign's default country
	Source     string
	Attributes map[string]string
	// HasConsent: the lead's consent says where it came from and when, and
	// neither says no (the one definition, in the schema: leads.has_consent).
	HasConsent    bool
	Status        LeadStatus
	StatusReason  string
	NextAttemptAt *time.Time
	AttemptCount  int
	// RoundAttempts counts the attempts of the current round (since the
	// lead was added, recalled or recycled): what max_attempts limits.
	RoundAttempts int
	RecallAt      *time.Time
	AssignedTo    int64 // the sales rep who claimed it, 0 for none
	Outcome       string
	Class         string
	Route         string
	Total         *int
	SalesStage    SalesStage
	SLADueAt      *time.Time
	CreatedAt     time.Time
	// DialJob is the dial job a dialing lead was handed to (0: none).
	DialJob int64
	// Priority 0 is a fresh lead (a web form, the API): dialled before list
	// and retry work (1).
	Priority int
	// Score is the lead score as of ScoreAt (nil: never scored): its last
	// call's total, or its profile points before a call, plus its
	// behaviour points then.
	Score   *int
	ScoreAt *time.Time
	// ConvertedAt is the lead's last conversion (a form submitted again),
	// Conversions how many there were.
	ConvertedAt *time.Time
	Conversions int
	// LastAttemptAt is when its last call started.
	LastAttemptAt *time.Time
	// ExternalID is the CRM's or form's id of the lead.
	ExternalID string
}

// scriptFields are the lead's own fields a script reads (placeholders,
// profile rules), by name: the one list ScriptFields and Fields come from.
var scriptFields = []struct {
	name  string
	value func(*Lead) string
}{
	{"first_name", func(l *Lead) string { return l.FirstName }},
	{"last_name", func(l *Lead) string { return l.LastName }},
	{"company", func(l *Lead) string { return l.Company }},
	{"email", func(l *Lead) string { return l.Email }},
	{"region", func(l *Lead) string { return l.Region }},
	{"postal_code", func(l *Lead) string { return l.PostalCode }},
	{"time_zone", func(l *Lead) string { return l.TimeZone }},
	{"country", func(l *Lead) string { return l.Country }},
	{"source", func(l *Lead) string { return l.Source }},
}

// ScriptFields names the lead's own fields a script reads (placeholders,
// profile rules); its attributes — every other column or form field, by
// its normalised name — come with them.
var ScriptFields = func() []string {
	out := make([]string, len(scriptFields))
	for i, f := range scriptFields {
		out[i] = f.name
	}
	return out
}()

// Fields returns the lead's fields for script placeholders and profile
// rules: ScriptFields, then the attributes (which never override them).
func (l *Lead) Fields() map[string]string {
	f := make(map[string]string, len(scriptFields)+len(l.Attributes))
	for _, sf := range scriptFields {
		f[sf.name] = sf.value(l)
	}
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
	// A lead that was just asked for (a web form, the API, a rep) is dialled
	// before list and retry work.
	priority := 0
	if source == "import" || source == "recall" {
		priority = 1
	}
	err = db.QueryRow(ctx, `INSERT INTO leads (campaign_id, phone, first_name, last_name, email, company, time_zone, region,
		postal_code, source, external_id, attributes, consent_source, consent_text, consent_version, consent_at, consent_ip, consent_page,
		created_at, updated_at, priority)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $20)
		ON CONFLICT DO NOTHING RETURNING id`,
		p.CampaignID, p.Phone, nullString(p.FirstName), nullString(p.LastName), nullString(p.Email), nullString(p.Company),
		nullString(p.TimeZone), nullString(p.Region), nullString(p.PostalCode), source, nullString(p.ExternalID), attrs,
		nullString(p.Consent.Source), nullString(p.Consent.Text), nullString(p.Consent.Version), consentAt, consentIP,
		nullString(p.Consent.Page), s.now(), priority).Scan(&id)
	if err == nil {
		actor := p.Actor
		if actor == "" {
			actor = "system"
		}
		return id, true, s.AddEvent(ctx, db, id, actor, EventLeadCreated, map[string]any{"source": source})
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
	coalesce(l.company, ''), coalesce(l.time_zone, ''), coalesce(l.region, ''), coalesce(l.postal_code, ''), c.default_country, l.source,
	l.attributes, l.has_consent, l.status, coalesce(l.status_reason, ''), l.next_attempt_at,
	l.attempt_count, l.attempt_count - l.round_base, l.recall_at, coalesce(l.assigned_to, 0), coalesce(l.outcome, ''), coalesce(l.class, ''),
	coalesce(l.route, ''), l.total, coalesce(l.sales_stage, ''), l.sla_due_at, l.created_at, coalesce(l.dial_job, 0), l.priority,
	l.score, l.score_at, l.converted_at, l.conversions, l.last_attempt_at, coalesce(l.external_id, '')`

// scanLead reads a row of leadColumns, then into extra any columns after
// them.
func scanLead(row pgx.Row, extra ...any) (*Lead, error) {
	var l Lead
	var attrs []byte
	err := row.Scan(append([]any{&l.ID, &l.CampaignID, &l.Phone, &l.FirstName, &l.LastName, &l.Email, &l.Company, &l.TimeZone, &l.Region,
		&l.PostalCode, &l.Country, &l.Source, &attrs, &l.HasConsent, &l.Status, &l.StatusReason, &l.NextAttemptAt, &l.AttemptCount,
		&l.RoundAttempts, &l.RecallAt, &l.AssignedTo, &l.Outcome, &l.Class, &l.Route, &l.Total, &l.SalesStage, &l.SLADueAt, &l.CreatedAt, &l.DialJob, &l.Priority,
		&l.Score, &l.ScoreAt, &l.ConvertedAt, &l.Conversions, &l.LastAttemptAt, &l.ExternalID}, extra...)...)
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
// will be. A change of status or reason is a lead.status event by actor; the
// same status set again (a paused campaign's lead checked once more) is not.
// A lead put in the schedule (queued, scheduled, retry_wait) without a time
// is due now. A lead that leaves dialing frees its call slot, and a lead due
// now wakes its campaign's dispatcher.
func (s *Store) SetLeadStatus(ctx context.Context, db DB, id int64, actor string, status LeadStatus, reason string, next *time.Time) error {
	var from LeadStatus
	var fromReason string
	var campaignID int64
	now := s.now()
	waiting := status.Waiting()
	if waiting && next == nil {
		next = &now
	}
	err := db.QueryRow(ctx, `WITH old AS (SELECT status, coalesce(status_reason, '') AS reason FROM leads WHERE id = $1 FOR UPDATE)
		UPDATE leads l SET status = $2, status_reason = $3, next_attempt_at = $4, updated_at = $5,
			dial_job = CASE WHEN $2 = 'dialing' THEN l.dial_job END
		FROM old WHERE l.id = $1
		RETURNING old.status, old.reason, l.campaign_id`, id, status, nullString(reason), next, now).Scan(&from, &fromReason, &campaignID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("lead %d status %s: %w", id, status, err)
	}
	if (from == LeadDialing && status != LeadDialing) || (waiting && !next.After(now)) {
		if err := Wake(ctx, db, campaignID); err != nil {
			return err
		}
	}
	if from == status && fromReason == reason {
		return nil
	}
	data := map[string]any{"from": from, "to": status}
	if reason != "" {
		data["reason"] = reason
	}
	if next != nil {
		data["next_attempt_at"] = next.UTC()
	}
	return s.AddEvent(ctx, db, id, actor, EventLeadStatus, data)
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
	EndedBy     string       `json:"ended_by,omitempty"`
	DTMFMethod  string       `json:"dtmf_method,omitempty"`
	DialedAt    *time.Time   `json:"dialed_at,omitempty"`
	StartedAt   time.Time    `json:"started_at"`
	AnsweredAt  *time.Time   `json:"answered_at,omitempty"`
	EndedAt     *time.Time   `json:"ended_at,omitempty"`
	Answers     []AnswerView `json:"answers"`
	// The script played (id vN), the number presented and its
	// STIR/SHAKEN attestation, the compliance timings (ms; nil: not
	// measured) and machine detection's verdict.
	Script             string `json:"script,omitempty"`
	CallerID           string `json:"caller_id,omitempty"`
	Attestation        string `json:"attestation,omitempty"`
	AnswerToIdentifyMS *int   `json:"answer_to_identify_ms,omitempty"`
	IdentifyToOptOutMS *int   `json:"identify_to_opt_out_ms,omitempty"`
	ComplianceLate     bool   `json:"compliance_late,omitempty"`
	AMDVerdict         string `json:"amd_verdict,omitempty"`
	AMDCause           string `json:"amd_cause,omitempty"`
	AMDMS              *int   `json:"amd_ms,omitempty"`
	// Transfer is the call's live transfer (nil: none).
	Transfer *TransferView `json:"transfer,omitempty"`
}

// TransferView is how an attempt's live transfer went.
type TransferView struct {
	To      string `json:"to"`
	Status  string `json:"status"`
	WaitMS  *int   `json:"wait_ms,omitempty"`
	TalkMS  *int   `json:"talk_ms,omitempty"`
	EndedBy string `json:"ended_by,omitempty"`
}

// AnswerView is one answer given on a call.
type AnswerView struct {
	Question string         `json:"question"`
	Keys     string         `json:"keys"`
	Value    *int64         `json:"value,omitempty"`
	Points   map[string]int `json:"points"`
	// FromForm: not asked on the call; taken from the lead's field.
	FromForm bool `json:"from_form,omitempty"`
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
		a.ambiguous, coalesce(a.outcome, ''), coalesce(a.class, ''), coalesce(a.ended_by, ''), coalesce(a.dtmf_method, ''), a.dialed_at,
		a.started_at, a.answered_at, a.ended_at, a.script_id || ' v' || a.script_version, coalesce(a.caller_id, ''),
		coalesce(a.attestation, ''), a.answer_to_identify_ms, a.identify_to_opt_out_ms,
		a.compliance_late, coalesce(a.amd_verdict, ''), coalesce(a.amd_cause, ''), a.amd_ms,
		coalesce(a.transfer_to, ''), coalesce(a.transfer_status, ''), a.transfer_wait_ms, a.transfer_talk_ms, coalesce(a.transfer_ended_by, '')
		FROM call_attempts a WHERE a.lead_id = $1 ORDER BY a.attempt_no`, leadID)
	if err != nil {
		return nil, nil, err
	}
	var attempts []AttemptView
	var ids []int64
	for rows.Next() {
		var a AttemptView
		var id int64
		var t TransferView
		if err := rows.Scan(&id, &a.No, &a.Driver, &a.State, &a.Disposition, &a.SIPCode, &a.Reason, &a.Ambiguous, &a.Outcome, &a.Class,
			&a.EndedBy, &a.DTMFMethod, &a.DialedAt, &a.StartedAt, &a.AnsweredAt, &a.EndedAt, &a.Script, &a.CallerID, &a.Attestation, &a.AnswerToIdentifyMS,
			&a.IdentifyToOptOutMS, &a.ComplianceLate, &a.AMDVerdict, &a.AMDCause, &a.AMDMS,
			&t.To, &t.Status, &t.WaitMS, &t.TalkMS, &t.EndedBy); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if t.Status != "" {
			a.Transfer = &t
		}
		a.Answers = []AnswerView{}
		attempts = append(attempts, a)
		ids = append(ids, id)
	}
	rows.Close()
	for i, id := range ids {
		ar, err := s.pool.Query(ctx, `SELECT question, keys, value, points, from_form FROM answers WHERE attempt_id = $1 ORDER BY seq`, id)
		if err != nil {
			return nil, nil, err
		}
		for ar.Next() {
			var v AnswerView
			var points []byte
			if err := ar.Scan(&v.Question, &v.Keys, &v.Value, &points, &v.FromForm); err != nil {
				ar.Close()
				return nil, nil, err
			}
			_ = json.Unmarshal(points, &v.Points)
			attempts[i].Answers = append(attempts[i].Answers, v)
		}
		ar.Close()
	}
	// An imported lead has no lead.created event of its own (an import
	// writes none per row): its creation is read from its import.
	er, err := s.pool.Query(ctx, `SELECT at, actor, kind, data FROM (
			SELECT e.at, e.actor, e.kind, e.data, e.id FROM lead_events e WHERE e.lead_id = $1
			UNION ALL
			SELECT i.started_at, 'import:' || i.id, 'lead.created', jsonb_build_object('source', 'import', 'import_id', i.id), 0
			FROM leads l JOIN imports i ON i.id = l.import_id
			WHERE l.id = $1 AND NOT EXISTS (SELECT 1 FROM lead_events e WHERE e.lead_id = $1 AND e.kind = 'lead.created')) h
		ORDER BY at, id`, leadID)
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

// FictionalAreaCodes lists the US area codes of the leads whose numbers
// are in the range reserved for fiction (NPA-555-0100 to 0199).
func (s *Store) FictionalAreaCodes(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT substr(phone, 3, 3) FROM leads WHERE phone LIKE '+1___55501__'`)
	if err != nil {
		return nil, fmt.Errorf("area codes of fictional numbers: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
