package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/scoring"
)

// Activity is a behaviour event of a lead, as recorded: its points come
// from the campaign's table when it is recorded, and stay with it, so the
// behaviour score is derivable from the lead's events alone.
type Activity struct {
	Type string
	// At is when the lead did it (default: when recorded).
	At time.Time
	// Ref is the sender's id of the activity: an activity with a ref is
	// recorded once per lead, however often it is sent.
	Ref string
	// Detail says what (a page, a download's title), at most 200
	// characters.
	Detail string
	Rule   scoring.Rule
}

// AddActivity records an activity of a lead as a lead.activity event, in
// db. It returns false, recording nothing, when an activity with the same
// ref was recorded for the lead before.
func (s *Store) AddActivity(ctx context.Context, db DB, leadID int64, actor string, a Activity) (bool, error) {
	at := a.At
	if at.IsZero() {
		at = s.now()
	}
	data := map[string]any{"type": a.Type, "points": a.Rule.Points, "at": at.UTC()}
	if a.Rule.HalfLifeDays > 0 {
		data["half_life_days"] = a.Rule.HalfLifeDays
	}
	if a.Ref != "" {
		data["ref"] = a.Ref
	}
	if a.Detail != "" {
		data["detail"] = a.Detail
	}
	b, err := json.Marshal(data)
	if err != nil {
		return false, err
	}
	var n int
	err = db.QueryRow(ctx, `WITH e AS (INSERT INTO lead_events (lead_id, actor, kind, data, at) VALUES ($1, $2, 'lead.activity', $3, $4)
			ON CONFLICT (lead_id, (data->>'ref')) WHERE kind = 'lead.activity' AND data ? 'ref' DO NOTHING RETURNING id, kind),
		w AS (INSERT INTO webhook_deliveries (subscription_id, event_id, created_at)
			SELECT sub.id, e.id, $4 FROM e JOIN webhook_subscriptions sub ON sub.active AND e.kind = ANY(sub.events))
		SELECT count(*) FROM e`, leadID, actor, b, s.now()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("lead %d activity %s: %w", leadID, a.Type, err)
	}
	return n == 1, nil
}

// LeadActivities loads a lead's activities, oldest first, for its
// behaviour score.
func LeadActivities(ctx context.Context, db DB, leadID int64) ([]scoring.Activity, error) {
	rows, err := db.Query(ctx, `SELECT data->>'type', (data->>'points')::int, (data->>'at')::timestamptz,
		coalesce((data->>'half_life_days')::int, 0)
		FROM lead_events WHERE lead_id = $1 AND kind = 'lead.activity' ORDER BY id`, leadID)
	if err != nil {
		return nil, fmt.Errorf("lead %d activities: %w", leadID, err)
	}
	acts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scoring.Activity, error) {
		var a scoring.Activity
		var days int
		err := row.Scan(&a.Type, &a.Points, &a.At, &days)
		a.HalfLife = scoring.Rule{HalfLifeDays: days}.HalfLife()
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("lead %d activities: %w", leadID, err)
	}
	return acts, nil
}

// LeadRef names a lead the way a sender of activities knows it: exactly
// one of ID, Phone (E.164), Email or ExternalID; CampaignID 0 looks in
// every campaign.
type LeadRef struct {
	CampaignID int64
	ID         int64
	Phone      string
	Email      string
	ExternalID string
}

// String describes the reference for messages (the phone masked by the
// caller when logged).
func (r LeadRef) String() string {
	switch {
	case r.ID != 0:
		return fmt.Sprintf("lead %d", r.ID)
	case r.Phone != "":
		return "phone " + r.Phone
	case r.Email != "":
		return "email " + r.Email
	}
	return "external_id " + r.ExternalID
}

// FindLeadIDs returns the ids of the leads a reference names (at most
// 100), outside finished campaigns; none is not an error.
func FindLeadIDs(ctx context.Context, db DB, r LeadRef) ([]int64, error) {
	var where string
	var v any
	switch {
	case r.ID != 0:
		where, v = "l.id = $1", r.ID
	case r.Phone != "":
		where, v = "l.phone = $1", r.Phone
	case r.Email != "":
		where, v = "lower(l.email) = lower($1)", r.Email
	default:
		where, v = "l.external_id = $1", r.ExternalID
	}
	rows, err := db.Query(ctx, `SELECT l.id FROM leads l JOIN campaigns c ON c.id = l.campaign_id
		WHERE `+where+` AND ($2::bigint = 0 OR l.campaign_id = $2) AND c.status <> 'finished' ORDER BY l.id LIMIT 100`, v, r.CampaignID)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", r, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", r, err)
	}
	return ids, nil
}

