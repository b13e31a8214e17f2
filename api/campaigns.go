package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nyaruka/phonenumbers"

	"github.com/qualdial/qualdial/calllist"
	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/internal/csvdownload"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/jurisdiction"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/scoring"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// campaignJSON is a campaign as the API shows it. Durations are text:
// "15m", "2h", "1d".
type campaignJSON struct {
	ID                 int64             `json:"id"`
	Name               string            `json:"name"`
	Status             string            `json:"status"`
	ScriptID           string            `json:"script_id"`
	ScriptVersion      int               `json:"script_version,omitempty"`
	Driver             string            `json:"driver"`
	MachineDetection   string            `json:"machine_detection"`
	DTMF               string            `json:"dtmf"`
	CallerID           string            `json:"caller_id"`
	CallerIDs          []string          `json:"caller_ids"`
	CallerIDDailyCap   int               `json:"caller_id_daily_cap"`
	CallerName         string            `json:"caller_name"`
	DefaultCountry     string            `json:"default_country"`
	Window             windowJSON        `json:"window"`
	MaxAttempts        int               `json:"max_attempts"`
	Retry              map[string]string `json:"retry"`
	RingTimeout        string            `json:"ring_timeout"`
	MaxCallLength      string            `json:"max_call_length"`
	MaxConcurrentCalls int               `json:"max_concurrent_calls"`
	CallsPerSecond     float64           `json:"calls_per_second"`
	SLA                string            `json:"sla"`
	RequireConsent     bool              `json:"require_consent"`
	Purpose            string            `json:"purpose"`
	AllowedNumberTypes []string          `json:"allowed_number_types"`
	AllowedCountries   []string          `json:"allowed_countries"` // null: the default country only
	// Scoring: null thresholds are not set; the points table shown is the
	// one in force (the default one when the campaign sets none).
	CallThreshold  *int          `json:"call_threshold"`
	SalesThreshold *int          `json:"sales_threshold"`
	ActivityPoints scoring.Table `json:"activity_points"`
	RecallInterval string        `json:"recall_interval"`
	CreatedAt      time.Time     `json:"created_at"`
	StatusReason   string        `json:"status_reason,omitempty"`
	Abandonment    *abandonJSON  `json:"abandonment,omitempty"`
}

// abandonJSON is a campaign's rolling 30-day abandonment rate.
type abandonJSON struct {
	Rate       float64   `json:"rate"`
	Answered   int       `json:"answered"`
	Late       int       `json:"late"`
	ComputedAt time.Time `json:"computed_at"`
}

type windowJSON struct {
	Days  []int  `json:"days"`
	Start string `json:"start"`
	End   string `json:"end"`
}

func dur(d time.Duration) string { return ivr.Duration(d).String() }

func toCampaignJSON(c *store.Campaign) campaignJSON {
	var abandon *abandonJSON
	if a := c.Abandonment; !a.At.IsZero() {
		abandon = &abandonJSON{Rate: a.Rate(), Answered: a.Answered, Late: a.Late, ComputedAt: a.At}
	}
	return campaignJSON{StatusReason: c.StatusReason, Abandonment: abandon, ID: c.ID, Name: c.Name, Status: string(c.Status), ScriptID: c.ScriptID, ScriptVersion: c.ScriptVersion, Driver: string(c.Driver),
		MachineDetection: c.MachineDetection, DTMF: c.DTMF, CallerID: c.CallerID, CallerIDs: nonNilList(c.CallerIDPool),
		CallerIDDailyCap: c.CallerIDDailyCap, CallerName: c.CallerName, DefaultCountry: c.DefaultCountry,
		Window:      windowJSON{Days: c.WindowDays, Start: queue.Clock(c.WindowStart), End: queue.Clock(c.WindowEnd)},
		MaxAttempts: c.MaxAttempts,
		Retry: map[string]string{"busy": dur(c.RetryBusy), "no_answer": dur(c.RetryNoAnswer), "congestion": dur(c.RetryCongest),
			"incomplete": dur(c.RetryIncompl), "machine": dur(c.RetryMachine)},
		RingTimeout: dur(c.RingTimeout), MaxCallLength: dur(c.MaxCallLength), MaxConcurrentCalls: c.MaxConcurrent,
		CallsPerSecond: c.CallsPerSecond, SLA: dur(c.SLA), RequireConsent: c.RequireConsent, Purpose: c.Purpose,
		AllowedNumberTypes: c.AllowedNumberTypes, AllowedCountries: c.AllowedCountries, CreatedAt: c.CreatedAt,
		CallThreshold: c.CallThreshold, SalesThreshold: c.SalesThreshold, ActivityPoints: c.Points(), RecallInterval: dur(c.RecallInterval)}
}

