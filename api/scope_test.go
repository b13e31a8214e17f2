package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/qualdial/qualdial/store"
)

// TestSalesScope: a sales key sees leads routed to sales and its own
// claims — not other leads, campaign stats or the DNC list; a claim
// belongs to the rep who took it (another rep gets 403; an admin may act
// and reassign); every move records who made it.
func TestSalesScope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cid := b.campaign(t, "scoped", nil)
	ids := qualify(t, b, cid, 3)
	nurture, _, err := b.st.InsertLead(ctx, b.st.Pool(), store.LeadParams{CampaignID: cid, Phone: "+12125550177"})
	if err != nil {
		t.Fatal(err)
	}
	b.addKey(t, "rep2", store.RoleSales)
	rep1, rep2, admin := b.userID(t, store.RoleSales), b.userID(t, "rep2"), b.userID(t, store.RoleAdmin)

	// What sales sees.
	res := b.do(t, "GET", "/v1/leads", store.RoleSales, "", nil)
	var seen []float64
	for _, l := range res.json(t)["leads"].([]any) {
		seen = append(seen, l.(map[string]any)["id"].(float64))
	}
	if len(seen) != 3 || slices.Contains(seen, float64(nurture)) {
		t.Errorf("sales lists %v (nurture lead %d must not be there)", seen, nurture)
	}
	if res := b.do(t, "GET", "/v1/leads?route=none", store.RoleSales, "", nil); len(res.json(t)["leads"].([]any)) != 0 {
		t.Errorf("sales lists unrouted leads: %s", res.body)
	}
	if res := b.do(t, "GET", "/v1/leads", store.RoleMarketing, "", nil); len(res.json(t)["leads"].([]any)) != 4 {
		t.Errorf("marketing lists %s", res.body)
	}
	problem(t, "sales reads an unrouted lead", b.do(t, "GET", path("/v1/leads/%d", nurture), store.RoleSales, "", nil), 404, "")
	if res := b.do(t, "GET", path("/v1/leads/%d", ids[0]), store.RoleSales, "", nil); res.status != 200 {
		t.Errorf("sales reads a sales lead: %d", res.status)
	}
	for _, p := range []string{path("/v1/campaigns/%d/stats", cid), "/v1/dnc", "/v1/dnc/+12125550177"} {
		problem(t, "sales GET "+p, b.do(t, "GET", p, store.RoleSales, "", nil), 403, "")
	}
	res = b.do(t, "GET", "/v1/leads/export.csv?route=none", store.RoleSales, "", nil)
	if rows, _ := csv.NewReader(bytes.NewReader(res.body)).ReadAll(); len(rows) != 1 {
		t.Errorf("sales exported %d unrouted rows", len(rows)-1)
	}

	// rep1 claims the most urgent lead; rep2 may not move it.
	res = b.do(t, "POST", "/v1/leads/next", store.RoleSales, "", nil)
	claimed := leadID(t, res)
	if claimed != ids[0] {
		t.Fatalf("claimed %d, want %d", claimed, ids[0])
	}
	for _, action := range []string{"contacted", "won", "lost", "release", "recycle"} {
		problem(t, "rep2 "+action, b.do(t, "POST", path("/v1/leads/%d/%s", claimed, action), "rep2", "", nil), 403, "")
	}
	if l := b.lead(t, claimed); l.SalesStage != "accepted" || l.AssignedTo != rep1 {
		t.Errorf("after rep2's attempts: %s by %d", l.SalesStage, l.AssignedTo)
	}
	// rep1 sees its claim even when it leaves the sales route.
	if res := b.do(t, "POST", path("/v1/leads/%d/contacted", claimed), store.RoleSales, "", nil); res.status != 200 {
		t.Fatalf("rep1 contacted: %d %s", res.status, res.body)
	}
	// An admin acts on rep1's claim, then gives it to rep2.
	if res := b.do(t, "POST", path("/v1/leads/%d/assign", claimed), store.RoleAdmin, "application/json", strings.NewReader(`{"user_id": 424242}`)); res.status != 422 {
		t.Errorf("assign to nobody: %d %s", res.status, res.body)
	}
	if res := b.do(t, "POST", path("/v1/leads/%d/assign", claimed), store.RoleSales, "application/json", jsonBody(map[string]any{"user_id": rep2})); res.status != 403 {
		t.Errorf("sales assigns: %d", res.status)
	}
	res = b.do(t, "POST", path("/v1/leads/%d/assign", claimed), store.RoleAdmin, "application/json", jsonBody(map[string]any{"user_id": rep2}))
	if res.status != 200 || res.json(t)["lead"].(map[string]any)["assigned_to"] != float64(rep2) {
		t.Fatalf("assign: %d %s", res.status, res.body)
	}
	problem(t, "rep1 after reassignment", b.do(t, "POST", path("/v1/leads/%d/won", claimed), store.RoleSales, "", nil), 403, "")
	if res := b.do(t, "POST", path("/v1/leads/%d/won", claimed), "rep2", "", nil); res.status != 200 {
		t.Errorf("rep2 won: %d %s", res.status, res.body)
	}
	problem(t, "assign a won lead", b.do(t, "POST", path("/v1/leads/%d/assign", claimed), store.RoleAdmin, "application/json",
		jsonBody(map[string]any{"user_id": rep1})), 409, "")
	// An admin may act on any claim.
	res = b.do(t, "POST", "/v1/leads/next", "rep2", "", nil)
	other := leadID(t, res)
	if res := b.do(t, "POST", path("/v1/leads/%d/release", other), store.RoleAdmin, "", nil); res.status != 200 {
		t.Errorf("admin releases rep2's claim: %d %s", res.status, res.body)
	}
	evs := b.events(t, claimed)
	for _, want := range []string{"lead.accepted by user:" + itoa(rep1), "lead.contacted by user:" + itoa(rep1),
		"lead.assigned by user:" + itoa(admin), "lead.won by user:" + itoa(rep2)} {
		if !slices.Contains(evs, want) {
			t.Errorf("events %v, want %q", evs, want)
		}
	}
	if evs := b.events(t, other); !slices.Contains(evs, "lead.released by user:"+itoa(admin)) {
		t.Errorf("events %v", evs)
	}
	// 409 names the stage.
	res = b.do(t, "POST", path("/v1/leads/%d/release", claimed), "rep2", "", nil)
	problem(t, "release a won lead", res, 409, "")
	if d := res.json(t)["detail"].(string); !strings.Contains(d, "won") || !strings.Contains(d, "accepted") {
		t.Errorf("409 detail %q", d)
	}
}

