package web

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/api"
	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

func (s *Server) campaignFormRoutes(mux *http.ServeMux) {
	mkt := []string{store.RoleAdmin, store.RoleMarketing}
	mux.Handle("GET /campaigns/new", s.role(s.newCampaignPage, mkt...))
	mux.Handle("POST /campaigns/new", s.role(s.createCampaign, mkt...))
	mux.Handle("GET /campaigns/{id}/settings", s.role(s.settingsPage, mkt...))
	mux.Handle("POST /campaigns/{id}/settings", s.role(s.saveSettings, mkt...))
}

// settingsForm is the campaign form: what was typed, and what is wrong with
// it, by field (the API's field names: caller_id, window.start, retry.busy…).
type settingsForm struct {
	// C is the campaign being changed; nil for a new one.
	C *store.Campaign
	// V holds the text of each field as typed (or as stored).
	V map[string]string
	// Days are the window's ISO weekdays ticked.
	Days map[int]bool
	// Consent is require_consent ticked.
	Consent bool
	// Errors holds each field's problem; General those of no field shown.
	Errors  map[string]string
	General []string
	// Choices for the selects.
	Scripts   []string
	Drivers   []string
	Machine   []string
	DTMFModes []string
	Purposes  []string
}

// The form's text fields, by the API's names: each travels to the API's
// checks as a JSON string, a number or (blank) not at all.
var (
	formText    = []string{"caller_id", "caller_name", "default_country", "driver", "machine_detection", "dtmf", "purpose", "ring_timeout", "max_call_length", "sla", "recall_interval"}
	formNumbers = []string{"max_attempts", "max_concurrent_calls", "calls_per_second"}
	// formNullable are numbers a blank sets to null (not set).
	formNullable = []string{"call_threshold", "sales_threshold"}
	formRetry    = []string{"busy", "no_answer", "congestion", "incomplete", "machine"}
)

// weekdays names the ISO weekdays the window ticks.
var weekdays = []struct {
	N    int
	Name string
}{{1, "Mon"}, {2, "Tue"}, {3, "Wed"}, {4, "Thu"}, {5, "Fri"}, {6, "Sat"}, {7, "Sun"}}

// newSettingsForm is the form filled with c's settings, or the defaults
// for a new campaign (c nil).
func newSettingsForm(c *store.Campaign) *settingsForm {
	var ids []string
	for _, n := range scripts.Names() {
		ids = append(ids, strings.TrimSuffix(n, ".yaml"))
	}
	f := &settingsForm{V: map[string]string{}, Days: map[int]bool{}, Errors: map[string]string{}, Scripts: ids,
		Drivers: []string{"sip", "twilio"}, Machine: []string{"off", "hangup", "message"}, DTMFModes: dialer.DTMFModes,
		Purposes: []string{"unspecified", "telemarketing", "informational"}, C: c}
	src := c
	if src == nil {
		d := store.CampaignDefaults()
		src = &d
	}
	v := f.V
	v["caller_id"], v["caller_name"], v["default_country"] = src.CallerID, src.CallerName, src.DefaultCountry
	v["driver"], v["machine_detection"], v["dtmf"], v["purpose"] = string(src.Driver), src.MachineDetection, src.DTMF, src.Purpose
	v["ring_timeout"], v["max_call_length"], v["sla"] = dur(src.RingTimeout), dur(src.MaxCallLength), dur(src.SLA)
	v["recall_interval"] = dur(src.RecallInterval)
	v["max_attempts"], v["max_concurrent_calls"] = strconv.Itoa(src.MaxAttempts), strconv.Itoa(src.MaxConcurrent)
	v["calls_per_second"] = strconv.FormatFloat(src.CallsPerSecond, 'f', -1, 64)
	if src.CallThreshold != nil {
		v["call_threshold"] = strconv.Itoa(*src.CallThreshold)
	}
	if src.SalesThreshold != nil {
		v["sales_threshold"] = strconv.Itoa(*src.SalesThreshold)
	}
	v["window.start"], v["window.end"] = queue.Clock(src.WindowStart), queue.Clock(src.WindowEnd)
	for k, d := range map[string]time.Duration{"busy": src.RetryBusy, "no_answer": src.RetryNoAnswer, "congestion": src.RetryCongest,
		"incomplete": src.RetryIncompl, "machine": src.RetryMachine} {
		v["retry."+k] = dur(d)
	}
	for _, d := range src.WindowDays {
		f.Days[d] = true
	}
	f.Consent = src.RequireConsent
	if c == nil {
		v["script_id"] = "bant-en"
	}
	return f
}

// dur writes a duration the way campaigns are configured: 24h, 15m, 7d.
func dur(d time.Duration) string { return ivr.Duration(d).String() }