// readJSON decodes a JSON body into v, refusing unknown fields. Wrong
// types and unknown fields are field errors (422); a body that is not
// UTF-8 or not JSON is a 400.
func (s *server) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		return err
	}
	if _, err := decodeObject(body); err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return invalid(intake.FieldError{Field: te.Field, Message: "must be " + typeWord(te.Type)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if intake.CheckText(name, 64, false) != "" {
			name = "fields"
		}
		return invalid(intake.FieldError{Field: name, Message: "unknown field"})
	}
	return badRequest("the body is not valid JSON for this endpoint: %v", err)
}

// Bounds of campaign settings (README: Campaigns).
const (
	maxCampaignName  = 128
	maxCallerName    = 64
	minCallsPerSec   = 0.01
	maxCallsPerSec   = 100
	maxConcurrent    = 1000
	minRingTimeout   = 15 * time.Second
	maxRingTimeout   = 2 * time.Minute
	minCallLength    = 30 * time.Second
	maxCallLength    = time.Hour
	minRetryDelay    = time.Minute
	maxRetryDelay    = 30 * 24 * time.Hour
	minSLA           = time.Minute
	maxSLA           = 30 * 24 * time.Hour
	maxAttemptsLimit = 20
	maxThreshold     = 100000
	minRecall        = time.Hour
	maxRecall        = 365 * 24 * time.Hour
)

var (
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	retryKeys  = []string{"busy", "no_answer", "congestion", "incomplete", "machine"}
	drivers    = []string{"sip", "twilio"}
	machineDet = []string{"off", "hangup", "message"}
	// maxCallerIDs bounds a campaign's pool of caller IDs (the schema's too).
	maxCallerIDs = 100
	purposes     = func() []string {
		var out []string
		for _, p := range jurisdiction.Purposes {
			out = append(out, string(p))
		}
		return out
	}()
	// campaignReadOnly are fields a GET returns that a PATCH may send back
	// unchanged, never change.
	campaignReadOnly = []string{"id", "name", "status", "script_id", "script_version", "created_at"}
	// campaignComputed are figures qualdial computes, which change between
	// a GET and the PATCH that sends its body back: accepted and ignored.
	campaignComputed = []string{"status_reason", "abandonment"}
	// campaignWritable are the settings of a campaign's calling policy.
	campaignWritable = []string{"caller_id", "caller_ids", "caller_id_daily_cap", "caller_name", "default_country", "driver", "machine_detection", "dtmf", "window", "max_attempts", "retry",
		"ring_timeout", "max_call_length", "max_concurrent_calls", "calls_per_second", "sla", "require_consent", "purpose", "allowed_number_types",
		"allowed_countries", "call_threshold", "sales_threshold", "activity_points", "recall_interval"}
)

