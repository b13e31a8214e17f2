package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/store"
)

// TestEraseLead: DELETE /v1/leads/{id} is for admins only; it erases the
// person (204, again 204 with nothing changed), answers 404 for no such
// lead and 400 for a bad id; the erased lead reads back without the
// person's data; a web form with the same number afterwards creates a
// lead that the pre-dial check blocks as on the do-not-call list.
func TestEraseLead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cid := b.campaign(t, "erasure", nil)
	res := b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", jsonBody(map[string]any{
		"campaign": "erasure", "phone": "(212) 555-0187", "first_name": "Zebulon", "email": "zebulon.q@example.org"}))
	if res.status != http.StatusAccepted {
		t.Fatalf("intake: %d %s", res.status, res.body)
	}
	id := int64(res.json(t)["lead"].(map[string]any)["id"].(float64))
	b.salesReady(t, cid, id, "+12125550187", 24*time.Hour)
	path := fmt.Sprintf("/v1/leads/%d", id)

	for _, role := range []string{store.RoleMarketing, store.RoleSales, store.RoleIntake} {
		problem(t, role+" erasing", b.do(t, "DELETE", path, role, "", nil), http.StatusForbidden, "")
	}
	problem(t, "no key", b.do(t, "DELETE", path, "", "", nil), http.StatusUnauthorized, "")
	if got := b.lead(t, id); got.FirstName != "Zebulon" {
		t.Fatalf("a refused erasure changed the lead: %+v", got)
	}
	for i := range 2 { // the second time changes nothing
		if res := b.do(t, "DELETE", path, store.RoleAdmin, "", nil); res.status != http.StatusNoContent || len(res.body) != 0 {
			t.Fatalf("erasure %d: %d %s", i+1, res.status, res.body)
		}
	}
	problem(t, "unknown lead", b.do(t, "DELETE", "/v1/leads/999999", store.RoleAdmin, "", nil), http.StatusNotFound, "")
	problem(t, "bad id", b.do(t, "DELETE", "/v1/leads/x1", store.RoleAdmin, "", nil), http.StatusBadRequest, "id")
	problem(t, "query", b.do(t, "DELETE", path+"?hard=1", store.RoleAdmin, "", nil), http.StatusUnprocessableEntity, "hard")

	res = b.do(t, "GET", path, store.RoleAdmin, "", nil)
	if res.status != http.StatusOK || strings.Contains(string(res.body), "Zebulon") || strings.Contains(string(res.body), "5550187") ||
		strings.Contains(string(res.body), "zebulon") {
		t.Errorf("the erased lead: %d %s", res.status, res.body)
	}
	if l := res.json(t)["lead"].(map[string]any); l["phone"] != fmt.Sprintf("erased:%d", id) || l["sales_stage"] != "lost" {
		t.Errorf("erased lead %v", l)
	}
	// The same person fills in the form again: a new lead, never called.
	res = b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", jsonBody(map[string]any{
		"campaign": "erasure", "phone": "+1 212 555 0187", "first_name": "Zebulon"}))
	if res.status != http.StatusAccepted {
		t.Fatalf("intake after erasure: %d %s", res.status, res.body)
	}
	m := res.json(t)
	if dial := m["dial"].(map[string]any); dial["status"] != "blocked" || !strings.Contains(fmt.Sprint(dial["reason"]), "do-not-call") {
		t.Errorf("a lead with the erased number: dial %v; want blocked as on the do-not-call list", dial)
	}
	if res := b.do(t, "GET", "/v1/dnc/+12125550187", store.RoleMarketing, "", nil); res.json(t)["on_dnc"] != true {
		t.Errorf("GET /v1/dnc of the erased number: %s", res.body)
	}

	// A lead being called is not erased yet: 409, retry later.
	other := int64(b.do(t, "POST", "/v1/leads", store.RoleIntake, "application/json", jsonBody(map[string]any{
		"campaign": "erasure", "phone": "+12125550999"})).json(t)["lead"].(map[string]any)["id"].(float64))
	if _, err := b.st.Pool().Exec(t.Context(), `UPDATE leads SET status = 'dialing' WHERE id = $1`, other); err != nil {
		t.Fatal(err)
	}
	res = b.do(t, "DELETE", fmt.Sprintf("/v1/leads/%d", other), store.RoleAdmin, "", nil)
	problem(t, "erasure during a call", res, http.StatusConflict, "")
	if res.header.Get("Retry-After") == "" || b.lead(t, other).Phone != "+12125550999" {
		t.Errorf("erasure during a call: %v %s", res.header, res.body)
	}
}
