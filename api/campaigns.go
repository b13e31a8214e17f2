package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// campaignJSON is a campaign as the API shows and takes it. Durations are
// text: "15m", "2h", "1d".
type campaignJSON struct {
	ID                 int64             `json:"id,omitempty"`
	Name               string            `json:"name"`
	Status             string            `json:"status,omitempty"`
	ScriptID           string            `json:"script_id"`
	ScriptVersion      int               `json:"script_version,omitempty"`
	Script             string            `json:"script,omitempty"` // YAML, instead of a shipped script_id
	Driver             string            `json:"driver,omitempty"` // sip (default) or twilio
	MachineDetection   string            `json:"machine_detection,omitempty"`
	CallerID           string            `json:"caller_id"`
	CallerName         string            `json:"caller_name,omitempty"`
	DefaultCountry     string            `json:"default_country,omitempty"`
	Window             *windowJSON       `json:"window,omitempty"`
	MaxAttempts        int               `json:"max_attempts,omitempty"`
	Retry              map[string]string `json:"retry,omitempty"`
	RingTimeout        string            `json:"ring_timeout,omitempty"`
	MaxCallLength      string            `json:"max_call_length,omitempty"`
	MaxConcurrentCalls int               `json:"max_concurrent_calls,omitempty"`
	CallsPerSecond     float64           `json:"calls_per_second,omitempty"`
	SLA                string            `json:"sla,omitempty"`
	RequireConsent     bool              `json:"require_consent"`
}

type windowJSON struct {
	Days  []int  `json:"days"`
	Start string `json:"start"`
	End   string `json:"end"`
}

func dur(d time.Duration) string { return ivr.Duration(d).String() }

func toCampaignJSON(c *store.Campaign) campaignJSON {
	return campaignJSON{ID: c.ID, Name: c.Name, Status: c.Status, ScriptID: c.ScriptID, ScriptVersion: c.ScriptVersion, Driver: c.Driver,
		MachineDetection: c.MachineDetection,
		CallerID:         c.CallerID, CallerName: c.CallerName, DefaultCountry: c.DefaultCountry,
		Window:      &windowJSON{Days: c.WindowDays, Start: queue.Clock(c.WindowStart), End: queue.Clock(c.WindowEnd)},
		MaxAttempts: c.MaxAttempts,
		Retry: map[string]string{"busy": dur(c.RetryBusy), "no_answer": dur(c.RetryNoAnswer), "congestion": dur(c.RetryCongest),
			"incomplete": dur(c.RetryIncompl), "machine": dur(c.RetryMachine)},
		RingTimeout: dur(c.RingTimeout), MaxCallLength: dur(c.MaxCallLength), MaxConcurrentCalls: c.MaxConcurrent,
		CallsPerSecond: c.CallsPerSecond, SLA: dur(c.SLA), RequireConsent: c.RequireConsent}
}

func (s *server) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("the body is not valid JSON for this endpoint: %v", err)
	}
	return nil
}

