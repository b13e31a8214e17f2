package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/qualdial/qualdial/store"
)

// keyTTL is how long a replica trusts a key it has checked before it asks
// the database again. A key revoked elsewhere (on another replica, or with
// "qualdial apikey revoke") stops working here within keyTTL; one revoked
// through this replica's API stops at once.
const keyTTL = 3 * time.Second

// keyTouchEvery is how often a replica records a key's use (last_used_at).
const keyTouchEvery = time.Minute

// keyCache remembers valid keys for keyTTL, so a busy rep's requests do not
// each look their key up, and records each key's use about once a minute.
type keyCache struct {
	log *slog.Logger

	mu      sync.Mutex
	keys    map[string]cachedKey // by token
	touched map[int64]time.Time  // key id → when this replica last recorded a use
	revoked map[int64]bool       // keys revoked through this replica: never cached again
}

type cachedKey struct {
	key     *store.APIKey
	expires time.Time
}

func (c *keyCache) authenticate(ctx context.Context, st *store.Store, token string) (*store.APIKey, error) {
	now := time.Now()
	c.mu.Lock()
	if k, ok := c.keys[token]; ok && now.Before(k.expires) {
		c.mu.Unlock()
		return k.key, nil
	}
	c.mu.Unlock()
	key, err := st.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) > 10000 {
		c.keys, c.touched = map[string]cachedKey{}, map[int64]time.Time{}
	}
	if c.revoked[key.ID] { // revoked here while the lookup ran
		c.mu.Unlock()
		return nil, store.ErrBadKey
	}
	c.keys[token] = cachedKey{key: key, expires: now.Add(keyTTL)}
	touch := now.Sub(c.touched[key.ID]) >= keyTouchEvery
	if touch {
		c.touched[key.ID] = now
	}
	c.mu.Unlock()
	if touch {
		if err := st.TouchAPIKey(ctx, key.ID, st.Now()); err != nil && !errors.Is(err, context.Canceled) && c.log != nil {
			c.log.WarnContext(ctx, "cannot record the use of an API key", "key_id", key.ID, "error", err)
		}
	}
	return key, nil
}

// forget drops a revoked key at once and keeps it from being cached again.
func (c *keyCache) forget(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for token, k := range c.keys {
		if k.key.ID == id {
			delete(c.keys, token)
		}
	}
	if c.revoked == nil {
		c.revoked = map[int64]bool{}
	}
	c.revoked[id] = true
}

// listAPIKeys lists every key, revoked ones included, without secrets.
func (s *server) listAPIKeys(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	keys, err := s.store.ListAPIKeys(r.Context())
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []store.APIKeyInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": keys})
	return nil
}

// revokeAPIKey revokes a key; revoking a revoked key is not an error.
func (s *server) revokeAPIKey(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	revoked, err := s.store.RevokeAPIKey(r.Context(), id, s.store.Now())
	if errors.Is(err, store.ErrNotFound) {
		return notFound("API key")
	}
	if err != nil {
		return err
	}
	s.keys.forget(id)
	s.cfg.Logger.InfoContext(r.Context(), "API key revoked", "key_id", id, "prefix", revoked.Prefix, "by_key_id", key.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
