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
	"time"

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

// APIKeyInfo is what a listing shows of a key: never its secret, its hash
// or its signing secret.
type APIKeyInfo struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Prefix string `json:"prefix"`
	// UserID is the person the key belongs to (a rep's, for assigning
	// sales leads); nil for keys of no one (intake).
	UserID *int64 `json:"user_id"`
	// Signed is set when requests with the key must be HMAC-signed.
	Signed    bool      `json:"signed"`
	CreatedAt time.Time `json:"created_at"`
	// LastUsedAt is when the key last authenticated a request, to within a
	// minute (see TouchAPIKey); nil if never.
	LastUsedAt *time.Time `json:"last_used_at"`
	// RevokedAt is when the key was revoked; nil while it works.
	RevokedAt *time.Time `json:"revoked_at"`
}

const apiKeyInfoColumns = `id, name, role, prefix, user_id, hmac_secret IS NOT NULL, created_at, last_used_at, revoked_at`

func scanAPIKeyInfo(row pgx.Row) (*APIKeyInfo, error) {
	var k APIKeyInfo
	if err := row.Scan(&k.ID, &k.Name, &k.Role, &k.Prefix, &k.UserID, &k.Signed, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	return &k, nil
}

// ListAPIKeys returns every key, revoked ones included, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]APIKeyInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyInfoColumns+` FROM api_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKeyInfo, error) {
		k, err := scanAPIKeyInfo(row)
		if err != nil {
			return APIKeyInfo{}, err
		}
		return *k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey revokes a key at the given time and returns it. Revoking a
// revoked key changes nothing: it keeps the time of its first revocation.
// An unknown id is ErrNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64, at time.Time) (*APIKeyInfo, error) {
	k, err := scanAPIKeyInfo(s.pool.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2)
		WHERE id = $1 RETURNING `+apiKeyInfoColumns, id, at))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("revoke API key %d: %w", id, err)
	}
	return k, nil
}

// TouchAPIKey records that a key was used at the given time. It writes only
// when the recorded use is a minute old or more, so that callers may call it
// for every request and busy keys do not each cost a row update.
func (s *Store) TouchAPIKey(ctx context.Context, id int64, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - interval '1 minute')`, id, at)
	if err != nil {
		return fmt.Errorf("record use of API key %d: %w", id, err)
	}
	return nil
}
