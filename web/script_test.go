package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
	"github.com/qualdial/qualdial/web"
)

func bantEN(t *testing.T) string {
	t.Helper()
	src, err := scripts.Read("bant-en")
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// lineOf is the 1-based line of the first occurrence of s in text.
func lineOf(text, s string) int {
	return strings.Count(text[:strings.Index(text, s)], "\n") + 1
}

func TestScriptListAndCheck(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	r := mkt.do("GET", "/scripts", nil)
	if r.status != 200 || !strings.Contains(r.body, `href="/scripts/edit?from=bant-en"`) || !strings.Contains(r.body, "BANT (budget, authority") ||
		!strings.Contains(r.body, "budget, authority, need, timeline") {
		t.Fatalf("scripts: %d %s", r.status, r.body)
	}
	r = mkt.do("GET", "/scripts/edit?from=bant-en", nil)
	if r.status != 200 || !strings.Contains(r.body, `hx-post="/scripts/check" hx-trigger="keyup changed delay:400ms" hx-target="#diagnostics"`) ||
		!strings.Contains(r.body, "ok: bant-en v3, 6 questions, dimensions budget, authority, need, timeline, classes sql, mql, disqualified") ||
		!strings.Contains(r.body, "id: bant-en") {
		t.Fatalf("editor: %d %s", r.status, r.body)
	}
	if r := mkt.do("GET", "/scripts/edit?from=nope", nil); r.status != http.StatusNotFound || !strings.Contains(r.body, "no shipped script") {
		t.Errorf("unknown template: %d", r.status)
	}

	src := bantEN(t)
	bad := strings.Replace(src, "next: authority", "next: authorty", 1)
	line := lineOf(bad, "next: authorty")
	r = mkt.do("POST", "/scripts/check", url.Values{"yaml": {bad}}, "HX-Request", "true")
	want := regexp.MustCompile(`<li class="error" data-line="` + strconv.Itoa(line) + `">line ` + strconv.Itoa(line) + `: [^<]*authorty[^<]*did you mean`)
	if r.status != 200 || !want.MatchString(r.body) || strings.Contains(r.body, "ok: ") || strings.Contains(r.body, "<html") {
		t.Errorf("check a typo at line %d: %d %s", line, r.status, r.body)
	}
	// The same text as ivr gives (and `qualdial script check` prints).
	_, ds := ivr.Parse("x", []byte(bad))
	if len(ds) == 0 || ds[0].Line != line || !strings.Contains(r.body, html.EscapeString(ds[0].Message)) {
		t.Errorf("ivr says %v", ds)
	}
	r = mkt.do("POST", "/scripts/check", url.Values{"yaml": {src}}, "HX-Request", "true")
	r.body = html.UnescapeString(r.body)
	if r.status != 200 || !strings.Contains(r.body, "ok: bant-en v3, 6 questions") || strings.Contains(r.body, `class="error"`) ||
		!strings.Contains(r.body, `id="q-seats"`) || !strings.Contains(r.body, "250–999999 → +25 need → question timeline") ||
		!strings.Contains(r.body, "key 2 → class disqualified (knock-out), ending personal") || !strings.Contains(r.body, "route sales (SLA 24h)") {
		t.Errorf("check bant-en: %d %s", r.status, r.body)
	}
	// Many errors: errors first, at most 50, then "…and N more".
	var many strings.Builder
	many.WriteString(src + "\n")
	for i := range 80 {
		many.WriteString("unknown_" + strconv.Itoa(i) + ": 1\n")
	}
	r = mkt.do("POST", "/scripts/check", url.Values{"yaml": {many.String()}})
	if n := strings.Count(r.body, "<li class=\"error\""); n != ivr.MaxDiagnostics+1 || !strings.Contains(r.body, "…and 30 more") {
		t.Errorf("many errors: %d listed %s", n, r.body)
	}
	// Too large.
	huge := strings.Repeat("#", ivr.MaxScriptSize+1)
	if r := mkt.do("POST", "/scripts/check", url.Values{"yaml": {huge}}); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a script over the limit: %d", r.status)
	}
	huge = strings.Repeat("é", 2*ivr.MaxScriptSize) // 6 bytes a rune once URL-encoded: over the body's bound
	if r := mkt.do("POST", "/scripts/simulate", url.Values{"yaml": {huge}}); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the limit: %d", r.status)
	}

	// Sales may not.
	sales := s.user(t, store.RoleSales, "rep@example.com")
	for _, p := range []string{"/scripts", "/scripts/edit"} {
		if r := sales.do("GET", p, nil); r.status != http.StatusForbidden {
			t.Errorf("sales GET %s: %d", p, r.status)
		}
	}
	for _, p := range []string{"/scripts/check", "/scripts/simulate", "/scripts/save", "/scripts/versions", "/scripts/testcall"} {
		if r := sales.do("POST", p, url.Values{"yaml": {src}}); r.status != http.StatusForbidden {
			t.Errorf("sales POST %s: %d", p, r.status)
		}
	}
}