// params validates a campaign body into store parameters.
func (j campaignJSON) params() (store.CampaignParams, []byte, error) {
	var errs intake.Errors
	p := store.CampaignParams{Name: strings.TrimSpace(j.Name), ScriptID: j.ScriptID, CallerID: j.CallerID, CallerName: j.CallerName,
		DefaultCountry: strings.ToUpper(j.DefaultCountry), MaxAttempts: j.MaxAttempts, MaxConcurrent: j.MaxConcurrentCalls,
		CallsPerSecond: j.CallsPerSecond, RequireConsent: j.RequireConsent, Driver: j.Driver, MachineDetection: j.MachineDetection}
	switch j.MachineDetection {
	case "", "off", "hangup", "message":
	default:
		errs = append(errs, intake.FieldError{Field: "machine_detection", Message: "use off, hangup or message"})
	}
	if j.Driver != "" && j.Driver != "sip" && j.Driver != "twilio" {
		errs = append(errs, intake.FieldError{Field: "driver", Message: "use sip or twilio"})
	}
	if p.Name == "" {
		errs = append(errs, intake.FieldError{Field: "name", Message: "required"})
	}
	if p.CallerID == "" {
		errs = append(errs, intake.FieldError{Field: "caller_id", Message: "required: the number the leads see"})
	}
	var yaml []byte
	switch {
	case j.Script != "":
		yaml = []byte(j.Script)
		sc, ds := ivr.Parse("script", yaml)
		if sc == nil {
			for _, d := range ds.Errors() {
				errs = append(errs, intake.FieldError{Field: "script", Message: fmt.Sprintf("line %d: %s", d.Line, d.Message)})
			}
		} else {
			p.ScriptID = sc.ID
		}
	case j.ScriptID != "":
		b, err := scripts.Read(j.ScriptID)
		if err != nil {
			errs = append(errs, intake.FieldError{Field: "script_id", Message: fmt.Sprintf("no shipped script %q: give its YAML in script", j.ScriptID)})
		}
		yaml = b
	default:
		errs = append(errs, intake.FieldError{Field: "script_id", Message: "required: a shipped script id (bant-en…) or the YAML in script"})
	}
	parse := func(field, v string, min time.Duration) time.Duration {
		if v == "" {
			return 0
		}
		d, err := ivr.ParseDuration(v)
		if err != nil || d < min {
			errs = append(errs, intake.FieldError{Field: field, Message: fmt.Sprintf("%q: a duration like 25s, 15m, 2h, 1d, at least %s", v, min)})
		}
		return d
	}
	p.RingTimeout = parse("ring_timeout", j.RingTimeout, 15*time.Second)
	p.MaxCallLength = parse("max_call_length", j.MaxCallLength, 30*time.Second)
	p.SLA = parse("sla", j.SLA, time.Minute)
	for k, v := range j.Retry {
		d := parse("retry."+k, v, 0)
		switch k {
		case "busy":
			p.RetryBusy = &d
		case "no_answer":
			p.RetryNoAnswer = &d
		case "congestion":
			p.RetryCongest = &d
		case "incomplete":
			p.RetryIncompl = &d
		default:
			errs = append(errs, intake.FieldError{Field: "retry." + k, Message: "use busy, no_answer, congestion or incomplete"})
		}
	}
	if w := j.Window; w != nil {
		start, err1 := time.Parse("15:04", w.Start)
		end, err2 := time.Parse("15:04", w.End)
		win := queue.Window{Days: w.Days, Start: time.Duration(start.Hour())*time.Hour + time.Duration(start.Minute())*time.Minute,
			End: time.Duration(end.Hour())*time.Hour + time.Duration(end.Minute())*time.Minute}
		if err1 != nil || err2 != nil {
			errs = append(errs, intake.FieldError{Field: "window", Message: "start and end are HH:MM, e.g. 09:00 and 20:00"})
		} else if err := win.Validate(); err != nil {
			errs = append(errs, intake.FieldError{Field: "window", Message: err.Error()})
		} else {
			p.WindowDays, p.WindowStart, p.WindowEnd = win.Days, win.Start, win.End
		}
	}
	if len(errs) > 0 {
		return p, nil, errs
	}
	return p, yaml, nil
}

func (s *server) createCampaign(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	var body campaignJSON
	if err := s.readJSON(w, r, &body); err != nil {
		return err
	}
	p, yaml, err := body.params()
	if err != nil {
		return err
	}
	c, err := s.store.CreateCampaign(r.Context(), p)
	if err != nil {
		if strings.Contains(err.Error(), "campaigns_name_key") {
			return &apiError{status: http.StatusConflict, detail: fmt.Sprintf("a campaign named %q exists", p.Name)}
		}
		return err
	}
	if err := s.store.SetCampaignScript(r.Context(), c.ID, string(yaml)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toCampaignJSON(c))
	return nil
}

func (s *server) campaign(r *http.Request) (*store.Campaign, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	c, err := s.store.Campaign(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("campaign")
	}
	return c, err
}

func (s *server) getCampaign(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	c, err := s.campaign(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCampaignJSON(c))
	return nil
}

