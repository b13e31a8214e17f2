package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// TestLeadErase: "qualdial lead erase ID" erases the person (both of their
// leads), says what it did in text or --json, changes nothing the second
// time, and fails saying why for an unknown or malformed id.
func TestLeadErase(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	env := map[string]string{"QUALDIAL_DATABASE_URL": url}
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool, store.Config{Now: fixture.Clock()})
	var ids []int64
	for _, name := range []string{"one", "two"} {
		c, err := st.CreateCampaign(t.Context(), store.CampaignParams{Name: name, ScriptID: "bant-en", CallerID: "+15550100"})
		if err != nil {
			t.Fatal(err)
		}
		id, _, err := st.InsertLead(t.Context(), pool, store.LeadParams{CampaignID: c.ID, Phone: "+12125550187", FirstName: "Zebulon"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	code, out, errOut := runCLI(t, env, "lead", "erase", fmt.Sprint(ids[1]))
	if want := fmt.Sprintf("erased 2 leads with the same number (%d, %d); the number is on the do-not-call list as a hash\n"+
		"deleted: 0 import rows, 0 Twilio sessions, 0 webhook deliveries\n", ids[0], ids[1]); code != 0 || out != want {
		t.Errorf("erase: exit %d\n%s\nwant\n%s%s", code, out, want, errOut)
	}
	if l, err := store.GetLead(t.Context(), pool, ids[0]); err != nil || l.FirstName != "" || !strings.HasPrefix(l.Phone, "erased:") {
		t.Errorf("lead after erasure: %+v %v", l, err)
	}
	if on, err := store.OnDNC(t.Context(), pool, "+12125550187"); err != nil || !on {
		t.Errorf("the erased number is not on the do-not-call list: %v", err)
	}
	code, out, _ = runCLI(t, env, "lead", "erase", fmt.Sprint(ids[0]))
	if code != 0 || out != fmt.Sprintf("lead %d was erased before; nothing changed\n", ids[0]) {
		t.Errorf("second erasure: exit %d %s", code, out)
	}
	code, out, _ = runCLI(t, env, "lead", "erase", "--json", fmt.Sprint(ids[0]))
	var er store.Erasure
	if err := json.Unmarshal([]byte(out), &er); code != 0 || err != nil || !er.AlreadyErased || !strings.Contains(out, `"already_erased": true`) {
		t.Errorf("--json: exit %d %v %s", code, err, out)
	}
	for arg, want := range map[string]string{"999999": "no lead with id 999999", "x": `"x" is not a lead id`} {
		if code, _, errOut := runCLI(t, env, "lead", "erase", arg); code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("erase %s: exit %d %s; want %q", arg, code, errOut, want)
		}
	}
}