// TestListEndpoints: campaigns (newest first, by status), the DNC list
// (digits search, source) and leads of any status page with next_cursor;
// campaigns are addressable by name; leads without a deadline page
// without repeats.
func TestListEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var cids []int64
	for _, name := range []string{"alpha", "beta", "gamma", "delta", "epsilon"} {
		cids = append(cids, b.campaign(t, name, nil))
	}
	b.do(t, "POST", "/v1/campaigns/beta/pause", store.RoleMarketing, "", nil)
	// Newest first, two per page.
	var names []string
	cursor := ""
	for range 5 {
		res := b.do(t, "GET", "/v1/campaigns?limit=2&cursor="+cursor, store.RoleMarketing, "", nil)
		for _, c := range res.json(t)["campaigns"].([]any) {
			names = append(names, c.(map[string]any)["name"].(string))
		}
		next, _ := res.json(t)["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if strings.Join(names, ",") != "epsilon,delta,gamma,beta,alpha" {
		t.Errorf("campaigns %v", names)
	}
	if res := b.do(t, "GET", "/v1/campaigns?status=paused", store.RoleSales, "", nil); len(res.json(t)["campaigns"].([]any)) != 1 {
		t.Errorf("paused: %s", res.body)
	}
	// By name, everywhere.
	for _, p := range []string{"/v1/campaigns/gamma", "/v1/campaigns/gamma/stats"} {
		if res := b.do(t, "GET", p, store.RoleMarketing, "", nil); res.status != 200 {
			t.Errorf("%s: %d %s", p, res.status, res.body)
		}
	}
	if res := b.do(t, "POST", "/v1/campaigns/gamma/pause", store.RoleMarketing, "", nil); res.json(t)["status"] != "paused" {
		t.Errorf("pause by name: %s", res.body)
	}
	problem(t, "unknown name", b.do(t, "GET", "/v1/campaigns/zeta", store.RoleMarketing, "", nil), 404, "")

	// DNC list.
	for _, p := range []string{"+12125550101", "+12125550102", "+13125550103"} {
		if res := b.do(t, "POST", "/v1/dnc", store.RoleMarketing, "application/json", jsonBody(map[string]string{"phone": p, "reason": "asked"})); res.status != 201 {
			t.Fatal(res.status)
		}
	}
	if _, err := b.st.AddDNC(ctx, b.st.Pool(), store.DNCEntry{Phone: "+12125550104", Source: store.DNCOptOut}); err != nil {
		t.Fatal(err)
	}
	var phones []string
	cursor = ""
	for range 5 {
		res := b.do(t, "GET", "/v1/dnc?q=212&limit=2&cursor="+cursor, store.RoleMarketing, "", nil)
		for _, e := range res.json(t)["entries"].([]any) {
			phones = append(phones, e.(map[string]any)["phone"].(string))
		}
		next, _ := res.json(t)["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Sort(phones)
	if strings.Join(phones, ",") != "+12125550101,+12125550102,+12125550104" {
		t.Errorf("DNC search 212: %v", phones)
	}
	res := b.do(t, "GET", "/v1/dnc?source=opt_out", store.RoleMarketing, "", nil)
	if es := res.json(t)["entries"].([]any); len(es) != 1 || es[0].(map[string]any)["phone"] != "+12125550104" {
		t.Errorf("DNC by source: %s", res.body)
	}

	// Leads of any status, with filters; those without a deadline page
	// without repeats.
	for i := range 7 {
		if _, _, err := b.st.InsertLead(ctx, b.st.Pool(), store.LeadParams{CampaignID: cids[0], Phone: "+1212555020" + itoa(int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	qualify(t, b, cids[1], 2)
	var ids []float64
	cursor = ""
	for range 10 {
		res := b.do(t, "GET", "/v1/leads?limit=3&cursor="+cursor, store.RoleAdmin, "", nil)
		for _, l := range res.json(t)["leads"].([]any) {
			ids = append(ids, l.(map[string]any)["id"].(float64))
		}
		next, _ := res.json(t)["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(ids) != 9 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 9 {
		t.Errorf("paged leads %v, want 9 distinct", ids)
	}
	for _, tc := range []struct {
		query string
		n     int
	}{
		{"campaign=alpha", 7}, {"campaign_id=" + itoa(cids[1]), 2}, {"status=completed", 2}, {"class=sql", 2}, {"route=sales&stage=open", 2},
		{"status=new&campaign=alpha", 7}, {"mine=true", 0},
	} {
		res := b.do(t, "GET", "/v1/leads?"+tc.query, store.RoleAdmin, "", nil)
		if n := len(res.json(t)["leads"].([]any)); n != tc.n {
			t.Errorf("?%s: %d leads, want %d", tc.query, n, tc.n)
		}
	}
}
