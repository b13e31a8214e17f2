package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/calllist"
	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/internal/csvdownload"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/scoring"
	"github.com/qualdial/qualdial/store"
)

// The values of lead filters, as the schema's CHECK constraints list them.
var (
	leadStatuses = names(store.LeadStatuses)
	leadRoutes   = []string{"sales", "nurture", "none"}
	salesStages  = names(store.SalesStages)
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
	ExternalID    string            `json:"external_id,omitempty"`
	Attributes    map[string]string `json:"attributes"`
	HasConsent    bool              `json:"has_consent"`
	Status        string            `json:"status"`
	StatusReason  string            `json:"status_reason,omitempty"`
	NextAttemptAt *time.Time        `json:"next_attempt_at,omitempty"`
	RecallAt      *time.Time        `json:"recall_at,omitempty"`
	Attempts      int               `json:"attempts"`
	Outcome       string            `json:"outcome,omitempty"`
	Class         string            `json:"class,omitempty"`
	Route         string            `json:"route,omitempty"`
	Total         *int              `json:"total,omitempty"`
	SalesStage    string            `json:"sales_stage,omitempty"`
	AssignedTo    int64             `json:"assigned_to,omitempty"`
	SLADueAt      *time.Time        `json:"sla_due_at,omitempty"`
	// Score is the lead score as of ScoreAt: its call's total (or profile
	// points) plus its behaviour points.
	Score   *int       `json:"score,omitempty"`
	ScoreAt *time.Time `json:"score_at,omitempty"`
	// Conversions counts the times the known lead submitted a form again;
	// ConvertedAt is the last (what a sales SLA runs from).
	Conversions int        `json:"conversions"`
	ConvertedAt *time.Time `json:"converted_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

func toLeadJSON(l *store.Lead) leadJSON {
	attrs := l.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return leadJSON{ID: l.ID, CampaignID: l.CampaignID, Phone: l.Phone, FirstName: l.FirstName, LastName: l.LastName, Email: l.Email,
		Company: l.Company, TimeZone: l.TimeZone, ExternalID: l.ExternalID, Attributes: attrs, HasConsent: l.HasConsent, Status: string(l.Status), StatusReason: l.StatusReason,
		NextAttemptAt: l.NextAttemptAt, RecallAt: l.RecallAt, Attempts: l.AttemptCount, Outcome: l.Outcome, Class: l.Class, Route: l.Route, Total: l.Total,
		SalesStage: string(l.SalesStage), AssignedTo: l.AssignedTo, SLADueAt: l.SLADueAt, CreatedAt: l.CreatedAt,
		Score: l.Score, ScoreAt: l.ScoreAt, Conversions: l.Conversions, ConvertedAt: l.ConvertedAt}
}

// readValues reads a flat object from JSON or a form post, the way form
// builders send it. Numbers and booleans become text, nested values their
// JSON. A field sent several times with different values is an error for
// lead fields and a comma-separated list for attributes (checkbox groups).
func (s *server) readValues(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	values := map[string]string{}
	switch ct {
	case "application/json":
		m, err := readObject(w, r, s.cfg.MaxBody)
		if err != nil {
			return nil, err
		}
		for k, raw := range m {
			var v any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return nil, badRequest("the body is not valid JSON: %v", err)
			}
			switch t := v.(type) {
			case nil:
			case string:
				values[k] = t
			case json.Number, bool:
				values[k] = fmt.Sprint(t)
			default:
				if intake.Canonical(k) != "" {
					return nil, invalid(intake.FieldError{Field: k, Message: "must be text, a number or true/false, not an object or a list"})
				}
				var b bytes.Buffer
				_ = json.Compact(&b, raw)
				values[k] = b.String() // an attribute: kept as its JSON
			}
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		if err := r.ParseMultipartForm(s.cfg.MaxBody); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, badRequest("cannot read the form: %v", err)
		}
		if len(r.PostForm) == 1 {
			for k := range r.PostForm {
				if t := strings.TrimSpace(k); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
					// curl -d '{…}' sends JSON as a form.
					return nil, &apiError{status: http.StatusUnsupportedMediaType,
						detail: "the body is JSON sent as a form: send it with Content-Type: application/json"}
				}
			}
		}
		if r.MultipartForm != nil && len(r.MultipartForm.File) > 0 {
			return nil, invalid(intake.FieldError{Field: "fields", Message: "files are not taken here: send the lead's fields only"})
		}
		var c check
		for k, vs := range r.PostForm {
			distinct := slices.Compact(slices.Sorted(slices.Values(vs)))
			switch {
			case len(distinct) == 1:
				values[k] = distinct[0]
			case len(distinct) > 1 && intake.Canonical(k) != "":
				c.add(intake.Canonical(k), "sent %d times with different values (as %s): send it once", len(vs), quote(k))
			case len(distinct) > 1:
				values[k] = strings.Join(vs, ", ")
			}
		}
		if err := c.err(); err != nil {
			return nil, err
		}
	default:
		return nil, &apiError{status: http.StatusUnsupportedMediaType, detail: "send application/json or application/x-www-form-urlencoded"}
	}
	return values, nil
}

// campaignRef finds a campaign by id or name for a body or query field: a
// number is an id, anything else a name. Unknown campaigns are field
// errors on field.
func (s *server) campaignRef(r *http.Request, field, ref string) (*store.Campaign, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, invalid(intake.FieldError{Field: field, Message: "name the campaign (its id or name) in the body or ?campaign="})
	}
	if msg := intake.CheckText(ref, maxCampaignName, false); msg != "" {
		return nil, invalid(intake.FieldError{Field: field, Message: msg})
	}
	c, err := s.findCampaign(r, ref)
	var fe *apiError
	if errors.As(err, &fe) && fe.status == http.StatusBadRequest {
		return nil, invalid(intake.FieldError{Field: field, Message: fe.fields[0].Message})
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid(intake.FieldError{Field: field, Message: fmt.Sprintf("no campaign %s", quote(ref))})
	}
	return c, err
}

// findCampaign looks a campaign up by ref: digits are an id, anything else
// a name.
func (s *server) findCampaign(r *http.Request, ref string) (*store.Campaign, error) {
	id, isID, err := parseID(ref)
	switch {
	case err != nil:
		return nil, &apiError{status: http.StatusBadRequest, detail: "invalid campaign reference",
			fields: []intake.FieldError{{Field: "id", Message: err.Error()}}}
	case isID:
		return s.store.Campaign(r.Context(), id)
	}
	return s.store.CampaignByName(r.Context(), ref)
}

// maxIdempotencyKey bounds Idempotency-Key, as Stripe does.
const maxIdempotencyKey = 255

// idempotencyKey reads the Idempotency-Key header: printable ASCII, at most
// 255 characters; "" when absent.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	field := func(msg string) error {
		return &apiError{status: http.StatusBadRequest, detail: "invalid Idempotency-Key header",
			fields: []intake.FieldError{{Field: "Idempotency-Key", Message: msg}}}
	}
	if len(vs) > 1 {
		return "", field("sent more than once: send one key per request")
	}
	k := strings.TrimSpace(vs[0])
	if k == "" {
		return "", field("empty: send a unique key per lead (e.g. a UUID), or leave the header out")
	}
	if len(k) > maxIdempotencyKey {
		return "", field(fmt.Sprintf("%d characters: at most %d", len(k), maxIdempotencyKey))
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", field("use printable ASCII characters only (a UUID is a good key)")
		}
	}
	return k, nil
}

// webFormConsent completes the consent a web form captured: a form that
// says yes (consent text, a checked box, a source) without a time gets the
// request's time, and a source of web_form when it names none. A refusal
// (consent_source=no, consent=false…) is kept as it came: it is not
// consent.
func webFormConsent(c *intake.Consent, now time.Time) {
	said := c.Text != "" || c.Source != "" || c.Version != ""
	if !said || store.IsRefusal(c.Source) || (c.Text != "" && store.IsRefusal(c.Text)) {
		return
	}
	if c.Source == "" {
		c.Source = "web_form"
	}
	if c.At.IsZero() {
		c.At = now
	}
}

// bodyHash is the hash of a lead request's canonical form: its values by
// name and the campaign they resolve to, whatever their order or encoding
// (JSON or form).
func bodyHash(values map[string]string, campaignID int64) []byte {
	b, _ := json.Marshal(struct {
		Campaign int64             `json:"campaign"`
		Values   map[string]string `json:"values"`
	}{campaignID, values})
	sum := sha256.Sum256(b)
	return sum[:]
}

func (s *server) createLead(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("the query string is malformed: %v", err)
	}
	idem, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	values, err := s.readValues(w, r)
	if err != nil {
		return err
	}
	ref, err := oneCampaign(query["campaign"], values)
	if err != nil {
		return err
	}
	// Other query parameters (a form's action URL often carries
	// utm_source…) are the lead's fields too, checked like the body's.
	if err := mergeQueryFields(query, values); err != nil {
		return err
	}
	c, err := s.campaignRef(r, "campaign", ref)
	if err != nil {
		return err
	}
	if c.Status == store.CampaignFinished {
		// A form still pointed at an old campaign must hear it, not lose leads.
		return &apiError{status: http.StatusConflict, detail: fmt.Sprintf("campaign %s is finished: it takes no new leads", quote(c.Name))}
	}
	dest := c.Destinations()
	l, err := intake.BuildWith(values, intake.BuildOptions{Country: c.DefaultCountry, Destinations: &dest, Now: s.store.Now()})
	if err != nil {
		return err
	}
	ctx := r.Context()
	webFormConsent(&l.Consent, s.store.Now())
	actor := keyActor(key)
	params := calllist.LeadParams(c.ID, l, "web_form")
	params.Actor = actor
	var answer store.IdempotentAnswer
	err = s.store.Tx(ctx, func(tx pgx.Tx) error {
		if idem != "" {
			first, err := s.store.ClaimIdempotencyKey(ctx, tx, key.ID, idem, bodyHash(values, c.ID))
			if errors.Is(err, store.ErrIdempotencyReused) {
				return invalid(intake.FieldError{Field: "Idempotency-Key",
					Message: "was used before with a different body: use a new key for a new lead, or resend the first body unchanged"})
			}
			if err != nil || first != nil {
				if first != nil {
					answer = *first // a retry gets the first answer again
				}
				return err
			}
		}
		id, created, err := s.store.InsertLead(ctx, tx, params)
		if err != nil {
			return err
		}
		var scored *queue.Rescored
		if created {
			if err := s.enqueueNew(ctx, tx, id, c); err != nil {
				return err
			}
			if c.SalesThreshold != nil { // its profile alone may route it to sales
				if scored, err = s.rescore(ctx, tx, id, c, 0, false, actor); err != nil {
					return err
				}
			}
		} else {
			// A known lead submitting a form again converts again.
			if err := s.consentAdded(ctx, tx, c, id, params.Consent, actor); err != nil {
				return err
			}
			old, err := store.LockLead(ctx, tx, id)
			if err != nil {
				return err
			}
			if _, err := s.store.Convert(ctx, tx, old, conversionOf(params), actor); err != nil {
				return err
			}
			// Submitting a form is an activity too, worth its points.
			added, err := s.store.AddActivity(ctx, tx, id, actor, store.Activity{Type: scoring.FormSubmit,
				Rule: c.Points()[scoring.FormSubmit], Detail: "converted again (" + params.Source + ")"})
			if err != nil {
				return err
			}
			if scored, err = s.rescore(ctx, tx, id, c, boolInt(added), true, actor); err != nil {
				return err
			}
			if old.Phone != params.Phone {
				l.Warnings = append(l.Warnings, fmt.Sprintf("the lead with this external_id has the phone %s: it keeps it (a lead's phone is "+
					"its identity in a campaign); %s was not recorded", old.Phone, params.Phone))
			}
		}
		lead, err := store.GetLead(ctx, tx, id)
		if err != nil {
			return err
		}
		warnings := l.Warnings
		if warnings == nil {
			warnings = []string{}
		}
		answer.Status = http.StatusOK
		if created {
			answer.Status = http.StatusAccepted
		}
		// dial says what the lead's own status says: never a prediction
		// that contradicts it.
		body := map[string]any{"lead": toLeadJSON(lead), "created": created, "result": "created", "dial": leadDial(lead),
			"warnings": warnings}
		if !created {
			body["result"] = "converted_again"
		}
		if scored != nil {
			body["scoring"] = scoringJSON(*scored)
		}
		if answer.Body, err = json.Marshal(body); err != nil {
			return err
		}
		if idem != "" {
			return s.store.SetIdempotentAnswer(ctx, tx, key.ID, idem, id, answer)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(answer.Status)
	_, _ = w.Write(append(answer.Body, '\n'))
	return nil
}

// rescore applies the campaign's thresholds to a lead whose score changed
// (a new lead's profile, a conversion), locking it in tx.
func (s *server) rescore(ctx context.Context, tx pgx.Tx, id int64, c *store.Campaign, added int, conversion bool, actor string) (*queue.Rescored, error) {
	l, err := store.LockLead(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	r, err := s.cfg.Dialer.Rescore(ctx, tx, l, c, added, conversion, actor)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// scoringJSON says what a score change did.
func scoringJSON(r queue.Rescored) map[string]any {
	return map[string]any{"score": r.Score, "before": r.Before, "action": r.Action, "why": r.Why}
}

// conversionOf is a known lead's new intake as a conversion.
func conversionOf(p store.LeadParams) store.Conversion {
	return store.Conversion{FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Company: p.Company, TimeZone: p.TimeZone,
		Region: p.Region, PostalCode: p.PostalCode, Attributes: p.Attributes, Source: p.Source}
}

// enqueueNew schedules a new lead's call in the lead's transaction, with the
// status the pre-dial checks give it right now: queued, or scheduled for a
// time and why, or blocked and why — so the answer and the lead agree.
func (s *server) enqueueNew(ctx context.Context, tx pgx.Tx, id int64, c *store.Campaign) error {
	lead, err := store.GetLead(ctx, tx, id)
	if err != nil {
		return err
	}
	d, err := s.cfg.Dialer.Explain(ctx, tx, lead, c)
	if err != nil {
		return err
	}
	if d.Status == queue.StatusQueued {
		return s.cfg.Dialer.EnqueueTx(ctx, tx, id)
	}
	return s.store.SetLeadStatus(ctx, tx, id, "system", d.Status, d.Reason, d.Next)
}

// leadDial is the dial part of an intake answer: the lead's own status.
func leadDial(l *store.Lead) map[string]any {
	m := map[string]any{"status": l.Status, "reason": l.StatusReason}
	if l.NextAttemptAt != nil {
		m["next_attempt_at"] = l.NextAttemptAt.UTC()
	}
	return m
}

// consentAdded records consent a new intake brings for an existing lead
// that had none, and re-queues the lead if it was blocked.
func (s *server) consentAdded(ctx context.Context, tx pgx.Tx, c *store.Campaign, leadID int64, consent store.Consent, actor string) error {
	added, err := s.store.AddConsent(ctx, tx, leadID, consent, actor)
	if err != nil || !added {
		return err
	}
	ids, err := s.store.RequeueBlocked(ctx, tx, c.ID, []int64{leadID}, actor, "consent added by a new intake")
	if err != nil || len(ids) == 0 {
		return err
	}
	return s.cfg.Dialer.EnqueueManyTx(ctx, tx, ids)
}

func dialJSON(d queue.DialStatus) map[string]any {
	m := map[string]any{"status": d.Status, "reason": d.Reason}
	if d.Next != nil {
		m["next_attempt_at"] = d.Next.UTC()
	}
	return m
}

// salesScope is the user a sales key's view is limited to (leads routed to
// sales and its own claims); 0 for roles that see every lead.
func salesScope(key *store.APIKey) int64 {
	if key.Role != store.RoleSales {
		return 0
	}
	if key.UserID == 0 {
		return -1 // a rep without a user has no claims: sales leads only
	}
	return key.UserID
}

// visibleLead loads a lead the key may see; others are not found.
func (s *server) visibleLead(r *http.Request, key *store.APIKey, id int64) (*store.Lead, error) {
	lead, err := store.GetLead(r.Context(), s.store.Pool(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("lead")
	}
	if err != nil {
		return nil, err
	}
	if scope := salesScope(key); scope != 0 && !lead.VisibleToRep(scope) {
		return nil, notFound("lead")
	}
	return lead, nil
}

// leadCompliance answers a lead's compliance pack: its consent snapshots,
// the scripts its calls played, each call's caller ID, timings and
// answers, its do-not-call entry and its events.
func (s *server) leadCompliance(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	if _, err := s.visibleLead(r, key, id); err != nil {
		return err
	}
	pack, err := s.store.CompliancePack(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="lead-%d-compliance.json"`, id))
	writeJSON(w, http.StatusOK, pack)
	return nil
}

