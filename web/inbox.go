package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

// The sales inbox: the leads sales works on, most urgent first, and the
// "Next lead" claim. Both go through the API's store functions
// (ListLeads, ClaimNext), with the API's scope for a rep.

func (s *Server) inboxRoutes(mux *http.ServeMux) {
	sales := []string{store.RoleAdmin, store.RoleSales}
	mux.Handle("GET /inbox", s.role(s.inboxPage, sales...))
	mux.Handle("GET /inbox/stream", s.role(s.streamInbox, sales...))
	mux.Handle("POST /inbox/next", s.role(s.inboxNext, sales...))
	mux.Handle("POST /leads/{id}/{action}", s.role(s.leadAction, sales...))
}

// inboxPageSize is how many leads a page of the inbox lists.
const inboxPageSize = 50

// slaSoon is how close a deadline is when the countdown turns amber.
const slaSoon = 4 * time.Hour

// inboxShows are the inbox's views: what ?show= may say.
var inboxShows = []string{"", "mine", "unclaimed", "breached"}

type inboxData struct {
	Show       string
	CampaignID int64
	Campaigns  []*store.Campaign
	// Class is the class filter, Classes the classes of the leads in the
	// inbox (what it may be).
	Class   string
	Classes []string
	Rows    []inboxRow
	Errors  []string     // the filters that are wrong, named
	Next    template.URL // the next page's address, "" for none
	Now     string
	// Export is the CSV export of the leads as filtered; Live the stream
	// that keeps the list current ("" on a later page or with a wrong
	// filter).
	Export, Live template.URL
}

type inboxRow struct {
	L        *store.Lead
	Name     string
	Campaign string
	Due      string
	SLA      string // ok, soon or breached
	Left     string // "3h 20m left", "2h 5m overdue"
	Local    []zoneTime
	ZoneErr  string
	Open     bool
	Tel      template.URL
	Claimed  string
	// Answers are the answers that matter, in words: "budget approved",
	// "500 seats" (inboxAnswers).
	Answers []string
}

// inboxAnswersShown is how many answers an inbox row shows.
const inboxAnswersShown = 3

// inboxPage lists the leads routed to sales in a working stage, most
// urgent first, filtered by ?show=, ?campaign= and ?class=.
func (s *Server) inboxPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	d, f, err := s.inboxFilter(r, u)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	if err := s.inboxLoad(r.Context(), &d, f); err != nil {
		return err
	}
	s.renderStatus(w, r, status, "inbox", u, d)
	return nil
}

// inboxFilter reads the inbox's filters from the request: the view
// (show), campaign, class and page (after). A wrong one is named in
// d.Errors and not applied (and the list starts at its first page).
func (s *Server) inboxFilter(r *http.Request, u *store.User) (inboxData, store.LeadFilter, error) {
	ctx := r.Context()
	q := r.URL.Query()
	d := inboxData{Show: q.Get("show")}
	f := store.LeadFilter{Route: "sales", Stages: store.WorkingStages, Limit: inboxPageSize}
	if u.Role == store.RoleSales {
		f.VisibleTo = u.ID
	}
	switch d.Show {
	case "mine":
		f.AssignedTo = u.ID
	case "unclaimed":
		f.Stages = []store.SalesStage{store.StageOpen}
	case "breached": // not touched in time: open or claimed, past due (inboxLoad sets when)
		f.Stages = []store.SalesStage{store.StageOpen, store.StageAccepted}
	case "":
	default:
		d.Errors = append(d.Errors, fmt.Sprintf("show %q is not a view of the inbox: use mine, unclaimed or breached", d.Show))
		d.Show = ""
	}
	campaigns, err := s.store.Campaigns(ctx, store.CampaignFilter{Limit: 500})
	if err != nil {
		return d, f, err
	}
	d.Campaigns = campaigns
	names := map[int64]string{}
	for _, c := range campaigns {
		names[c.ID] = c.Name
	}
	if v := q.Get("campaign"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if _, known := names[id]; err != nil || !known {
			d.Errors = append(d.Errors, fmt.Sprintf("campaign %q is not a campaign's number: choose one from the list", v))
		} else {
			f.CampaignID, d.CampaignID = id, id
		}
	}
	if d.Classes, err = s.store.SalesClasses(ctx); err != nil {
		return d, f, err
	}
	if v := q.Get("class"); v != "" {
		if slices.Contains(d.Classes, v) {
			f.Class, d.Class = v, v
		} else {
			d.Errors = append(d.Errors, fmt.Sprintf("class %q is not a class of the leads in the inbox: choose one from the list (%s)",
				v, strings.Join(d.Classes, ", ")))
		}
	}
	if v := q.Get("after"); v != "" {
		if due, id, ok := parseAfter(v); ok {
			f.AfterDue, f.AfterID = due, id
		} else {
			d.Errors = append(d.Errors, fmt.Sprintf("after %q is not a page of the inbox: start from the first page", v))
		}
	}
	if len(d.Errors) > 0 {
		f.AfterDue, f.AfterID = nil, 0
	}
	filters := d.filterQuery()
	d.Export = template.URL("/inbox/export.csv")
	if len(filters) > 0 {
		d.Export += template.URL("?" + filters.Encode())
	}
	if len(d.Errors) == 0 && f.AfterID == 0 {
		d.Live = template.URL("/inbox/stream")
		if len(filters) > 0 {
			d.Live += template.URL("?" + filters.Encode())
		}
	}
	return d, f, nil
}

