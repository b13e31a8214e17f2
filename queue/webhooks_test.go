package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
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
		if r.URL.Path != "/hooks" || r.URL.RawQuery != "tenant=7" {
			t.Errorf("delivered to %s", r.URL)
		}
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

	// The test's CRM listens on loopback over http: both allowed explicitly.
	st := startWebhooks(t, queue.Config{WebhookAllowHTTP: true, WebhookAllowNets: loopback})
	sub, err := st.CreateSubscription(ctx, crm.URL+"/hooks?tenant=7", []string{"lead.contacted"})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Signature != "v2" {
		t.Fatalf("new subscription signs with %q, want v2", sub.Signature)
	}
	contacted(t, st)
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
		if want, _ := queue.SignV2(sub.Secret, h.ts, "POST", "/hooks", "tenant=7", h.body); h.sig != want {
			t.Errorf("bad signature %s, want %s", h.sig, want)
		}
		var body map[string]any
		if err := json.Unmarshal(h.body, &body); err != nil || body["type"] != "lead.contacted" ||
			body["data"].(map[string]any)["lead"].(map[string]any)["first_name"] != "Ann" {
			t.Errorf("body %s", h.body)
		}
	}
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// startWebhooks starts a queue that delivers webhooks quickly, on a fresh
// database.
func startWebhooks(t *testing.T, cfg queue.Config) *store.Store {
	t.Helper()
	ctx := context.Background()
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	cfg.Drivers = map[string]dialer.Driver{"sip": nil}
	cfg.WebhookInterval, cfg.WebhookBackoff, cfg.ReconcileInterval = 200*time.Millisecond, 100*time.Millisecond, time.Hour
	q, err := queue.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()) })
	return st
}