func (s *server) getLead(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	if r.PathValue("id") == "next" {
		// /v1/leads/next is POST only; GET would read "next" as an id.
		w.Header().Set("Allow", http.MethodPost)
		return &apiError{status: http.StatusMethodNotAllowed, detail: `"/v1/leads/next" does not take GET: use POST`}
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	lead, err := s.visibleLead(r, key, id)
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
	if events == nil {
		events = []store.EventView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"lead": toLeadJSON(lead), "attempts": attempts, "events": events})
	return nil
}

// encodeCursor encodes the last lead of a page: its deadline ("-" for
// none) and id.
func encodeCursor(l *store.Lead) string {
	due := "-"
	if l.SLADueAt != nil {
		due = l.SLADueAt.UTC().Format(time.RFC3339Nano)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(due + "|" + strconv.FormatInt(l.ID, 10)))
}

func decodeCursor(c *check, s string) (*time.Time, int64) {
	bad := func() (*time.Time, int64) {
		c.add("cursor", "not a cursor this API gave out: pass next_cursor from the previous page")
		return nil, 0
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad()
	}
	ts, idText, ok := strings.Cut(string(b), "|")
	id, isID, err := parseID(idText)
	if !ok || !isID || err != nil {
		return bad()
	}
	if ts == "-" {
		return nil, id
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return bad()
	}
	return &t, id
}

