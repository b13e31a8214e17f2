package web_test

import (
	"context"
	"net/http"
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
}
