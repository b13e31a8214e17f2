package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/jurisdiction"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

func (s *Server) leadRoutes(mux *http.ServeMux) {
	mux.Handle("GET /leads/{id}", s.role(s.leadPage, store.RoleAdmin, store.RoleMarketing, store.RoleSales))
	mux.Handle("POST /leads/{id}/note", s.role(s.addNote, store.RoleAdmin, store.RoleMarketing, store.RoleSales))
	mux.Handle("GET /leads/{id}/compliance.json", s.role(s.compliancePack, store.RoleAdmin, store.RoleMarketing))
}

// compliancePack downloads the lead's compliance pack (the API's GET
// /v1/leads/{id}/compliance): consent snapshots, scripts played, calls
// with their caller ID and timings, do-not-call entry, events.
func (s *Server) compliancePack(w http.ResponseWriter, r *http.Request, u *store.User) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.notFoundFor(w, r, u)
		return nil
	}
	if l, err := s.visibleLead(w, r, u, id); l == nil {
		return err
	}
	pack, err := s.store.CompliancePack(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="lead-%d-compliance.json"`, id))
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(pack)
}

// leadData is the lead page: the lead as the API's GET /v1/leads/{id}
// gives it, in words.
type leadData struct {
	L        *store.Lead
	D        *store.LeadDetail
	C        *store.Campaign
	Name     string
	Created  string
	Local    []zoneTime // the lead's local time now, per possible zone
	ZoneErr  string     // why no zone is known
	Window   string     // the campaign's calling window
	Open     bool       // open now in every zone
	NextOpen string     // when it opens next, when closed
	// Boxes are the contact, status, result (with its points per
	// dimension) and consent.
	Boxes    []box
	Attempts []attemptRow
	Events   []eventRow
	// ScriptNote says when the answers are read with another version of
	// the script than the one that asked them.
	ScriptNote string
	// Sales is the outcome buttons' panel (sales and admin, a lead in a
	// working sales stage), Message why the last action was refused.
	Sales   *salesPanel
	Message string
}

type zoneTime struct{ Zone, Time string }

type field struct{ Name, Value string }

// box is a titled list of fields.
type box struct {
	ID, Title string
	Fields    []field
	Dims      []dimBar
}

// dimBar is one dimension's points on a 160-pixel bar scaled to the most
// the script can give it.
type dimBar struct {
	Name        string
	Points, Max int
	// Profile is what the lead's fields gave before the questions: the
	// points not from the result's answers.
	Profile  int
	Width    string
	Negative bool
}

type attemptRow struct {
	A        store.AttemptView
	Started  string
	Duration string
	Answers  []answerRow
}

type answerRow struct {
	Question, Prompt, Keys, Meaning string
	Points                          []string // "budget +30"
	FromForm                        bool
	// Words is the answer in a few words for a list (the sales inbox):
	// the script's label ("budget approved"), a number with its label or
	// question ("500 seats"), else the question with its points
	// ("budget +30"); "" for an opt-out or a question not in the script.
	Words string
}

type eventRow struct {
	At, Actor, Kind, Summary string
	// Note is a note's text (kind lead.note), shown as written.
	Note string
}

// timeFormat is how the page writes instants (UTC, like the users list).
const timeFormat = "2006-01-02 15:04 UTC"

func utc(t time.Time) string { return t.UTC().Format(timeFormat) }

func utcPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return utc(*t)
}

// leadPage shows one lead: a sales user only one routed to sales or
// claimed by them (the API's rule); any other lead is not found.
func (s *Server) leadPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.notFoundFor(w, r, u)
		return nil
	}
	return s.showLead(w, r, u, id, http.StatusOK, "")
}

// showLead writes the lead page with status, and msg (a refused sales
// action) above the outcome buttons.
func (s *Server) showLead(w http.ResponseWriter, r *http.Request, u *store.User, id int64, status int, msg string) error {
	ctx := r.Context()
	l, err := s.visibleLead(w, r, u, id)
	if l == nil {
		return err
	}
	detail, err := s.store.GetLeadDetail(ctx, id)
	if err != nil {
		return err
	}
	c, err := s.store.Campaign(ctx, l.CampaignID)
	if err != nil {
		return err
	}
	attempts, events, err := s.store.LeadHistory(ctx, id)
	if err != nil {
		return err
	}
	var sc *ivr.Script
	if c.ScriptYAML != "" {
		sc, _ = ivr.Parse(c.ScriptID+".yaml", []byte(c.ScriptYAML)) // nil when it does not parse: ids are shown
	}
	d := leadData{L: l, D: detail, C: c, Name: strings.TrimSpace(l.FirstName + " " + l.LastName), Created: utc(l.CreatedAt)}
	d.when(s.cfg.Rules, l, c, s.store.Now())
	claimer, actors := "user:"+strconv.FormatInt(l.AssignedTo, 10), events
	if l.AssignedTo != 0 { // the claiming rep by e-mail too; no user lookup for a lead nobody touched
		actors = append(slices.Clip(events), store.EventView{Actor: claimer})
	}
	emails, err := s.actorEmails(ctx, actors)
	if err != nil {
		return err
	}
	d.boxes(l, detail, dimBars(sc, detail.Scores, resultAttempt(attempts)), cmp.Or(emails[claimer], "user "+strconv.FormatInt(l.AssignedTo, 10)))
	for _, a := range attempts {
		d.Attempts = append(d.Attempts, attemptOf(a, sc, l))
	}
	for _, e := range events {
		row := eventRow{At: utc(e.At), Actor: e.Actor, Kind: e.Kind}
		if email, ok := emails[e.Actor]; ok {
			row.Actor = email
		}
		if text, ok := e.Data["text"].(string); ok && e.Kind == string(store.EventLeadNote) {
			row.Note = text
		} else {
			row.Summary = summarise(e)
		}
		d.Events = append(d.Events, row)
	}
	if sc != nil && detail.ScriptVersion != 0 && (detail.ScriptID != sc.ID || detail.ScriptVersion != sc.Version) {
		d.ScriptNote = fmt.Sprintf("The call used %s version %d; its answers are read with the campaign's %s version %d.",
			detail.ScriptID, detail.ScriptVersion, sc.ID, sc.Version)
	}
	d.Sales, d.Message = newSalesPanel(l, u), msg
	s.renderStatus(w, r, status, "lead", u, d)
	return nil
}

// actorEmails maps the events' "user:<id>" actors to the users' e-mail
// addresses (disabled users' too: the timeline is history).
func (s *Server) actorEmails(ctx context.Context, events []store.EventView) (map[string]string, error) {
	if !slices.ContainsFunc(events, func(e store.EventView) bool { return strings.HasPrefix(e.Actor, "user:") }) {
		return nil, nil
	}
	users, err := s.store.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(users))
	for _, u := range users {
		out["user:"+strconv.FormatInt(u.ID, 10)] = u.Email
	}
	return out, nil
}

// visibleLead loads a lead u may see: a sales user only one routed to
// sales or claimed by them (the API's rule). For any other it writes the
// not-found page; a nil lead means the request is answered or err failed.
func (s *Server) visibleLead(w http.ResponseWriter, r *http.Request, u *store.User, id int64) (*store.Lead, error) {
	l, err := store.GetLead(r.Context(), s.store.Pool(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Role == store.RoleSales && !l.VisibleToRep(u.ID)) {
		s.notFoundFor(w, r, u)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// notFoundFor is the not-found page with the user's navigation.
func (s *Server) notFoundFor(w http.ResponseWriter, r *http.Request, u *store.User) {
	s.renderStatus(w, r, http.StatusNotFound, "notfound", u, nil)
}

// when fills the lead's local time and its campaign's calling window now.
func (d *leadData) when(rules *jurisdiction.Table, l *store.Lead, c *store.Campaign, now time.Time) {
	if l.Erased() {
		d.Window = queue.Window{Days: c.WindowDays, Start: c.WindowStart, End: c.WindowEnd}.String()
		return // no number, no zone: never called again
	}
	p := queue.Place{TimeZone: l.TimeZone, Region: l.Region, PostalCode: l.PostalCode, Country: l.Country, Phone: l.Phone}
	win := queue.CallWindow(rules, c, p)
	d.Window = win.String()
	zones, err := queue.Zones(p)
	if err != nil {
		d.ZoneErr = err.Error()
		return
	}
	for _, z := range zones {
		d.Local = append(d.Local, zoneTime{Zone: z.String(), Time: now.In(z).Format("Mon 15:04")})
	}
	d.Open = win.Open(now, zones)
	if !d.Open {
		if next, ok := win.NextOpen(now, zones); ok {
			d.NextOpen = utc(next)
		}
	}
}

// boxes lists the lead's contact, status, result and consent.
// claimedBy names the rep who claimed the lead (their e-mail).
func (d *leadData) boxes(l *store.Lead, x *store.LeadDetail, dims []dimBar, claimedBy string) {
	var contact, status, result, consent []field
	add := func(list *[]field, name, value string) {
		if value != "" {
			*list = append(*list, field{name, value})
		}
	}
	add(&contact, "Phone", l.Phone)
	add(&contact, "Name", d.Name)
	add(&contact, "Company", l.Company)
	add(&contact, "E-mail", l.Email)
	add(&contact, "External id", l.ExternalID)
	add(&contact, "Source", l.Source)
	add(&contact, "Added", d.Created)
	for _, k := range slices.Sorted(maps.Keys(l.Attributes)) {
		add(&contact, k, l.Attributes[k])
	}

	add(&status, "Status", string(l.Status))
	add(&status, "Reason", l.StatusReason)
	add(&status, "Next attempt", utcPtr(l.NextAttemptAt))
	add(&status, "Attempts", strconv.Itoa(l.AttemptCount))
	add(&status, "Called again at", utcPtr(l.RecallAt))
	add(&status, "Sales stage", string(l.SalesStage))
	if l.AssignedTo != 0 {
		add(&status, "Claimed by", claimedBy)
	}
	add(&status, "Sales deadline", utcPtr(l.SLADueAt))

	add(&result, "Outcome", l.Outcome)
	add(&result, "Class", l.Class)
	add(&result, "Route", l.Route)
	if l.Total != nil {
		add(&result, "Total", strconv.Itoa(*l.Total))
	}
	if l.Score != nil {
		add(&result, "Lead score", strconv.Itoa(*l.Score)+" as of "+utcPtr(l.ScoreAt))
	}
	conv := strconv.Itoa(l.Conversions)
	if l.ConvertedAt != nil {
		conv += ", last " + utc(*l.ConvertedAt)
	}
	add(&result, "Conversions", conv)

	has := "no"
	if l.HasConsent {
		has = "yes"
	}
	add(&consent, "Has consent", has)
	add(&consent, "Source", x.ConsentSource)
	add(&consent, "Given at", utcPtr(x.ConsentAt))
	add(&consent, "Text", x.ConsentText)
	add(&consent, "Version", x.ConsentVersion)
	add(&consent, "IP address", x.ConsentIP)
	add(&consent, "Page", x.ConsentPage)
	d.Boxes = []box{{ID: "contact", Title: "Contact", Fields: contact}, {ID: "status", Title: "Status", Fields: status},
		{ID: "result", Title: "Result", Fields: result, Dims: dims}, {ID: "consent", Title: "Consent", Fields: consent}}
}

// dimBars draws the result's points per dimension, in the script's order
// (then any other dimension), against the most the script can give.
func dimBars(sc *ivr.Script, scores map[string]int, result *store.AttemptView) []dimBar {
	if scores == nil {
		return nil
	}
	var dims []string
	if sc != nil {
		dims = slices.Clone(sc.Dimensions)
	}
	for _, k := range slices.Sorted(maps.Keys(scores)) {
		if !slices.Contains(dims, k) {
			dims = append(dims, k)
		}
	}
	var out []dimBar
	for _, dim := range dims {
		b := dimBar{Name: dim, Points: scores[dim], Max: maxPoints(sc, dim), Negative: scores[dim] < 0}
		if result != nil {
			b.Profile = b.Points
			for _, a := range result.Answers {
				b.Profile -= a.Points[dim]
			}
		}
		scale := max(b.Max, b.Points, 1)
		b.Width = fmt.Sprintf("%.1f", float64(max(b.Points, 0))*160/float64(scale))
		out = append(out, b)
	}
	return out
}

// resultAttempt is the attempt whose script gave the lead its result: the
// last one that completed or opted out (an incomplete call keeps the
// earlier result).
func resultAttempt(attempts []store.AttemptView) *store.AttemptView {
	for i := len(attempts) - 1; i >= 0; i-- {
		if o := attempts[i].Outcome; o == string(ivr.OutcomeCompleted) || o == string(ivr.OutcomeOptedOut) {
			return &attempts[i]
		}
	}
	return nil
}

// maxPoints is the most a dimension can get: each question's best answer
// for it, and every profile rule that adds to it.
func maxPoints(sc *ivr.Script, dim string) int {
	if sc == nil {
		return 0
	}
	total := 0
	for _, q := range sc.Questions {
		best := 0
		for _, a := range q.Keys {
			best = max(best, a.Score[dim])
		}
		for _, rg := range q.Ranges {
			best = max(best, rg.Score[dim])
		}
		total += best
	}
	for _, p := range sc.Profile {
		total += max(p.Score[dim], 0)
	}
	return total
}

// attemptOf is an attempt with its answers in words.
func attemptOf(a store.AttemptView, sc *ivr.Script, l *store.Lead) attemptRow {
	row := attemptRow{A: a, Started: utc(a.StartedAt)}
	from := a.StartedAt
	if a.AnsweredAt != nil {
		from = *a.AnsweredAt
	}
	if a.EndedAt != nil {
		row.Duration = a.EndedAt.Sub(from).Round(time.Second).String()
	} else {
		row.Duration = "not ended"
	}
	fields := l.Fields()
	for _, ans := range a.Answers {
		row.Answers = append(row.Answers, answerOf(ans, sc, fields))
	}
	return row
}

// answerOf says what an answer meant: the prompt, the keys, what they
// chose and the points they gave.
func answerOf(ans store.AnswerView, sc *ivr.Script, fields map[string]string) answerRow {
	row := answerRow{Question: ans.Question, Keys: ans.Keys, FromForm: ans.FromForm}
	var dims []string
	if sc != nil {
		dims = sc.Dimensions
	}
	for _, k := range slices.SortedFunc(maps.Keys(ans.Points), func(a, b string) int {
		ia, ib := slices.Index(dims, a), slices.Index(dims, b)
		if ia != ib {
			return cmp.Compare(uint(ia), uint(ib)) // unknown dimensions (-1) last
		}
		return cmp.Compare(a, b)
	}) {
		row.Points = append(row.Points, fmt.Sprintf("%s %+d", k, ans.Points[k]))
	}
	var q *ivr.Question
	if sc != nil {
		q = sc.Question(ans.Question)
	}
	if q == nil {
		row.Prompt = "(question " + ans.Question + " is not in the campaign's script)"
		return row
	}
	row.Prompt = fillPrompt(q.Say, fields)
	if sc.OptOut.Key != "" && ans.Keys == sc.OptOut.Key {
		row.Meaning = "stop these calls (opt-out)"
		return row
	}
	switch points := strings.Join(row.Points, ", "); {
	case points == "":
		row.Words = q.ID + ": " + ans.Keys
	case strings.HasPrefix(points, q.ID+" "):
		row.Words = points // "budget +30"
	default:
		row.Words = q.ID + ": " + points // "size: need +20"
	}
	if q.Digits != nil {
		v := ans.Value
		if v == nil {
			if n, err := strconv.ParseInt(strings.TrimRight(ans.Keys, "*#"), 10, 64); err == nil {
				v = &n
			}
		}
		if v == nil {
			row.Meaning = "no number"
			return row
		}
		row.Words = fmt.Sprintf("%d %s", *v, q.ID)
		for _, rg := range q.Ranges {
			if *v >= rg.Min && *v <= rg.Max {
				if rg.Label != "" {
					row.Words = fmt.Sprintf("%d %s", *v, rg.Label)
				}
				row.Meaning = fmt.Sprintf("%d, in %d–%d; %s", *v, rg.Min, rg.Max, actionWords(sc, rg.Action))
				return row
			}
		}
		row.Meaning = fmt.Sprintf("%d, in no range", *v)
		return row
	}
	if act, ok := q.Keys[ans.Keys]; ok {
		row.Meaning = actionWords(sc, act)
		if act.Label != "" {
			row.Words = act.Label
			row.Meaning = act.Label + "; " + row.Meaning
		}
	} else {
		row.Meaning = "not an option of the question"
	}
	return row
}

// actionWords says where an answer leads.
func actionWords(sc *ivr.Script, a ivr.Action) string {
	var parts []string
	if a.Class != "" {
		parts = append(parts, "class "+a.Class)
	}
	switch {
	case a.Next == "":
	case sc.Question(a.Next) != nil:
		parts = append(parts, "next question "+a.Next)
	default:
		parts = append(parts, "ending "+a.Next)
	}
	if len(parts) == 0 {
		return "end of the script"
	}
	return strings.Join(parts, ", then ")
}

// fillPrompt writes a prompt as the lead heard it.
func fillPrompt(say string, fields map[string]string) string { return ivr.Fill(say, fields) }

// summarise writes an event's data in words: the simple values as
// "name: value", the status changes as "from → to".
func summarise(e store.EventView) string {
	data := maps.Clone(e.Data)
	var parts []string
	if from, ok := data["from"]; ok {
		if to, ok := data["to"]; ok {
			parts = append(parts, fmt.Sprintf("%v → %v", from, to))
			delete(data, "from")
			delete(data, "to")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(data)) {
		switch v := data[k].(type) {
		case nil:
		case string, bool, float64:
			parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+simple(v))
		case []any:
			var vs []string
			for _, x := range v {
				vs = append(vs, simple(x))
			}
			parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+strings.Join(vs, ", "))
		case map[string]any:
			var vs []string
			for _, kk := range slices.Sorted(maps.Keys(v)) {
				vs = append(vs, kk+" "+simple(v[kk]))
			}
			parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+strings.Join(vs, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// simple writes a JSON value: numbers without exponents, times in UTC
// minutes.
func simple(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return utc(t)
		}
		return x
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case map[string]any, []any:
		return "…"
	}
	return fmt.Sprint(v)
}