// contacted makes a sales lead and marks it contacted: a lead.contacted
// event for every subscription.
func contacted(t *testing.T, st *store.Store) {
	t.Helper()
	c, err := st.CreateCampaign(context.Background(), store.CampaignParams{Name: "wh", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	id := salesLead(t, st, c.ID, "+12125550123", "1 day")
	if _, err := st.Transition(context.Background(), id, store.SalesActor{Admin: true}, store.ActionContacted, nil); err != nil {
		t.Fatal(err)
	}
}

// salesLead makes a lead of the campaign that waits for sales, due in
// (or, negative, past) the given interval.
func salesLead(t *testing.T, st *store.Store, campaignID int64, phone, due string) int64 {
	t.Helper()
	ctx := context.Background()
	id, _, err := st.InsertLead(ctx, st.Pool(), store.LeadParams{CampaignID: campaignID, Phone: phone, FirstName: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE leads SET route = 'sales', sales_stage = 'open', sla_due_at = $2::timestamptz + $3::interval, sla_status = 'pending' WHERE id = $1`,
		id, st.Now(), due); err != nil {
		t.Fatal(err)
	}
	return id
}

type deliveryRow struct {
	url, state, lastError string
	attempts, lastStatus  int
}

// waitDeliveries waits until every delivery was attempted at least once
// (or has failed for good) and returns them by subscription URL.
func waitDeliveries(t *testing.T, st *store.Store, want int) map[string]deliveryRow {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := st.Pool().Query(context.Background(), `SELECT s.url, d.state, coalesce(d.last_error, ''), d.attempts, coalesce(d.last_status, 0)
			FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id`)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]deliveryRow{}
		done := 0
		for rows.Next() {
			var d deliveryRow
			if err := rows.Scan(&d.url, &d.state, &d.lastError, &d.attempts, &d.lastStatus); err != nil {
				t.Fatal(err)
			}
			got[d.url] = d
			if d.attempts > 0 {
				done++
			}
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		if done == want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries not attempted: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countingCRM is a CRM endpoint that counts the connections it accepts.

// TestWebhookRefusesInternalTargets: without an allowlist, deliveries to
// loopback (as an IP, as a name resolved by DNS, as IPv4-mapped IPv6), to a
// private address, to the metadata service, or to a URL with credentials
// (subscriptions stored before the API checked) never connect; the reason
// is recorded without the credentials.
func TestWebhookRefusesInternalTargets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	crm, accepts := fixture.CountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	port := crm.URL[strings.LastIndexByte(crm.URL, ':')+1:]
	st := startWebhooks(t, queue.Config{WebhookAllowHTTP: true})
	want := map[string]string{
		crm.URL + "/ip":                                  "127.0.0.1 is loopback",
		"http://localhost:" + port + "/dns":              "127.0.0.1 is loopback", // refused after DNS, at connect
		"http://[::ffff:127.0.0.1]:" + port + "/v4in6":   "127.0.0.1 is loopback",
		"http://10.255.255.1:9/private":                  "private",
		"http://169.254.169.254/latest/meta-data/":       "metadata",
		"http://metadata.google.internal/v1/":            "metadata service",
		"http://crm:s3cr3t@127.0.0.1:" + port + "/creds": "must not contain credentials",
	}
	for u := range want {
		if _, err := st.CreateSubscription(ctx, u, []string{"lead.contacted"}); err != nil {
			t.Fatal(err)
		}
	}
	contacted(t, st)
	got := waitDeliveries(t, st, len(want))
	for u, reason := range want {
		d := got[u]
		if d.state == "delivered" || !strings.Contains(d.lastError, reason) {
			t.Errorf("%s: %+v, want refused with %q", u, d, reason)
		}
		if strings.Contains(d.lastError, "s3cr3t") {
			t.Errorf("%s: the error repeats the credentials: %s", u, d.lastError)
		}
	}
	if n := accepts.Load(); n != 0 {
		t.Fatalf("the local CRM accepted %d connections", n)
	}
}

// TestWebhookRedirectNotFollowed: a 302 is a failed attempt with its
// status; the payload never goes to the Location.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	elsewhere, elsewhereAccepts := fixture.CountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	var hits atomic.Int64
	crm, _ := fixture.CountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, elsewhere.URL+"/collect", http.StatusFound)
	}))
	st := startWebhooks(t, queue.Config{WebhookAllowHTTP: true, WebhookAllowNets: loopback})
	if _, err := st.CreateSubscription(ctx, crm.URL+"/hooks", []string{"lead.contacted"}); err != nil {
		t.Fatal(err)
	}
	contacted(t, st)
	d := waitDeliveries(t, st, 1)[crm.URL+"/hooks"]
	if d.state == "delivered" || d.lastStatus != http.StatusFound || !strings.Contains(d.lastError, "redirect not followed") {
		t.Fatalf("delivery %+v", d)
	}
	if hits.Load() < 1 || elsewhereAccepts.Load() != 0 {
		t.Fatalf("crm hits %d, redirect target connections %d", hits.Load(), elsewhereAccepts.Load())
	}
}

// TestHangingWebhookEndpoint: a CRM endpoint that never answers holds
// WebhookPerEndpoint deliveries, not the queue: another endpoint gets every
// event and the SLA watcher records a breach while the first still hangs.
func TestHangingWebhookEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	release := make(chan struct{})
	var inFlight, most, ended atomic.Int32
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		inFlight.Add(-1)
		ended.Add(1)
	}))
	defer hanging.Close()
	defer close(release)
	var healthy atomic.Int32
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		healthy.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer crm.Close()

	st := startWebhooks(t, queue.Config{WebhookAllowHTTP: true, WebhookAllowNets: loopback, SLAWatchInterval: 200 * time.Millisecond})
	for _, u := range []string{hanging.URL, crm.URL} {
		if _, err := st.CreateSubscription(ctx, u, []string{"lead.contacted"}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: "hang", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	const events = 8
	for i := range events {
		id := salesLead(t, st, c.ID, fmt.Sprintf("+1212555%04d", 100+i), "1 day")
		if _, err := st.Transition(ctx, id, store.SalesActor{Admin: true}, store.ActionContacted, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A lead whose 24 h have passed: the SLA watcher's work.
	late := salesLead(t, st, c.ID, "+12125550199", "-1 hour")

	deadline := time.Now().Add(60 * time.Second)
	for {
		var sla string
		st.Pool().QueryRow(ctx, `SELECT sla_status FROM leads WHERE id = $1`, late).Scan(&sla)
		if healthy.Load() >= events && sla == "breached" && inFlight.Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthy endpoint got %d of %d events, SLA %q, hanging endpoint holds %d", healthy.Load(), events, sla, inFlight.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// All of that while the hanging endpoint held its first deliveries,
	// and never more than its share.
	if ended.Load() != 0 {
		t.Errorf("%d hanging deliveries ended first: the others waited for timeouts", ended.Load())
	}
	if m := most.Load(); m > 2 {
		t.Errorf("the hanging endpoint held %d deliveries at once, want at most 2", m)
	}
}