// updateCampaign changes a campaign's policy; fields left out keep their
// values.
func (s *server) updateCampaign(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	c, err := s.campaign(r)
	if err != nil {
		return err
	}
	body := toCampaignJSON(c)
	body.Retry = nil
	if err := s.readJSON(w, r, &body); err != nil {
		return err
	}
	body.ScriptID, body.Script = c.ScriptID, ""
	p, _, err := body.params()
	if err != nil {
		return err
	}
	if err := s.store.UpdateCampaign(r.Context(), c.ID, p); err != nil {
		return err
	}
	return s.getCampaign(w, r, key)
}

func (s *server) campaignAction(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
		c, err := s.campaign(r)
		if err != nil {
			return err
		}
		switch {
		case action == "start" && c.Status == "draft", action == "resume" && c.Status == "paused":
			sc, ds := ivr.Parse(c.ScriptID+".yaml", []byte(c.ScriptYAML))
			if sc == nil {
				return invalid(intake.FieldError{Field: "script", Message: ds.Errors().String()})
			}
			err = s.store.StartCampaign(r.Context(), c.ID, sc, []byte(c.ScriptYAML))
		case action == "pause" && c.Status == "active":
			err = s.store.SetCampaignStatus(r.Context(), c.ID, "paused")
		case action == "finish" && c.Status != "finished":
			err = s.store.SetCampaignStatus(r.Context(), c.ID, "finished")
		default:
			return &apiError{status: http.StatusConflict, detail: fmt.Sprintf("cannot %s a %s campaign", action, c.Status)}
		}
		if err != nil {
			return err
		}
		return s.getCampaign(w, r, key)
	}
}

func (s *server) campaignStats(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
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

// importLeads takes a CSV call list as the body (text/csv, with an optional
// charset) or as the "file" part of a multipart form, streamed.
func (s *server) importLeads(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	c, err := s.campaign(r)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	body, filename, charset := io.Reader(r.Body), r.URL.Query().Get("filename"), ""
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	charset = ctParams["charset"]
	if ct == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			return badRequest("cannot read the form: %v", err)
		}
		for {
			part, err := mr.NextPart()
			if err != nil {
				return badRequest(`the form has no "file" part with the CSV`)
			}
			if part.FormName() == "file" {
				body, filename = part, part.FileName()
				if _, p, err := mime.ParseMediaType(part.Header.Get("Content-Type")); err == nil && p["charset"] != "" {
					charset = p["charset"]
				}
				break
			}
		}
	}
	if v := r.URL.Query().Get("charset"); v != "" {
		charset = v
	}
	mapping, err := ParseMapping(r.URL.Query().Get("mapping"))
	if err != nil {
		return err
	}
	imp, err := ImportCSV(r.Context(), s.store, s.cfg.Dialer, c, filename, body, charset, mapping, nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, imp)
	return nil
}

// ParseMapping reads column renames: "Handy:phone,Vorname:first_name".
func ParseMapping(s string) (map[string]string, error) {
	m := map[string]string{}
	if s == "" {
		return m, nil
	}
	for _, pair := range strings.Split(s, ",") {
		col, field, ok := strings.Cut(pair, ":")
		if !ok || strings.TrimSpace(col) == "" {
			return nil, invalid(intake.FieldError{Field: "mapping", Message: fmt.Sprintf("%q: use column:field pairs, e.g. Handy:phone,Vorname:first_name", pair)})
		}
		m[strings.TrimSpace(col)] = strings.TrimSpace(field)
	}
	return m, nil
}

