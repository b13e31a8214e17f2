package queue_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// TestWebhookDeliveredWithRetries: a CRM endpoint that fails first gets the
// same signed event again, and the delivery is logged with its statuses.
func TestWebhookDeliveredWithRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type hit struct {
		id, event, sig, ts string
		body               []byte
	}
	var mu sync.Mutex
	var hits []hit
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits = append(hits, hit{r.Header.Get("X-Qualdial-Event-Id"), r.Header.Get("X-Qualdial-Event"), r.Header.Get("X-Qualdial-Signature"), r.Header.Get("X-Qualdial-Timestamp"), b})
		n := len(hits)
		mu.Unlock()
		if n == 1 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer crm.Close()

	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"sip": nil}, WebhookInterval: 200 * time.Millisecond,
		WebhookBackoff: 100 * time.Millisecond, ReconcileInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	sub, err := st.CreateSubscription(ctx, crm.URL, []string{"lead.contacted"})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := st.CreateCampaign(ctx, store.CampaignParams{Name: "wh", ScriptID: "bant-en", CallerID: "+15550100"})
	id, _, _ := st.InsertLead(ctx, st.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550123", FirstName: "Ann"})
	if _, err := st.Pool().Exec(ctx, `UPDATE leads SET route = 'sales', sales_stage = 'open', sla_due_at = now() + interval '1 day', sla_status = 'pending' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transition(ctx, id, store.SalesActor{Admin: true}, store.ActionContacted, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		var attempts int
		st.Pool().QueryRow(ctx, `SELECT state, attempts FROM webhook_deliveries`).Scan(&state, &attempts)
		if state == "delivered" {
			if attempts != 2 {
				t.Errorf("delivered after %d attempts, want 2", attempts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: state %q after %d attempts", state, attempts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 2 || hits[0].id != hits[1].id || hits[0].id == "" || hits[0].event != "lead.contacted" {
		t.Fatalf("hits %+v", hits)
	}
	for _, h := range hits {
		if h.sig != queue.Sign(sub.Secret, h.ts, h.body) {
			t.Errorf("bad signature %s", h.sig)
		}
		var body map[string]any
		if err := json.Unmarshal(h.body, &body); err != nil || body["type"] != "lead.contacted" ||
			body["data"].(map[string]any)["lead"].(map[string]any)["first_name"] != "Ann" {
			t.Errorf("body %s", h.body)
		}
	}
}
