package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
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
	// NextDue is when the next lead waiting for its calling window or a
	// retry is due; nil when none waits.
	NextDue *time.Time
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
			count(*) FILTER (WHERE sla_status = 'breached'),
			min(next_attempt_at) FILTER (WHERE status IN ('scheduled', 'retry_wait'))
		FROM leads WHERE campaign_id = ANY($1) GROUP BY campaign_id`, campaigns)
	if err != nil {
		return nil, fmt.Errorf("funnels: %w", err)
	}
	var id int64
	var f Funnel
	var due pgtype.Timestamptz
	if _, err := pgx.ForEachRow(rows, []any{&id, &f.Leads, &f.Dialable, &f.Dialled, &f.Completed, &f.SQL, &f.MQL, &f.Disqual, &f.OptedOut,
		&f.InCall, &f.Breached, &due}, func() error {
		f.NextDue = nil
		if due.Valid {
			t := due.Time
			f.NextDue = &t
		}
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

// WaitingReasons counts a campaign's leads not called yet (or not now) by
// why: blocked, scheduled, held below the call threshold, queued —
// "why not dialled yet" — largest first, at most 20 reasons.
func (s *Store) WaitingReasons(ctx context.Context, campaignID int64) ([]Count, error) {
	// Reasons differ by lead only in their times and scores: those are
	// left out, so alike leads count together ("next call …").
	// The reasons are grouped as they are first (most leads share theirs
	// word for word), then tidied: the patterns run once per distinct
	// reason, not per lead.
	rows, err := s.pool.Query(ctx, `SELECT status || ': ' || coalesce(regexp_replace(regexp_replace(status_reason,
				'[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)?', '…', 'g'), 'score -?[0-9]+', 'score …', 'g'), '—'),
			sum(n)::int
		FROM (SELECT status, status_reason, count(*) AS n FROM leads
			WHERE campaign_id = $1 AND status IN ('new', 'queued', 'scheduled', 'retry_wait', 'blocked') GROUP BY 1, 2) g
		GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("waiting reasons: %w", err)
	}
	return collectCounts(rows)
}

// AnswerShare is how often one answer was given to a question.
type AnswerShare struct {
	Question string
	Answer   string // the keys, without the finish key
	N        int
	FromForm int // of N, taken from the lead's form
}

// AnswerDistribution counts the answers of a campaign's calls per question
// and answer (keys), for the per-question distribution.
func (s *Store) AnswerDistribution(ctx context.Context, campaignID int64) ([]AnswerShare, error) {
	rows, err := s.pool.Query(ctx, `SELECT an.question, rtrim(an.keys, '#'), count(*), count(*) FILTER (WHERE an.from_form)
		FROM answers an JOIN call_attempts a ON a.id = an.attempt_id
		WHERE a.campaign_id = $1 GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("answer distribution: %w", err)
	}
	var out []AnswerShare
	var a AnswerShare
	if _, err := pgx.ForEachRow(rows, []any{&a.Question, &a.Answer, &a.N, &a.FromForm}, func() error {
		out = append(out, a)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("answer distribution: %w", err)
	}
	return out, nil
}

func collectCounts(rows pgx.Rows) ([]Count, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Count, error) {
		var c Count
		err := row.Scan(&c.Key, &c.N)
		return c, err
	})
}

// Dispositions counts a campaign's attempts by disposition (or state while
// unfinished), and its leads by class, largest first.
func (s *Store) Dispositions(ctx context.Context, campaignID int64) (dispositions, classes []Count, err error) {
	rows, err := s.pool.Query(ctx, `SELECT coalesce(disposition, state), count(*) FROM call_attempts WHERE campaign_id = $1
		GROUP BY 1 ORDER BY 2 DESC, 1`, campaignID)
	if err != nil {
		return nil, nil, fmt.Errorf("dispositions: %w", err)
	}
	if dispositions, err = collectCounts(rows); err != nil {
		return nil, nil, fmt.Errorf("dispositions: %w", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT class, count(*) FROM leads WHERE campaign_id = $1 AND class IS NOT NULL
		GROUP BY 1 ORDER BY 2 DESC, 1`, campaignID)
	if err != nil {
		return nil, nil, fmt.Errorf("classes: %w", err)
	}
	if classes, err = collectCounts(rows); err != nil {
		return nil, nil, fmt.Errorf("classes: %w", err)
	}
	return dispositions, classes, nil
}

// HourCell is one hour of the week in the leads' local time: the calls a
// campaign finished that were placed then, and how many were answered.
type HourCell struct {
	// Day is the ISO weekday (1 Monday … 7 Sunday), Hour 0–23.
	Day, Hour       int
	Calls, Answered int
}

// AnswerHeatmap counts a campaign's finished calls and answers by the
// lead's local weekday and hour (recorded with each attempt when it was
// dialled; calls of leads in no known zone are left out), for the day ×
// hour answer-rate heatmap. Hours without calls are left out.
func (s *Store) AnswerHeatmap(ctx context.Context, campaignID int64) ([]HourCell, error) {
	rows, err := s.pool.Query(ctx, `SELECT local_weekday, local_hour, count(*)::int, (count(*) FILTER (WHERE disposition = 'answered'))::int
		FROM call_attempts WHERE campaign_id = $1 AND state = 'finished' AND local_weekday IS NOT NULL
		GROUP BY 1, 2 ORDER BY 1, 2`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("answer heatmap: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (HourCell, error) {
		var c HourCell
		err := row.Scan(&c.Day, &c.Hour, &c.Calls, &c.Answered)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("answer heatmap: %w", err)
	}
	return out, nil
}
