package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// The script editor (issue 13, screen 5): the shipped scripts as
// templates, an editor that checks the YAML as it is typed (CodeMirror
// over a textarea that works alone, web/assets/src/editor.js: the linter
// asks /scripts/check for JSON), a simulator that runs the pure ivr engine
// turn by turn, saving as a new version (scriptversions.go) or to a draft
// campaign, and a test call (testcall.go).

const (
	// maxScriptBody bounds a form carrying a script: URL encoding may triple
	// a script of ivr.MaxScriptSize, and the simulator's state and lead
	// fields come with it.
	maxScriptBody = 3*ivr.MaxScriptSize + maxSimState + maxLeadText
	// maxSimState bounds the simulator's state (a run is at most
	// ivr.MaxTurns inputs).
	maxSimState = 64 << 10
	// maxLeadText bounds the lead fields (name=value lines).
	maxLeadText = 16 << 10
	// maxKeys bounds the keys of one turn.
	maxKeys = 24
)

func (s *Server) scriptRoutes(mux *http.ServeMux) {
	mkt := []string{store.RoleAdmin, store.RoleMarketing}
	mux.Handle("GET /scripts", s.role(s.scriptsPage, mkt...))
	mux.Handle("GET /scripts/edit", s.role(s.scriptEditor, mkt...))
	mux.Handle("POST /scripts/check", s.role(s.scriptCheck, mkt...))
	mux.Handle("POST /scripts/simulate", s.role(s.scriptSimulate, mkt...))
	mux.Handle("POST /scripts/save", s.role(s.scriptSave, mkt...))
	mux.Handle("POST /scripts/versions", s.role(s.scriptSaveVersion, mkt...))
	mux.Handle("POST /scripts/testcall", s.role(s.scriptTestCall, mkt...))
}

// shippedScript is one script of the templates list.
type shippedScript struct {
	*ivr.Script
}

// editorData is the editor page; its parts are also htmx fragments.
type editorData struct {
	YAML, Lead string
	From       string
	// StyleNonce admits CodeMirror's <style> elements (see renderEditor).
	StyleNonce string
	Check      checkData
	Sim        simData
	Campaigns  []*store.Campaign
	Save       saveData
	// TestCall shows the test-call panel (Config.TestCall is set).
	TestCall bool
	Call     testCallData
}

type saveData struct {
	CampaignID    int64
	Error, Notice string
}

// checkData is the diagnostics panel.
type checkData struct {
	Empty bool
	// Diagnostics: errors first, then warnings, each by line; Parse caps
	// them at ivr.MaxDiagnostics with a last "…and N more".
	Diagnostics []diagnostic
	OK          string
	Flow        []flowQuestion
	Classes     []flowClass
	Profile     []flowProfile
}

type diagnostic struct {
	Line    int
	Warning bool
	Message string
}

// Text is the diagnostic as `qualdial script check` prints it, without the
// file name.
func (d diagnostic) Text() string {
	if d.Warning {
		return fmt.Sprintf("line %d: warning: %s", d.Line, d.Message)
	}
	return fmt.Sprintf("line %d: %s", d.Line, d.Message)
}

type flowQuestion struct {
	ID, Say, From, Digits string
	Start                 bool
	Answers               []flowAnswer
}

type flowAnswer struct {
	On, Points, Then string
}

type flowClass struct {
	Name, When, Route, Extra string
}

type flowProfile struct {
	Name, When, Points string
}

