package store

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"
)

// WebRoles are the roles a user logs in to the web UI with (the API keys'
// roles but intake, which only web forms hold).
var WebRoles = []string{RoleAdmin, RoleMarketing, RoleSales}

// User is a person who logs in to the web UI.
type User struct {
	ID    int64
	Name  string
	Email string
	Role  string
	// MustChangePassword: the password was given by an administrator.
	MustChangePassword bool
	LastLoginAt        *time.Time
	Disabled           bool
}

// ErrBadLogin is returned for an unknown e-mail, a wrong password or a
// disabled user alike: a login attempt learns nothing about which.
var ErrBadLogin = errors.New("wrong e-mail or password")

// MinPasswordLen is the shortest password a user may choose.
const MinPasswordLen = 12

// argon2id parameters (RFC 9106's second recommendation, memory-bounded).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
)

// argonParams is argon2id's cost for new hashes.
type argonParams struct{ memory, passes uint32 }

// hash hashes a password with argon2id into the PHC string format.
func (a argonParams) hash(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, a.passes, a.memory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.memory, a.passes, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkPassword reports whether password matches a PHC argon2id hash.
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var memory, iterations uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &iterations, &threads); err != nil || memory > 1<<20 || iterations > 10 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, iterations, memory, threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// oneTimePassword is a random password to give a new user once.
func oneTimePassword() (string, error) {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil // 20 characters
}

const userColumns = `id, name, coalesce(email, ''), coalesce(role, ''), must_change_password, last_login_at, disabled_at IS NOT NULL`

func scanUser(row pgx.Row) (*User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.Role, &u.MustChangePassword, &u.LastLoginAt, &u.Disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &u, err
}

// CreateUser adds a user who logs in to the web UI with email and a
// one-time password, returned once: they choose their own at the first
// login. A user with that e-mail (any case) already exists: ErrConflict.
func (s *Store) CreateUser(ctx context.Context, email, name, role string) (*User, string, error) {
	email = strings.TrimSpace(email)
	if name = strings.TrimSpace(name); name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	password, err := oneTimePassword()
	if err != nil {
		return nil, "", err
	}
	hash, err := s.argon.hash(password)
	if err != nil {
		return nil, "", err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `INSERT INTO users (name, email, role, password_hash, must_change_password, created_at)
		VALUES ($1, $2, $3, $4, true, $5) ON CONFLICT DO NOTHING RETURNING `+userColumns, name, email, role, hash, s.now()))
	if errors.Is(err, ErrNotFound) {
		return nil, "", fmt.Errorf("a user with the e-mail %s exists: %w", email, ErrConflict)
	}
	if err != nil {
		return nil, "", fmt.Errorf("create user %s: %w", email, err)
	}
	return u, password, nil
}

// Login checks an e-mail and password and records the login. Any failure
// is ErrBadLogin.
func (s *Store) Login(ctx context.Context, email, password string) (*User, error) {
	var hash *string
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id, password_hash FROM users WHERE lower(email) = lower($1) AND disabled_at IS NULL`,
		strings.TrimSpace(email)).Scan(&id, &hash)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && hash == nil) {
		checkPassword(s.dummy(), password) // as long as for a user who exists
		return nil, ErrBadLogin
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if !checkPassword(*hash, password) {
		return nil, ErrBadLogin
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `UPDATE users SET last_login_at = $2 WHERE id = $1 RETURNING `+userColumns, id, s.now()))
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return u, nil
}

// UserByID loads a user who may log in (not disabled): ErrNotFound else.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND disabled_at IS NULL AND password_hash IS NOT NULL`, id))
}

// SetPassword gives a user the password they chose, after checking their
// current one.
func (s *Store) SetPassword(ctx context.Context, id int64, current, next string) error {
	var hash *string
	if err := s.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1 AND disabled_at IS NULL`, id).Scan(&hash); err != nil {
		return fmt.Errorf("user %d: %w", id, ErrBadLogin)
	}
	if hash == nil || !checkPassword(*hash, current) {
		return ErrBadLogin
	}
	h, err := s.argon.hash(next)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $2, must_change_password = false WHERE id = $1`, id, h); err != nil {
		return fmt.Errorf("user %d password: %w", id, err)
	}
	return nil
}

// Users lists the users, by id.
func (s *Store) Users(ctx context.Context) ([]*User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*User, error) { return scanUser(row) })
}
