package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// TestAPIKeysListAndRevoke: admins list keys without their secrets and
// revoke them; a revoked key is refused at once by the server that revoked
// it, even though it had just been used (and cached).
func TestAPIKeysListAndRevoke(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.do(t, "GET", "/v1/apikeys", store.RoleAdmin, "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("list: %d %s", res.status, res.body)
	}
	for role, token := range b.keys {
		if strings.Contains(string(res.body), token[len("qd_01234567_"):]) {
			t.Fatalf("the listing shows the %s key's secret: %s", role, res.body)
		}
	}
	keys := res.json(t)["api_keys"].([]any)
	if len(keys) != 4 {
		t.Fatalf("%d keys listed: %s", len(keys), res.body)
	}
	var salesID int64
	for _, k := range keys {
		k := k.(map[string]any)
		switch k["role"] {
		case store.RoleSales:
			salesID = int64(k["id"].(float64))
		case store.RoleAdmin:
			if k["last_used_at"] == nil { // the listing request itself used it
				t.Errorf("admin key's use not recorded: %v", k)
			}
		}
	}
	if res := b.do(t, "GET", "/v1/apikeys", store.RoleMarketing, "", nil); res.status != http.StatusForbidden {
		t.Errorf("marketing lists keys: %d", res.status)
	}
	if res := b.do(t, "DELETE", fmt.Sprintf("/v1/apikeys/%d", salesID), store.RoleMarketing, "", nil); res.status != http.StatusForbidden {
		t.Errorf("marketing revokes a key: %d", res.status)
	}

	// The sales key works (and is now cached) until it is revoked.
	if res := b.do(t, "POST", "/v1/leads/next", store.RoleSales, "", nil); res.status != http.StatusNoContent {
		t.Fatalf("sales key before revoking: %d %s", res.status, res.body)
	}
	path := fmt.Sprintf("/v1/apikeys/%d", salesID)
	if res := b.do(t, "DELETE", path, store.RoleAdmin, "", nil); res.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	if res := b.do(t, "POST", "/v1/leads/next", store.RoleSales, "", nil); res.status != http.StatusUnauthorized {
		t.Fatalf("revoked key on the server that revoked it: %d, want 401 at once", res.status)
	}
	if res := b.do(t, "DELETE", path, store.RoleAdmin, "", nil); res.status != http.StatusNoContent {
		t.Errorf("revoking again: %d %s", res.status, res.body)
	}
	for p, want := range map[string]int{"/v1/apikeys/999999": http.StatusNotFound, "/v1/apikeys/abc": http.StatusBadRequest} {
		if res := b.do(t, "DELETE", p, store.RoleAdmin, "", nil); res.status != want || res.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("DELETE %s: %d %s; want %d problem", p, res.status, res.header.Get("Content-Type"), want)
		}
	}
	res = b.do(t, "GET", "/v1/apikeys", store.RoleAdmin, "", nil)
	for _, k := range res.json(t)["api_keys"].([]any) {
		k := k.(map[string]any)
		if revoked := k["revoked_at"] != nil; revoked != (k["role"] == store.RoleSales) {
			t.Errorf("after revoking the sales key: %v", k)
		}
	}
}

// TestRevokedKeyStopsOnAnotherReplica: a second server on the same database
// that has the key cached refuses it within a few seconds of the revocation.
func TestRevokedKeyStopsOnAnotherReplica(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, call := b.anotherServer(t)
	if code := call(); code != http.StatusNoContent { // cached there now
		t.Fatalf("other replica before revoking: %d", code)
	}
	keys, _ := b.st.ListAPIKeys(t.Context())
	var salesID int64
	for _, k := range keys {
		if k.Role == store.RoleSales {
			salesID = k.ID
		}
	}
	if res := b.do(t, "DELETE", fmt.Sprintf("/v1/apikeys/%d", salesID), store.RoleAdmin, "", nil); res.status != http.StatusNoContent {
		t.Fatalf("revoke: %d", res.status)
	}
	revoked := time.Now()
	const bound = 6 * time.Second // the cache's 3 s, with room for a slow machine
	for {
		code := call()
		if code == http.StatusUnauthorized {
			t.Logf("the other replica refused the key %s after the revocation", time.Since(revoked).Round(time.Millisecond))
			return
		}
		if code != http.StatusNoContent {
			t.Fatalf("other replica: %d", code)
		}
		if time.Since(revoked) > bound {
			t.Fatalf("the other replica still accepts the revoked key after %s", bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestForgetAPIKeyRefusesAtOnce: a key revoked outside the API (the web
// UI's keys page, in the same process) is refused at once once the API is
// told, although it had just been used (and cached).
func TestForgetAPIKeyRefusesAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h, call := b.anotherServer(t)
	if code := call(); code != http.StatusNoContent { // cached now
		t.Fatalf("before revoking: %d", code)
	}
	key, err := b.st.Authenticate(t.Context(), b.keys[store.RoleSales])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.RevokeAPIKey(t.Context(), key.ID, b.st.Now()); err != nil {
		t.Fatal(err)
	}
	h.ForgetAPIKey(key.ID)
	if code := call(); code != http.StatusUnauthorized {
		t.Errorf("right after the revocation: %d", code)
	}
}

// anotherServer starts a second API on the bundle's database (another
// replica, or the API beside a web UI) and returns it with a function that
// asks it for the next sales lead with the sales key, returning the status.
func (b *bundle) anotherServer(t *testing.T) (*api.Server, func() int) {
	t.Helper()
	q, err := queue.New(b.st, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Store: b.st, Dialer: q})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, func() int {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/leads/next", nil)
		req.Header.Set("Authorization", "Bearer "+b.keys[store.RoleSales])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
}
