package store_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// TestScriptVersions: saved versions and the campaigns pinned to them,
// numbered past every saved or pinned version; a version names one text.
func TestScriptVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock(), PasswordHashMemoryKiB: 8 * 1024, PasswordHashPasses: 1})
	u, _, err := s.CreateUser(ctx, "mia@example.com", "Mia", store.RoleMarketing)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.NextScriptVersion(ctx, "bant-en"); err != nil || n != 1 {
		t.Fatalf("next of nothing: %d %v", n, err)
	}
	// A campaign started on bant-en v3 (from the shipped file): v3 is
	// pinned, not saved; the next is 4.
	sc := script(t)
	b, err := scripts.Read("bant-en")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	live, err := s.CreateCampaign(ctx, store.CampaignParams{Name: "live", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartCampaign(ctx, live.ID, sc, []byte(src)); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.NextScriptVersion(ctx, "bant-en"); n != 4 {
		t.Errorf("next after a pinned v3: %d", n)
	}
	// v3 with another text is taken; the same text may be saved.
	other := strings.Replace(src, "Goodbye.", "Bye.", 1)
	if _, err := s.AddScriptVersion(ctx, store.NewScriptVersion{ScriptID: "bant-en", Version: 3, YAML: other, CreatedBy: u.ID}); !errors.Is(err, store.ErrVersionTaken) {
		t.Errorf("v3 with another text than the pinned one: %v", err)
	}
	v3, err := s.AddScriptVersion(ctx, store.NewScriptVersion{ScriptID: "bant-en", Version: 3, YAML: src, CreatedBy: u.ID})
	if err != nil || !v3.Saved || v3.SHA256 != store.ScriptSHA256(src) || len(v3.SHA256) != 64 || v3.CreatedBy != "mia@example.com" || v3.CreatedAt.IsZero() {
		t.Fatalf("save v3: %+v %v", v3, err)
	}
	v4text := strings.Replace(other, "version: 3", "version: 4", 1)
	if _, err := s.AddScriptVersion(ctx, store.NewScriptVersion{ScriptID: "bant-en", Version: 4, YAML: v4text, CreatedBy: u.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddScriptVersion(ctx, store.NewScriptVersion{ScriptID: "bant-en", Version: 4, YAML: v4text}); !errors.Is(err, store.ErrVersionTaken) {
		t.Errorf("v4 twice: %v", err)
	}
	if n, _ := s.NextScriptVersion(ctx, "bant-en"); n != 5 {
		t.Errorf("next after v4: %d", n)
	}
	// Two saves of the same number at once: one wins, the other is told.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.AddScriptVersion(ctx, store.NewScriptVersion{ScriptID: "bant-en", Version: 5, YAML: v4text})
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), store.ErrVersionTaken) {
		t.Errorf("two saves of v5: %v", errs)
	}
	// A campaign pinned to v4; another script; a version only pinned.
	for _, name := range []string{"autumn", "winter"} {
		c, err := s.CreateCampaign(ctx, store.CampaignParams{Name: name, ScriptID: "bant-en", CallerID: "+15550100"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.StartCampaign(ctx, c.ID, ivr.MustParse("x", []byte(v4text)), []byte(v4text)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddScriptVersion(ctx, store.NewScriptVersion{ScriptID: "alpha", Version: 1, YAML: "id: alpha"}); err != nil {
		t.Fatal(err)
	}
	vs, err := s.ScriptVersions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		line := v.ScriptID + " v" + strconv.Itoa(v.Version)
		if v.Saved {
			line += " saved"
		}
		for _, c := range v.Campaigns {
			line += " " + c.Name + ":" + string(c.Status)
		}
		got = append(got, line)
	}
	want := []string{"alpha v1 saved", "bant-en v5 saved", "bant-en v4 saved autumn:active winter:active", "bant-en v3 saved live:active"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("versions:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The text: saved, else pinned; unknown: not found.
	if v, err := s.ScriptVersionText(ctx, "bant-en", 4); err != nil || v.YAML != v4text || !v.Saved || v.CreatedBy != "mia@example.com" {
		t.Errorf("v4's text: %+v %v", v, err)
	}
	pinnedOnly, err := s.CreateCampaign(ctx, store.CampaignParams{Name: "api", ScriptID: "gamma", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	gamma := strings.Replace(strings.Replace(src, "id: bant-en", "id: gamma", 1), "version: 3", "version: 7", 1)
	if err := s.StartCampaign(ctx, pinnedOnly.ID, ivr.MustParse("g", []byte(gamma)), []byte(gamma)); err != nil {
		t.Fatal(err)
	}
	if v, err := s.ScriptVersionText(ctx, "gamma", 7); err != nil || v.YAML != gamma || v.Saved {
		t.Errorf("a pinned version's text: %+v %v", v, err)
	}
	if _, err := s.ScriptVersionText(ctx, "gamma", 8); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown version: %v", err)
	}
	// A deleted user's versions stay, saved by nobody known.
	if _, err := s.Pool().Exec(ctx, `DELETE FROM users WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	if v, err := s.ScriptVersionText(ctx, "bant-en", 4); err != nil || v.CreatedBy != "" {
		t.Errorf("v4 after its author went: %+v %v", v, err)
	}
}

// TestStartRefusesAnotherTextUnderATakenVersion: a draft whose edited
// script keeps the version of the shipped text, of a saved version or of
// another campaign's pinned one does not start; with its own version it
// does.
func TestStartRefusesAnotherTextUnderATakenVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	b, _ := scripts.Read("bant-en")
	shipped := string(b)
	edited := strings.Replace(shipped, "Four quick questions", "Three quick questions", 1)
	if edited == shipped {
		t.Fatal("the edit did not apply")
	}
	draft := func(name, yaml string) *store.Campaign {
		t.Helper()
		c, err := s.CreateCampaign(ctx, store.CampaignParams{Name: name, ScriptID: "bant-en", CallerID: "+15550100"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetCampaignScript(ctx, c.ID, yaml); err != nil {
			t.Fatal(err)
		}
		c, _ = s.Campaign(ctx, c.ID)
		return c
	}
	if _, err := s.ActOnCampaign(ctx, draft("shipped", shipped), "start", nil); err != nil {
		t.Fatalf("the shipped text: %v", err)
	}
	var se *store.ScriptError
	if _, err := s.ActOnCampaign(ctx, draft("edited", edited), "start", nil); !errors.As(err, &se) || !strings.Contains(se.Message, "bant-en v3 is another text already") {
		t.Fatalf("an edited text as v3: %v", err)
	}
	// Its own version starts; that version then names this text.
	v7 := strings.Replace(edited, "version: 3", "version: 7", 1)
	if _, err := s.ActOnCampaign(ctx, draft("v7", v7), "start", nil); err != nil {
		t.Fatalf("an edited text as v7: %v", err)
	}
	if _, err := s.ActOnCampaign(ctx, draft("v7-again", v7), "start", nil); err != nil {
		t.Fatalf("the same v7 text again: %v", err)
	}
	if _, err := s.ActOnCampaign(ctx, draft("v7-other", strings.Replace(v7, "Three quick", "Two quick", 1)), "start", nil); !errors.As(err, &se) {
		t.Fatalf("another text as v7: %v", err)
	}
}
