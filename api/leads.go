package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// leadJSON is a lead as the API shows it.
type leadJSON struct {
	ID            int64             `json:"id"`
	CampaignID    int64             `json:"campaign_id"`
	Phone         string            `json:"phone"`
	FirstName     string            `json:"first_name,omitempty"`
	LastName      string            `json:"last_name,omitempty"`
	Email         string            `json:"email,omitempty"`
	Company       string            `json:"company,omitempty"`
	TimeZone      string            `json:"time_zone,omitempty"`
	Attributes    map[string]string `json:"attributes"`
	Status        string            `json:"status"`
	StatusReason  string            `json:"status_reason,omitempty"`
	NextAttemptAt *time.Time        `json:"next_attempt_at,omitempty"`
	Attempts      int               `json:"attempts"`
	Outcome       string            `json:"outcome,omitempty"`
	Class         string            `json:"class,omitempty"`
	Route         string            `json:"route,omitempty"`
	Total         *int              `json:"total,omitempty"`
	SalesStage    string            `json:"sales_stage,omitempty"`
	SLADueAt      *time.Time        `json:"sla_due_at,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
}

func toLeadJSON(l *store.Lead) leadJSON {
	attrs := l.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return leadJSON{ID: l.ID, CampaignID: l.CampaignID, Phone: l.Phone, FirstName: l.FirstName, LastName: l.LastName, Email: l.Email,
		Company: l.Company, TimeZone: l.TimeZone, Attributes: attrs, Status: l.Status, StatusReason: l.StatusReason,
		NextAttemptAt: l.NextAttemptAt, Attempts: l.AttemptCount, Outcome: l.Outcome, Class: l.Class, Route: l.Route, Total: l.Total,
		SalesStage: l.SalesStage, SLADueAt: l.SLADueAt, CreatedAt: l.CreatedAt}
}

// readValues reads a flat object from JSON or a form post, the way form
// builders send it. Numbers and booleans become text.
func (s *server) readValues(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	values := map[string]string{}
	switch ct {
	case "application/json":
		var raw map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, badRequest("the body is not a JSON object: %v", err)
		}
		for k, v := range raw {
			switch t := v.(type) {
			case nil:
			case string:
				values[k] = t
			case json.Number, bool:
				values[k] = fmt.Sprint(t)
			default:
				b, _ := json.Marshal(t)
				values[k] = string(b)
			}
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(s.cfg.MaxBody); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return nil, badRequest("cannot read the form: %v", err)
		}
		for k, vs := range r.Form {
			if len(vs) > 0 {
				values[k] = vs[0]
			}
		}
	default:
		return nil, &apiError{status: http.StatusUnsupportedMediaType, detail: "send application/json or application/x-www-form-urlencoded"}
	}
	return values, nil
}

// campaignRef finds a campaign by id or name.
func (s *server) campaignRef(r *http.Request, ref string) (*store.Campaign, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, invalid(intake.FieldError{Field: "campaign", Message: "name the campaign (its id or name) in the body or ?campaign="})
	}
	var c *store.Campaign
	var err error
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		c, err = s.store.Campaign(r.Context(), id)
	} else {
		c, err = s.store.CampaignByName(r.Context(), ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid(intake.FieldError{Field: "campaign", Message: fmt.Sprintf("no campaign %q", ref)})
	}
	return c, err
}

func (s *server) createLead(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	values, err := s.readValues(w, r)
	if err != nil {
		return err
	}
	// The campaign comes from one place: the query or the body. Naming it
	// twice differently is refused, so a signed body cannot be sent to
	// another campaign by a query added to it.
	var ref string
	named := r.URL.Query()["campaign"]
	for _, k := range []string{"campaign", "campaign_id"} {
		if v, ok := values[k]; ok {
			named = append(named, v)
			delete(values, k)
		}
	}
	for _, v := range named {
		switch v = strings.TrimSpace(v); {
		case ref == "":
			ref = v
		case v != "" && v != ref:
			return invalid(intake.FieldError{Field: "campaign",
				Message: "the campaign is named more than once, differently (?campaign=, campaign, campaign_id): name it in one place"})
		}
	}
	c, err := s.campaignRef(r, ref)
	if err != nil {
		return err
	}
	l, err := intake.Build(values, nil, c.DefaultCountry)
	if err != nil {
		return err
	}
	// A retried form post carries the same Idempotency-Key: it finds the
	// same lead instead of calling twice.
	if idem := strings.TrimSpace(r.Header.Get("Idempotency-Key")); idem != "" && l.ExternalID == "" {
		l.ExternalID = "idempotency:" + idem
	}
	ctx := r.Context()
	var id int64
	var created bool
	err = s.store.Tx(ctx, func(tx pgx.Tx) error {
		id, created, err = s.store.InsertLead(ctx, tx, leadParams(c.ID, l, "web_form"))
		if err != nil || !created {
			return err
		}
		return s.cfg.Dialer.EnqueueTx(ctx, tx, id)
	})
	if err != nil {
		return err
	}
	lead, err := store.GetLead(ctx, s.store.Pool(), id)
	if err != nil {
		return err
	}
	dial, err := s.cfg.Dialer.Explain(ctx, lead, c)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"lead": toLeadJSON(lead), "created": created, "dial": dialJSON(dial)})
	return nil
}

func dialJSON(d queue.DialStatus) map[string]any {
	m := map[string]any{"status": d.Status, "reason": d.Reason}
	if d.Next != nil {
		m["next_attempt_at"] = d.Next.UTC()
	}
	return m
}

func leadParams(campaignID int64, l intake.Lead, source string) store.LeadParams {
	return store.LeadParams{CampaignID: campaignID, Phone: l.Phone, FirstName: l.FirstName, LastName: l.LastName, Email: l.Email,
		Company: l.Company, TimeZone: l.TimeZone, Region: l.Region, PostalCode: l.PostalCode, Source: source, ExternalID: l.ExternalID,
		Attributes: l.Attributes, Consent: store.Consent{Source: l.Consent.Source, Text: l.Consent.Text, Version: l.Consent.Version,
			At: l.Consent.At, IP: l.Consent.IP, Page: l.Consent.Page}}
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound(name)
	}
	return id, nil
}

func (s *server) getLead(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	lead, err := store.GetLead(r.Context(), s.store.Pool(), id)
	if err != nil {
		return err
	}
	attempts, events, err := s.store.LeadHistory(r.Context(), id)
	if err != nil {
		return err
	}
	if attempts == nil {
		attempts = []store.AttemptView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"lead": toLeadJSON(lead), "attempts": attempts, "events": events})
	return nil
}

// cursor encodes the last (sla_due_at, id) of a page.
func encodeCursor(l *store.Lead) string {
	due := time.Unix(1<<40, 0).UTC() // "infinity" for leads without a deadline
	if l.SLADueAt != nil {
		due = *l.SLADueAt
	}
	return base64.RawURLEncoding.EncodeToString([]byte(due.Format(time.RFC3339Nano) + "|" + strconv.FormatInt(l.ID, 10)))
}

func decodeCursor(s string) (time.Time, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, 0, badRequest("cursor is not one this API gave out")
	}
	ts, id, ok := strings.Cut(string(b), "|")
	t, err1 := time.Parse(time.RFC3339Nano, ts)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, 0, badRequest("cursor is not one this API gave out")
	}
	return t, n, nil
}

func (s *server) listLeads(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	q := r.URL.Query()
	f := store.SalesFilter{Route: q.Get("route"), Stage: q.Get("stage")}
	if v := q.Get("campaign_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return invalid(intake.FieldError{Field: "campaign_id", Message: "must be a number"})
		}
		f.CampaignID = id
	}
	if q.Get("mine") == "true" {
		f.AssignedTo = key.UserID
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return invalid(intake.FieldError{Field: "limit", Message: "must be 1-500"})
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		var err error
		if f.AfterDue, f.AfterID, err = decodeCursor(v); err != nil {
			return err
		}
	}
	leads, err := s.store.SalesLeads(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]leadJSON, len(leads))
	for i, l := range leads {
		out[i] = toLeadJSON(l)
	}
	resp := map[string]any{"leads": out}
	limit := f.Limit
	if limit == 0 {
		limit = 50
	}
	if len(leads) == limit {
		resp["next_cursor"] = encodeCursor(leads[len(leads)-1])
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *server) claimNext(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	var campaign int64
	if v := r.URL.Query().Get("campaign_id"); v != "" {
		campaign, _ = strconv.ParseInt(v, 10, 64)
	}
	lead, err := s.store.ClaimNext(r.Context(), key.UserID, campaign)
	if errors.Is(err, store.ErrNotFound) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"lead": toLeadJSON(lead)})
	return nil
}

func (s *server) salesAction(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		var recall *time.Time
		if action == store.ActionRecycle && r.ContentLength != 0 {
			values, err := s.readValues(w, r)
			if err != nil {
				return err
			}
			if v := values["recall_at"]; v != "" {
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					return invalid(intake.FieldError{Field: "recall_at", Message: "use RFC 3339, e.g. 2026-12-01T10:00:00Z"})
				}
				recall = &t
			}
		}
		lead, err := s.store.Transition(r.Context(), id, key.UserID, action, recall)
		if errors.Is(err, store.ErrConflict) {
			return &apiError{status: http.StatusConflict, detail: fmt.Sprintf("cannot mark the lead %s from its current stage", action)}
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"lead": toLeadJSON(lead)})
		return nil
	}
}

// exportLeads streams qualified leads with their scores as CSV. Cells are
// neutralised against formula injection; a database error after the first
// bytes aborts the response instead of ending a truncated file cleanly.
func (s *server) exportLeads(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	out := newCSVStream(w, "qualified-leads.csv", s.cfg.Logger)
	err := out.row("id", "campaign_id", "phone", "first_name", "last_name", "email", "company", "class", "route", "total",
		"sales_stage", "sla_due_at", "scores")
	if err == nil {
		err = s.store.ExportQualified(r.Context(), r.URL.Query().Get("route"), func(row []string) error { return out.row(row...) })
	}
	if err != nil {
		err = fmt.Errorf("export qualified leads: %w", err)
	}
	return out.finish(err)
}