// ImportCSV imports a call list into a campaign, the same way for the API
// and the command line. progress, if set, is told the rows read so far.
func ImportCSV(ctx context.Context, st *store.Store, d Dialer, c *store.Campaign, filename string, body io.Reader, charset string,
	mapping map[string]string, progress func(int)) (*store.Import, error) {
	rd, err := intake.NewCSV(body, charset)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	hasPhone := false
	for _, h := range rd.Header() {
		hasPhone = hasPhone || intake.Canonical(h) == "phone" || mapping[h] == "phone"
	}
	if !hasPhone {
		return nil, invalid(intake.FieldError{Field: "file", Message: fmt.Sprintf(
			"no phone column among %q: name it phone (or telephone, mobile…) or pass mapping=<column>:phone", rd.Header())})
	}
	delim := string(rd.Delimiter())
	// Normalising phone numbers with libphonenumber is the costly part:
	// rows are built on every core. Order does not matter — duplicates are
	// resolved by row number in the database — and the channels keep
	// memory flat.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		item store.ImportItem
		err  error
	}
	records := make(chan intake.Record, 1024)
	items := make(chan result, 1024)
	var readErr error
	go func() {
		defer close(records)
		for {
			rec, err := rd.Next()
			var re *intake.RowError
			switch {
			case errors.As(err, &re):
				select {
				case items <- result{item: store.ImportItem{Row: re.Row, Reject: re.Err.Error(), Raw: strings.Join(rec.Raw, delim)}}:
				case <-ctx.Done():
					return
				}
				continue
			case errors.Is(err, io.EOF):
				return
			case err != nil:
				readErr = err
				return
			}
			select {
			case records <- rec:
			case <-ctx.Done():
				return
			}
		}
	}()
	var workers sync.WaitGroup
	for range runtime.NumCPU() {
		workers.Go(func() {
			for rec := range records {
				raw := strings.Join(rec.Raw, delim)
				it := store.ImportItem{Row: rec.Row, Raw: raw}
				if l, err := intake.Build(rec.Values, mapping, c.DefaultCountry); err != nil {
					it.Reject = err.Error()
				} else {
					p := leadParams(c.ID, l, "import")
					it.Lead = &p
				}
				select {
				case items <- result{item: it}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() { workers.Wait(); close(items) }()
	next := func() (store.ImportItem, error) {
		r, ok := <-items
		if !ok {
			if readErr != nil {
				return store.ImportItem{}, readErr
			}
			return store.ImportItem{}, io.EOF
		}
		return r.item, r.err
	}
	return st.ImportLeads(ctx, c.ID, filename, next, func(ctx context.Context, tx pgx.Tx, ids []int64) error {
		return d.EnqueueManyTx(ctx, tx, ids)
	}, progress)
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
	out := newCSVStream(w, fmt.Sprintf("import-%d-rejects.csv", imp.ID), s.cfg.Logger)
	err = out.row("row", "reason", "data")
	if err == nil {
		err = s.store.ImportRejects(r.Context(), imp.ID, func(rj store.ImportReject) error {
			return out.row(strconv.Itoa(rj.Row), rj.Reason, rj.Raw)
		})
	}
	if err != nil {
		err = fmt.Errorf("import %d rejects: %w", imp.ID, err)
	}
	return out.finish(err)
}

func (s *server) addDNC(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	values, err := s.readValues(w, r)
	if err != nil {
		return err
	}
	phone, err := intake.NormalizePhone(values["phone"], strings.ToUpper(values["country"]))
	if err != nil {
		return invalid(intake.FieldError{Field: "phone", Message: err.Error()})
	}
	if _, err := s.store.AddDNC(r.Context(), s.store.Pool(), store.DNCEntry{Phone: phone, Source: store.DNCAPI, Reason: values["reason"],
		Actor: keyActor(key)}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"phone": phone, "on_dnc": true})
	return nil
}

func (s *server) dncPhone(r *http.Request) (string, error) {
	phone, err := intake.NormalizePhone(r.PathValue("phone"), r.URL.Query().Get("country"))
	if err != nil {
		return "", invalid(intake.FieldError{Field: "phone", Message: err.Error() + " (give an E.164 number, or ?country=)"})
	}
	return phone, nil
}

func (s *server) checkDNC(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	phone, err := s.dncPhone(r)
	if err != nil {
		return err
	}
	on, err := store.OnDNC(r.Context(), s.store.Pool(), phone)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"phone": phone, "on_dnc": on})
	return nil
}

func (s *server) removeDNC(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	phone, err := s.dncPhone(r)
	if err != nil {
		return err
	}
	removed, err := s.store.RemoveDNC(r.Context(), s.store.Pool(), phone, keyActor(key), r.URL.Query().Get("reason"))
	if err != nil {
		return err
	}
	if !removed {
		return notFound("number on the do-not-call list")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
