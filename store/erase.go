package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// EventLeadErased records a data-subject erasure on each lead it erased;
// its data says nothing about the person: {"leads": n}.
const EventLeadErased EventKind = "lead.erased"

// phoneHashPrefix is the fixed product prefix hashed before a number (the
// migration's qualdial_phone_hash says the same).
const phoneHashPrefix = "qualdial-dnc-v1:"

// PhoneHash is how an erased person's number stays on the do-not-call
// list: SHA-256 of a fixed prefix and the E.164 number, as the database's
// qualdial_phone_hash computes it. It is pseudonymous, not anonymous:
// whoever has the hash can test a number against it (there are few
// numbers), which is what the list needs; nobody can read the number
// back from it without guessing.
func PhoneHash(e164 string) []byte {
	h := sha256.Sum256([]byte(phoneHashPrefix + e164))
	return h[:]
}

// Erased reports whether the lead's person was erased (its number reads
// erased:<id>).
func (l *Lead) Erased() bool { return strings.HasPrefix(l.Phone, "erased:") }

// hashedPhone is how the do-not-call history names an erased number.
func hashedPhone(e164 string) string { return fmt.Sprintf("sha256:%x", PhoneHash(e164)) }

// ErrErasureDuringCall is returned by EraseLead while one of the person's
// leads is being called: erase it once the call has ended.
var ErrErasureDuringCall = fmt.Errorf("%w: the lead is being called; erase it once the call has ended", ErrConflict)

// Erasure is what EraseLead did.
type Erasure struct {
	// LeadIDs are the leads erased: every lead with the person's number,
	// in any campaign (one person, one number). Only the lead asked for
	// when it was erased before.
	LeadIDs []int64 `json:"lead_ids"`
	// AlreadyErased: the lead was erased before; nothing changed.
	AlreadyErased bool `json:"already_erased"`
	// WasOnDNC: the number was on the do-not-call list; its entry is now
	// a hash, like the entry of a number that was not.
	WasOnDNC bool `json:"was_on_dnc"`
	// ImportRejects counts the import rows with the number or e-mail
	// address deleted; TwilioSessions and WebhookDeliveries the call
	// sessions and pending or logged deliveries of the leads deleted.
	ImportRejects     int64 `json:"import_rejects_deleted"`
	TwilioSessions    int64 `json:"twilio_sessions_deleted"`
	WebhookDeliveries int64 `json:"webhook_deliveries_deleted"`
}

// eventKeys are the members of event data an erasure keeps (with a short
// value without spaces, a number or a boolean): what happened, never who to
// or why in words (reasons, notes, URLs and references are dropped).
var eventKeys = []string{"attempt_id", "attempt", "driver", "disposition", "status", "sip_code", "class", "sla_hours", "from", "to",
	"source", "import_id", "conversion", "points", "type", "at", "half_life_days", "next_attempt_at", "stage", "score", "threshold",
	"action", "leads"}

// EraseLead erases the person a lead is: every lead with its number, in
// every campaign, in one transaction. Their name, e-mail, company,
// address, time zone, external id, attributes, consent IP and page and
// number go; each lead keeps its row with the non-personal facts reports
// and compliance need (status, class, scores, sales stage and times,
// consent source, text, version and time, calls with their dispositions
// and answers), erased_at set and "erased:<id>" for a number. Leads
// waiting for a call are blocked; leads in the sales pipeline are closed
// lost (the dashboards' counts do not change). Event data keeps only
// eventKeys; the leads' webhook deliveries and Twilio sessions, the
// import rows with the number or e-mail, and the calls' provider ids and
// saved script state are deleted, and the errors River recorded for their
// dial jobs cleared. The number is put on the do-not-call list
// as PhoneHash, its plain entry and the list's history of it replaced by
// the hash, so the person is never called again. Every erased lead gets a
// lead.erased event by actor.
//
// A lead erased before returns AlreadyErased; ErrNotFound when there is
// no such lead; ErrErasureDuringCall while one of them is being called.
func (s *Store) EraseLead(ctx context.Context, leadID int64, actor string) (*Erasure, error) {
	if actor == "" {
		actor = "system"
	}
	er := &Erasure{}
	err := s.Tx(ctx, func(tx pgx.Tx) error {
		var phone string
		var erased bool
		err := tx.QueryRow(ctx, `SELECT phone, erased_at IS NOT NULL FROM leads WHERE id = $1 FOR UPDATE`, leadID).Scan(&phone, &erased)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("erase lead %d: %w", leadID, err)
		}
		if erased {
			er.LeadIDs, er.AlreadyErased = []int64{leadID}, true
			return nil
		}
		return s.erase(ctx, tx, phone, actor, er)
	})
	if err != nil {
		return nil, err
	}
	return er, nil
}