// LockLeads loads leads and locks them for update in tx, in id order (so
// two transactions locking overlapping sets never deadlock).
func LockLeads(ctx context.Context, tx pgx.Tx, ids []int64) ([]*Lead, error) {
	rows, err := tx.Query(ctx, `SELECT `+leadColumns+` FROM leads l JOIN campaigns c ON c.id = l.campaign_id
		WHERE l.id = ANY($1) ORDER BY l.id FOR UPDATE OF l`, ids)
	if err != nil {
		return nil, fmt.Errorf("lock leads: %w", err)
	}
	leads, err := collectLeads(rows)
	if err != nil {
		return nil, fmt.Errorf("lock leads: %w", err)
	}
	return leads, nil
}

// LockLead loads a lead and locks it for update in tx: what scores it
// next sees the lead as it stays until tx ends.
func LockLead(ctx context.Context, tx pgx.Tx, id int64) (*Lead, error) {
	return scanLead(tx.QueryRow(ctx, `SELECT `+leadColumns+` FROM leads l JOIN campaigns c ON c.id = l.campaign_id
		WHERE l.id = $1 FOR UPDATE OF l`, id))
}

// Conversion is a known lead submitting a form again: its new values
// (empty ones leave the lead's as they are).
type Conversion struct {
	FirstName, LastName, Email, Company, TimeZone, Region, PostalCode string
	Attributes                                                        map[string]string
	// Source is where the conversion came from (web_form, api).
	Source string
}

// Convert records a conversion of a lead, in db: its fields take the new
// values, the conversion is counted and timed, and a lead.converted event
// says which fields changed. It returns the names of the changed fields.
func (s *Store) Convert(ctx context.Context, db DB, l *Lead, c Conversion, actor string) ([]string, error) {
	var changed []string
	set := func(name, old, v string) any {
		if v == "" || v == old {
			return nil
		}
		changed = append(changed, name)
		return v
	}
	cols := []any{
		set("first_name", l.FirstName, c.FirstName), set("last_name", l.LastName, c.LastName), set("email", l.Email, c.Email),
		set("company", l.Company, c.Company), set("time_zone", l.TimeZone, c.TimeZone), set("region", l.Region, c.Region),
		set("postal_code", l.PostalCode, c.PostalCode),
	}
	attrs := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(c.Attributes)) {
		if v := c.Attributes[k]; v != "" && l.Attributes[k] != v {
			attrs[k] = v
			changed = append(changed, k)
		}
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if _, err := db.Exec(ctx, `UPDATE leads SET first_name = coalesce($2, first_name), last_name = coalesce($3, last_name),
		email = coalesce($4, email), company = coalesce($5, company), time_zone = coalesce($6, time_zone), region = coalesce($7, region),
		postal_code = coalesce($8, postal_code), attributes = attributes || $9::jsonb,
		converted_at = $10, conversions = conversions + 1, updated_at = $10 WHERE id = $1`,
		append(append([]any{l.ID}, cols...), b, now)...); err != nil {
		return nil, fmt.Errorf("lead %d conversion: %w", l.ID, err)
	}
	source := c.Source
	if source == "" {
		source = "api"
	}
	data := map[string]any{"source": source, "conversion": l.Conversions + 1}
	if len(changed) > 0 {
		data["changed"] = changed
	}
	return changed, s.AddEvent(ctx, db, l.ID, actor, EventLeadConverted, data)
}

// ScoreAction is a threshold's decision applied to a lead.
type ScoreAction struct {
	LeadID int64
	Score  int
	scoring.Decision
	// SLA is the campaign's follow-up time (route to sales, SLA restart).
	SLA time.Duration
	// NewRound starts the lead's attempts afresh (a called lead called
	// again).
	NewRound bool
}

