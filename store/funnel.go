package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Funnel is a campaign's leads at each step, as the campaigns list shows
// them: uploaded → dialable → dialled → answered → completed → classes.
type Funnel struct {
	Leads int
	// Dialable: not blocked (DNC, consent, destination).
	Dialable  int
	Dialled   int // called at least once
	Answered  int // a call was answered
	Completed int // answered the questionnaire
	SQL       int
	MQL       int
	Disqual   int
	OptedOut  int
	InCall    int // handed to a dialer or on a call now
	Breached  int // sales follow-ups past their deadline
}

// SQLRate is the share of completed questionnaires classed sql.
func (f Funnel) SQLRate() float64 {
	if f.Completed == 0 {
		return 0
	}
	return float64(f.SQL) / float64(f.Completed)
}

// DialledShare is the share of dialable leads called at least once.
func (f Funnel) DialledShare() float64 {
	if f.Dialable == 0 {
		return 0
	}
	return float64(f.Dialled) / float64(f.Dialable)
}

// Funnels counts the funnel of each of campaigns, in two statements.
func (s *Store) Funnels(ctx context.Context, campaigns []int64) (map[int64]Funnel, error) {
	out := make(map[int64]Funnel, len(campaigns))
	rows, err := s.pool.Query(ctx, `SELECT campaign_id, count(*), count(*) FILTER (WHERE status <> 'blocked'),
			count(*) FILTER (WHERE attempt_count > 0), count(*) FILTER (WHERE outcome = 'completed'),
			count(*) FILTER (WHERE class = 'sql'), count(*) FILTER (WHERE class = 'mql'), count(*) FILTER (WHERE class = 'disqualified'),
			count(*) FILTER (WHERE status = 'opted_out'), count(*) FILTER (WHERE status = 'dialing'),
			count(*) FILTER (WHERE sla_status = 'breached')
		FROM leads WHERE campaign_id = ANY($1) GROUP BY campaign_id`, campaigns)
	if err != nil {
		return nil, fmt.Errorf("funnels: %w", err)
	}
	var id int64
	var f Funnel
	if _, err := pgx.ForEachRow(rows, []any{&id, &f.Leads, &f.Dialable, &f.Dialled, &f.Completed, &f.SQL, &f.MQL, &f.Disqual, &f.OptedOut,
		&f.InCall, &f.Breached}, func() error {
		out[id] = f
		return nil
	}); err != nil {
		return nil, fmt.Errorf("funnels: %w", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT campaign_id, count(DISTINCT lead_id) FROM call_attempts
		WHERE campaign_id = ANY($1) AND answered_at IS NOT NULL GROUP BY campaign_id`, campaigns)
	if err != nil {
		return nil, fmt.Errorf("funnels: %w", err)
	}
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		f := out[id]
		f.Answered = n
		out[id] = f
		return nil
	}); err != nil {
		return nil, fmt.Errorf("funnels: %w", err)
	}
	return out, nil
}
