package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CreateSession stores a webhook-driven call's session (opaque JSON).
func (s *Store) CreateSession(ctx context.Context, token string, data []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO twilio_sessions (token, data, created_at, updated_at) VALUES ($1, $2, $3, $3)`, token, data, s.now())
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
	return data, err
}

// UpdateSession changes a session atomically: fn gets the current JSON under
// a row lock and returns the new one, so concurrent webhooks (Twilio
// retries, replicas) see each other's changes.
func (s *Store) UpdateSession(ctx context.Context, token string, fn func([]byte) ([]byte, error)) error {
	return s.Tx(ctx, func(tx pgx.Tx) error {
		var data []byte
		err := tx.QueryRow(ctx, `SELECT data FROM twilio_sessions WHERE token = $1 FOR UPDATE`, token).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err := fn(data)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE twilio_sessions SET data = $2, call_sid = coalesce(nullif($2::jsonb->>'call_sid', ''), call_sid), updated_at = $3 WHERE token = $1`, token, out, s.now())
		return err
	})
}
