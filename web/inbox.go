package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/store"
)

// The sales inbox: the leads sales works on, most urgent first, and the
// "Next lead" claim. Both go through the API's store functions
// (ListLeads, ClaimNext), with the API's scope for a rep.

func (s *Server) inboxRoutes(mux *http.ServeMux) {
	sales := []string{store.RoleAdmin, store.RoleSales}
	mux.Handle("GET /inbox", s.role(s.inboxPage, sales...))
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
	Rows       []inboxRow
	Errors     []string     // the filters that are wrong, named
	Next       template.URL // the next page's address, "" for none
	Now        string
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
}

// inboxPage lists the leads routed to sales in a working stage, most
// urgent first, filtered by ?show= and ?campaign=.
func (s *Server) inboxPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	ctx := r.Context()
	q := r.URL.Query()
	now := s.store.Now()
	d := inboxData{Show: q.Get("show"), Now: utc(now)}
	f := store.LeadFilter{Route: "sales", Stages: store.WorkingStages, Limit: inboxPageSize}
	if u.Role == store.RoleSales {
		f.VisibleTo = u.ID
	}
	switch d.Show {
	case "mine":
		f.AssignedTo = u.ID
	case "unclaimed":
		f.Stages = []store.SalesStage{store.StageOpen}
	case "breached": // not touched in time: open or claimed, past due
		f.Stages = []store.SalesStage{store.StageOpen, store.StageAccepted}
		f.DueBefore = &now
	case "":
	default:
		d.Errors = append(d.Errors, fmt.Sprintf("show %q is not a view of the inbox: use mine, unclaimed or breached", d.Show))
		d.Show = ""
	}
	campaigns, err := s.store.Campaigns(ctx, store.CampaignFilter{Limit: 500})
	if err != nil {
		return err
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
	if v := q.Get("after"); v != "" {
		if due, id, ok := parseAfter(v); ok {
			f.AfterDue, f.AfterID = due, id
		} else {
			d.Errors = append(d.Errors, fmt.Sprintf("after %q is not a page of the inbox: start from the first page", v))
		}
	}
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusUnprocessableEntity
		f.AfterDue, f.AfterID = nil, 0
	}
	leads, err := s.store.ListLeads(ctx, f)
	if err != nil {
		return err
	}
	if err := s.inboxRows(r, &d, leads, now); err != nil {
		return err
	}
	if len(leads) == inboxPageSize {
		d.Next = nextPage(d, leads[len(leads)-1])
	}
	s.renderStatus(w, r, status, "inbox", u, d)
	return nil
}

// inboxRows writes the leads in words: deadline and countdown, local time
// and calling window (as on the lead page), who claimed them.
func (s *Server) inboxRows(r *http.Request, d *inboxData, leads []*store.Lead, now time.Time) error {
	ctx := r.Context()
	campaigns := map[int64]*store.Campaign{}
	for _, c := range d.Campaigns {
		campaigns[c.ID] = c
	}
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
		when.when(l, c, now)
		row := inboxRow{L: l, Name: strings.TrimSpace(l.FirstName + " " + l.LastName), Campaign: c.Name,
			Local: when.Local, ZoneErr: when.ZoneErr, Open: when.Open, Tel: telURL(l.Phone)}
		row.Due, row.SLA, row.Left = countdown(l.SLADueAt, now)
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
	v := url.Values{}
	if d.Show != "" {
		v.Set("show", d.Show)
	}
	if d.CampaignID != 0 {
		v.Set("campaign", strconv.FormatInt(d.CampaignID, 10))
	}
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