var runInput = regexp.MustCompile(`name="run" value="([^"]*)"`)

func TestScriptSimulate(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	src := bantEN(t)
	lead := "first_name=Ann\njob_title=Head of IT\n"
	form := func(run, press, keys string) url.Values {
		return url.Values{"yaml": {src}, "lead": {lead}, "run": {run}, "press": {press}, "keys": {keys}}
	}
	run := ""
	var r reply
	for _, k := range []string{"1", "1", "1", "1", "120#", "1"} {
		press, keys := k, ""
		if len(k) > 1 {
			press, keys = "keys", k
		}
		r = admin.do("POST", "/scripts/simulate", form(run, press, keys), "HX-Request", "true")
		m := runInput.FindStringSubmatch(r.body)
		if r.status != 200 || m == nil {
			t.Fatalf("press %s: %d %s", k, r.status, r.body)
		}
		run = html.UnescapeString(m[1])
	}
	// The engine directly.
	eng := ivr.NewEngine(ivr.MustParse("bant-en", []byte(src)))
	st, _ := eng.Start(map[string]string{"first_name": "Ann", "job_title": "Head of IT"})
	for _, k := range []string{"1", "1", "1", "1", "120#", "1"} {
		st, _, _ = eng.Next(st, ivr.Input{Keys: k})
	}
	res := eng.Result(st)
	r.body = html.UnescapeString(r.body)
	if res.Class != "sql" {
		t.Fatalf("ivr: %+v", res)
	}
	for _, want := range []string{`<dd id="sim-class">sql</dd>`, `id="sim-total">` + strconv.Itoa(res.Total) + "<", "<dd>24h</dd>",
		"Hi Ann.", "press 120#</strong> → +15 need", "+10 authority (profile senior_title)", res.Explanation.Reason} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the simulator's last answer lacks %q: %s", want, r.body)
		}
	}
	// The call has ended: another key is refused, the transcript stays.
	if r := admin.do("POST", "/scripts/simulate", form(run, "1", ""), "HX-Request", "true"); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "has ended") {
		t.Errorf("a key after the end: %d %s", r.status, r.body)
	}
	// Tampered states: 4xx, never a panic.
	var sr struct {
		Digest string          `json:"digest"`
		Inputs []ivr.Input     `json:"inputs"`
		State  json.RawMessage `json:"state"`
	}
	if err := json.Unmarshal([]byte(run), &sr); err != nil {
		t.Fatal(err)
	}
	var state ivr.State
	_ = json.Unmarshal(sr.State, &state)
	state.Answers[2].Points = map[string]int{"budget": 1000}
	state.Outcome, state.Class = "", ""
	state.Question = "nowhere"
	sr.State, _ = json.Marshal(state)
	tampered, _ := json.Marshal(sr)
	for name, bad := range map[string]string{
		"points":  string(tampered),
		"garbage": "{not json",
		"extra":   `{"digest":"` + sr.Digest + `","inputs":[],"state":{},"x":1}`,
		"inputs":  `{"digest":"` + sr.Digest + `","inputs":[{"keys":"1"},{"keys":"1"}],"state":{"script_id":"bant-en"}}`,
		"huge":    `{"digest":"` + strings.Repeat("x", 70<<10) + `"}`,
	} {
		r := admin.do("POST", "/scripts/simulate", form(bad, "1", ""), "HX-Request", "true")
		if r.status < 400 || r.status >= 500 {
			t.Errorf("tampered state %s: %d %s", name, r.status, r.body)
		}
	}
	// Another script than the run's: restart.
	if r := admin.do("POST", "/scripts/simulate", url.Values{"yaml": {src + "\n"}, "lead": {lead}, "run": {run}, "press": {"1"}}, "HX-Request", "true"); r.status != http.StatusConflict {
		t.Errorf("changed script: %d", r.status)
	}
	// Lead fields typed before the first key: the key still counts.
	r = admin.do("POST", "/scripts/simulate", url.Values{"yaml": {src}, "lead": {""}, "press": {"start"}}, "HX-Request", "true")
	fresh := runInput.FindStringSubmatch(r.body)
	if fresh == nil {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	if r := admin.do("POST", "/scripts/simulate", form(html.UnescapeString(fresh[1]), "1", ""), "HX-Request", "true"); r.status != 200 ||
		!strings.Contains(r.body, "Are you evaluating this for a company?") {
		t.Errorf("first key after typing lead fields: %d %s", r.status, r.body)
	}
	// Bad keys and bad lead fields say so.
	if r := admin.do("POST", "/scripts/simulate", form("", "keys", "12a"), "HX-Request", "true"); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "phone keys only") {
		t.Errorf("bad keys: %d %s", r.status, r.body)
	}
	if r := admin.do("POST", "/scripts/simulate", url.Values{"yaml": {src}, "lead": {"no equals sign"}, "press": {"1"}}, "HX-Request", "true"); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "name=value") {
		t.Errorf("bad lead: %d %s", r.status, r.body)
	}
	// Without htmx, the whole page comes back.
	if r := admin.do("POST", "/scripts/simulate", form("", "1", "")); r.status != 200 || !strings.Contains(r.body, "<html") || !strings.Contains(r.body, "Four quick questions") {
		t.Errorf("plain simulate: %d", r.status)
	}
}

