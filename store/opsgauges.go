package store

import (
	"context"
	"fmt"
)

// dueCountCap bounds how far OpsGauges counts due leads: beyond it the
// figure only says "a backlog", and counting further would cost a scan.
const dueCountCap = 100_000

// OpsGauges is what the database says about the work now, for the
// operator's metrics.
type OpsGauges struct {
	// SLAPending and SLABreached count sales-ready leads not yet contacted,
	// before and after their SLA's due time.
	SLAPending, SLABreached int64
	// ActiveCampaigns counts campaigns that are dialling.
	ActiveCampaigns int64
	// DueLeads counts the leads of active campaigns waiting to be dialled
	// now, at most 100,000.
	DueLeads int64
	// Jobs counts River jobs available, running or retryable, by queue and
	// state.
	Jobs map[[2]string]int64
	// Abandonment is each active campaign's 30-day abandonment rate, as
	// the abandonment watch last computed it, by campaign id.
	Abandonment map[int64]float64
}

// OpsGauges reads the gauges: a handful of counts on partial indexes.
func (s *Store) OpsGauges(ctx context.Context) (OpsGauges, error) {
	g := OpsGauges{Jobs: map[[2]string]int64{}, Abandonment: map[int64]float64{}}
	now := s.now()
	db := s.pool
	if err := db.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE sla_due_at >= $1), count(*) FILTER (WHERE sla_due_at < $1)
		FROM leads WHERE sla_status = 'pending'`, now).Scan(&g.SLAPending, &g.SLABreached); err != nil {
		return OpsGauges{}, fmt.Errorf("ops gauges: %w", err)
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM campaigns WHERE status = 'active'`).Scan(&g.ActiveCampaigns); err != nil {
		return OpsGauges{}, fmt.Errorf("ops gauges: %w", err)
	}
	if err := db.QueryRow(ctx, `
		SELECT count(*) FROM (
			SELECT 1 FROM leads l JOIN campaigns c ON c.id = l.campaign_id AND c.status = 'active'
			WHERE l.status IN ('queued', 'scheduled', 'retry_wait') AND l.next_attempt_at <= $1
			LIMIT $2) due`, now, dueCountCap).Scan(&g.DueLeads); err != nil {
		return OpsGauges{}, fmt.Errorf("ops gauges: %w", err)
	}
	rates, err := db.Query(ctx, `SELECT id, abandon_late::float8 / abandon_answered FROM campaigns
		WHERE status = 'active' AND abandon_answered > 0`)
	if err != nil {
		return OpsGauges{}, fmt.Errorf("ops gauges: %w", err)
	}
	for rates.Next() {
		var id int64
		var rate float64
		if err := rates.Scan(&id, &rate); err != nil {
			rates.Close()
			return OpsGauges{}, fmt.Errorf("ops gauges: %w", err)
		}
		g.Abandonment[id] = rate
	}
	rates.Close()
	if err := rates.Err(); err != nil {
		return OpsGauges{}, fmt.Errorf("ops gauges: %w", err)
	}
	rows, err := db.Query(ctx, `
		SELECT queue, state::text, count(*) FROM river_job
		WHERE state IN ('available', 'running', 'retryable') GROUP BY 1, 2`)
	if err != nil {
		return OpsGauges{}, fmt.Errorf("ops gauges: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var queue, state string
		var n int64
		if err := rows.Scan(&queue, &state, &n); err != nil {
			return OpsGauges{}, fmt.Errorf("ops gauges: %w", err)
		}
		g.Jobs[[2]string{queue, state}] = n
	}
	if err := rows.Err(); err != nil {
		return OpsGauges{}, fmt.Errorf("ops gauges: %w", err)
	}
	return g, nil
}
