package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// refusals are the words that say "no" in a consent source or text; the
// generated column leads.has_consent (migration 00007) holds the same list,
// and TestRefusalsMatchSchema keeps the two equal.
var refusals = []string{"no", "n", "false", "f", "0", "off", "none", "declined", "denied", "refused", "revoked", "withdrawn", "unsubscribed"}

// IsRefusal reports whether a consent source or text says no ("no",
// "false", "declined"…), the way leads.has_consent reads it.
func IsRefusal(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, r := range refusals {
		if s == r {
			return true
		}
	}
	return false
}

// HasConsent reports whether c is consent as leads.has_consent defines it:
// it says where it came from and when, and neither its source nor its text
// says no.
func (c Consent) HasConsent() bool {
	return !c.At.IsZero() && strings.TrimSpace(c.Source) != "" && !IsRefusal(c.Source) && (c.Text == "" || !IsRefusal(c.Text))
}

// AddConsent records consent for a lead that has none (has_consent false),
// in db, as a lead.consent event by actor. It returns false, changing
// nothing, when the lead already has consent or c is not consent.
func (s *Store) AddConsent(ctx context.Context, db DB, leadID int64, c Consent, actor string) (bool, error) {
	if !c.HasConsent() {
		return false, nil
	}
	var ip any
	if c.IP.IsValid() {
		ip = c.IP
	}
	var oldSource, oldText *string
	err := db.QueryRow(ctx, `WITH old AS (SELECT id, consent_source, consent_text FROM leads WHERE id = $1 AND NOT has_consent FOR UPDATE)
		UPDATE leads l SET consent_source = $2, consent_text = $3, consent_version = $4, consent_at = $5, consent_ip = $6, consent_page = $7,
			updated_at = $8 FROM old WHERE l.id = old.id RETURNING old.consent_source, old.consent_text`,
		leadID, c.Source, nullString(c.Text), nullString(c.Version), c.At, ip, nullString(c.Page), s.now()).Scan(&oldSource, &oldText)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lead %d consent: %w", leadID, err)
	}
	data := map[string]any{"source": c.Source, "at": c.At.UTC()}
	if oldSource != nil {
		data["previous_source"] = *oldSource
	}
	if oldText != nil {
		data["previous_text"] = *oldText
	}
	return true, s.AddEvent(ctx, db, leadID, actor, EventLeadConsent, data)
}

// RequeueBlocked puts a campaign's blocked leads (all of them, or those of
// ids) back in the queue, in db: status queued, reason "re-checked", and a
// lead.rechecked event by actor saying why. They are due at once; it
// returns their ids, and the caller wakes the dispatcher in the same
// transaction, whose pre-dial checks decide again (a lead still on the DNC
// list is blocked again).
func (s *Store) RequeueBlocked(ctx context.Context, db DB, campaignID int64, ids []int64, actor, why string) ([]int64, error) {
	now := s.now()
	data, err := jsonObject(map[string]any{"from": "blocked", "to": "queued", "why": why})
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, `WITH old AS (
			SELECT id, coalesce(status_reason, '') AS reason FROM leads
			WHERE campaign_id = $1 AND status = 'blocked' AND ($2::bigint[] IS NULL OR id = ANY($2::bigint[])) ORDER BY id FOR UPDATE),
		r AS (UPDATE leads l SET status = 'queued', status_reason = 're-checked', next_attempt_at = $3, updated_at = $3
			FROM old WHERE l.id = old.id RETURNING l.id, old.reason),
		e AS (INSERT INTO lead_events (lead_id, actor, kind, data, at)
			SELECT r.id, $4, 'lead.rechecked', $5::jsonb || jsonb_build_object('reason', r.reason), $3 FROM r RETURNING id, kind),
		w AS (INSERT INTO webhook_deliveries (subscription_id, event_id, created_at)
			SELECT sub.id, e.id, $3 FROM e JOIN webhook_subscriptions sub ON sub.active AND e.kind = ANY(sub.events))
		SELECT id FROM r ORDER BY id`, campaignID, ids, now, actor, data)
	if err != nil {
		return nil, fmt.Errorf("re-check blocked leads of campaign %d: %w", campaignID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("re-check blocked leads of campaign %d: %w", campaignID, err)
	}
	return out, nil
}

// ErrIdempotencyReused is returned when an idempotency key comes back
// with another body than the one it was first used with.
var ErrIdempotencyReused = errors.New("the idempotency key was used with another body")

// ClaimIdempotencyKey records, in tx, that API key apiKey used key for a
// request whose canonical body hashes to bodyHash. The first time it
// returns 0 (the caller creates the lead and calls SetIdempotencyLead in
// the same transaction); a request using the key again waits for the first
// to commit, then gets the lead it answered with, or ErrIdempotencyReused
// IdempotentAnswer is the answer a request with an idempotency key got the
// first time: a retry gets it again, unchanged.
type IdempotentAnswer struct {
	Status int
	Body   []byte
}

// ClaimIdempotencyKey takes an idempotency key for a request body, in tx.
// A new key returns nil: the caller answers and records its answer with
// SetIdempotentAnswer in the same transaction. A key used before with the
// same body returns that first answer; with another body,
// ErrIdempotencyReused.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, tx pgx.Tx, apiKey int64, key string, bodyHash []byte) (*IdempotentAnswer, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (api_key_id, key, body_hash, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, apiKey, key, bodyHash, s.now())
	if err != nil {
		return nil, fmt.Errorf("idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil, nil
	}
	var hash, body []byte
	var status *int
	if err := tx.QueryRow(ctx, `SELECT body_hash, response_status, response FROM idempotency_keys WHERE api_key_id = $1 AND key = $2`,
		apiKey, key).Scan(&hash, &status, &body); err != nil {
		return nil, fmt.Errorf("idempotency key: %w", err)
	}
	if !bytes.Equal(hash, bodyHash) {
		return nil, ErrIdempotencyReused
	}
	if status == nil {
		return nil, fmt.Errorf("idempotency key %q has no answer", key)
	}
	return &IdempotentAnswer{Status: *status, Body: body}, nil
}

// SetIdempotentAnswer records the lead and the answer of a key's first
// request.
func (s *Store) SetIdempotentAnswer(ctx context.Context, tx pgx.Tx, apiKey int64, key string, leadID int64, a IdempotentAnswer) error {
	if _, err := tx.Exec(ctx, `UPDATE idempotency_keys SET lead_id = $3, response_status = $4, response = $5 WHERE api_key_id = $1 AND key = $2`,
		apiKey, key, leadID, a.Status, a.Body); err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	return nil
}

// PruneIdempotencyKeys forgets idempotency keys used before cutoff (a
// retention job may call it; keys are kept until then).
func (s *Store) PruneIdempotencyKeys(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
