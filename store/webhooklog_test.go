package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// TestWebhookDeliveryLog: a subscription's log holds its own deliveries,
// newest first, a page at a time, with each one's attempts and last
// response.
func TestWebhookDeliveryLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	c, err := s.CreateCampaign(ctx, store.CampaignParams{Name: "log", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	lead, _, err := s.InsertLead(ctx, s.Pool(), store.LeadParams{CampaignID: c.ID, Phone: "+12125550100"})
	if err != nil {
		t.Fatal(err)
	}
	crm, err := s.CreateSubscription(ctx, "https://crm.example/hooks", []string{string(store.EventLeadQualified), string(store.EventLeadOptedOut)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateSubscription(ctx, "https://other.example/hooks", []string{string(store.EventLeadQualified)})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []store.EventKind{store.EventLeadQualified, store.EventLeadStatus, store.EventLeadQualified, store.EventLeadOptedOut} {
		if err := s.AddEvent(ctx, s.Pool(), lead, "system", kind, nil); err != nil {
			t.Fatal(err)
		}
	}

	all, err := s.DeliveryLog(ctx, crm.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Event != string(store.EventLeadOptedOut) || all[1].Event != string(store.EventLeadQualified) ||
		all[0].ID <= all[1].ID || all[1].ID <= all[2].ID {
		t.Fatalf("log: %+v", all)
	}
	for _, d := range all {
		if d.State != "pending" || d.Attempts != 0 || d.LastStatus != nil || d.LastError != "" || d.LeadID != lead || d.CreatedAt.IsZero() || d.DeliveredAt != nil {
			t.Errorf("a new delivery: %+v", d)
		}
	}
	// Attempts are shown as recorded.
	if err := s.RecordDelivery(ctx, all[2].ID, 500, "HTTP 500", false, false); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordDelivery(ctx, all[1].ID, 204, "", true, false); err != nil {
		t.Fatal(err)
	}
	// Pages: ids below the last one seen.
	first, err := s.DeliveryLog(ctx, crm.ID, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := s.DeliveryLog(ctx, crm.ID, first[len(first)-1].ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0].ID != all[0].ID || len(rest) != 1 || rest[0].ID != all[2].ID {
		t.Fatalf("pages: %+v then %+v", first, rest)
	}
	if d := first[1]; d.State != "delivered" || d.Attempts != 1 || d.LastStatus == nil || *d.LastStatus != 204 || d.DeliveredAt == nil {
		t.Errorf("delivered: %+v", d)
	}
	if d := rest[0]; d.State != "enqueued" || d.Attempts != 1 || d.LastStatus == nil || *d.LastStatus != 500 || d.LastError != "HTTP 500" {
		t.Errorf("failed once: %+v", d)
	}
	// Another subscription's deliveries are its own.
	if log, err := s.DeliveryLog(ctx, other.ID, 0, 10); err != nil || len(log) != 2 {
		t.Errorf("the other subscription's log: %+v %v", log, err)
	}

	got, err := s.Subscription(ctx, crm.ID)
	if err != nil || got.URL != crm.URL || len(got.Events) != 2 || got.Secret != "" || !got.Active || got.Signature != "v2" {
		t.Errorf("subscription: %+v %v", got, err)
	}
	if _, err := s.Subscription(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown subscription: %v", err)
	}
}
