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
	ok, err := s.AddActivities(ctx, db, actor, []LeadActivity{{LeadID: leadID, Activity: a}})
	if err != nil {
		return false, err
	}
	return ok[0], nil
}

// activityData is an activity's event data: all its score needs.
func activityData(a Activity, at time.Time) map[string]any {
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
	return data
}

// LeadActivity is an activity to record for one lead.
type LeadActivity struct {
	LeadID int64
	Activity
}

// AddActivities records activities as lead.activity events, in db, in one
// statement. It returns, for each, whether it was recorded: an activity
// whose ref the lead already has (recorded before, or earlier in acts) is
// not.
func (s *Store) AddActivities(ctx context.Context, db DB, actor string, acts []LeadActivity) ([]bool, error) {
	now := s.now()
	ids := make([]int64, 0, len(acts))
	datas := make([]string, 0, len(acts))
	ats := make([]time.Time, 0, len(acts))
	type key struct {
		lead int64
		ref  string
	}
	first := map[key]int{}
	keep := make([]bool, len(acts))
	for i, a := range acts {
		if a.Ref != "" {
			k := key{a.LeadID, a.Ref}
			if _, dup := first[k]; dup {
				continue
			}
			first[k] = i
		}
		keep[i] = true
		at := a.At
		if at.IsZero() {
			at = now
		}
		b, err := json.Marshal(activityData(a.Activity, at))
		if err != nil {
			return nil, err
		}
		ids, datas, ats = append(ids, a.LeadID), append(datas, string(b)), append(ats, at)
	}
	rows, err := db.Query(ctx, `WITH e AS (INSERT INTO lead_events (lead_id, actor, kind, data, at)
			SELECT v.lead_id, $2, 'lead.activity', v.data::jsonb, $3 FROM unnest($1::bigint[], $4::text[]) AS v(lead_id, data)
			ON CONFLICT (lead_id, (data->>'ref')) WHERE kind = 'lead.activity' AND data ? 'ref' DO NOTHING RETURNING id, kind, lead_id, data->>'ref' AS ref),
		w AS (INSERT INTO webhook_deliveries (subscription_id, event_id, created_at)
			SELECT sub.id, e.id, $3 FROM e JOIN webhook_subscriptions sub ON sub.active AND e.kind = ANY(sub.events))
		SELECT lead_id, coalesce(ref, '') FROM e WHERE ref IS NOT NULL`, ids, actor, now, datas)
	if err != nil {
		return nil, fmt.Errorf("record activities: %w", err)
	}
	recorded := map[key]bool{}
	var k key
	if _, err := pgx.ForEachRow(rows, []any{&k.lead, &k.ref}, func() error { recorded[k] = true; return nil }); err != nil {
		return nil, fmt.Errorf("record activities: %w", err)
	}
	for i, a := range acts {
		if keep[i] && a.Ref != "" {
			keep[i] = recorded[key{a.LeadID, a.Ref}]
		}
	}
	return keep, nil
}

