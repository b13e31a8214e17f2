package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// BreachedLead is a sales-ready lead whose follow-up deadline passed, as
// an SLA alert lists it.
type BreachedLead struct {
	ID                  int64
	FirstName, LastName string
	Company             string
	Phone               string // E.164
	Campaign            string // its name
	Class               string
	Total               *int
	// SLA is the campaign's follow-up SLA; SLADueAt the lead's deadline.
	SLA      time.Duration
	SLADueAt time.Time
	// ClaimedBy is the name of the rep who claimed the lead; "" when
	// nobody did.
	ClaimedBy string
}

// BreachDigest is what an SLA alert says about a batch of breached leads.
type BreachDigest struct {
	// Leads are up to the asked number of the batch's leads, most overdue
	// first (leads deleted since are left out).
	Leads []BreachedLead
	// SLAs are the distinct follow-up SLAs of the whole batch's campaigns,
	// shortest first.
	SLAs []time.Duration
}

// SLABreachDigest reads the leads of a breach batch (ids, as
// MarkSLABreaches returned them) for an alert: up to limit of them in
// detail, and the SLAs of all.
func SLABreachDigest(ctx context.Context, db DB, ids []int64, limit int) (*BreachDigest, error) {
	rows, err := db.Query(ctx, `SELECT l.id, coalesce(l.first_name, ''), coalesce(l.last_name, ''), coalesce(l.company, ''), l.phone,
			c.name, coalesce(l.class, ''), l.total, extract(epoch FROM c.sla)::bigint, l.sla_due_at, coalesce(u.name, '')
		FROM leads l JOIN campaigns c ON c.id = l.campaign_id LEFT JOIN users u ON u.id = l.assigned_to
		WHERE l.id = ANY($1) AND l.sla_due_at IS NOT NULL ORDER BY l.sla_due_at, l.id LIMIT $2`, ids, limit)
	if err != nil {
		return nil, fmt.Errorf("breached leads: %w", err)
	}
	var d BreachDigest
	d.Leads, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (BreachedLead, error) {
		var b BreachedLead
		var sla int64
		err := row.Scan(&b.ID, &b.FirstName, &b.LastName, &b.Company, &b.Phone, &b.Campaign, &b.Class, &b.Total, &sla, &b.SLADueAt, &b.ClaimedBy)
		b.SLA = time.Duration(sla) * time.Second
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("breached leads: %w", err)
	}
	rows, err = db.Query(ctx, `SELECT DISTINCT extract(epoch FROM c.sla)::bigint AS s
		FROM leads l JOIN campaigns c ON c.id = l.campaign_id WHERE l.id = ANY($1) ORDER BY s`, ids)
	if err != nil {
		return nil, fmt.Errorf("breached leads' SLAs: %w", err)
	}
	secs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("breached leads' SLAs: %w", err)
	}
	for _, s := range secs {
		d.SLAs = append(d.SLAs, time.Duration(s)*time.Second)
	}
	return &d, nil
}
