package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/qualdial/qualdial/store"
)

// TestLeadPageErased: an erased lead's page shows what stays (its call,
// status and why) without the person.
func TestLeadPageErased(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "erased")
	id := calledLead(t, s, c, store.LeadParams{Phone: "+12125550187", FirstName: "Zebulon", Email: "zebulon.q@example.org"}, "1", "1", "1", "1", "1")
	if _, err := s.st.EraseLead(context.Background(), id, "user:1"); err != nil {
		t.Fatal(err)
	}
	r := s.user(t, store.RoleAdmin, "admin@example.com").do("GET", "/leads/"+strconv.FormatInt(id, 10), nil)
	for _, want := range []string{"erased:" + strconv.FormatInt(id, 10), "erased at the person", "lead.erased"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("erased lead page lacks %q", want)
		}
	}
	if r.status != http.StatusOK || strings.Contains(r.body, "Zebulon") || strings.Contains(r.body, "5550187") || strings.Contains(r.body, "zebulon") {
		t.Errorf("erased lead page: %d %s", r.status, r.body)
	}
	if !strings.Contains(r.body, `id="erased"`) || strings.Contains(r.body, "Local time unknown") || strings.Contains(r.body, `id="add-note"`) {
		t.Errorf("an erased lead's page should say so, without a zone error or a note form: %s", r.body)
	}
	// No note brings personal data back.
	admin := s.user(t, store.RoleAdmin, "admin2@example.com")
	if r := admin.do("POST", "/leads/"+strconv.FormatInt(id, 10)+"/note", url.Values{"text": {"Zebulon called back"}}); r.status != http.StatusConflict {
		t.Errorf("a note on an erased lead: %d", r.status)
	}
}

// TestDNCPageCountsErasedNumbers: numbers kept only as hashes are not
// listed, and the page says how many there are.
func TestDNCPageCountsErasedNumbers(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := bantCampaign(t, s, "erased-dnc")
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	if r := admin.do("GET", "/dnc", nil); strings.Contains(r.body, `id="dnc-erased"`) {
		t.Error("an erased count with nothing erased")
	}
	for _, phone := range []string{"+12125550171", "+12125550172"} {
		id := calledLead(t, s, c, store.LeadParams{Phone: phone}, "1", "1", "1", "1", "1")
		if _, err := s.st.EraseLead(context.Background(), id, "user:1"); err != nil {
			t.Fatal(err)
		}
	}
	r := admin.do("GET", "/dnc", nil)
	if !strings.Contains(r.body, `And 2 numbers of erased people`) || strings.Contains(r.body, "5550171") {
		t.Errorf("DNC page with two erased numbers: %s", r.body)
	}
}
