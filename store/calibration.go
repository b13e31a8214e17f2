package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Calibration: the closed leads (won or lost by sales) of a campaign, for
// the scoring report that compares marketing's criteria with sales
// outcomes.

// ClosedFilter selects a campaign's closed leads: sales stage won or lost,
// closed (leads.closed_at) in [From, To) when they are set.
type ClosedFilter struct {
	CampaignID int64
	From, To   *time.Time
}

// args are the filter's query arguments: $1 campaign, $2 from, $3 to.
func (f ClosedFilter) args() []any { return []any{f.CampaignID, f.From, f.To} }

// closedLeadsWhere selects the closed leads l of ClosedFilter.args.
const closedLeadsWhere = `l.campaign_id = $1 AND l.sales_stage IN ('won', 'lost')
	AND ($2::timestamptz IS NULL OR l.closed_at >= $2::timestamptz)
	AND ($3::timestamptz IS NULL OR l.closed_at < $3::timestamptz)`

// ClosedLead is a lead sales won or lost.
type ClosedLead struct {
	*Lead
	Won bool
}

// LeadScore is the score a lead is judged by: its lead score, or its call
// total when it has none; ok is false when it has neither.
func (l *Lead) LeadScore() (score int, ok bool) {
	switch {
	case l.Score != nil:
		return *l.Score, true
	case l.Total != nil:
		return *l.Total, true
	}
	return 0, false
}

// ClosedLeads lists the campaign's closed leads, by id.
func (s *Store) ClosedLeads(ctx context.Context, f ClosedFilter) ([]ClosedLead, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+leadColumns+` FROM leads l JOIN campaigns c ON c.id = l.campaign_id
		WHERE `+closedLeadsWhere+` ORDER BY l.id`, f.args()...)
	if err != nil {
		return nil, fmt.Errorf("closed leads of campaign %d: %w", f.CampaignID, err)
	}
	leads, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ClosedLead, error) {
		l, err := scanLead(row)
		if err != nil {
			return ClosedLead{}, err
		}
		return ClosedLead{Lead: l, Won: l.SalesStage == StageWon}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("closed leads of campaign %d: %w", f.CampaignID, err)
	}
	return leads, nil
}

// AnswerCount counts the closed leads that gave one answer to one question
// on their latest completed call (an answer taken from the lead's form
// included).
type AnswerCount struct {
	Question string
	// Keys are the keys pressed, for a question answered with one key;
	// empty for a digits question.
	Keys string
	// Value is the number entered, for a digits question.
	Value     *int64
	Won, Lost int
}

// ClosedAnswers counts the answers of the campaign's closed leads, by
// question and answer: the answers of each lead's latest completed call.
func (s *Store) ClosedAnswers(ctx context.Context, f ClosedFilter) ([]AnswerCount, error) {
	rows, err := s.pool.Query(ctx, `WITH closed AS (
			SELECT l.id, l.sales_stage = 'won' AS won FROM leads l WHERE `+closedLeadsWhere+`),
		last AS (
			SELECT DISTINCT ON (a.lead_id) a.lead_id, a.id, closed.won FROM call_attempts a JOIN closed ON closed.id = a.lead_id
			WHERE a.outcome = 'completed' ORDER BY a.lead_id, a.id DESC)
		SELECT an.question, CASE WHEN an.value IS NULL THEN an.keys ELSE '' END, an.value,
			count(*) FILTER (WHERE last.won), count(*) FILTER (WHERE NOT last.won)
		FROM answers an JOIN last ON last.id = an.attempt_id
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, f.args()...)
	if err != nil {
		return nil, fmt.Errorf("closed answers of campaign %d: %w", f.CampaignID, err)
	}
	counts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AnswerCount, error) {
		var c AnswerCount
		err := row.Scan(&c.Question, &c.Keys, &c.Value, &c.Won, &c.Lost)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("closed answers of campaign %d: %w", f.CampaignID, err)
	}
	return counts, nil
}