// parseCampaign validates a campaign body into store parameters: on
// create, name, script and the settings given (the rest take their
// defaults); on update, the whole policy (the current campaign with the
// changes merged in).
func parseCampaign(o *jsonObject, create bool) (store.CampaignParams, []byte) {
	c := o.c
	var p store.CampaignParams
	known := campaignWritable
	if create {
		known = append([]string{"name", "script_id", "script"}, campaignWritable...)
	}
	o.unknown(known...)
	str := func(field string, max int) (string, bool) {
		var v string
		given, _ := o.get(field, &v, false)
		if given && !c.text(field, v, max) {
			return "", false
		}
		return v, given
	}
	var yaml []byte
	if create {
		name, given := str("name", maxCampaignName)
		p.Name = strings.TrimSpace(name)
		switch {
		case !given && !slices.ContainsFunc(c.errs, func(e intake.FieldError) bool { return e.Field == "name" }):
			c.add("name", "required: a unique name, e.g. spring-demo")
		case !given:
		case p.Name == "":
			c.add("name", "must not be empty")
		case strings.Trim(p.Name, "0123456789") == "":
			c.add("name", "must not be a number: numbers address campaigns by id")
		case strings.ContainsAny(p.Name, "/?#%"):
			c.add("name", "must not contain / ? # or %%: the name is used in URLs (/v1/campaigns/{name})")
		}
		var script string
		scriptGiven, _ := o.get("script", &script, false)
		id, idGiven := str("script_id", 64)
		switch {
		case scriptGiven && idGiven:
			c.add("script", "give script (YAML) or script_id, not both")
		case scriptGiven:
			if msg := intake.CheckText(script, ivr.MaxScriptSize, true); msg != "" {
				c.add("script", "%s", msg)
				break
			}
			yaml = []byte(script)
			sc, ds := ivr.Parse("script", yaml)
			if sc == nil {
				for _, d := range ds.Errors() {
					c.add("script", "line %d: %s", d.Line, d.Message)
				}
			} else {
				p.ScriptID = sc.ID
			}
		case idGiven:
			b, err := scripts.Read(id)
			if err != nil {
				c.add("script_id", "no shipped script %s: give its YAML in script", quote(id))
			}
			p.ScriptID, yaml = id, b
		default:
			c.add("script_id", "required: a shipped script id (bant-en…) or the YAML in script")
		}
	}
	callerID, given := str("caller_id", 16)
	switch {
	case !given && !slices.ContainsFunc(c.errs, func(e intake.FieldError) bool { return e.Field == "caller_id" }):
		c.add("caller_id", "required: the number the leads see, in E.164 (+15550100)")
	case given && !e164.MatchString(callerID):
		c.add("caller_id", "%s is not an E.164 number: + and 7 to 15 digits, e.g. +15550100", quote(callerID))
	}
	p.CallerID = callerID
	var pool []string
	if given, null := o.get("caller_ids", &pool, true); given {
		if null {
			pool = []string{}
		}
		if len(pool) > maxCallerIDs {
			c.add("caller_ids", "at most %d numbers", maxCallerIDs)
		}
		for i, n := range pool {
			if !e164.MatchString(n) {
				c.add("caller_ids", "item %d: %s is not an E.164 number: + and 7 to 15 digits, e.g. +15550100", i, quote(n))
			}
		}
		if len(slices.Compact(slices.Sorted(slices.Values(pool)))) != len(pool) {
			c.add("caller_ids", "lists a number twice")
		}
		p.CallerIDPool = pool
	}
	var idCap int64
	if given, _ := o.get("caller_id_daily_cap", &idCap, false); given && c.intRange("caller_id_daily_cap", idCap, 0, 100000) {
		p.CallerIDDailyCap = int(idCap)
	}
	if name, given := str("caller_name", maxCallerName); given {
		if strings.ContainsAny(name, "\"\\") {
			c.add("caller_name", `must not contain " or \ (it is sent as a SIP display name)`)
		}
		p.CallerName = strings.TrimSpace(name)
	}
	if cc, given := str("default_country", 8); given {
		cc = strings.ToUpper(strings.TrimSpace(cc))
		if _, ok := phonenumbers.GetSupportedRegions()[cc]; !ok {
			c.add("default_country", "%s is not a country: use an ISO 3166 alpha-2 code such as US, GB or DE", quote(cc))
		}
		p.DefaultCountry = cc
	}
	if v, given := str("driver", 16); given {
		c.oneOf("driver", v, drivers)
		p.Driver = store.DriverName(v)
	}
	if v, given := str("machine_detection", 16); given {
		c.oneOf("machine_detection", v, machineDet)
		p.MachineDetection = v
	}
	if v, given := str("purpose", 16); given {
		c.oneOf("purpose", v, purposes)
		p.Purpose = v
	}
	if v, given := str("dtmf", 16); given {
		c.oneOf("dtmf", v, dialer.DTMFModes)
		p.DTMF = v
	}
	if w, ok := o.object("window"); ok {
		w.unknown("days", "start", "end")
		d := store.CampaignDefaults()
		win := queue.Window{Days: d.WindowDays, Start: d.WindowStart, End: d.WindowEnd}
		var days []int64
		if given, _ := w.get("days", &days, false); given {
			win.Days = nil
			seen := map[int64]bool{}
			for _, d := range days {
				switch {
				case d < 1 || d > 7:
					c.add("window.days", "%d is not a day: use 1 (Monday) to 7 (Sunday)", d)
				case seen[d]:
					c.add("window.days", "day %d is listed twice", d)
				default:
					seen[d] = true
					win.Days = append(win.Days, int(d))
				}
			}
			if len(days) == 0 {
				c.add("window.days", "name at least one day: 1 (Monday) to 7 (Sunday)")
			}
		}
		clock := func(field string, dst *time.Duration) {
			var v string
			if given, _ := w.get(field, &v, false); !given || !c.text("window."+field, v, 5) {
				return
			}
			t, err := time.Parse("15:04", v)
			if err != nil || len(v) != 5 {
				c.add("window."+field, "%s: use HH:MM, e.g. 09:00", quote(v))
				return
			}
			*dst = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
		}
		clock("start", &win.Start)
		clock("end", &win.End)
		if !slices.ContainsFunc(c.errs, func(e intake.FieldError) bool { return strings.HasPrefix(e.Field, "window") }) {
			if err := win.Validate(); err != nil {
				c.add("window", "%v", err)
			}
			p.WindowDays, p.WindowStart, p.WindowEnd = win.Days, win.Start, win.End
		}
	}
	var attempts int64
	if given, _ := o.get("max_attempts", &attempts, false); given && c.intRange("max_attempts", attempts, 1, maxAttemptsLimit) {
		p.MaxAttempts = int(attempts)
	}
	if rt, ok := o.object("retry"); ok {
		rt.unknown(retryKeys...)
		for _, k := range retryKeys {
			var v string
			if given, _ := rt.get(k, &v, false); given {
				d := c.duration("retry."+k, v, minRetryDelay, maxRetryDelay)
				switch k {
				case "busy":
					p.RetryBusy = &d
				case "no_answer":
					p.RetryNoAnswer = &d
				case "congestion":
					p.RetryCongest = &d
				case "incomplete":
					p.RetryIncompl = &d
				case "machine":
					p.RetryMachine = &d
				}
			}
		}
	}
	durField := func(field string, min, max time.Duration) time.Duration {
		var v string
		if given, _ := o.get(field, &v, false); given {
			return c.duration(field, v, min, max)
		}
		return 0
	}
	p.RingTimeout = durField("ring_timeout", minRingTimeout, maxRingTimeout)
	p.MaxCallLength = durField("max_call_length", minCallLength, maxCallLength)
	p.SLA = durField("sla", minSLA, maxSLA)
	var conc int64
	if given, _ := o.get("max_concurrent_calls", &conc, false); given && c.intRange("max_concurrent_calls", conc, 1, maxConcurrent) {
		p.MaxConcurrent = int(conc)
	}
	var cps float64
	if given, _ := o.get("calls_per_second", &cps, false); given {
		switch {
		case math.IsNaN(cps) || cps < minCallsPerSec || cps > maxCallsPerSec:
			c.add("calls_per_second", "%g is out of range: use %g to %g", cps, minCallsPerSec, float64(maxCallsPerSec))
		case math.Abs(math.Round(cps*100)-cps*100) > 1e-6:
			c.add("calls_per_second", "%g: use at most two decimals, e.g. 0.25", cps)
		default:
			p.CallsPerSecond = math.Round(cps*100) / 100
		}
	}
	o.get("require_consent", &p.RequireConsent, false)
	var types []string
	if given, null := o.get("allowed_number_types", &types, true); given && !null {
		if len(types) == 0 || len(types) > len(intake.NumberTypes()) {
			c.add("allowed_number_types", "name 1 to %d number types (%s), or null for the default ones", len(intake.NumberTypes()),
				strings.Join(intake.NumberTypes(), ", "))
		}
		p.AllowedNumberTypes = types
	}
	var countries []string
	if given, null := o.get("allowed_countries", &countries, true); given && !null {
		if len(countries) == 0 || len(countries) > 300 {
			c.add("allowed_countries", "name 1 to 300 countries (ISO 3166 alpha-2, or 001 for non-geographic numbers), or null for the default country only")
		}
		for i, cc := range countries {
			countries[i] = strings.ToUpper(strings.TrimSpace(cc))
		}
		p.AllowedCountries = countries
	}
	parseScoring(o, &p.Scoring)
	p.RecallInterval = durField("recall_interval", minRecall, maxRecall)
	if err := (intake.Destinations{Types: p.AllowedNumberTypes, Countries: p.AllowedCountries}).Validate(); err != nil {
		var fe intake.Errors
		if errors.As(err, &fe) {
			c.errs = append(c.errs, fe...)
		}
	}
	for _, list := range []struct {
		field string
		v     []string
	}{{"allowed_number_types", p.AllowedNumberTypes}, {"allowed_countries", p.AllowedCountries}} {
		if len(slices.Compact(slices.Sorted(slices.Values(list.v)))) != len(list.v) {
			c.add(list.field, "lists a value twice")
		}
	}
	return p, yaml
}

