package store

import (
	"context"
	"fmt"
	"time"
)

// AbandonmentWindow is the period the abandonment rate is computed over:
// 30 days, as 47 CFR 64.1200(a)(7) counts it per campaign.
const AbandonmentWindow = 30 * 24 * time.Hour

// AbandonLateMS is how late the identification may start after the answer
// before the call counts as abandoned: 2 seconds.
const AbandonLateMS = 2000

// ComputeAbandonment recomputes the 30-day abandonment figures of every
// active campaign, keeps them with the campaign and returns them by
// campaign id. An answered call counts when its identification was
// measured (SIP); it is late when the identification started more than
// 2 s after the answer, or never because qualdial itself ended the call
// first (an error, a shutdown) — a person who hangs up first is not.
func (s *Store) ComputeAbandonment(ctx context.Context) (map[int64]Abandonment, error) {
	now := s.now()
	rows, err := s.pool.Query(ctx, `WITH figures AS (
			SELECT c.id,
				count(a.id) FILTER (WHERE a.answer_to_identify_ms IS NOT NULL OR a.ended_by IN ('qualdial', 'error')) AS answered,
				count(a.id) FILTER (WHERE a.answer_to_identify_ms > $2
					OR (a.answer_to_identify_ms IS NULL AND a.ended_by IN ('qualdial', 'error'))) AS late
			FROM campaigns c
			LEFT JOIN call_attempts a ON a.campaign_id = c.id AND a.ended_at >= $1 AND a.driver = 'sip'
				AND a.disposition IN ('answered', 'machine')
			WHERE c.status = 'active'
			GROUP BY c.id)
		UPDATE campaigns c SET abandon_answered = f.answered, abandon_late = f.late, abandon_at = $3
		FROM figures f WHERE c.id = f.id
		RETURNING c.id, f.answered, f.late`, now.Add(-AbandonmentWindow), AbandonLateMS, now)
	if err != nil {
		return nil, fmt.Errorf("abandonment: %w", err)
	}
	defer rows.Close()
	out := map[int64]Abandonment{}
	for rows.Next() {
		var id int64
		a := Abandonment{At: now}
		if err := rows.Scan(&id, &a.Answered, &a.Late); err != nil {
			return nil, fmt.Errorf("abandonment: %w", err)
		}
		out[id] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("abandonment: %w", err)
	}
	return out, nil
}

// PauseCampaignFor pauses an active campaign and says why; it reports
// whether it did (false: the campaign was not active any more).
func (s *Store) PauseCampaignFor(ctx context.Context, id int64, reason string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE campaigns SET status = 'paused', status_reason = $2, updated_at = $3 WHERE id = $1 AND status = 'active'`,
		id, reason, s.now())
	if err != nil {
		return false, fmt.Errorf("pause campaign %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}