// erase is EraseLead's work on the leads with phone, in tx.
func (s *Store) erase(ctx context.Context, tx pgx.Tx, phone, actor string, er *Erasure) error {
	now := s.now()
	emails := []string{}
	var dialing bool
	rows, err := tx.Query(ctx, `SELECT id, coalesce(lower(email), ''), status = 'dialing'
			OR EXISTS (SELECT 1 FROM call_attempts a WHERE a.lead_id = l.id AND a.state <> 'finished')
		FROM leads l WHERE phone = $1 ORDER BY id FOR UPDATE`, phone)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	var id int64
	var email string
	var onCall bool
	if _, err := pgx.ForEachRow(rows, []any{&id, &email, &onCall}, func() error {
		er.LeadIDs = append(er.LeadIDs, id)
		if email != "" {
			emails = append(emails, email)
		}
		dialing = dialing || onCall
		return nil
	}); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	if dialing {
		return ErrErasureDuringCall
	}
	ids := er.LeadIDs

	// The do-not-call list: the number's entry (or a new one) becomes its
	// hash, and its history names the hash.
	err = tx.QueryRow(ctx, `WITH d AS (DELETE FROM dnc WHERE phone = $1 RETURNING source, created_at),
		h AS (INSERT INTO dnc_hashes (phone_hash, source, actor, listed_at, erased_at)
			SELECT qualdial_phone_hash($1), coalesce((SELECT source FROM d), 'erasure'), $2, coalesce((SELECT created_at FROM d), $3), $3
			ON CONFLICT (phone_hash) DO NOTHING)
		SELECT EXISTS (SELECT 1 FROM d)`, phone, actor, now).Scan(&er.WasOnDNC)
	if err != nil {
		return fmt.Errorf("erase: do-not-call list: %w", err)
	}
	hashed := hashedPhone(phone)
	if _, err := tx.Exec(ctx, `UPDATE dnc_changes SET phone = $2, reason = NULL WHERE phone = $1`, phone, hashed); err != nil {
		return fmt.Errorf("erase: do-not-call history: %w", err)
	}
	if !er.WasOnDNC {
		if _, err := tx.Exec(ctx, `INSERT INTO dnc_changes (phone, action, source, actor, at) VALUES ($1, 'added', 'erasure', $2, $3)`,
			hashed, actor, now); err != nil {
			return fmt.Errorf("erase: do-not-call history: %w", err)
		}
	}

	// What is deleted outright: call sessions (they hold the number),
	// webhook deliveries (a pending one would send the erased lead; a
	// logged one may hold the CRM's answer about it), idempotency keys
	// (their answer is the lead), import rows.
	tag, err := tx.Exec(ctx, `DELETE FROM twilio_sessions WHERE attempt_id IN (SELECT id FROM call_attempts WHERE lead_id = ANY($1))
		OR strpos(data::text, $2) > 0`, ids, phone)
	if err != nil {
		return fmt.Errorf("erase: call sessions: %w", err)
	}
	er.TwilioSessions = tag.RowsAffected()
	tag, err = tx.Exec(ctx, `DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM lead_events WHERE lead_id = ANY($1))`, ids)
	if err != nil {
		return fmt.Errorf("erase: webhook deliveries: %w", err)
	}
	er.WebhookDeliveries = tag.RowsAffected()
	// An idempotency key replays the answer that created a lead: the lead.
	if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE lead_id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("erase: idempotency keys: %w", err)
	}
	// An import row is the person's when its digits hold the number
	// (international or national: without a country code of 1 to 3
	// digits, of at least 8 digits left) or its text holds their e-mail.
	tag, err = tx.Exec(ctx, `DELETE FROM import_rejects
		WHERE regexp_replace(raw, '[^0-9]', '', 'g') ~ $1 OR (cardinality($2::text[]) > 0 AND lower(raw) ~ $3)`,
		digitsPattern(phone), emails, emailPattern(emails))
	if err != nil {
		return fmt.Errorf("erase: import rows: %w", err)
	}
	er.ImportRejects = tag.RowsAffected()

	// The calls: their facts stay; the provider's call ids (which lead
	// back to the number at the provider), the saved script state (the
	// lead's fields) and reasons that quote the number go.
	if _, err := tx.Exec(ctx, `UPDATE call_attempts SET provider_call_id = NULL, engine_state = NULL,
			reason = CASE WHEN regexp_replace(reason, '[^0-9]', '', 'g') ~ $2 THEN NULL ELSE reason END
		WHERE lead_id = ANY($1)`, ids, digitsPattern(phone)); err != nil {
		return fmt.Errorf("erase: calls: %w", err)
	}
	// Their dial jobs' recorded errors may quote the number (River keeps
	// finished jobs a few days).
	if _, err := tx.Exec(ctx, `UPDATE river_job SET errors = NULL
		WHERE kind = 'dial_lead' AND errors IS NOT NULL AND args->>'lead_id' = ANY($1::bigint[]::text[])`, ids); err != nil {
		return fmt.Errorf("erase: dial jobs: %w", err)
	}
	// The events: their data keeps eventKeys with short values.
	if _, err := tx.Exec(ctx, `UPDATE lead_events e SET data = (
			SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM jsonb_each(e.data) AS x(k, v)
			WHERE k = ANY($2) AND (jsonb_typeof(v) IN ('number', 'boolean')
				OR (jsonb_typeof(v) = 'string' AND v #>> '{}' ~ '^[A-Za-z0-9_.:+-]{1,40}$'
					AND regexp_replace(v #>> '{}', '[^0-9]', '', 'g') !~ $3)))
		WHERE lead_id = ANY($1)`, ids, eventKeys, digitsPattern(phone)); err != nil {
		return fmt.Errorf("erase: events: %w", err)
	}
	// The consent records keep what was consented to, not the person's
	// IP and page (the one change their trigger allows, while erasing).
	if _, err := tx.Exec(ctx, `SET LOCAL qualdial.erasing = 'on'`); err != nil {
		return fmt.Errorf("erase: consent records: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE consent_records SET ip = NULL, page = NULL WHERE lead_id = ANY($1) AND (ip IS NOT NULL OR page IS NOT NULL)`, ids); err != nil {
		return fmt.Errorf("erase: consent records: %w", err)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL qualdial.erasing = 'off'`); err != nil {
		return fmt.Errorf("erase: consent records: %w", err)
	}
	// The leads themselves.
	if _, err := tx.Exec(ctx, `UPDATE leads SET phone = 'erased:' || id, first_name = NULL, last_name = NULL, email = NULL,
			company = NULL, time_zone = NULL, region = NULL, postal_code = NULL, external_id = NULL, attributes = '{}',
			consent_ip = NULL, consent_page = NULL,
			status = CASE WHEN status IN ('new', 'queued', 'scheduled', 'retry_wait') THEN 'blocked' ELSE status END,
			status_reason = 'erased at the person''s request; the number is on the do-not-call list as a hash',
			next_attempt_at = NULL, recall_at = NULL, dial_job = NULL,
			closed_at = CASE WHEN sales_stage IN ('open', 'accepted', 'contacted') THEN $2 ELSE closed_at END,
			sales_stage = CASE WHEN sales_stage IN ('open', 'accepted', 'contacted') THEN 'lost' ELSE sales_stage END,
			erased_at = $2, updated_at = $2
		WHERE id = ANY($1)`, ids, now); err != nil {
		return fmt.Errorf("erase: leads: %w", err)
	}
	for _, id := range ids {
		// The number's hash, as the do-not-call list keeps it: the
		// lead's compliance pack finds its entry by it.
		if err := s.AddEvent(ctx, tx, id, actor, EventLeadErased, map[string]any{"leads": len(ids), "phone_hash": hashedPhone(phone)}); err != nil {
			return err
		}
	}
	return nil
}

// digitsPattern matches a string of digits that holds the number: whole
// (without its +), or without a country code of 1 to 3 digits when at
// least 8 digits are left.
func digitsPattern(e164 string) string {
	d := strings.TrimPrefix(e164, "+")
	alts := []string{d}
	for cc := 1; cc <= 3 && len(d)-cc >= 8; cc++ {
		alts = append(alts, d[cc:])
	}
	return strings.Join(alts, "|")
}

// emailPattern matches text that holds one of the (lower-case) addresses.
func emailPattern(emails []string) string {
	if len(emails) == 0 {
		return "$^"
	}
	q := make([]string, len(emails))
	for i, e := range emails {
		q[i] = regexp.QuoteMeta(e)
	}
	return strings.Join(q, "|")
}