// parseScoring reads a campaign's thresholds (null: not set) and activity
// points table.
func parseScoring(o *jsonObject, sc *store.Scoring) {
	c := o.c
	threshold := func(field string) *int {
		var v int64
		if given, null := o.get(field, &v, true); !given || null || !c.intRange(field, v, -maxThreshold, maxThreshold) {
			return nil
		}
		n := int(v)
		return &n
	}
	sc.CallThreshold, sc.SalesThreshold = threshold("call_threshold"), threshold("sales_threshold")
	if sc.CallThreshold != nil && sc.SalesThreshold != nil && *sc.SalesThreshold <= *sc.CallThreshold {
		c.add("sales_threshold", "must be above the call_threshold (%d): a score that goes to sales without a call has earned a call",
			*sc.CallThreshold)
	}
	if raw, ok := o.m["activity_points"]; ok && strings.TrimSpace(string(raw)) == "null" {
		sc.ActivityPoints = scoring.Table{} // the defaults again
		return
	}
	table, ok := o.object("activity_points")
	if !ok {
		return
	}
	sc.ActivityPoints = scoring.Table{}
	for typ := range table.m {
		rule, ok := table.object(typ)
		if !ok {
			continue
		}
		rule.unknown("points", "half_life_days")
		var points, days int64
		if given, _ := rule.get("points", &points, false); !given {
			c.add(rule.prefix+".points", "required: the points an activity of this type earns (negative: loses)")
		}
		rule.get("half_life_days", &days, false)
		if !c.intRange(rule.prefix+".points", points, -scoring.MaxPoints, scoring.MaxPoints) ||
			!c.intRange(rule.prefix+".half_life_days", days, 0, scoring.MaxHalfLifeDays) {
			continue
		}
		sc.ActivityPoints[typ] = scoring.Rule{Points: int(points), HalfLifeDays: int(days)}
	}
	if err := sc.ActivityPoints.Validate(); err != nil {
		c.add("activity_points", "%v", err)
	}
}

