package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Subscription returns one webhook subscription, without its secret; an
// unknown id is ErrNotFound.
func (s *Store) Subscription(ctx context.Context, id int64) (*Subscription, error) {
	var sub Subscription
	err := s.pool.QueryRow(ctx, `SELECT id, url, events, 'v' || signature_version, active, created_at FROM webhook_subscriptions WHERE id = $1`,
		id).Scan(&sub.ID, &sub.URL, &sub.Events, &sub.Signature, &sub.Active, &sub.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("webhook subscription %d: %w", id, err)
	}
	return &sub, nil
}

// DeliveryLogEntry is one delivery of an event to a subscription, as its
// delivery log shows it.
type DeliveryLogEntry struct {
	ID      int64
	EventID int64
	// Event is the event's kind, e.g. lead.qualified.
	Event  string
	LeadID int64
	// State is pending (written with its event), enqueued (a job delivers
	// it, or retries it), delivered or failed (no attempts left).
	State    string
	Attempts int
	// LastStatus is the HTTP status of the last attempt; nil before the
	// first, or when the last got no response.
	LastStatus *int
	// LastError is why the last attempt failed; "" when it did not.
	LastError   string
	CreatedAt   time.Time
	DeliveredAt *time.Time
}

// MaxDeliveryLogPage bounds a page of a delivery log.
const MaxDeliveryLogPage = 200

// DeliveryLog returns a page of a subscription's deliveries, newest first:
// up to limit (at most MaxDeliveryLogPage) with ids below before, or the
// newest when before is 0. The next page starts before the last one's id.
func (s *Store) DeliveryLog(ctx context.Context, subscriptionID, before int64, limit int) ([]DeliveryLogEntry, error) {
	if limit <= 0 || limit > MaxDeliveryLogPage {
		limit = MaxDeliveryLogPage
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT d.id, e.id, e.kind, e.lead_id, d.state, d.attempts, d.last_status, coalesce(d.last_error, ''), d.created_at, d.delivered_at
		FROM webhook_deliveries d JOIN lead_events e ON e.id = d.event_id
		WHERE d.subscription_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3`, subscriptionID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("delivery log of webhook %d: %w", subscriptionID, err)
	}
	log, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DeliveryLogEntry, error) {
		var d DeliveryLogEntry
		err := row.Scan(&d.ID, &d.EventID, &d.Event, &d.LeadID, &d.State, &d.Attempts, &d.LastStatus, &d.LastError, &d.CreatedAt, &d.DeliveredAt)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("delivery log of webhook %d: %w", subscriptionID, err)
	}
	return log, nil
}
