package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CampaignReport is a campaign's funnel at a glance.
type CampaignReport struct {
	Leads         int
	ByStatus      []Count // lead status → leads
	ByClass       []Count // class of qualified or opted-out leads → leads
	Dispositions  []Count // attempt disposition → attempts
	SLA           []Count // sales SLA status (pending, met, breached) → leads
	Attempts      int
	SalesReady    []SalesLead
	FirstDialP50  time.Duration // lead created → first attempt started
	FirstDialP95  time.Duration
	FirstDialMax  time.Duration
	FirstDialDone int // leads dialled at least once
}

// Count is one row of a breakdown.
type Count struct {
	Key string
	N   int
}

// SalesLead is a sales-ready lead with its follow-up deadline.
type SalesLead struct {
	ID       int64
	Phone    string
	Name     string
	Class    string
	Total    int
	SLADueAt time.Time
}

// Report computes a campaign's report.
func (s *Store) Report(ctx context.Context, campaignID int64) (*CampaignReport, error) {
	r := &CampaignReport{}
	counts := func(sql string) ([]Count, error) {
		rows, err := s.pool.Query(ctx, sql, campaignID)
		if err != nil {
			return nil, err
		}
		return collectCounts(rows)
	}
	var err error
	if r.ByStatus, err = counts(`SELECT status, count(*) FROM leads WHERE campaign_id = $1 GROUP BY 1 ORDER BY 2 DESC, 1`); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if r.Dispositions, r.ByClass, err = s.Dispositions(ctx, campaignID); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if r.SLA, err = counts(`SELECT sla_status, count(*) FROM leads WHERE campaign_id = $1 AND sla_status IS NOT NULL GROUP BY 1 ORDER BY 1`); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	for _, c := range r.ByStatus {
		r.Leads += c.N
	}
	for _, c := range r.Dispositions {
		r.Attempts += c.N
	}
	rows, err := s.pool.Query(ctx, `SELECT id, phone, trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')), class, coalesce(total, 0), sla_due_at
		FROM leads WHERE campaign_id = $1 AND route = 'sales' AND sla_due_at IS NOT NULL ORDER BY sla_due_at, id`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if r.SalesReady, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (SalesLead, error) {
		var l SalesLead
		err := row.Scan(&l.ID, &l.Phone, &l.Name, &l.Class, &l.Total, &l.SLADueAt)
		return l, err
	}); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var p50, p95, mx *float64
	err = s.pool.QueryRow(ctx, `WITH first AS (
			SELECT extract(epoch FROM min(a.started_at) - l.created_at) AS secs
			FROM leads l JOIN call_attempts a ON a.lead_id = l.id WHERE l.campaign_id = $1 GROUP BY l.id, l.created_at)
		SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY secs), percentile_cont(0.95) WITHIN GROUP (ORDER BY secs), max(secs), count(*)
		FROM first`, campaignID).Scan(&p50, &p95, &mx, &r.FirstDialDone)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	sec := func(f *float64) time.Duration {
		if f == nil {
			return 0
		}
		return time.Duration(*f * float64(time.Second))
	}
	r.FirstDialP50, r.FirstDialP95, r.FirstDialMax = sec(p50), sec(p95), sec(mx)
	return r, nil
}
