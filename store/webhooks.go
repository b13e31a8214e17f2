package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WebhookEvents are the events CRMs may subscribe to.
var WebhookEvents = []string{string(EventLeadQualified), string(EventLeadSLABreached), string(EventLeadOptedOut), string(EventLeadContacted)}

// Subscription is a CRM's webhook.
type Subscription struct {
	ID     int64    `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret,omitempty"` // shown once, on creation
	// Signature is the scheme of X-Qualdial-Signature on its deliveries:
	// "v2" (method, path, query, timestamp and body), or "v1" (timestamp
	// and body) for subscriptions made before v2.
	Signature string    `json:"signature"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateSubscription subscribes a URL to events, with a new signing secret.
func (s *Store) CreateSubscription(ctx context.Context, url string, events []string) (*Subscription, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	sub := &Subscription{URL: url, Events: events, Secret: "whsec_" + hex.EncodeToString(b), Active: true}
	var version int
	err := s.pool.QueryRow(ctx, `INSERT INTO webhook_subscriptions (url, events, secret, created_at) VALUES ($1, $2, $3, $4)
		RETURNING id, created_at, signature_version`, url, events, sub.Secret, s.now()).Scan(&sub.ID, &sub.CreatedAt, &version)
	if err != nil {
		// Not the URL: it may carry a token.
		return nil, fmt.Errorf("create webhook subscription: %w", err)
	}
	sub.Signature = fmt.Sprintf("v%d", version)
	return sub, nil
}

// Subscriptions lists the webhooks (without their secrets).
func (s *Store) Subscriptions(ctx context.Context) ([]Subscription, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, url, events, 'v' || signature_version, active, created_at FROM webhook_subscriptions ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list webhook subscriptions: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Subscription, error) {
		var sub Subscription
		err := row.Scan(&sub.ID, &sub.URL, &sub.Events, &sub.Signature, &sub.Active, &sub.CreatedAt)
		return sub, err
	})
}

// DeleteSubscription removes a webhook and its pending deliveries.
func (s *Store) DeleteSubscription(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_subscriptions WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// ClaimPendingDeliveries marks up to limit pending deliveries enqueued and
// returns their ids, in the caller's transaction (which enqueues their jobs).
func ClaimPendingDeliveries(ctx context.Context, tx pgx.Tx, limit int) ([]int64, error) {
	rows, err := tx.Query(ctx, `UPDATE webhook_deliveries SET state = 'enqueued' WHERE id IN (
		SELECT id FROM webhook_deliveries WHERE state = 'pending' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT $1) RETURNING id`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// Delivery is one webhook call to make.
type Delivery struct {
	ID             int64
	SubscriptionID int64
	URL            string
	Secret         string
	// SignatureVersion is the subscription's signature scheme, 1 or 2.
	SignatureVersion int
	EventID          int64
	Kind             string
	At               time.Time
	Actor            string
	LeadID           int64
	EventData        map[string]any
	Lead             map[string]any // the lead's current state
}

// GetDelivery loads a delivery with its event and lead.
func (s *Store) GetDelivery(ctx context.Context, id int64) (*Delivery, error) {
	var d Delivery
	var data, lead []byte
	err := s.pool.QueryRow(ctx, `SELECT d.id, s.id, s.url, s.secret, s.signature_version, e.id, e.kind, e.at, e.actor, e.lead_id, e.data,
		jsonb_build_object('id', l.id, 'campaign_id', l.campaign_id, 'phone', l.phone, 'first_name', l.first_name, 'last_name', l.last_name,
			'email', l.email, 'company', l.company, 'status', l.status, 'class', l.class, 'route', l.route, 'total', l.total,
			'scores', l.scores, 'sales_stage', l.sales_stage, 'sla_due_at', l.sla_due_at, 'attributes', l.attributes)
		FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id JOIN lead_events e ON e.id = d.event_id
		JOIN leads l ON l.id = e.lead_id WHERE d.id = $1`, id).Scan(&d.ID, &d.SubscriptionID, &d.URL, &d.Secret, &d.SignatureVersion, &d.EventID, &d.Kind, &d.At, &d.Actor, &d.LeadID, &data, &lead)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	_ = json.Unmarshal(data, &d.EventData)
	_ = json.Unmarshal(lead, &d.Lead)
	return &d, nil
}

// RecordDelivery logs one delivery attempt's response.
func (s *Store) RecordDelivery(ctx context.Context, id int64, status int, errMsg string, delivered, final bool) error {
	state := "enqueued"
	switch {
	case delivered:
		state = "delivered"
	case final:
		state = "failed"
	}
	_, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $2, last_error = $3, state = $4,
		delivered_at = CASE WHEN $5 THEN $6::timestamptz END WHERE id = $1`, id, zeroNull(status), nullString(errMsg), state, delivered, s.now())
	return err
}