// listFilterCampaign resolves ?campaign_id= or ?campaign= (an id or a
// name) to a campaign id.
func (s *server) listFilterCampaign(r *http.Request, q *query) (int64, error) {
	id := q.id("campaign_id")
	if q.has("campaign") {
		if q.has("campaign_id") {
			q.c.add("campaign", "give campaign or campaign_id, not both")
			return 0, nil
		}
		if q.str("campaign") == "" {
			q.c.add("campaign", "empty: give a campaign id or name, or leave the parameter out")
			return 0, nil
		}
		c, err := s.campaignRef(r, "campaign", q.str("campaign"))
		var ae *apiError
		if errors.As(err, &ae) && len(ae.fields) > 0 {
			q.c.errs = append(q.c.errs, ae.fields...)
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		return c.ID, nil
	}
	if id != 0 {
		if _, err := s.store.Campaign(r.Context(), id); errors.Is(err, store.ErrNotFound) {
			q.c.add("campaign_id", "no campaign %d", id)
			return 0, nil
		} else if err != nil {
			return 0, err
		}
	}
	return id, nil
}

func (s *server) listLeads(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	q, err := readQuery(r, "status", "class", "route", "stage", "campaign_id", "campaign", "mine", "limit", "cursor")
	if err != nil {
		return err
	}
	f := store.LeadFilter{Status: q.enum("status", leadStatuses), Route: q.enum("route", leadRoutes), Stage: q.enum("stage", salesStages),
		Limit: q.limit(), VisibleTo: salesScope(key)}
	if f.CampaignID, err = s.listFilterCampaign(r, q); err != nil {
		return err
	}
	if q.boolean("mine") {
		f.AssignedTo = key.UserID
		if f.AssignedTo == 0 {
			q.c.add("mine", "this key belongs to nobody, so nothing is its own")
		}
	}
	if q.str("cursor") != "" { // an empty cursor is the first page
		f.AfterDue, f.AfterID = decodeCursor(q.c, q.str("cursor"))
	}
	if q.has("class") {
		f.Class = q.str("class")
		if len(q.c.errs) == 0 {
			classes, err := s.classes(r, f.CampaignID)
			if err != nil {
				return err
			}
			if !slices.Contains(classes, f.Class) {
				whose := "any campaign's script"
				if f.CampaignID != 0 {
					whose = "this campaign's script"
				}
				q.c.add("class", "%s is not a class of %s: use %s", quote(f.Class), whose, strings.Join(classes, ", "))
			}
		}
	}
	if err := q.c.err(); err != nil {
		return err
	}
	leads, err := s.store.ListLeads(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]leadJSON, len(leads))
	for i, l := range leads {
		out[i] = toLeadJSON(l)
	}
	resp := map[string]any{"leads": out}
	if len(leads) == f.Limit {
		resp["next_cursor"] = encodeCursor(leads[len(leads)-1])
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *server) claimNext(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	q, err := readQuery(r, "campaign_id", "campaign")
	if err != nil {
		return err
	}
	campaign, err := s.listFilterCampaign(r, q)
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		q.c.add("body", "this endpoint takes no body: filter with ?campaign=")
	}
	if err := q.c.err(); err != nil {
		return err
	}
	if key.UserID == 0 {
		return &apiError{status: http.StatusForbidden, detail: "this key belongs to nobody, so it cannot claim leads: use a rep's key"}
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
		if err := noQuery(r); err != nil {
			return err
		}
		var recall *time.Time
		if action == store.ActionRecycle && r.ContentLength != 0 {
			values, err := s.readValues(w, r)
			if err != nil {
				return err
			}
			var c check
			for k, v := range values {
				if k != "recall_at" {
					c.add(k, "unknown field: recycle takes recall_at only")
					continue
				}
				if !c.text(k, v, 64) {
					continue
				}
				t, err := time.Parse(time.RFC3339, v)
				now := s.store.Now()
				switch {
				case err != nil:
					c.add("recall_at", "%s: use RFC 3339, e.g. 2026-12-01T10:00:00Z", quote(v))
					continue
				case !t.After(now):
					c.add("recall_at", "%s is not in the future: when should the lead be called again?", quote(v))
					continue
				case t.After(now.AddDate(2, 0, 0)):
					c.add("recall_at", "%s is more than two years away", quote(v))
					continue
				}
				recall = &t
			}
			if err := c.err(); err != nil {
				return err
			}
		}
		if _, err := s.visibleLead(r, key, id); err != nil {
			return err
		}
		by := store.SalesActor{UserID: key.UserID, Admin: key.Role == store.RoleAdmin}
		lead, err := s.store.Transition(r.Context(), id, by, action, recall)
		switch {
		case errors.Is(err, store.ErrConflict):
			return s.stageConflict(r, id, action)
		case errors.Is(err, store.ErrNotYours):
			return &apiError{status: http.StatusForbidden,
				detail: "the lead is claimed by another rep: only they (or an admin) may move it; an admin may reassign it"}
		case errors.Is(err, store.ErrNotFound):
			return notFound("lead")
		case err != nil:
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"lead": toLeadJSON(lead)})
		return nil
	}
}