func TestScriptSaveToDraft(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	src := bantEN(t)
	draft, err := s.st.CreateCampaign(ctx, store.CampaignParams{Name: "draft", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	active, err := s.st.CreateCampaign(ctx, store.CampaignParams{Name: "live", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.SetCampaignScript(ctx, active.ID, src); err != nil {
		t.Fatal(err)
	}
	if active, err = s.st.Campaign(ctx, active.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.ActOnCampaign(ctx, active, "start", nil); err != nil {
		t.Fatal(err)
	}
	r := mkt.do("GET", "/scripts/edit?from=bant-en", nil)
	if !strings.Contains(r.body, `<option value="`+strconv.FormatInt(draft.ID, 10)+`"`) || strings.Contains(r.body, `<option value="`+strconv.FormatInt(active.ID, 10)+`"`) {
		t.Errorf("the select lists drafts only: %s", r.body)
	}
	edited := strings.Replace(src, "version: 3", "version: 4", 1)
	r = mkt.do("POST", "/scripts/save", url.Values{"yaml": {edited}, "campaign": {strconv.FormatInt(draft.ID, 10)}}, "HX-Request", "true")
	if r.status != 200 || !strings.Contains(r.body, "Saved to campaign draft: it runs bant-en v4 once started.") {
		t.Fatalf("save: %d %s", r.status, r.body)
	}
	if c, _ := s.st.Campaign(ctx, draft.ID); c.ScriptYAML != edited {
		t.Errorf("the draft's script was not saved")
	}
	r = mkt.do("POST", "/scripts/save", url.Values{"yaml": {edited}, "campaign": {strconv.FormatInt(active.ID, 10)}}, "HX-Request", "true")
	if r.status != http.StatusConflict || !strings.Contains(r.body, "only a draft campaign takes a new script") {
		t.Errorf("save to an active campaign: %d %s", r.status, r.body)
	}
	if c, _ := s.st.Campaign(ctx, active.ID); c.ScriptYAML != src {
		t.Errorf("the active campaign's script changed")
	}
	// Another text under the shipped version is refused: a version names
	// one text.
	reworded := strings.Replace(src, "Four quick questions", "Three quick questions", 1)
	r = mkt.do("POST", "/scripts/save", url.Values{"yaml": {reworded}, "campaign": {strconv.FormatInt(draft.ID, 10)}}, "HX-Request", "true")
	if r.status != http.StatusConflict || !strings.Contains(r.body, "bant-en v3 is another text already") {
		t.Errorf("another text as v3: %d %s", r.status, r.body)
	}
	bad := strings.Replace(src, "next: authority", "next: authorty", 1)
	r = mkt.do("POST", "/scripts/save", url.Values{"yaml": {bad}, "campaign": {strconv.FormatInt(draft.ID, 10)}}, "HX-Request", "true")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "has errors") {
		t.Errorf("save a script with errors: %d %s", r.status, r.body)
	}
	if c, _ := s.st.Campaign(ctx, draft.ID); c.ScriptYAML != edited {
		t.Errorf("a script with errors was saved")
	}
	// Without htmx: the page, with the message.
	if r := mkt.do("POST", "/scripts/save", url.Values{"yaml": {edited}, "campaign": {strconv.FormatInt(active.ID, 10)}}); r.status != http.StatusConflict || !strings.Contains(r.body, "<textarea") {
		t.Errorf("plain save: %d", r.status)
	}
}

// TestScriptCheckJSON: the editor's linter asks for the diagnostics as
// JSON, each at its line; the editor page alone admits CodeMirror's styles
// by a nonce of its own.
func TestScriptCheckJSON(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	src := bantEN(t)
	bad := strings.Replace(src, "next: authority", "next: authorty", 1)
	bad = strings.Replace(bad, "dimensions: [budget", "dimensions: [budget, spare", 1) // a warning: unused dimension
	r := mkt.do("POST", "/scripts/check", url.Values{"yaml": {bad}}, "Accept", "application/json")
	var ds []struct {
		Line     int    `json:"line"`
		Column   int    `json:"column"`
		Severity string `json:"severity"`
		Message  string `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.body), &ds); r.status != 200 || err != nil || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("check as JSON: %d %v %s", r.status, err, r.body)
	}
	_, want := ivr.Parse("x", []byte(bad))
	if len(ds) == 0 || len(ds) != len(want) {
		t.Fatalf("diagnostics %+v, ivr says %v", ds, want)
	}
	if d := ds[0]; d.Line != lineOf(bad, "next: authorty") || d.Column != 1 || d.Severity != "error" || !strings.Contains(d.Message, `did you mean "authority"`) {
		t.Errorf("the typo's diagnostic: %+v", d)
	}
	for _, d := range ds {
		if d.Severity != "error" && d.Severity != "warning" || d.Line < 1 {
			t.Errorf("diagnostic %+v", d)
		}
	}
	if r := mkt.do("POST", "/scripts/check", url.Values{"yaml": {src}}, "Accept", "application/json"); r.status != 200 || strings.TrimSpace(r.body) != "[]" {
		t.Errorf("a clean script: %d %s", r.status, r.body)
	}

	// The editor's page: a nonce in style-src, the same on the textarea
	// for CodeMirror; no 'unsafe-inline'; other pages have no nonce.
	r = mkt.do("GET", "/scripts/edit?from=bant-en", nil)
	csp := r.header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`style-src 'self' 'nonce-([A-Za-z0-9_-]{24})';`).FindStringSubmatch(csp)
	if m == nil || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self';") ||
		!strings.Contains(r.body, `data-editor="yaml" data-style-nonce="`+m[1]+`"`) {
		t.Fatalf("editor CSP %q", csp)
	}
	if again := mkt.do("GET", "/scripts/edit", nil).header.Get("Content-Security-Policy"); again == csp {
		t.Errorf("the nonce is the same twice: %q", csp)
	}
	if csp := mkt.do("GET", "/scripts", nil).header.Get("Content-Security-Policy"); strings.Contains(csp, "nonce") || !strings.Contains(csp, "style-src 'self';") {
		t.Errorf("scripts page CSP %q", csp)
	}
	bundle := regexp.MustCompile(`<script src="(/assets/vendor/codemirror-[0-9.]+/)editor.min.js" defer>`).FindStringSubmatch(r.body)
	if bundle == nil {
		t.Fatalf("no editor bundle on the page")
	}
	if r := mkt.do("GET", bundle[1]+"editor.min.js", nil); r.status != 200 || !strings.Contains(r.body, "cm-lintRange") {
		t.Errorf("the editor bundle: %d", r.status)
	}
	if r := mkt.do("GET", bundle[1]+"LICENSES.txt", nil); r.status != 200 || !strings.Contains(r.body, "@codemirror/view") || !strings.Contains(r.body, "MIT") {
		t.Errorf("the editor's licences: %d", r.status)
	}
	if r := mkt.do("GET", "/assets/src/editor.js", nil); r.status != http.StatusNotFound {
		t.Errorf("the bundle's source is served: %d", r.status)
	}
}

// TestAssetBudget: the JavaScript and CSS the UI ships stay under 200 KB
// gzipped in total (DESIGN.md, issue 13).
func TestAssetBudget(t *testing.T) {
	t.Parallel()
	var total int
	err := filepath.WalkDir("assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, filepath.Join("assets", "src")) || !(strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".css")) {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(data)
		_ = zw.Close()
		total += b.Len()
		t.Logf("%s: %d bytes, %d gzipped", p, len(data), b.Len())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 200<<10 {
		t.Errorf("the UI ships %d KB of JS and CSS gzipped: the budget is 200 KB", total>>10)
	}
}

// TestScriptSaveVersions: "Save as new version" numbers each version after
// the last one (and after the shipped template's), opens it in the editor,
// and the scripts page lists the versions with the campaigns pinned to each.
func TestScriptSaveVersions(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	src := bantEN(t)
	if r := mkt.do("GET", "/scripts/edit?from=bant-en", nil); !strings.Contains(r.body, `formaction="/scripts/versions"`) || !strings.Contains(r.body, "Save as new version") {
		t.Fatalf("no save-as-new-version button: %s", r.body)
	}
	// bant-en v3 ships: the first saved version is 4, then 5 (htmx: a
	// redirect to the saved version in the editor), then 6 (a plain form).
	save := func(yaml string, htmx bool) reply {
		t.Helper()
		if htmx {
			return mkt.do("POST", "/scripts/versions", url.Values{"yaml": {yaml}}, "HX-Request", "true")
		}
		return mkt.do("POST", "/scripts/versions", url.Values{"yaml": {yaml}})
	}
	edited := strings.Replace(src, "Goodbye.", "Bye now.", 1)
	r := save(edited, true)
	if r.status != http.StatusNoContent || r.header.Get("HX-Redirect") != "/scripts/edit?script=bant-en&version=4" {
		t.Fatalf("save as new version: %d %q %s", r.status, r.header.Get("HX-Redirect"), r.body)
	}
	v4, err := s.st.ScriptVersionText(ctx, "bant-en", 4)
	if err != nil || v4.YAML != strings.Replace(edited, "version: 3", "version: 4", 1) || v4.CreatedBy != "mkt@example.com" || v4.SHA256 != store.ScriptSHA256(v4.YAML) {
		t.Fatalf("v4 saved: %+v %v", v4, err)
	}
	r = mkt.do("GET", "/scripts/edit?script=bant-en&version=4", nil)
	if r.status != 200 || !strings.Contains(r.body, "Saved bant-en v4.") || !strings.Contains(r.body, "version: 4\n") || !strings.Contains(r.body, "Bye now.") ||
		!strings.Contains(html.UnescapeString(r.body), "ok: bant-en v4, 6 questions") {
		t.Errorf("the saved version in the editor: %d %s", r.status, r.body)
	}
	if r := save(v4.YAML, true); r.header.Get("HX-Redirect") != "/scripts/edit?script=bant-en&version=5" {
		t.Errorf("save again: %d %q", r.status, r.header.Get("HX-Redirect"))
	}
	if r := save(v4.YAML, false); r.status != http.StatusSeeOther || r.location != "/scripts/edit?script=bant-en&version=6" {
		t.Errorf("save without htmx: %d %q", r.status, r.location)
	}
	// A version number typed past the last one is kept.
	if r := save(strings.Replace(v4.YAML, "version: 4", "version: 10", 1), true); r.header.Get("HX-Redirect") != "/scripts/edit?script=bant-en&version=10" {
		t.Errorf("save v10: %d %q", r.status, r.header.Get("HX-Redirect"))
	}
	// A new script starts at its own version; errors save nothing.
	fresh := strings.Replace(src, "id: bant-en", "id: fresh", 1)
	if r := save(fresh, true); r.header.Get("HX-Redirect") != "/scripts/edit?script=fresh&version=3" {
		t.Errorf("a new script: %d %q", r.status, r.header.Get("HX-Redirect"))
	}
	bad := strings.Replace(src, "next: authority", "next: authorty", 1)
	if r := save(bad, true); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "has errors") || strings.Contains(r.body, "<html") {
		t.Errorf("save a script with errors: %d %s", r.status, r.body)
	}
	if n, _ := s.st.NextScriptVersion(ctx, "bant-en"); n != 11 {
		t.Errorf("next version %d after 4, 5, 6 and 10", n)
	}

	// Campaigns pinned to v4 and to the shipped v3; the list shows them.
	for name, text := range map[string]string{"spring": v4.YAML, "legacy": src} {
		c, err := s.st.CreateCampaign(ctx, store.CampaignParams{Name: name, ScriptID: "bant-en", CallerID: "+15550100"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.st.StartCampaign(ctx, c.ID, ivr.MustParse(name, []byte(text)), []byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	r = mkt.do("GET", "/scripts", nil)
	row := func(id string) string {
		i := strings.Index(r.body, `<tr id="`+id+`">`)
		if i < 0 {
			t.Fatalf("no row %s: %s", id, r.body)
		}
		return r.body[i : i+strings.Index(r.body[i:], "</tr>")]
	}
	if v := row("version-bant-en-4"); !strings.Contains(v, ">spring</a>") || !strings.Contains(v, "by mkt@example.com") ||
		!strings.Contains(v, v4.SHA256[:12]) || !strings.Contains(v, `href="/scripts/edit?script=bant-en&amp;version=4"`) {
		t.Errorf("v4's row: %s", v)
	}
	if v := row("version-bant-en-3"); !strings.Contains(v, ">legacy</a>") || !strings.Contains(v, "not saved here") {
		t.Errorf("v3's row: %s", v)
	}
	if v := row("version-bant-en-5"); !strings.Contains(v, "none") {
		t.Errorf("v5's row: %s", v)
	}
	if v := row("script-bant-en"); !strings.Contains(v, "Start from this template") {
		t.Errorf("the template's row: %s", v)
	}
	// The pinned-only v3 opens from the campaign's copy; unknown versions are not found.
	if r := mkt.do("GET", "/scripts/edit?script=bant-en&version=3", nil); r.status != 200 || !strings.Contains(r.body, "version: 3\n") {
		t.Errorf("open v3: %d", r.status)
	}
	for _, q := range []string{"script=bant-en&version=8", "script=bant-en&version=x", "script=nope&version=1"} {
		if r := mkt.do("GET", "/scripts/edit?"+q, nil); r.status != http.StatusNotFound || !strings.Contains(r.body, "no such version") {
			t.Errorf("open %s: %d", q, r.status)
		}
	}
}

// TestScriptTestCall: the "Test call to my phone" button shows where a
// trunk is configured (Config.TestCall); numbers must be E.164 and
// callable, and each user places one test call a minute.
func TestScriptTestCall(t *testing.T) {
	t.Parallel()
	if r := newSite(t).user(t, store.RoleMarketing, "mkt@example.com"); true {
		if p := r.do("GET", "/scripts/edit?from=bant-en", nil); strings.Contains(p.body, `id="testcall"`) {
			t.Errorf("a test-call button without a trunk")
		}
		if p := r.do("POST", "/scripts/testcall", url.Values{"yaml": {bantEN(t)}, "phone": {"+12125550123"}}); p.status != http.StatusNotFound {
			t.Errorf("test call without a trunk: %d", p.status)
		}
	}
	type call struct {
		phone, yaml string
	}
	var mu sync.Mutex
	var calls []call
	s := newSite(t, func(c *web.Config) {
		c.TestCall = func(ctx context.Context, phone string, yaml []byte) (string, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("a test call without a deadline")
			}
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call{phone, string(yaml)})
			if strings.HasSuffix(phone, "99") {
				return "", errors.New("the trunk said 403 Forbidden")
			}
			return fmt.Sprintf("call %d queued", len(calls)), nil
		}
	})
	mkt := s.user(t, store.RoleMarketing, "mkt@example.com")
	src := bantEN(t)
	if p := mkt.do("GET", "/scripts/edit?from=bant-en", nil); !strings.Contains(p.body, `id="testcall"`) || !strings.Contains(p.body, "Test call to my phone") {
		t.Fatalf("no test-call button: %s", p.body)
	}
	testCall := func(b *browser, phone, yaml string) reply {
		t.Helper()
		r := b.do("POST", "/scripts/testcall", url.Values{"yaml": {yaml}, "phone": {phone}}, "HX-Request", "true")
		r.body = html.UnescapeString(r.body)
		return r
	}
	placed := func() []call {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(calls)
	}
	for phone, want := range map[string]string{"2125550123": "international format", "+1 911": "emergency", "+12": "not a number qualdial can call", "": "international format"} {
		if r := testCall(mkt, phone, src); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, want) {
			t.Errorf("phone %q: %d %s", phone, r.status, r.body)
		}
	}
	if r := testCall(mkt, "+12125550123", strings.Replace(src, "next: authority", "next: authorty", 1)); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "has errors") {
		t.Errorf("a script with errors: %d %s", r.status, r.body)
	}
	// A number on the do-not-call list is never called, tests included.
	if _, err := s.st.AddDNC(context.Background(), s.st.Pool(), store.DNCEntry{Phone: "+12125550177", Source: store.DNCManual}); err != nil {
		t.Fatal(err)
	}
	if r := testCall(mkt, "+12125550177", src); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "is on the do-not-call list") {
		t.Errorf("a number on the DNC list: %d %s", r.status, r.body)
	}
	r := testCall(mkt, "+1 (212) 555-0123", src)
	if r.status != 200 || !strings.Contains(r.body, "Calling +12125550123 with bant-en v3: call 1 queued") || strings.Contains(r.body, "<html") {
		t.Fatalf("test call: %d %s", r.status, r.body)
	}
	if c := placed(); len(c) != 1 || c[0].phone != "+12125550123" || c[0].yaml != src {
		t.Errorf("calls %+v", c)
	}
	// Once a minute per user: the next is refused, another user may call.
	if r := testCall(mkt, "+12125550123", src); r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "One test call a minute") || r.header.Get("Retry-After") == "" {
		t.Errorf("a second test call: %d %s", r.status, r.body)
	}
	admin := s.user(t, store.RoleAdmin, "admin@example.com")
	if r := testCall(admin, "+12125550199", src); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "The test call failed: the trunk said 403 Forbidden") {
		t.Errorf("a failed test call: %d %s", r.status, r.body)
	}
	if c := placed(); len(c) != 2 {
		t.Errorf("%d calls placed", len(c))
	}
}