// read takes the posted form: the values as typed, and the JSON object the
// API's checks take. A number that is not one is wrong here already.
func (f *settingsForm) read(r *http.Request, create bool) map[string]json.RawMessage {
	pf := r.PostForm
	obj := map[string]json.RawMessage{}
	str := func(v string) json.RawMessage { b, _ := json.Marshal(v); return b }
	fields := formText
	if create {
		fields = append([]string{"name", "script_id"}, fields...)
	}
	for _, k := range fields {
		v := strings.TrimSpace(pf.Get(k))
		f.V[k] = v
		if v != "" || k == "caller_name" || k == "name" {
			obj[k] = str(v)
		}
	}
	// A number travels as one; anything else as the text it is, which
	// the API's checks refuse as not a number.
	number := func(k string, nullable bool) {
		v := strings.TrimSpace(pf.Get(k))
		f.V[k] = v
		_, err := strconv.ParseFloat(v, 64)
		switch {
		case v == "" && nullable:
			obj[k] = json.RawMessage("null")
		case v == "":
		case err == nil && json.Valid([]byte(v)):
			obj[k] = json.RawMessage(v)
		default:
			obj[k] = str(v)
		}
	}
	for _, k := range formNumbers {
		number(k, false)
	}
	for _, k := range formNullable {
		number(k, true)
	}
	window := map[string]any{}
	clear(f.Days)
	days := []int{}
	for _, d := range pf["window.days"] {
		n, _ := strconv.Atoi(d) // not a number: 0, which the API's checks name
		f.Days[n] = true
		days = append(days, n)
	}
	window["days"] = days
	for _, k := range []string{"start", "end"} {
		v := strings.TrimSpace(pf.Get("window." + k))
		f.V["window."+k] = v
		window[k] = v
	}
	obj["window"], _ = json.Marshal(window)
	retry := map[string]string{}
	for _, k := range formRetry {
		v := strings.TrimSpace(pf.Get("retry." + k))
		f.V["retry."+k] = v
		if v != "" {
			retry[k] = v
		}
	}
	obj["retry"], _ = json.Marshal(retry)
	f.Consent = pf.Get("require_consent") == "on"
	obj["require_consent"], _ = json.Marshal(f.Consent)
	return obj
}

// fieldErrors files the API's field errors by field; those the form has no
// field for are general.
func (f *settingsForm) fieldErrors(err error) bool {
	var fe intake.Errors
	if !errors.As(err, &fe) {
		return false
	}
	for _, e := range fe {
		field := e.Field
		if field == "script" {
			field = "script_id"
		}
		if _, shown := f.V[field]; !shown && field != "window" && field != "window.days" && field != "require_consent" {
			f.General = append(f.General, e.Field+": "+e.Message)
			continue
		}
		if f.Errors[field] == "" {
			f.Errors[field] = e.Message
		}
	}
	return true
}

func (s *Server) newCampaignPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	f := newSettingsForm(nil)
	if id := r.URL.Query().Get("script"); slices.Contains(f.Scripts, id) {
		f.V["script_id"] = id
	}
	s.render(w, r, "campaignform", u, f)
	return nil
}

func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request, u *store.User) error {
	return s.submitCampaign(w, r, u, nil)
}

// maxCampaignForm bounds the campaign form's body: its settings take a
// few hundred bytes.
const maxCampaignForm = 64 << 10

// submitCampaign creates a campaign (c nil) or changes c's settings with
// the posted form, through the API's checks; the form comes back with the
// errors at their fields.
func (s *Server) submitCampaign(w http.ResponseWriter, r *http.Request, u *store.User, c *store.Campaign) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxCampaignForm)
	if err := r.ParseForm(); err != nil {
		// The form again, as stored, saying why: nothing of it was read.
		f, status := newSettingsForm(c), http.StatusBadRequest
		f.General = append(f.General, "the form could not be read: "+err.Error())
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			f.General[0] = fmt.Sprintf("the form is larger than %d KiB: a field holds far more than a setting takes; nothing was saved", maxCampaignForm>>10)
			status = http.StatusRequestEntityTooLarge
		}
		s.renderStatus(w, r, status, "campaignform", u, f)
		return nil
	}
	f := newSettingsForm(c)
	obj := f.read(r, c == nil)
	var err error
	if c == nil {
		c, err = api.CreateCampaign(r.Context(), s.store, obj)
	} else {
		c, err = api.UpdateCampaign(r.Context(), s.store, s.cfg.Dialer, c, obj, userActor(u))
	}
	var taken *api.NameTakenError
	switch {
	case errors.As(err, &taken):
		f.Errors["name"] = "another campaign has this name: choose another"
	case f.fieldErrors(err):
	case err != nil:
		return err
	case f.C == nil:
		s.flash(r, "Campaign %s is created, as a draft: upload a call list, then start it.", c.Name)
	default:
		s.flash(r, "The settings of %s are saved.", c.Name)
	}
	if err != nil {
		s.renderStatus(w, r, http.StatusUnprocessableEntity, "campaignform", u, f)
		return nil
	}
	http.Redirect(w, r, fmt.Sprintf("/campaigns/%d", c.ID), http.StatusSeeOther)
	return nil
}

// pathCampaign is the campaign of the path ({id}); nil when there is
// none (answered with 404).
func (s *Server) pathCampaign(w http.ResponseWriter, r *http.Request) (*store.Campaign, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.notFound(w, r)
		return nil, nil
	}
	c, err := s.store.Campaign(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.notFound(w, r)
		return nil, nil
	}
	return c, err
}

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	c, err := s.pathCampaign(w, r)
	if c == nil || err != nil {
		return err
	}
	s.render(w, r, "campaignform", u, newSettingsForm(c))
	return nil
}

func (s *Server) saveSettings(w http.ResponseWriter, r *http.Request, u *store.User) error {
	c, err := s.pathCampaign(w, r)
	if c == nil || err != nil {
		return err
	}
	return s.submitCampaign(w, r, u, c)
}

// formField is one input of the form, for the "field" template.
type formField struct {
	Name, ID, Label, Hint, Value, Error, Type string
}

// field describes the input name of f, labelled label, with a hint; typ
// is its input type (text when empty).
func (f *settingsForm) Field(name, label, hint, typ string) formField {
	return formField{Name: name, ID: "f-" + strings.ReplaceAll(name, ".", "-"), Label: label, Hint: hint, Value: f.V[name],
		Error: f.Errors[name], Type: cmp.Or(typ, "text")}
}