// stageConflict is the 409 of a sales action the lead's stage does not
// allow, naming the stage and the ones that would.
func (s *server) stageConflict(r *http.Request, id int64, action string) error {
	return &apiError{status: http.StatusConflict, detail: fmt.Sprintf("cannot %s from its stage %s: that works from %s",
		store.SalesActionVerb(action), s.salesStage(r, id), strings.Join(names(store.SalesActionFrom(action)), " or "))}
}

// salesStage names a lead's sales stage for a message.
func (s *server) salesStage(r *http.Request, id int64) string {
	if l, err := store.GetLead(r.Context(), s.store.Pool(), id); err == nil && l.SalesStage != "" {
		return string(l.SalesStage)
	}
	return "none (not routed to sales)"
}

// assignLead gives a sales lead to a rep (admins).
func (s *server) assignLead(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	m, err := readObject(w, r, s.cfg.MaxBody)
	if err != nil {
		return err
	}
	c := &check{}
	o := &jsonObject{m: m, c: c}
	o.unknown("user_id")
	var user int64
	if given, _ := o.get("user_id", &user, false); !given && len(c.errs) == 0 {
		c.add("user_id", "required: the id of the rep to give the lead to")
	} else if given {
		c.intRange("user_id", user, 1, maxInt53)
	}
	if err := c.err(); err != nil {
		return err
	}
	lead, err := s.store.AssignLead(r.Context(), id, user, store.SalesActor{UserID: key.UserID, Admin: true})
	switch {
	case errors.Is(err, store.ErrNoUser):
		return invalid(intake.FieldError{Field: "user_id", Message: fmt.Sprintf("no rep %d: the user must hold a live sales key (user_id in GET /v1/apikeys)", user)})
	case errors.Is(err, store.ErrConflict):
		return &apiError{status: http.StatusConflict, detail: fmt.Sprintf("cannot assign a lead in stage %s: only open, accepted or contacted leads",
			s.salesStage(r, id))}
	case errors.Is(err, store.ErrNotFound):
		return notFound("lead")
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"lead": toLeadJSON(lead)})
	return nil
}