func (s *Server) scriptEditor(w http.ResponseWriter, r *http.Request, u *store.User) error {
	q := r.URL.Query()
	d := editorData{From: q.Get("from"), Check: checkData{Empty: true}}
	status := http.StatusOK
	if id := q.Get("script"); id != "" { // a saved version
		yaml, msg, err := s.openVersion(r.Context(), id, q.Get("version"))
		if err != nil {
			return err
		}
		d.From, d.YAML = id+" v"+q.Get("version"), yaml
		if msg != "" {
			d.From, status = "", http.StatusNotFound
			d.Check.Diagnostics = []diagnostic{{Line: 1, Message: msg}}
		}
	} else if d.From != "" {
		data, err := scripts.Read(d.From)
		if err != nil || strings.ContainsAny(d.From, "/\\") {
			d.From, status = "", http.StatusNotFound
			d.Check.Diagnostics = []diagnostic{{Line: 1, Message: "there is no shipped script with that id: see the scripts list"}}
		} else {
			d.YAML = string(data)
		}
	}
	if d.YAML != "" {
		var sc *ivr.Script
		if d.Check, sc = checkScript([]byte(d.YAML)); sc != nil { // the call starts: its first prompts
			d.Sim, _ = replay(sc, nil, simDigest(d.YAML, ""), nil)
		}
	}
	if err := s.draftCampaigns(r, &d); err != nil {
		return err
	}
	s.renderEditor(w, r, status, u, d)
	return nil
}

// renderEditor writes the whole editor page with a fresh style nonce in
// its Content-Security-Policy: CodeMirror injects its styles as <style>
// elements, which carry the nonce (EditorView.cspNonce); other pages keep
// style-src 'self' alone.
func (s *Server) renderEditor(w http.ResponseWriter, r *http.Request, status int, u *store.User, d editorData) {
	var b [18]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	d.TestCall = s.cfg.TestCall != nil
	d.StyleNonce = base64.RawURLEncoding.EncodeToString(b[:]) // nothing for HTML to escape
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy(d.StyleNonce))
	s.renderStatus(w, r, status, "script", u, d)
}

func (s *Server) draftCampaigns(r *http.Request, d *editorData) error {
	cs, err := s.store.Campaigns(r.Context(), store.CampaignFilter{Status: store.CampaignDraft, Limit: 200})
	d.Campaigns = cs
	return err
}

// scriptForm reads a bounded form; false means the answer is sent.
func scriptForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxScriptBody)
	err := r.ParseForm()
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		http.Error(w, fmt.Sprintf("the script is too large: the limit is %d KiB", ivr.MaxScriptSize>>10), http.StatusRequestEntityTooLarge)
		return false
	case err != nil:
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return false
	case len(r.PostForm.Get("yaml")) > ivr.MaxScriptSize:
		http.Error(w, fmt.Sprintf("the script is too large: the limit is %d KiB", ivr.MaxScriptSize>>10), http.StatusRequestEntityTooLarge)
		return false
	}
	return true
}

