package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Roles an API key may have.
const (
	RoleAdmin     = "admin"
	RoleMarketing = "marketing"
	RoleSales     = "sales"
	RoleIntake    = "intake" // may only create leads: what a web form holds
)

// APIKey is an API key's identity (never its secret).
type APIKey struct {
	ID     int64
	Name   string
	Role   string
	Prefix string
	UserID int64 // 0 for keys without a person (intake)
	// HMACSecret, when set, means requests with this key must be signed
	// (form providers that sign their webhooks).
	HMACSecret string
}

// ErrBadKey is returned for a missing, malformed, unknown or revoked key.
var ErrBadKey = errors.New("invalid API key")

// CreateAPIKey makes a key and returns it in full, the only time it is ever
// shown: only its SHA-256 is stored. Keys of people (admin, marketing,
// sales) get a user of the same name, so sales claims have an owner.
func (s *Store) CreateAPIKey(ctx context.Context, role, name string) (string, *APIKey, error) {
	switch role {
	case RoleAdmin, RoleMarketing, RoleSales, RoleIntake:
	default:
		return "", nil, fmt.Errorf("role %q: use admin, marketing, sales or intake", role)
	}
	if strings.TrimSpace(name) == "" {
		return "", nil, errors.New("a key needs a name, e.g. the rep or the form it is for")
	}
	prefix, secret := make([]byte, 4), make([]byte, 24)
	if _, err := rand.Read(prefix); err != nil {
		return "", nil, err
	}
	if _, err := rand.Read(secret); err != nil {
		return "", nil, err
	}
	k := &APIKey{Name: name, Role: role, Prefix: "qd_" + hex.EncodeToString(prefix)}
	token := k.Prefix + "_" + hex.EncodeToString(secret)
	sum := sha256.Sum256([]byte(token))
	err := s.Tx(ctx, func(tx pgx.Tx) error {
		var user any
		if role != RoleIntake {
			if err := tx.QueryRow(ctx, `INSERT INTO users (name, created_at) VALUES ($1, $2) RETURNING id`, name, s.now()).Scan(&k.UserID); err != nil {
				return err
			}
			user = k.UserID
		}
		return tx.QueryRow(ctx, `INSERT INTO api_keys (user_id, name, role, prefix, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			user, name, role, k.Prefix, sum[:], s.now()).Scan(&k.ID)
	})
	if err != nil {
		return "", nil, fmt.Errorf("create API key: %w", err)
	}
	return token, k, nil
}

// Authenticate finds the key a token belongs to.
func (s *Store) Authenticate(ctx context.Context, token string) (*APIKey, error) {
	parts := strings.Split(token, "_")
	if len(parts) != 3 || parts[0] != "qd" {
		return nil, ErrBadKey
	}
	k := &APIKey{Prefix: parts[0] + "_" + parts[1]}
	var hash, hmacSecret []byte
	var user *int64
	err := s.pool.QueryRow(ctx, `SELECT id, name, role, user_id, secret_hash, hmac_secret FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL`,
		k.Prefix).Scan(&k.ID, &k.Name, &k.Role, &user, &hash, &hmacSecret)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrBadKey
	}
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], hash) != 1 {
		return nil, ErrBadKey
	}
	if user != nil {
		k.UserID = *user
	}
	k.HMACSecret = string(hmacSecret)
	return k, nil
}

// RequireSignature gives a key a new signing secret and returns it: from
// now on requests with the key must carry an HMAC signature.
func (s *Store) RequireSignature(ctx context.Context, keyID int64) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	secret := "whsec_" + hex.EncodeToString(b)
	_, err := s.pool.Exec(ctx, `UPDATE api_keys SET hmac_secret = $2 WHERE id = $1`, keyID, []byte(secret))
	return secret, err
}