// exportLeads streams qualified leads with their scores as CSV. Cells are
// neutralised against formula injection; a database error after the first
// bytes aborts the response instead of ending a truncated file cleanly.
func (s *server) exportLeads(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	q, err := readQuery(r, "route")
	if err != nil {
		return err
	}
	route := q.enum("route", leadRoutes)
	if err := q.c.err(); err != nil {
		return err
	}
	out := csvdownload.New(w, "qualified-leads.csv", s.cfg.Logger)
	err = out.Row("id", "campaign_id", "phone", "first_name", "last_name", "email", "company", "class", "route", "total",
		"sales_stage", "sla_due_at", "scores", "score", "conversions", "converted_at", "outcome")
	if err == nil {
		err = s.store.ExportQualified(r.Context(), route, salesScope(key), func(row []string) error { return out.Row(row...) })
	}
	if err != nil {
		err = fmt.Errorf("export qualified leads: %w", err)
	}
	return out.Finish(err)
}

// oneCampaign takes the campaign from the one place that names it — the
// query or the body's campaign or campaign_id — and refuses a request that
// names it twice differently: a signed body must not be sent to another
// campaign by a query added to it.
func oneCampaign(inQuery []string, values map[string]string) (string, error) {
	var ref string
	named := slices.Clone(inQuery)
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
			return "", invalid(intake.FieldError{Field: "campaign",
				Message: "the campaign is named more than once, differently (?campaign=, campaign, campaign_id): name it in one place"})
		}
	}
	return ref, nil
}

// mergeQueryFields adds the query's parameters (but campaign) to a lead's
// fields. A parameter given twice, or also in the body with another value,
// is refused.
func mergeQueryFields(query url.Values, values map[string]string) error {
	var errs intake.Errors
	for _, name := range slices.Sorted(maps.Keys(query)) {
		vs := query[name]
		switch {
		case name == "campaign":
		case len(vs) > 1:
			errs = append(errs, intake.FieldError{Field: name, Message: fmt.Sprintf("given %d times in the query: give it once", len(vs))})
		case values[name] != "" && values[name] != vs[0]:
			errs = append(errs, intake.FieldError{Field: name, Message: "given in the query and the body with different values: give it once"})
		default:
			values[name] = vs[0]
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// names lists typed values as strings, for validation and messages.
func names[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