// scriptCheck answers the diagnostics panel as the script is typed, or,
// for Accept: application/json (the editor's linter), the diagnostics as
// a JSON array of jsonDiagnostic.
func (s *Server) scriptCheck(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !scriptForm(w, r) {
		return nil
	}
	d, _ := checkScript([]byte(r.PostForm.Get("yaml")))
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		out := make([]jsonDiagnostic, 0, len(d.Diagnostics))
		for _, x := range d.Diagnostics {
			out = append(out, x.json())
		}
		b, err := json.Marshal(out)
		if err != nil {
			return fmt.Errorf("script check: %w", err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
		return nil
	}
	s.renderBlock(w, r, http.StatusOK, "script", "diagnostics", d)
	return nil
}

// jsonDiagnostic is one diagnostic for the editor's linter: where it is
// (column 1 when the validator names a line only) and what it says.
type jsonDiagnostic struct {
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"` // error or warning
	Message  string `json:"message"`
}

func (d diagnostic) json() jsonDiagnostic {
	j := jsonDiagnostic{Line: max(d.Line, 1), Column: 1, Severity: "error", Message: d.Message}
	if d.Warning {
		j.Severity = "warning"
	}
	return j
}

// checkScript parses a script for the diagnostics panel; the script is nil
// when it has errors.
func checkScript(data []byte) (checkData, *ivr.Script) {
	if len(bytes.TrimSpace(data)) == 0 {
		return checkData{Empty: true}, nil
	}
	sc, ds := ivr.Parse("script", data)
	var d checkData
	var summary []diagnostic
	for _, sev := range []ivr.Severity{ivr.SeverityError, ivr.SeverityWarning} {
		for _, x := range ds {
			if x.Severity != sev {
				continue
			}
			dg := diagnostic{Line: x.Line, Warning: sev == ivr.SeverityWarning, Message: x.Message}
			if strings.HasPrefix(x.Message, "…and ") {
				summary = append(summary, dg)
				continue
			}
			d.Diagnostics = append(d.Diagnostics, dg)
		}
	}
	d.Diagnostics = append(d.Diagnostics, summary...)
	if sc == nil {
		return d, nil
	}
	classes := make([]string, len(sc.Classes))
	for i, c := range sc.Classes {
		classes[i] = c.Name
	}
	d.OK = fmt.Sprintf("ok: %s, %d questions, dimensions %s, classes %s", sc, len(sc.Questions),
		strings.Join(sc.Dimensions, ", "), strings.Join(classes, ", "))
	d.Flow, d.Classes, d.Profile = flowOf(sc)
	return d, sc
}

// flowOf is the read-only view of a valid script: every question with
// where each answer leads, the classes and the profile rules.
func flowOf(sc *ivr.Script) ([]flowQuestion, []flowClass, []flowProfile) {
	start := sc.Start
	if start == "" && len(sc.Questions) > 0 {
		start = sc.Questions[0].ID
	}
	var qs []flowQuestion
	for _, q := range sc.Questions {
		fq := flowQuestion{ID: q.ID, Say: q.Say, From: q.From, Start: q.ID == start}
		if q.Digits != nil {
			fq.Digits = fmt.Sprintf("a number of %d to %d digits", max(q.Digits.Min, 1), q.Digits.Max)
			if q.Digits.FinishOn != "" {
				fq.Digits += ", then " + q.Digits.FinishOn
			}
			for _, rg := range q.Ranges {
				fq.Answers = append(fq.Answers, flowAnswer{On: fmt.Sprintf("%d–%d", rg.Min, rg.Max), Points: pointsText(sc, rg.Score), Then: thenText(sc, rg.Action)})
			}
		}
		keys := make([]string, 0, len(q.Keys))
		for k := range q.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			a := q.Keys[k]
			fq.Answers = append(fq.Answers, flowAnswer{On: "key " + k, Points: pointsText(sc, a.Score), Then: thenText(sc, a)})
		}
		fq.Answers = append(fq.Answers, flowAnswer{On: "key " + sc.OptOut.Key, Then: "opt out (do not call again)"})
		qs = append(qs, fq)
	}
	var cls []flowClass
	for _, c := range sc.Classes {
		fc := flowClass{Name: c.Name, When: strings.TrimSpace(c.When), Route: c.Route}
		if fc.When == "" {
			fc.When = "true"
		}
		var extra []string
		if c.SLA != 0 {
			extra = append(extra, "SLA "+c.SLA.String())
		}
		if c.RecallAfter != 0 {
			extra = append(extra, "recall after "+c.RecallAfter.String())
		}
		fc.Extra = strings.Join(extra, ", ")
		cls = append(cls, fc)
	}
	var prof []flowProfile
	for _, p := range sc.Profile {
		prof = append(prof, flowProfile{Name: p.Name, When: p.When, Points: pointsText(sc, p.Score)})
	}
	return qs, cls, prof
}

// pointsText writes points as "+30 budget, -10 authority" in the script's
// dimension order.
func pointsText(sc *ivr.Script, pts map[string]int) string {
	var parts []string
	for _, d := range sc.Dimensions {
		if p, ok := pts[d]; ok {
			parts = append(parts, fmt.Sprintf("%+d %s", p, d))
		}
	}
	return strings.Join(parts, ", ")
}

func thenText(sc *ivr.Script, a ivr.Action) string {
	var t string
	switch _, ending := sc.Endings[a.Next]; {
	case a.Class != "":
		t = "class " + a.Class + " (knock-out)"
		if a.Next != "" {
			t += ", ending " + a.Next
		}
		return t
	case ending:
		return "ending " + a.Next + ", then the class rules"
	}
	return "question " + a.Next
}