// filterQuery is the inbox's filters as a query (made of encoded values
// only, so safe in a link).
func (d *inboxData) filterQuery() url.Values {
	v := url.Values{}
	if d.Show != "" {
		v.Set("show", d.Show)
	}
	if d.CampaignID != 0 {
		v.Set("campaign", strconv.FormatInt(d.CampaignID, 10))
	}
	if d.Class != "" {
		v.Set("class", d.Class)
	}
	return v
}

// inboxLoad lists the leads of the filter f now, in words, with the next
// page's address.
func (s *Server) inboxLoad(ctx context.Context, d *inboxData, f store.LeadFilter) error {
	now := s.store.Now()
	d.Now, d.Rows, d.Next = utc(now), nil, ""
	if d.Show == "breached" {
		f.DueBefore = &now
	}
	leads, err := s.store.ListLeads(ctx, f)
	if err != nil {
		return err
	}
	if err := s.inboxRows(ctx, d, leads, now); err != nil {
		return err
	}
	if len(leads) == inboxPageSize {
		d.Next = nextPage(*d, leads[len(leads)-1])
	}
	return nil
}

// inboxRows writes the leads in words: deadline and countdown, local time
// and calling window (as on the lead page), who claimed them.
func (s *Server) inboxRows(ctx context.Context, d *inboxData, leads []*store.Lead, now time.Time) error {
	campaigns := map[int64]*store.Campaign{}
	for _, c := range d.Campaigns {
		campaigns[c.ID] = c
	}
	ids := make([]int64, len(leads))
	for i, l := range leads {
		ids[i] = l.ID
	}
	answers, err := s.store.ResultAnswers(ctx, ids)
	if err != nil {
		return err
	}
	scripts := map[int64]*ivr.Script{} // per campaign; nil when it does not parse
	emails := map[int64]string{}
	for _, l := range leads {
		c := campaigns[l.CampaignID]
		if c == nil { // beyond the 500 newest campaigns
			var err error
			if c, err = s.store.Campaign(ctx, l.CampaignID); err != nil {
				return err
			}
			campaigns[c.ID] = c
		}
		var when leadData
		when.when(s.cfg.Rules, l, c, now)
		row := inboxRow{L: l, Name: strings.TrimSpace(l.FirstName + " " + l.LastName), Campaign: c.Name,
			Local: when.Local, ZoneErr: when.ZoneErr, Open: when.Open, Tel: telURL(l.Phone)}
		row.Due, row.SLA, row.Left = countdown(l.SLADueAt, now)
		if as := answers[l.ID]; len(as) > 0 {
			sc, ok := scripts[c.ID]
			if !ok && c.ScriptYAML != "" {
				sc, _ = ivr.Parse(c.ScriptID+".yaml", []byte(c.ScriptYAML))
				scripts[c.ID] = sc
			}
			row.Answers = inboxAnswers(sc, as, l.Fields())
		}
		if l.AssignedTo != 0 {
			if _, ok := emails[l.AssignedTo]; !ok {
				who, err := s.store.UserByID(ctx, l.AssignedTo)
				switch {
				case errors.Is(err, store.ErrNotFound):
					emails[l.AssignedTo] = "user " + strconv.FormatInt(l.AssignedTo, 10)
				case err != nil:
					return err
				default:
					emails[l.AssignedTo] = who.Email
				}
			}
			row.Claimed = emails[l.AssignedTo]
		}
		d.Rows = append(d.Rows, row)
	}
	return nil
}

