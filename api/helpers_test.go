package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/store"
)

// raw sends a request without checking the answer against openapi.yaml
// (for paths and methods the document rightly does not have).
func (b *bundle) raw(t *testing.T, method, path, role, contentType string, body io.Reader, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+b.keys[role])
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// problem checks that res is a problem+json of status; with field set, one
// of its field errors must name it (and contain each of words).
func problem(t *testing.T, what string, res response, status int, field string, words ...string) {
	t.Helper()
	if res.status != status {
		t.Errorf("%s: %d, want %d: %s", what, res.status, status, res.body)
		return
	}
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: content type %q: %s", what, ct, res.body)
		return
	}
	var p struct {
		Status int
		Title  string
		Detail string
		Errors []struct{ Field, Message string }
	}
	if err := json.Unmarshal(res.body, &p); err != nil || p.Status != status || p.Title == "" {
		t.Errorf("%s: not a problem: %s", what, res.body)
		return
	}
	if field == "" {
		return
	}
	for _, e := range p.Errors {
		if e.Field != field {
			continue
		}
		for _, w := range words {
			if !strings.Contains(e.Message, w) {
				t.Errorf("%s: error on %s says %q, want it to mention %q", what, field, e.Message, w)
			}
		}
		return
	}
	t.Errorf("%s: no error on field %q: %s", what, field, res.body)
}

// due reports whether a lead waits in the schedule to be called now: the
// campaign's dispatcher hands it to a dial job when it next runs.
func (b *bundle) due(t *testing.T, leadID int64) bool {
	t.Helper()
	var due bool
	if err := b.st.Pool().QueryRow(context.Background(), `SELECT status IN ('queued', 'scheduled', 'retry_wait')
		AND next_attempt_at <= $2 FROM leads WHERE id = $1`, leadID, b.st.Now()).Scan(&due); err != nil {
		t.Fatal(err)
	}
	return due
}

// waitingLeads counts the leads waiting in the schedule, each with the time
// it is due.
func (b *bundle) waitingLeads(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM leads
		WHERE status IN ('queued', 'scheduled', 'retry_wait') AND next_attempt_at IS NOT NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// block marks a lead blocked, as the dialer's pre-dial checks do.
func (b *bundle) block(t *testing.T, leadID int64, reason string) {
	t.Helper()
	ctx := context.Background()
	err := b.st.Tx(ctx, func(tx pgx.Tx) error {
		return b.st.SetLeadStatus(ctx, tx, leadID, "worker:test", "blocked", reason, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lead reads a lead through the store.
func (b *bundle) lead(t *testing.T, id int64) *store.Lead {
	t.Helper()
	l, err := store.GetLead(context.Background(), b.st.Pool(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// events lists a lead's events as "kind by actor".
func (b *bundle) events(t *testing.T, leadID int64) []string {
	t.Helper()
	rows, err := b.st.Pool().Query(context.Background(), `SELECT kind, actor FROM lead_events WHERE lead_id = $1 ORDER BY id`, leadID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k, a string
		_ = rows.Scan(&k, &a)
		out = append(out, k+" by "+a)
	}
	return out
}

// keyID is the id of a role's key in the bundle, for actors (api_key:N).
func (b *bundle) keyID(t *testing.T, role string) int64 {
	t.Helper()
	k, err := b.st.Authenticate(context.Background(), b.keys[role])
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

// userID is the user of a role's key.
func (b *bundle) userID(t *testing.T, role string) int64 {
	t.Helper()
	k, err := b.st.Authenticate(context.Background(), b.keys[role])
	if err != nil {
		t.Fatal(err)
	}
	return k.UserID
}

// addKey adds a key of role under a new name in the bundle.
func (b *bundle) addKey(t *testing.T, name, role string) {
	t.Helper()
	token, _, err := b.st.CreateAPIKey(context.Background(), role, name)
	if err != nil {
		t.Fatal(err)
	}
	b.keys[name] = token
}

// leadID reads the lead id of a LeadCreated or LeadEnvelope answer.
func leadID(t *testing.T, res response) int64 {
	t.Helper()
	l, ok := res.json(t)["lead"].(map[string]any)
	if !ok {
		t.Fatalf("no lead in %d %s", res.status, res.body)
	}
	return int64(l["id"].(float64))
}

func path(format string, args ...any) string { return fmt.Sprintf(format, args...) }
