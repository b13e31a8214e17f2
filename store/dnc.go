package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DNC sources: how a number came onto the do-not-call list.
const (
	DNCOptOut = "opt_out" // pressed the opt-out key
	DNCManual = "manual"
	DNCImport = "import"
	DNCAPI    = "api"
)

// DNCEntry puts a number on the do-not-call list.
type DNCEntry struct {
	Phone  string // E.164
	Source string // opt_out, manual, import, api, carrier_block
	Reason string
	// CampaignID and LeadID say where an opt-out happened (0: none).
	CampaignID, LeadID int64
	// Actor is who did it: api_key:12, worker:host/pid, user:3.
	Actor string
}

// OnDNC reports whether a number is on the do-not-call list: as itself,
// or as the hash an erasure left (dnc_hashes).
func OnDNC(ctx context.Context, db DB, phone string) (bool, error) {
	var on bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dnc WHERE phone = $1)
		OR EXISTS (SELECT 1 FROM dnc_hashes WHERE phone_hash = qualdial_phone_hash($1))`, phone).Scan(&on)
	return on, err
}

// OnDNCMany says which of phones are on the do-not-call list, in one
// statement.
func OnDNCMany(ctx context.Context, db DB, phones []string) (map[string]bool, error) {
	rows, err := db.Query(ctx, `SELECT phone FROM dnc WHERE phone = ANY($1)
		UNION SELECT p FROM unnest($1::text[]) p JOIN dnc_hashes h ON h.phone_hash = qualdial_phone_hash(p)`, phones)
	if err != nil {
		return nil, fmt.Errorf("do-not-call list: %w", err)
	}
	on := map[string]bool{}
	var p string
	if _, err := pgx.ForEachRow(rows, []any{&p}, func() error { on[p] = true; return nil }); err != nil {
		return nil, fmt.Errorf("do-not-call list: %w", err)
	}
	return on, nil
}

// AddDNC puts a number on the do-not-call list. Adding a number already on
// it changes nothing and returns false. A change is recorded in the list's
// history and as a dnc.added event of every lead with that number.
func (s *Store) AddDNC(ctx context.Context, db DB, e DNCEntry) (added bool, err error) {
	if e.Actor == "" {
		e.Actor = "system"
	}
	now := s.now()
	tag, err := db.Exec(ctx, `INSERT INTO dnc (phone, source, reason, campaign_id, lead_id, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (phone) DO NOTHING`, e.Phone, e.Source, nullString(e.Reason), zeroNull(e.CampaignID), zeroNull(e.LeadID), e.Actor, now)
	if err != nil {
		return false, fmt.Errorf("add %s to DNC: %w", e.Phone, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	return true, s.dncChanged(ctx, db, e.Phone, "added", e.Source, e.Reason, e.Actor, now)
}

// RemoveDNC takes a number off the do-not-call list (its hash too, when an
// erasure left one); false if it was not on it. The change is recorded
// like an addition (dnc.removed events).
func (s *Store) RemoveDNC(ctx context.Context, db DB, phone, actor, reason string) (bool, error) {
	if actor == "" {
		actor = "system"
	}
	var plain, hashed int
	err := db.QueryRow(ctx, `WITH d AS (DELETE FROM dnc WHERE phone = $1 RETURNING 1),
		h AS (DELETE FROM dnc_hashes WHERE phone_hash = qualdial_phone_hash($1) RETURNING 1)
		SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM h)`, phone).Scan(&plain, &hashed)
	if err != nil || plain+hashed == 0 {
		return false, err
	}
	if plain == 0 {
		// Only an erased person's hash was on the list: the history keeps
		// the hash, as the erasure left it, never the number.
		phone = hashedPhone(phone)
	}
	return true, s.dncChanged(ctx, db, phone, "removed", "", reason, actor, s.now())
}

func (s *Store) dncChanged(ctx context.Context, db DB, phone, action, source, reason, actor string, at time.Time) error {
	if _, err := db.Exec(ctx, `INSERT INTO dnc_changes (phone, action, source, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		phone, action, nullString(source), nullString(reason), actor, at); err != nil {
		return fmt.Errorf("record DNC change of %s: %w", phone, err)
	}
	data, _ := jsonObject(map[string]any{"source": source, "reason": reason})
	_, err := db.Exec(ctx, `INSERT INTO lead_events (lead_id, actor, kind, data, at) SELECT id, $2, $3, $4, $5 FROM leads WHERE phone = $1`,
		phone, actor, "dnc."+action, data, at)
	if err != nil {
		return fmt.Errorf("record DNC change of %s: %w", phone, err)
	}
	return nil
}

// ErasedOnDNC counts the numbers on the do-not-call list as hashes only
// (their people were erased): they cannot be listed or exported.
func (s *Store) ErasedOnDNC(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dnc_hashes`).Scan(&n); err != nil {
		return 0, fmt.Errorf("erased numbers on the do-not-call list: %w", err)
	}
	return n, nil
}

// DNCRecord is a number on the do-not-call list.
type DNCRecord struct {
	Phone      string    `json:"phone"`
	Source     string    `json:"source"`
	Reason     string    `json:"reason,omitempty"`
	CampaignID *int64    `json:"campaign_id,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// DNCFilter pages through the do-not-call list, newest first.
type DNCFilter struct {
	// Search matches numbers containing these digits.
	Search string
	// Source filters by how numbers came onto the list.
	Source string
	// After is the cursor: the last (created_at, phone) of the previous page.
	AfterAt    time.Time
	AfterPhone string
	Limit      int
}

// DNCList lists the do-not-call list, newest first.
func (s *Store) DNCList(ctx context.Context, f DNCFilter) ([]DNCRecord, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	rows, err := s.pool.Query(ctx, `SELECT phone, source, coalesce(reason, ''), campaign_id, coalesce(actor, ''), created_at FROM dnc
		WHERE ($1 = '' OR strpos(phone, $1) > 0) AND ($2 = '' OR source = $2)
		AND ($4 = '' OR (created_at, phone) < ($3::timestamptz, $4))
		ORDER BY created_at DESC, phone DESC LIMIT $5`, f.Search, f.Source, f.AfterAt, f.AfterPhone, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list DNC: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (DNCRecord, error) {
		var r DNCRecord
		err := row.Scan(&r.Phone, &r.Source, &r.Reason, &r.CampaignID, &r.Actor, &r.CreatedAt)
		return r, err
	})
}