// simRun is the simulator's state between turns, kept in a hidden input:
// the engine's state, the inputs that led to it (the state is checked
// against them: a state that they do not give is refused) and a digest of
// the script and lead fields it ran on.
type simRun struct {
	Digest string      `json:"digest"`
	Inputs []ivr.Input `json:"inputs"`
	State  ivr.State   `json:"state"`
}

// simData is the simulator panel.
type simData struct {
	// Run is simRun as JSON, for the hidden input; empty before a start.
	Run   string
	Error string
	Steps []simStep
	// Waiting describes the question waiting for keys.
	Waiting string
	Scores  []dimScore
	Total   int
	Done    bool
	Result  ivr.Result
	Contrib []string
	Started bool
	// Turns counts the inputs applied.
	Turns int
}

type simStep struct {
	Said  []ivr.Prompt
	Did   string // "press 1", "timeout", "hang up"
	Note  string // points, or what the input did
	Forms []string
}

type dimScore struct {
	Dimension string
	Points    int
}

// errSimTampered is a simulator state that its inputs do not give.
var errSimTampered = errors.New("the simulator's state is not one this script gives: restart the simulation")

// scriptSimulate applies one input (a key press, several keys, a timeout
// or a hang-up) to the simulation and answers the simulator panel.
func (s *Server) scriptSimulate(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !scriptForm(w, r) {
		return nil
	}
	f := r.PostForm
	yaml, leadText := f.Get("yaml"), f.Get("lead")
	sd, status := simulateForm(yaml, leadText, f.Get("run"), f.Get("press"), f.Get("keys"))
	if status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge {
		http.Error(w, sd.Error, status)
		return nil
	}
	if r.Header.Get("HX-Request") == "true" {
		s.renderBlock(w, r, status, "script", "simulator", sd)
		return nil
	}
	d := editorData{YAML: yaml, Lead: leadText, Sim: sd}
	d.Check, _ = checkScript([]byte(yaml))
	if err := s.draftCampaigns(r, &d); err != nil {
		return err
	}
	s.renderEditor(w, r, status, u, d)
	return nil
}

// simulateForm runs the simulator for one request: 400 for a state that
// was tampered with, 409 when the script or lead fields changed since the
// run began, 422 for a script or input that cannot run.
func simulateForm(yaml, leadText, runJSON, press, keys string) (simData, int) {
	sc, ds := ivr.Parse("script", []byte(yaml))
	if sc == nil {
		msg := "the script has errors: fix them (see the checks) to simulate it"
		if len(bytes.TrimSpace([]byte(yaml))) == 0 {
			msg = "write or open a script to simulate it"
		} else if errs := ds.Errors(); len(errs) > 0 {
			msg = fmt.Sprintf("the script has errors (line %d: %s): fix them to simulate it", errs[0].Line, errs[0].Message)
		}
		return simData{Error: msg}, http.StatusUnprocessableEntity
	}
	lead, err := parseLeadFields(leadText)
	if err != nil {
		return simData{Error: err.Error()}, http.StatusUnprocessableEntity
	}
	digest := simDigest(yaml, leadText)
	var run simRun
	if press != "restart" && runJSON != "" {
		if len(runJSON) > maxSimState {
			return simData{Error: "the simulator's state is too large"}, http.StatusRequestEntityTooLarge
		}
		dec := json.NewDecoder(strings.NewReader(runJSON))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&run); err != nil || dec.More() || len(run.Inputs) > ivr.MaxTurns+1 {
			return simData{Error: "the simulator's state cannot be read: restart the simulation"}, http.StatusBadRequest
		}
		switch {
		case run.Digest != digest && len(run.Inputs) == 0:
			// Nothing pressed yet (the lead fields were typed first): start
			// over with what the page holds now.
			run, runJSON = simRun{}, ""
		case run.Digest != digest:
			return simData{Error: "the script or the lead fields changed since this simulation began: restart it"}, http.StatusConflict
		}
	}
	var in *ivr.Input
	switch press {
	case "", "restart", "start":
	case "timeout":
		in = &ivr.Input{Timeout: true}
	case "hangup":
		in = &ivr.Input{Hangup: true}
	case "keys":
		k := strings.TrimSpace(keys)
		if k == "" || len(k) > maxKeys || strings.Trim(k, "0123456789*#") != "" {
			sd, _ := replay(sc, lead, digest, run.Inputs)
			sd.Error = fmt.Sprintf("type phone keys only (0-9, * and #), at most %d, e.g. 120#", maxKeys)
			return sd, http.StatusUnprocessableEntity
		}
		in = &ivr.Input{Keys: k}
	default:
		if len(press) != 1 || !strings.Contains("0123456789*#", press) {
			return simData{Error: "unknown key"}, http.StatusBadRequest
		}
		in = &ivr.Input{Keys: press}
	}
	sd, st := replay(sc, lead, digest, run.Inputs)
	if runJSON != "" && press != "restart" && !sameState(st, run.State) {
		return simData{Error: errSimTampered.Error()}, http.StatusBadRequest
	}
	if in == nil {
		return sd, http.StatusOK
	}
	if st.Done() {
		sd.Error = "the call has ended: restart the simulation"
		return sd, http.StatusUnprocessableEntity
	}
	sd, _ = replay(sc, lead, digest, append(slices.Clone(run.Inputs), *in))
	return sd, http.StatusOK
}