func (s *server) createCampaign(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	if err := noQuery(r); err != nil {
		return err
	}
	m, err := readObject(w, r, s.cfg.MaxBody)
	if err != nil {
		return err
	}
	c, err := CreateCampaign(r.Context(), s.store, m)
	var taken *NameTakenError
	if errors.As(err, &taken) {
		return &apiError{status: http.StatusConflict, detail: taken.Error()}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toCampaignJSON(c))
	return nil
}

// campaign finds the campaign of the path: /v1/campaigns/{id} takes its
// id or its name.
func (s *server) campaign(r *http.Request) (*store.Campaign, error) {
	return s.campaignByRef(r, r.PathValue("id"), "the path has an invalid parameter")
}

func (s *server) getCampaign(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	if err := noQuery(r); err != nil {
		return err
	}
	c, err := s.campaign(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCampaignJSON(c))
	return nil
}

var campaignStatuses = names(store.CampaignStatuses)

// listCampaigns pages through campaigns, newest first.
func (s *server) listCampaigns(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	q, err := readQuery(r, "status", "limit", "cursor")
	if err != nil {
		return err
	}
	f := store.CampaignFilter{Status: store.CampaignStatus(q.enum("status", campaignStatuses)), Limit: q.limit()}
	if q.str("cursor") != "" { // an empty cursor is the first page
		id, ok, err := parseID(q.str("cursor"))
		if !ok || err != nil {
			q.c.add("cursor", "not a cursor this API gave out: pass next_cursor from the previous page")
		}
		f.BeforeID = id
	}
	if err := q.c.err(); err != nil {
		return err
	}
	cs, err := s.store.Campaigns(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]campaignJSON, len(cs))
	for i, c := range cs {
		out[i] = toCampaignJSON(c)
	}
	resp := map[string]any{"campaigns": out}
	if len(cs) == f.Limit {
		resp["next_cursor"] = strconv.FormatInt(cs[len(cs)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// updateCampaign changes a campaign's policy: fields left out keep their
// values, and a GET's body can be sent back as is (its read-only fields
// unchanged). A change of consent, window or destinations re-checks the
// campaign's blocked leads.
func (s *server) updateCampaign(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	if err := noQuery(r); err != nil {
		return err
	}
	c, err := s.campaign(r)
	if err != nil {
		return err
	}
	patch, err := readObject(w, r, s.cfg.MaxBody)
	if err != nil {
		return err
	}
	updated, err := UpdateCampaign(r.Context(), s.store, s.cfg.Dialer, c, patch, keyActor(key))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCampaignJSON(updated))
	return nil
}

// sameJSON reports whether two JSON values are the same value (times by
// instant, whatever their offset).
func sameJSON(field string, a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	if field == "created_at" {
		xs, _ := x.(string)
		ys, _ := y.(string)
		tx, err1 := time.Parse(time.RFC3339Nano, xs)
		ty, err2 := time.Parse(time.RFC3339Nano, ys)
		return err1 == nil && err2 == nil && tx.Equal(ty)
	}
	return reflect.DeepEqual(x, y)
}

func (s *server) campaignAction(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
		if err := noQuery(r); err != nil {
			return err
		}
		c, err := s.campaign(r)
		if err != nil {
			return err
		}
		updated, err := s.store.ActOnCampaign(r.Context(), c, action, s.cfg.CheckPrompts)
		var me *store.MoveError
		var se *store.ScriptError
		switch {
		case errors.As(err, &me):
			return &apiError{status: http.StatusConflict, detail: me.Error()}
		case errors.As(err, &se):
			return invalid(intake.FieldError{Field: "script", Message: se.Message})
		case err != nil:
			return err
		}
		writeJSON(w, http.StatusOK, toCampaignJSON(updated))
		return nil
	}
}

// recheckCampaign puts the campaign's blocked leads back in the queue: the
// dialer's pre-dial checks decide again (after consent came in, a policy
// changed, a number left the DNC list…).
func (s *server) recheckCampaign(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	if err := noQuery(r); err != nil {
		return err
	}
	c, err := s.campaign(r)
	if err != nil {
		return err
	}
	if c.Status == store.CampaignFinished {
		return &apiError{status: http.StatusConflict, detail: "cannot re-check the leads of a finished campaign: it calls nobody"}
	}
	ctx := r.Context()
	var ids []int64
	err = s.store.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		if ids, err = s.store.RequeueBlocked(ctx, tx, c.ID, nil, keyActor(key), "re-checked on request"); err != nil || len(ids) == 0 {
			return err
		}
		return s.cfg.Dialer.EnqueueManyTx(ctx, tx, ids)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaign_id": c.ID, "requeued": len(ids)})
	return nil
}

func (s *server) campaignStats(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	if err := noQuery(r); err != nil {
		return err
	}
	c, err := s.campaign(r)
	if err != nil {
		return err
	}
	rep, err := s.store.Report(r.Context(), c.ID)
	if err != nil {
		return err
	}
	counts := func(cs []store.Count) map[string]int {
		m := map[string]int{}
		for _, c := range cs {
			m[c.Key] = c.N
		}
		return m
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"campaign_id": c.ID, "leads": rep.Leads, "by_status": counts(rep.ByStatus), "by_class": counts(rep.ByClass),
		"attempts": rep.Attempts, "by_disposition": counts(rep.Dispositions), "sla": counts(rep.SLA),
		"speed_to_first_dial": map[string]float64{"p50_seconds": rep.FirstDialP50.Seconds(), "p95_seconds": rep.FirstDialP95.Seconds(),
			"max_seconds": rep.FirstDialMax.Seconds()},
	})
	return nil
}