// countdown says when a sales deadline is, how it stands now (ok, soon
// under slaSoon, breached) and how long is left or overdue.
func countdown(due *time.Time, now time.Time) (at, class, left string) {
	if due == nil {
		return "", "ok", "no deadline"
	}
	d := due.Sub(now)
	switch {
	case d < 0:
		return utc(*due), "breached", hoursMinutes(-d) + " overdue"
	case d < slaSoon:
		return utc(*due), "soon", hoursMinutes(d) + " left"
	default:
		return utc(*due), "ok", hoursMinutes(d) + " left"
	}
}

// hoursMinutes writes a duration as "27h 5m".
func hoursMinutes(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	return fmt.Sprintf("%dh %dm", m/60, m%60)
}

// telURL is a phone number as a tel: link; html/template lets through only
// what it is told is safe, so only an E.164 number is.
func telURL(phone string) template.URL {
	if len(phone) < 2 || phone[0] != '+' || strings.Trim(phone[1:], "0123456789") != "" {
		return ""
	}
	return template.URL("tel:" + phone)
}

// nextPage is the address of the page after the one ending with last
// (made of encoded values only, so safe as a link).
func nextPage(d inboxData, last *store.Lead) template.URL {
	v := d.filterQuery()
	due := "none"
	if last.SLADueAt != nil {
		due = last.SLADueAt.UTC().Format(time.RFC3339Nano)
	}
	v.Set("after", due+"_"+strconv.FormatInt(last.ID, 10))
	return template.URL("/inbox?" + v.Encode())
}

// parseAfter reads nextPage's cursor: the last lead's deadline and id.
func parseAfter(v string) (*time.Time, int64, bool) {
	due, id, ok := strings.Cut(v, "_")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 {
		return nil, 0, false
	}
	if due == "none" {
		return nil, n, true
	}
	t, err := time.Parse(time.RFC3339Nano, due)
	if err != nil {
		return nil, 0, false
	}
	return &t, n, true
}

// inboxNext claims the most urgent open lead for the user (of the
// campaign chosen, if any) and opens it; with none left, back to the inbox.
func (s *Server) inboxNext(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !readForm(w, r, salesFormLimit) {
		return nil
	}
	var campaign int64
	if v := r.PostFormValue("campaign"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			s.flash(r, "Campaign %q is not a campaign's number: no lead was claimed.", v)
			http.Redirect(w, r, "/inbox", http.StatusSeeOther)
			return nil
		}
		campaign = id
	}
	l, err := s.store.ClaimNext(r.Context(), u.ID, campaign)
	if errors.Is(err, store.ErrNotFound) {
		s.flash(r, "No open lead left to claim: every sales lead is taken. Check again later.")
		back := "/inbox"
		if campaign != 0 {
			back += "?campaign=" + strconv.FormatInt(campaign, 10)
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/leads/"+strconv.FormatInt(l.ID, 10), http.StatusSeeOther)
	return nil
}

// inboxAnswers are the answers that matter on an inbox row, in words
// (answerOf's, as on the lead page): those of the questions that weigh
// most in the score — the widest spread between the points of their best
// and worst answer —, at most inboxAnswersShown, in the order they were
// asked. Questions that give no points (a greeting, a knock-out) are
// left out. Without the script (it does not parse) there are none.
func inboxAnswers(sc *ivr.Script, answers []store.AnswerView, fields map[string]string) []string {
	if sc == nil {
		return nil
	}
	type pick struct {
		i, weight int
	}
	var picks []pick
	for i, a := range answers {
		if q := sc.Question(a.Question); q != nil {
			if w := questionWeight(q); w > 0 {
				picks = append(picks, pick{i, w})
			}
		}
	}
	slices.SortStableFunc(picks, func(a, b pick) int { return cmp.Compare(b.weight, a.weight) })
	picks = picks[:min(len(picks), inboxAnswersShown)]
	slices.SortFunc(picks, func(a, b pick) int { return cmp.Compare(a.i, b.i) })
	var out []string
	for _, p := range picks {
		if w := answerOf(answers[p.i], sc, fields).Words; w != "" {
			out = append(out, w)
		}
	}
	return out
}

// questionWeight is how much a question can move the total: its best
// answer's points (summed over the dimensions) less its worst's.
func questionWeight(q *ivr.Question) int {
	var totals []int
	add := func(a ivr.Action) {
		t := 0
		for _, p := range a.Score {
			t += p
		}
		totals = append(totals, t)
	}
	for _, a := range q.Keys {
		add(a)
	}
	for _, rg := range q.Ranges {
		add(rg.Action)
	}
	if len(totals) == 0 {
		return 0
	}
	return slices.Max(totals) - slices.Min(totals)
}