func sameState(a, b ivr.State) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func simDigest(yaml, lead string) string {
	h := sha256.Sum256([]byte(yaml + "\x00" + lead))
	return hex.EncodeToString(h[:16])
}

// replay runs the script from the start through inputs, as a call would
// go, and describes it for the simulator panel.
func replay(sc *ivr.Script, lead map[string]string, digest string, inputs []ivr.Input) (simData, ivr.State) {
	eng := ivr.NewEngine(sc)
	st, turn := eng.Start(lead)
	sd := simData{Started: true}
	step := simStep{Said: turn.Prompts, Forms: formAnswers(sc, st.Answers)}
	var used []ivr.Input
	for _, in := range inputs {
		if turn.Final {
			break
		}
		before := len(st.Answers)
		next, nextTurn, err := eng.Next(st, in)
		if err != nil {
			break
		}
		used = append(used, in)
		switch {
		case in.Hangup:
			step.Did = "hang up"
		case in.Timeout || in.Keys == "":
			step.Did = "timeout (no key)"
		default:
			step.Did = "press " + in.Keys
		}
		switch {
		case len(next.Answers) > before:
			step.Note = pointsText(sc, next.Answers[before].Points)
			if step.Note == "" {
				step.Note = "no points"
			}
		case next.Outcome == ivr.OutcomeOptedOut:
			step.Note = "opt-out"
		case next.Outcome == ivr.OutcomeIncomplete && !in.Hangup:
			step.Note = "no valid answer after the retries: the call ends"
		case in.Keys != "" && !in.Hangup && !in.Timeout:
			step.Note = "not accepted"
		}
		sd.Steps = append(sd.Steps, step)
		var forms []string
		if len(next.Answers) > before+1 {
			forms = formAnswers(sc, next.Answers[before+1:])
		}
		step = simStep{Said: nextTurn.Prompts, Forms: forms}
		st, turn = next, nextTurn
	}
	sd.Steps = append(sd.Steps, step)
	if !turn.Final {
		sd.Waiting = fmt.Sprintf("question %s, try %d: up to %d key(s)", turn.Question, turn.Attempt, turn.MaxDigits)
		if turn.FinishOn != "" {
			sd.Waiting += ", ending with " + turn.FinishOn
		}
		sd.Waiting += ", timeout " + turn.Timeout.String()
	}
	res := eng.Result(st)
	for _, d := range sc.Dimensions {
		sd.Scores = append(sd.Scores, dimScore{d, res.Scores[d]})
	}
	sd.Total, sd.Done = res.Total, st.Done()
	if sd.Done {
		sd.Result = res
		for _, c := range res.Explanation.Contributions {
			switch {
			case c.Rule != "":
				sd.Contrib = append(sd.Contrib, fmt.Sprintf("%+d %s (profile %s)", c.Points, c.Dimension, c.Rule))
			case c.FromForm:
				sd.Contrib = append(sd.Contrib, fmt.Sprintf("%+d %s (question %s, from the form: %s)", c.Points, c.Dimension, c.Question, strings.TrimSuffix(c.Keys, "#")))
			default:
				sd.Contrib = append(sd.Contrib, fmt.Sprintf("%+d %s (question %s, keys %s)", c.Points, c.Dimension, c.Question, c.Keys))
			}
		}
	}
	sd.Turns = len(used)
	b, _ := json.Marshal(simRun{Digest: digest, Inputs: used, State: st})
	sd.Run = string(b)
	return sd, st
}

