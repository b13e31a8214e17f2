package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/ivr"
)

// CreateSession stores a webhook-driven call's session (opaque JSON). An
// "attempt_id" member ties the session to its call attempt.
func (s *Store) CreateSession(ctx context.Context, token string, data []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO twilio_sessions (token, data, attempt_id, created_at, updated_at)
		VALUES ($1, $2, nullif($2::jsonb->>'attempt_id', '')::bigint, $3, $3)`, token, data, s.now())
	if err != nil {
		return fmt.Errorf("create call session: %w", err)
	}
	return nil
}

// Session loads a session's JSON.
func (s *Store) Session(ctx context.Context, token string) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM twilio_sessions WHERE token = $1`, token).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load call session: %w", err)
	}
	return data, nil
}

// UpdateSession changes a session atomically: fn gets the current JSON under
// a row lock and returns the new one, so concurrent webhooks (Twilio
// retries, replicas) see each other's changes.
func (s *Store) UpdateSession(ctx context.Context, token string, fn func([]byte) ([]byte, error)) error {
	return s.UpdateSessionHeard(ctx, token, func(b []byte) ([]byte, *ivr.State, error) {
		out, err := fn(b)
		return out, nil, err
	})
}

// UpdateSessionHeard is UpdateSession for a webhook that may have heard an
// answer: fn also returns the script's state (nil: nothing to save). In the
// same transaction as the session, the state is saved on the session's
// attempt — what the attempt is settled from if the worker that placed the
// call is gone — and a state that ended with the opt-out key puts the
// lead's number on the do-not-call list. The webhook answers Twilio (the
// goodbye) only after this commits.
func (s *Store) UpdateSessionHeard(ctx context.Context, token string, fn func([]byte) ([]byte, *ivr.State, error)) error {
	return s.Tx(ctx, func(tx pgx.Tx) error {
		var data []byte
		var attemptID *int64
		err := tx.QueryRow(ctx, `SELECT data, attempt_id FROM twilio_sessions WHERE token = $1 FOR UPDATE`, token).Scan(&data, &attemptID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock call session: %w", err)
		}
		out, st, err := fn(data)
		if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `UPDATE twilio_sessions SET data = $2, call_sid = coalesce(nullif($2::jsonb->>'call_sid', ''), call_sid), updated_at = $3 WHERE token = $1`,
			token, out, s.now()); err != nil {
			return fmt.Errorf("update call session: %w", err)
		}
		if st == nil || attemptID == nil {
			return nil
		}
		// Heard something: the call was answered (a no-op when the worker
		// already said so).
		var sid struct {
			CallSid string `json:"call_sid"`
		}
		if json.Unmarshal(out, &sid) == nil && sid.CallSid != "" {
			if err := s.MarkAnswered(ctx, tx, *attemptID, sid.CallSid); err != nil {
				return fmt.Errorf("mark attempt %d answered: %w", *attemptID, err)
			}
		}
		if err := s.SaveAttemptState(ctx, tx, *attemptID, *st); err != nil {
			return err
		}
		if st.Outcome != ivr.OutcomeOptedOut {
			return nil
		}
		var e DNCEntry
		err = tx.QueryRow(ctx, `SELECT l.phone, a.lead_id, a.campaign_id FROM call_attempts a JOIN leads l ON l.id = a.lead_id WHERE a.id = $1`,
			*attemptID).Scan(&e.Phone, &e.LeadID, &e.CampaignID)
		if err != nil {
			return fmt.Errorf("opt-out of attempt %d: %w", *attemptID, err)
		}
		e.Source, e.Reason, e.Actor = DNCOptOut, "pressed the opt-out key", "twilio:webhook"
		_, err = s.AddDNC(ctx, tx, e)
		return err
	})
}

// TwilioCallLive reports whether an attempt has a Twilio call that has not
// ended yet (its session not done): the call goes on in the webhooks even
// when the worker that placed it is gone, so the attempt is not settled
// while it lasts.
func TwilioCallLive(ctx context.Context, db DB, attemptID int64) (bool, error) {
	var live bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM twilio_sessions WHERE attempt_id = $1
		AND NOT coalesce((data->>'done')::boolean, false))`, attemptID).Scan(&live)
	if err != nil {
		return false, fmt.Errorf("twilio call of attempt %d: %w", attemptID, err)
	}
	return live, nil
}

// TwilioMachine returns what answered an attempt's Twilio call when
// machine detection found a machine (machine_start, machine_end_beep, fax…),
// or "" — for settling the attempt as the machine disposition from its
// session when the worker is gone.
func TwilioMachine(ctx context.Context, db DB, attemptID int64) (string, error) {
	var answeredBy string
	err := db.QueryRow(ctx, `SELECT coalesce(data->>'answered_by', '') FROM twilio_sessions WHERE attempt_id = $1
		AND coalesce((data->>'machine')::boolean, false) ORDER BY created_at DESC LIMIT 1`, attemptID).Scan(&answeredBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("twilio call of attempt %d: %w", attemptID, err)
	}
	return answeredBy, nil
}
