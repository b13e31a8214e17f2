package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// Script versions: "Save as new version" keeps the edited script as the
// next version of its id (store.AddScriptVersion); the scripts page lists
// every version with the campaigns pinned to it, and the shipped scripts
// as templates.

// scriptsData is the scripts page.
type scriptsData struct {
	Versions  []*store.ScriptVersion
	Templates []shippedScript
}

func (s *Server) scriptsPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	var d scriptsData
	var err error
	if d.Templates, err = shippedScripts(); err != nil {
		return err
	}
	if d.Versions, err = s.store.ScriptVersions(r.Context(), 0); err != nil {
		return err
	}
	s.render(w, r, "scripts", u, d)
	return nil
}

// shippedScripts parses the scripts qualdial ships (the templates).
func shippedScripts() ([]shippedScript, error) {
	var list []shippedScript
	for _, name := range scripts.Names() {
		data, err := scripts.Read(name)
		if err != nil {
			return nil, fmt.Errorf("shipped script %s: %w", name, err)
		}
		sc, ds := ivr.Parse(name, data)
		if sc == nil {
			return nil, fmt.Errorf("shipped script %s: %w", name, ds.Err())
		}
		list = append(list, shippedScript{sc})
	}
	return list, nil
}

// versionLine is a script's top-level `version:` line.
var versionLine = regexp.MustCompile(`(?m)^version:[ \t]*[0-9]+`)

// errNoVersionLine is a script whose version cannot be renumbered.
var errNoVersionLine = errors.New("write the version as a top-level line (version: 1): the editor numbers each new version")

// withVersion returns yaml with its version set to v; it checks that the
// text still parses to that version.
func withVersion(yaml string, v int) (string, *ivr.Script, error) {
	if len(versionLine.FindAllStringIndex(yaml, 2)) != 1 {
		return "", nil, errNoVersionLine
	}
	text := versionLine.ReplaceAllLiteralString(yaml, "version: "+strconv.Itoa(v))
	sc, _ := ivr.Parse("script", []byte(text))
	if sc == nil || sc.Version != v {
		return "", nil, errNoVersionLine
	}
	return text, sc, nil
}

// saveAttempts bounds the retries of a save that raced another save of the
// same script.
const saveAttempts = 3

// nextVersion saves yaml as a new version of its script: numbered past
// every version saved or pinned by a campaign, and past the shipped
// template of the same id (its results carry that number), or the
// script's own version when it is higher. The message is for the user
// when nothing was saved.
func (s *Server) nextVersion(ctx context.Context, yaml string, u *store.User) (*store.ScriptVersion, string, int, error) {
	sc, _ := ivr.Parse("script", []byte(yaml))
	if sc == nil {
		return nil, "The script has errors: fix them before saving it.", http.StatusUnprocessableEntity, nil
	}
	floor := 1
	templates, err := shippedScripts()
	if err != nil {
		return nil, "", 0, err
	}
	for _, t := range templates {
		if t.ID == sc.ID {
			floor = t.Version + 1
		}
	}
	for range saveAttempts {
		next, err := s.store.NextScriptVersion(ctx, sc.ID)
		if err != nil {
			return nil, "", 0, err
		}
		v, text := max(next, floor, sc.Version), yaml
		if v != sc.Version {
			if text, _, err = withVersion(yaml, v); err != nil {
				return nil, fmt.Sprintf("Version %d of %s exists: %s.", sc.Version, sc.ID, err), http.StatusUnprocessableEntity, nil
			}
		}
		saved, err := s.store.AddScriptVersion(ctx, store.NewScriptVersion{ScriptID: sc.ID, Version: v, YAML: text, CreatedBy: u.ID})
		if errors.Is(err, store.ErrVersionTaken) { // saved by someone else meanwhile: the next one
			continue
		}
		if err != nil {
			return nil, "", 0, err
		}
		return saved, "", http.StatusOK, nil
	}
	return nil, "Somebody saved this script at the same moment: save again.", http.StatusConflict, nil
}

// scriptSaveVersion saves the edited script as a new version and opens
// it in the editor (its version line renumbered).
func (s *Server) scriptSaveVersion(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !scriptForm(w, r) {
		return nil
	}
	yaml := r.PostForm.Get("yaml")
	saved, msg, status, err := s.nextVersion(r.Context(), yaml, u)
	if err != nil {
		return err
	}
	if saved != nil {
		s.cfg.Logger.InfoContext(r.Context(), "script version saved", "script", saved.ScriptID, "version", saved.Version, "sha256", saved.SHA256, "user_id", u.ID)
		s.flash(r, "Saved %s v%d. Campaigns pin it when they start with it.", saved.ScriptID, saved.Version)
		to := "/scripts/edit?" + url.Values{"script": {saved.ScriptID}, "version": {strconv.Itoa(saved.Version)}}.Encode()
		if r.Header.Get("HX-Request") == "true" {
			w.Header().Set("HX-Redirect", to)
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	}
	return s.answerSave(w, r, u, status, saveData{Error: msg})
}

// openVersion reads a saved (or pinned) version for the editor; the
// message says why it cannot be opened.
func (s *Server) openVersion(ctx context.Context, id, version string) (string, string, error) {
	v, err := strconv.Atoi(version)
	if err != nil || v < 1 {
		return "", "there is no such version: see the scripts list", nil
	}
	sv, err := s.store.ScriptVersionText(ctx, id, v)
	if errors.Is(err, store.ErrNotFound) {
		return "", "there is no such version: see the scripts list", nil
	}
	if err != nil {
		return "", "", err
	}
	return sv.YAML, "", nil
}