func formAnswers(sc *ivr.Script, as []ivr.Answer) []string {
	var out []string
	for _, a := range as {
		if a.FromForm {
			out = append(out, fmt.Sprintf("question %s answered from the lead's fields: %s (not asked) %s", a.Question, strings.TrimSuffix(a.Keys, "#"), pointsText(sc, a.Points)))
		}
	}
	return out
}

// parseLeadFields reads name=value lines; blank lines and lines starting
// with # are skipped.
func parseLeadFields(text string) (map[string]string, error) {
	if len(text) > maxLeadText {
		return nil, fmt.Errorf("the lead fields are too long: at most %d KiB", maxLeadText>>10)
	}
	lead := map[string]string{}
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("lead fields, line %d: write name=value, e.g. job_title=CTO", i+1)
		}
		lead[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return lead, nil
}

// scriptSave stores the script in a draft campaign, which pins it when it
// starts.
func (s *Server) scriptSave(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !scriptForm(w, r) {
		return nil
	}
	yaml := r.PostForm.Get("yaml")
	sv, status := saveData{}, http.StatusOK
	id, err := strconv.ParseInt(r.PostForm.Get("campaign"), 10, 64)
	sc, _ := ivr.Parse("script", []byte(yaml))
	var c *store.Campaign
	switch {
	case err != nil || id <= 0:
		sv.Error, status = "Choose a draft campaign to save the script to.", http.StatusUnprocessableEntity
	case sc == nil:
		sv.Error, status = "The script has errors: fix them before saving it.", http.StatusUnprocessableEntity
	default:
		sv.CampaignID = id
		c, err = s.store.Campaign(r.Context(), id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			sv.Error, status = "There is no such campaign.", http.StatusUnprocessableEntity
		case err != nil:
			return err
		case c.Status != store.CampaignDraft:
			sv.Error, status = fmt.Sprintf("Campaign %s is %s: only a draft campaign takes a new script (a campaign pins its script when it starts).", c.Name, c.Status), http.StatusConflict
		default:
			var se *store.ScriptError
			if err := s.store.CheckScriptVersion(r.Context(), sc, yaml); errors.As(err, &se) {
				sv.Error, status = se.Message+".", http.StatusConflict
				break
			} else if err != nil {
				return err
			}
			if err := s.store.SetCampaignScript(r.Context(), c.ID, yaml); err != nil {
				return err
			}
			sv.Notice = fmt.Sprintf("Saved to campaign %s: it runs %s once started.", c.Name, sc)
			s.cfg.Logger.InfoContext(r.Context(), "campaign script saved", "campaign_id", c.ID, "script", sc.String(), "user_id", u.ID)
		}
	}
	return s.answerSave(w, r, u, status, sv)
}

// answerSave answers a save with the save panel (htmx) or the whole
// editor page, the posted script and lead fields in it.
func (s *Server) answerSave(w http.ResponseWriter, r *http.Request, u *store.User, status int, sv saveData) error {
	yaml := r.PostForm.Get("yaml")
	d := editorData{YAML: yaml, Lead: r.PostForm.Get("lead"), Save: sv}
	if err := s.draftCampaigns(r, &d); err != nil {
		return err
	}
	if r.Header.Get("HX-Request") == "true" {
		s.renderBlock(w, r, status, "script", "save", d)
		return nil
	}
	d.Check, _ = checkScript([]byte(yaml))
	s.renderEditor(w, r, status, u, d)
	return nil
}
