package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrConflict is returned for a sales transition the lead's stage does not
// allow (contacting a lead nobody claimed, winning a lost lead…).
var ErrConflict = errors.New("not allowed in the lead's current stage")

// SalesFilter selects leads for the sales list.
type SalesFilter struct {
	CampaignID int64
	Route      string // default sales
	Stage      string // open, accepted, contacted, won, lost, recycled; empty: all
	AssignedTo int64
	// After is the cursor: the last (sla_due_at, id) of the previous page.
	AfterDue time.Time
	AfterID  int64
	Limit    int
}

// SalesLeads lists leads most urgent first (by SLA deadline, then id).
func (s *Store) SalesLeads(ctx context.Context, f SalesFilter) ([]*Lead, error) {
	if f.Route == "" {
		f.Route = "sales"
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	rows, err := s.pool.Query(ctx, `SELECT `+leadColumns+` FROM leads l JOIN campaigns c ON c.id = l.campaign_id
		WHERE l.route = $1 AND ($2 = '' OR l.sales_stage = $2) AND ($3 = 0 OR l.campaign_id = $3) AND ($4 = 0 OR l.assigned_to = $4)
		AND ($6 = 0 OR (coalesce(l.sla_due_at, 'infinity'), l.id) > ($5::timestamptz, $6))
		ORDER BY coalesce(l.sla_due_at, 'infinity'), l.id LIMIT $7`,
		f.Route, f.Stage, f.CampaignID, f.AssignedTo, f.AfterDue, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list sales leads: %w", err)
	}
	return collectLeads(rows)
}

// ClaimNext gives the calling rep the most urgent open lead, atomically:
// two reps asking at once never get the same one. ErrNotFound when none.
func (s *Store) ClaimNext(ctx context.Context, userID int64, campaignID int64) (*Lead, error) {
	// One statement: claim, record the event, return the lead.
	l, err := scanLead(s.pool.QueryRow(ctx, `WITH l AS (
			UPDATE leads SET sales_stage = 'accepted', assigned_to = $1, accepted_at = $3, updated_at = $3
			WHERE id = (SELECT id FROM leads WHERE sales_stage = 'open' AND ($2 = 0 OR campaign_id = $2)
				ORDER BY sla_due_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
			RETURNING *),
		ev AS (INSERT INTO lead_events (lead_id, actor, kind, at) SELECT id, 'user:' || $1::bigint, 'lead.accepted', $3 FROM l)
		SELECT `+leadColumns+` FROM l JOIN campaigns c ON c.id = l.campaign_id`, userID, campaignID, s.now()))
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Sales actions.
const (
	ActionContacted = "contacted"
	ActionWon       = "won"
	ActionLost      = "lost"
	ActionRecycle   = "recycle"
	ActionRelease   = "release"
)

// transitions: action → stages it may start from, and its SQL.
var transitions = map[string]struct {
	from []string
	set  string
	kind string
}{
	ActionContacted: {[]string{"open", "accepted"}, `sales_stage = 'contacted', contacted_at = $5,
		assigned_to = coalesce(assigned_to, nullif($2::bigint, 0)),
		sla_status = CASE WHEN sla_status = 'breached' OR $5 > sla_due_at THEN 'breached' ELSE 'met' END`, "lead.contacted"},
	ActionWon:     {[]string{"accepted", "contacted"}, `sales_stage = 'won', closed_at = $5`, "lead.won"},
	ActionLost:    {[]string{"accepted", "contacted"}, `sales_stage = 'lost', closed_at = $5`, "lead.lost"},
	ActionRecycle: {[]string{"open", "accepted", "contacted"}, `sales_stage = 'recycled', route = 'nurture', recall_at = $3, closed_at = $5`, "lead.recycled"},
	ActionRelease: {[]string{"accepted"}, `sales_stage = 'open', assigned_to = NULL, accepted_at = NULL`, "lead.released"},
}

// Transition moves a lead along the sales stages. recallAt applies to
// recycle (a new qualification call then; nil for none).
func (s *Store) Transition(ctx context.Context, leadID, userID int64, action string, recallAt *time.Time) (*Lead, error) {
	t, ok := transitions[action]
	if !ok {
		return nil, fmt.Errorf("unknown sales action %q", action)
	}
	err := s.Tx(ctx, func(tx pgx.Tx) error {
		// $2 (the rep) and $3 (the recall time) are typed here because not
		// every action's SET uses them.
		tag, err := tx.Exec(ctx, `UPDATE leads SET `+t.set+`, updated_at = $5::timestamptz WHERE id = $1 AND sales_stage = ANY($4)
			AND $2::bigint IS NOT NULL AND ($3::timestamptz IS NULL OR $3::timestamptz IS NOT NULL)`, leadID, userID, recallAt, t.from, s.now())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if _, err := GetLead(ctx, tx, leadID); err != nil {
				return err
			}
			return ErrConflict
		}
		return s.AddEvent(ctx, tx, leadID, fmt.Sprintf("user:%d", userID), t.kind, nil)
	})
	if err != nil {
		return nil, err
	}
	return GetLead(ctx, s.pool, leadID)
}

// ExportQualified streams leads that completed the questionnaire (route
// sales by default, or the given route) with their scores, for CSV export.
func (s *Store) ExportQualified(ctx context.Context, route string, each func([]string) error) error {
	if route == "" {
		route = "sales"
	}
	rows, err := s.pool.Query(ctx, `SELECT id::text, campaign_id::text, phone, coalesce(first_name, ''), coalesce(last_name, ''),
		coalesce(email, ''), coalesce(company, ''), coalesce(class, ''), coalesce(route, ''), coalesce(total::text, ''),
		coalesce(sales_stage, ''), coalesce(to_char(sla_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''), coalesce(scores::text, '{}')
		FROM leads WHERE outcome = 'completed' AND route = $1 ORDER BY sla_due_at NULLS LAST, id`, route)
	if err != nil {
		return err
	}
	defer rows.Close()
	row := make([]string, 13)
	ptrs := make([]any, len(row))
	for i := range row {
		ptrs[i] = &row[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if err := each(row); err != nil {
			return err
		}
	}
	return rows.Err()
}