// classes lists the classes leads may have: those of the campaign's script
// (0: of every campaign's), and the reserved opted_out and incomplete.
func (s *server) classes(r *http.Request, campaignID int64) ([]string, error) {
	return s.store.CampaignClasses(r.Context(), campaignID)
}

// importLeads takes a CSV call list as the body (text/csv, with an optional
// charset) or as the "file" part of a multipart form. The upload is spooled
// to a temporary file first (bounded by MaxUpload), so a slow upload holds
// no database connection; its header is checked, the import is recorded
// and the answer is 202 with its id at once. The import then runs from the
// file in the background (progress: GET the import), and the file is
// removed when it ends.
func (s *server) importLeads(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	c, err := s.campaign(r)
	if err != nil {
		return err
	}
	if c.Status == store.CampaignFinished {
		return &apiError{status: http.StatusConflict, detail: fmt.Sprintf("campaign %s is finished: it takes no new leads", quote(c.Name))}
	}
	q, err := readQuery(r, "mapping", "charset", "filename")
	if err != nil {
		return err
	}
	mapping, err := calllist.ParseMapping(q.str("mapping"))
	if fe := (intake.Errors)(nil); errors.As(err, &fe) {
		q.c.errs = append(q.c.errs, fe...)
	} else if err != nil {
		return err
	}
	filename := q.str("filename")
	if q.has("filename") {
		q.c.text("filename", filename, 255)
	}
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	charset := ctParams["charset"]
	if err := q.c.err(); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	body := io.Reader(r.Body)
	if ct == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			return badRequest("cannot read the form: %v", err)
		}
		for {
			part, err := mr.NextPart()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return err
			}
			if err != nil {
				return invalid(intake.FieldError{Field: "file", Message: `the form has no "file" part with the CSV`})
			}
			if part.FormName() == "file" {
				body = part
				if filename == "" {
					filename = part.FileName()
				}
				if _, p, err := mime.ParseMediaType(part.Header.Get("Content-Type")); err == nil && p["charset"] != "" {
					charset = p["charset"]
				}
				break
			}
		}
	}
	if q.has("charset") {
		charset = q.str("charset")
	}
	if msg := intake.CheckText(filename, 255, false); msg != "" {
		filename = ""
	}
	// The charset's name is checked before the upload is read.
	if err := calllist.CheckCharset(charset); err != nil {
		return err
	}
	f, err := os.CreateTemp("", "qualdial-upload-*.csv")
	if err != nil {
		return fmt.Errorf("spool upload: %w", err)
	}
	// The file is the background import's once it runs.
	handedOver := false
	defer func() {
		if !handedOver {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("the upload broke off: %v", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool upload: %w", err)
	}
	list, err := calllist.Open(c, calllist.Options{Filename: filename, Charset: charset, Mapping: mapping, CreatedBy: key.ID}, f)
	if err != nil {
		return err
	}
	imp, err := s.store.StartImport(r.Context(), list.Params())
	if err != nil {
		return err
	}
	handedOver = true
	background := s.imports.Go(func(ctx context.Context) {
		defer func() {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}()
		if _, err := list.Run(ctx, s.store, s.cfg.Dialer, imp.ID); err != nil {
			s.cfg.Logger.WarnContext(r.Context(), "import failed", "import", imp.ID, "campaign", c.ID, "error", err)
		}
	})
	if !background {
		return &apiError{status: http.StatusServiceUnavailable, detail: fmt.Sprintf("import %d was not run: the server is shutting down; upload the file again", imp.ID)}
	}
	w.Header().Set("Location", fmt.Sprintf("/v1/campaigns/%d/imports/%d", c.ID, imp.ID))
	writeJSON(w, http.StatusAccepted, imp)
	return nil
}

func (s *server) getImport(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	imp, err := s.importOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, imp)
	return nil
}

func (s *server) importOf(r *http.Request) (*store.Import, error) {
	if err := noQuery(r); err != nil {
		return nil, err
	}
	c, err := s.campaign(r)
	if err != nil {
		return nil, err
	}
	id, err := pathID(r, "import")
	if err != nil {
		return nil, err
	}
	imp, err := s.store.Import(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && imp.CampaignID != c.ID) {
		return nil, notFound("import")
	}
	return imp, err
}

func (s *server) importRejects(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	imp, err := s.importOf(r)
	if err != nil {
		return err
	}
	// Rejected rows are the file's own text: neutralised like the export,
	// and aborted, not truncated, when the database fails mid-stream.
	out := csvdownload.New(w, fmt.Sprintf("import-%d-rejects.csv", imp.ID), s.cfg.Logger)
	err = calllist.WriteRejects(r.Context(), s.store, imp.ID, out.Row)
	return out.Finish(err)
}

// nonNilList shows an empty list as [] rather than null.
func nonNilList(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