// ApplyScore records a lead's new score and carries out a threshold's
// decision on it, in db, with a lead.scored event: the lead is put in the schedule (a new round of calls
// for a lead called before), taken out of it, routed to sales with its
// SLA clock started, or given a new follow-up deadline.
func (s *Store) ApplyScore(ctx context.Context, db DB, actor string, a ScoreAction) error {
	now := s.now()
	if _, err := db.Exec(ctx, `UPDATE leads SET score = $2, score_at = $3 WHERE id = $1`, a.LeadID, a.Score, now); err != nil {
		return fmt.Errorf("lead %d score: %w", a.LeadID, err)
	}
	switch a.Action {
	case scoring.None:
		return nil
	case scoring.ScheduleCall:
		status := LeadQueued
		if a.At.After(now) {
			status = LeadScheduled
		}
		at := a.At
		if err := s.SetLeadStatus(ctx, db, a.LeadID, actor, status, a.Why, &at); err != nil {
			return err
		}
		if a.NewRound {
			if _, err := db.Exec(ctx, `UPDATE leads SET round_base = attempt_count, recall_at = NULL WHERE id = $1`, a.LeadID); err != nil {
				return fmt.Errorf("lead %d new round: %w", a.LeadID, err)
			}
		}
	case scoring.HoldCall:
		if err := s.SetLeadStatus(ctx, db, a.LeadID, actor, LeadNew, a.Why, nil); err != nil {
			return err
		}
	case scoring.RouteToSales:
		var waiting bool
		if err := db.QueryRow(ctx, `SELECT status = ANY($2) FROM leads WHERE id = $1`, a.LeadID,
			[]LeadStatus{LeadQueued, LeadScheduled, LeadRetryWait}).Scan(&waiting); err != nil {
			return fmt.Errorf("lead %d route to sales: %w", a.LeadID, err)
		}
		if waiting { // sales calls it: the qualification call is called off
			if err := s.SetLeadStatus(ctx, db, a.LeadID, actor, LeadNew, a.Why+": not called, sales follows up", nil); err != nil {
				return err
			}
		}
		if _, err := db.Exec(ctx, `UPDATE leads SET outcome = 'scored', class = 'sql', route = 'sales', qualified_at = $2::timestamptz,
			sales_stage = 'open', assigned_to = NULL, sla_due_at = $2::timestamptz + $3::interval, sla_status = 'pending', recall_at = NULL, updated_at = $2
			WHERE id = $1`, a.LeadID, now, a.SLA); err != nil {
			return fmt.Errorf("lead %d route to sales: %w", a.LeadID, err)
		}
		s.floors.reset()
		if err := s.AddEvent(ctx, db, a.LeadID, actor, EventLeadQualified,
			map[string]any{"class": "sql", "sla_hours": a.SLA.Hours(), "by": "score", "score": a.Score}); err != nil {
			return err
		}
	case scoring.RestartSLA:
		tag, err := db.Exec(ctx, `UPDATE leads SET sla_due_at = coalesce(converted_at, $2::timestamptz) + $3::interval, sla_status = 'pending', updated_at = $2
			WHERE id = $1 AND sales_stage IN ('open', 'accepted')`, a.LeadID, now, a.SLA)
		if err != nil {
			return fmt.Errorf("lead %d SLA restart: %w", a.LeadID, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // contacted already: the rep sees the conversion on the lead
		}
		s.floors.reset()
	default:
		return fmt.Errorf("lead %d: unknown score action %q", a.LeadID, a.Action)
	}
	return s.AddEvent(ctx, db, a.LeadID, actor, EventLeadScored,
		map[string]any{"action": a.Action, "score": a.Score, "why": a.Why})
}

// RequeueHeld puts back in the schedule, in db, the leads of a campaign
// held below its call threshold (status new, not with sales), due now,
// after its scoring changed: the dispatcher's pre-dial checks score them
// again and hold those still below.
func (s *Store) RequeueHeld(ctx context.Context, db DB, campaignID int64, actor string) error {
	now := s.now()
	tag, err := db.Exec(ctx, `WITH held AS (SELECT id FROM leads WHERE campaign_id = $1 AND status = 'new' AND route IS DISTINCT FROM 'sales'
			ORDER BY id FOR UPDATE),
		r AS (UPDATE leads l SET status = 'queued', status_reason = 'scoring changed: scored again', next_attempt_at = $2, updated_at = $2
			FROM held WHERE l.id = held.id RETURNING l.id)
		INSERT INTO lead_events (lead_id, actor, kind, data, at)
		SELECT r.id, $3, 'lead.status', '{"from": "new", "to": "queued", "reason": "scoring changed: scored again"}', $2 FROM r`,
		campaignID, now, actor)
	if err != nil {
		return fmt.Errorf("re-score held leads of campaign %d: %w", campaignID, err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	return Wake(ctx, db, campaignID)
}
