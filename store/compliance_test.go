package store_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

// TestConsentRecordsProveThemselves: consent is recorded as a snapshot when
// the lead is stored with it, and again when a later intake adds it; a
// lead without consent has none. A snapshot cannot be changed or deleted,
// but an erasure clears its IP and page; the compliance pack shows it all.
func TestConsentRecordsProveThemselves(t *testing.T) {
	t.Parallel()
	s, clock := newStore(t)
	ctx := context.Background()
	c := campaign(t, s, "consent")
	given := s.Now().Add(-time.Hour).Truncate(time.Second)
	withConsent := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550301", FirstName: "Ann", Email: "ann@example.com",
		Consent: store.Consent{Source: "web_form", Text: "I agree to be called by Acme", Version: "tcpa-2", At: given,
			IP: netip.MustParseAddr("203.0.113.7"), Page: "https://acme.example/demo"}})
	without := lead(t, s, store.LeadParams{CampaignID: c.ID, Phone: "+12125550302"})

	pack, err := s.CompliancePack(ctx, withConsent)
	if err != nil {
		t.Fatal(err)
	}
	if len(pack.Consent) != 1 {
		t.Fatalf("consent records %+v; want 1", pack.Consent)
	}
	r := pack.Consent[0]
	if r.Source != "web_form" || r.Text != "I agree to be called by Acme" || r.Version != "tcpa-2" || r.IP != "203.0.113.7" ||
		r.Page != "https://acme.example/demo" || !r.GivenAt.Equal(given) || len(r.FormSHA256) != 64 || r.RecordedAt.IsZero() {
		t.Errorf("consent record %+v", r)
	}
	if p, err := s.CompliancePack(ctx, without); err != nil || len(p.Consent) != 0 || p.Lead.HasConsent {
		t.Errorf("a lead without consent: %+v, %v", p, err)
	}

	// A later intake brings consent: recorded as given then.
	clock.Advance(time.Minute)
	if ok, err := s.AddConsent(ctx, s.Pool(), without, store.Consent{Source: "api", At: s.Now(), Text: "yes"}, "test"); err != nil || !ok {
		t.Fatalf("add consent: %v %v", ok, err)
	}
	if p, _ := s.CompliancePack(ctx, without); len(p.Consent) != 1 || p.Consent[0].Source != "api" {
		t.Errorf("after consent was added: %+v", p.Consent)
	}

	// Immutable: neither an update nor a delete goes through.
	for _, sql := range []string{`UPDATE consent_records SET text = 'I agree to anything' WHERE lead_id = $1`,
		`UPDATE consent_records SET ip = NULL, page = NULL WHERE lead_id = $1`, `DELETE FROM consent_records WHERE lead_id = $1`,
		`TRUNCATE consent_records`} {
		args := []any{withConsent}
		if strings.HasPrefix(sql, "TRUNCATE") {
			args = nil
		}
		if _, err := s.Pool().Exec(ctx, sql, args...); err == nil || !strings.Contains(err.Error(), "kept as given") {
			t.Errorf("%s: %v; want it refused", sql, err)
		}
	}

	// The erasure clears the person's IP and page, and keeps the record.
	if _, err := s.EraseLead(ctx, withConsent, "test"); err != nil {
		t.Fatal(err)
	}
	pack, err = s.CompliancePack(ctx, withConsent)
	if err != nil {
		t.Fatal(err)
	}
	if len(pack.Consent) != 1 || pack.Consent[0].IP != "" || pack.Consent[0].Page != "" || pack.Consent[0].FormSHA256 != r.FormSHA256 ||
		pack.Consent[0].Text != r.Text || pack.Lead.ErasedAt == nil {
		t.Errorf("after erasure: %+v, lead %+v", pack.Consent, pack.Lead)
	}
	// The number is on the do-not-call list as its hash, since the
	// erasure (it was not on the list before).
	if d := pack.DNC; d == nil || !d.Hashed || d.Source != "erasure" || !d.CreatedAt.Equal(*pack.Lead.ErasedAt) {
		t.Errorf("after erasure, the pack's dnc: %+v", d)
	}
	// A number that opted out before its erasure: listed since the opt-out.
	if _, err := s.AddDNC(ctx, s.Pool(), store.DNCEntry{Phone: "+12125550302", Source: "opt_out", Reason: "pressed 9", LeadID: without, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	p, _ := s.CompliancePack(ctx, without)
	if p.DNC == nil || p.DNC.Hashed || p.DNC.Reason != "pressed 9" {
		t.Fatalf("on the list before erasure: %+v", p.DNC)
	}
	optedOut := p.DNC.CreatedAt
	clock.Advance(time.Hour)
	if _, err := s.EraseLead(ctx, without, "test"); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.CompliancePack(ctx, without); p.DNC == nil || !p.DNC.Hashed || p.DNC.Source != "opt_out" || p.DNC.Reason != "" ||
		!p.DNC.CreatedAt.Equal(optedOut) {
		t.Errorf("opted out, then erased: %+v", p.DNC)
	}
	if _, err := s.CompliancePack(ctx, 999999); err != store.ErrNotFound {
		t.Errorf("no such lead: %v", err)
	}
}