// ActivitiesOf loads the activities of leads, oldest first, for their
// behaviour scores, in one statement.
func ActivitiesOf(ctx context.Context, db DB, leadIDs []int64) (map[int64][]scoring.Activity, error) {
	rows, err := db.Query(ctx, `SELECT lead_id, data->>'type', (data->>'points')::int, (data->>'at')::timestamptz,
		coalesce((data->>'half_life_days')::int, 0)
		FROM lead_events WHERE lead_id = ANY($1) AND kind = 'lead.activity' ORDER BY lead_id, id`, leadIDs)
	if err != nil {
		return nil, fmt.Errorf("activities: %w", err)
	}
	out := map[int64][]scoring.Activity{}
	var id int64
	var a scoring.Activity
	var days int
	_, err = pgx.ForEachRow(rows, []any{&id, &a.Type, &a.Points, &a.At, &days}, func() error {
		a.HalfLife = scoring.Rule{HalfLifeDays: days}.HalfLife()
		out[id] = append(out[id], a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("activities: %w", err)
	}
	return out, nil
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

// FindLeadIDs returns, for each reference, the ids of the leads it names
// (at most 100 each), outside finished campaigns; none is not an error. One
// statement per kind of reference, whatever their number.
func FindLeadIDs(ctx context.Context, db DB, refs []LeadRef) ([][]int64, error) {
	out := make([][]int64, len(refs))
	for _, kind := range []struct {
		where string
		key   func(LeadRef) any
	}{
		{"l.id = v.key::bigint", func(r LeadRef) any { return r.ID }},
		{"l.phone = v.key", func(r LeadRef) any { return r.Phone }},
		{"lower(l.email) = lower(v.key)", func(r LeadRef) any { return r.Email }},
		{"l.external_id = v.key", func(r LeadRef) any { return r.ExternalID }},
	} {
		var idx []int
		var keys []string
		var camps []int64
		for i, r := range refs {
			switch k := kind.key(r).(type) {
			case int64:
				if k != 0 {
					idx, keys, camps = append(idx, i), append(keys, fmt.Sprint(k)), append(camps, r.CampaignID)
				}
			case string:
				if k != "" {
					idx, keys, camps = append(idx, i), append(keys, k), append(camps, r.CampaignID)
				}
			}
		}
		if len(idx) == 0 {
			continue
		}
		rows, err := db.Query(ctx, `SELECT v.ord, l.id FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS v(key, campaign, ord)
			JOIN leads l ON `+kind.where+` AND (v.campaign = 0 OR l.campaign_id = v.campaign)
			JOIN campaigns c ON c.id = l.campaign_id AND c.status <> 'finished' ORDER BY v.ord, l.id`, keys, camps)
		if err != nil {
			return nil, fmt.Errorf("find leads: %w", err)
		}
		var ord, id int64
		_, err = pgx.ForEachRow(rows, []any{&ord, &id}, func() error {
			i := idx[ord-1]
			if len(out[i]) < 100 {
				out[i] = append(out[i], id)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("find leads: %w", err)
		}
	}
	return out, nil
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
	// Frozen keeps the lead's recorded score: a won or lost lead keeps the
	// score it was closed with (what the calibration report reads).
	Frozen bool
}

// maxScore bounds a recorded score (leads.score is a 32-bit integer).
const maxScore = 1_000_000_000

// ApplyScores records leads' new scores (one statement) and carries out
// the thresholds' decisions, in db, each with a lead.scored event: a lead
// put in the schedule (a new round of calls for a lead called before),
// taken out of it, routed to sales with its SLA clock started, or given a
// new follow-up deadline.
func (s *Store) ApplyScores(ctx context.Context, db DB, actor string, as []ScoreAction) error {
	now := s.now()
	var ids []int64
	var scores []int
	for _, a := range as {
		if !a.Frozen {
			ids, scores = append(ids, a.LeadID), append(scores, min(max(a.Score, -maxScore), maxScore))
		}
	}
	if len(ids) > 0 {
		if _, err := db.Exec(ctx, `UPDATE leads l SET score = v.score, score_at = $3 FROM unnest($1::bigint[], $2::int[]) AS v(id, score)
			WHERE l.id = v.id`, ids, scores, now); err != nil {
			return fmt.Errorf("record scores: %w", err)
		}
	}
	for _, a := range as {
		if err := s.applyScore(ctx, db, actor, a, now); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyScore(ctx context.Context, db DB, actor string, a ScoreAction, now time.Time) error {
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
			if err := s.SetLeadStatus(ctx, db, a.LeadID, actor, LeadNew, a.Why+": the qualification call is called off, sales follows up", nil); err != nil {
				return err
			}
		}
		if _, err := db.Exec(ctx, `UPDATE leads SET outcome = 'scored', class = 'sql', route = 'sales', qualified_at = $2::timestamptz,
			sales_stage = 'open', assigned_to = NULL, sla_due_at = $2::timestamptz + $3::interval, sla_status = 'pending', recall_at = NULL,
			accepted_at = NULL, contacted_at = NULL, closed_at = NULL, updated_at = $2
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
			return nil
		}
		s.floors.reset()
	default:
		return fmt.Errorf("lead %d: unknown score action %q", a.LeadID, a.Action)
	}
	return s.AddEvent(ctx, db, a.LeadID, actor, EventLeadScored,
		map[string]any{"action": a.Action, "score": a.Score, "why": a.Why})
}

// RequeueHeld puts back in the schedule, in db, the leads of a campaign
// held below its call threshold (status new, saying so), due now,
// after its scoring changed: the dispatcher's pre-dial checks score them
// again and hold those still below.
func (s *Store) RequeueHeld(ctx context.Context, db DB, campaignID int64, actor string) error {
	now := s.now()
	tag, err := db.Exec(ctx, `WITH held AS (SELECT id FROM leads WHERE campaign_id = $1 AND status = 'new'
			AND status_reason LIKE '%' || $4 || '%' ORDER BY id FOR UPDATE),
		r AS (UPDATE leads l SET status = 'queued', status_reason = 'scoring changed: scored again', next_attempt_at = $2, updated_at = $2
			FROM held WHERE l.id = held.id RETURNING l.id)
		INSERT INTO lead_events (lead_id, actor, kind, data, at)
		SELECT r.id, $3, 'lead.status', '{"from": "new", "to": "queued", "reason": "scoring changed: scored again"}', $2 FROM r`,
		campaignID, now, actor, scoring.BelowCallThreshold)
	if err != nil {
		return fmt.Errorf("re-score held leads of campaign %d: %w", campaignID, err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	return Wake(ctx, db, campaignID)
}
