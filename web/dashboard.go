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
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// The dashboards: the funnel, speed to lead, contact and qualification
// rates, the sales SLA per rep, answers per question and a script A/B
// comparison, over a period and campaigns, each chart also as CSV.

func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	mkt := []string{store.RoleAdmin, store.RoleMarketing}
	mux.Handle("GET /dashboard", s.role(s.dashboardPage, mkt...))
	mux.Handle("GET /dashboard/{chart}", s.role(s.dashboardCSV, mkt...))
}

// dashboardDays is the default period: the last 30 days, today included.
const dashboardDays = 30

// maxDashboardDays bounds a period, maxDashboardCampaigns the campaigns
// chosen at once.
const (
	maxDashboardDays      = 400
	maxDashboardCampaigns = 100
)

// dashboardFilter is the dashboards' query: the period (dates in UTC,
// both included), the campaigns and the two script versions compared.
type dashboardFilter struct {
	From, To  time.Time // From at 00:00, To the last day at 00:00
	Campaigns []int64
	A, B      store.ScriptRef
	Errors    []string
}

func (f dashboardFilter) store() store.DashboardFilter {
	return store.DashboardFilter{From: f.From, To: f.To.AddDate(0, 0, 1), Campaigns: f.Campaigns}
}

// query is the filter as a query string, for the CSV links.
func (f dashboardFilter) query() string {
	v := url.Values{"from": {f.From.Format(time.DateOnly)}, "to": {f.To.Format(time.DateOnly)}}
	for _, id := range f.Campaigns {
		v.Add("campaign", strconv.FormatInt(id, 10))
	}
	if f.A.ID != "" {
		v.Set("a", f.A.String())
	}
	if f.B.ID != "" {
		v.Set("b", f.B.String())
	}
	return v.Encode()
}

// parseDashboardFilter reads the query; a bad value is named in Errors
// and its default used.
func parseDashboardFilter(q url.Values, now time.Time) dashboardFilter {
	today := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day(), 0, 0, 0, 0, time.UTC)
	f := dashboardFilter{To: today, From: today.AddDate(0, 0, 1-dashboardDays)}
	date := func(name string, into *time.Time) {
		v := strings.TrimSpace(q.Get(name))
		if v == "" {
			return
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			f.Errors = append(f.Errors, fmt.Sprintf("%q is not a date (YYYY-MM-DD) for %q: using %s.", trimTo(v, 40), name, into.Format(time.DateOnly)))
			return
		}
		*into = t
	}
	date("from", &f.From)
	date("to", &f.To)
	if f.To.Before(f.From) {
		f.Errors = append(f.Errors, "The period ends before it starts: showing the last 30 days.")
		f.To, f.From = today, today.AddDate(0, 0, 1-dashboardDays)
	}
	if days := int(f.To.Sub(f.From).Hours()/24) + 1; days > maxDashboardDays {
		f.Errors = append(f.Errors, fmt.Sprintf("A period is at most %d days: showing the %d days up to %s.", maxDashboardDays, maxDashboardDays, f.To.Format(time.DateOnly)))
		f.From = f.To.AddDate(0, 0, 1-maxDashboardDays)
	}
	for _, v := range q["campaign"] {
		if v == "" {
			continue
		}
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			f.Errors = append(f.Errors, fmt.Sprintf("%q is not a campaign: left out.", trimTo(v, 40)))
			continue
		}
		if len(f.Campaigns) == maxDashboardCampaigns {
			f.Errors = append(f.Errors, fmt.Sprintf("At most %d campaigns at once: the rest are left out.", maxDashboardCampaigns))
			break
		}
		if !slices.Contains(f.Campaigns, id) {
			f.Campaigns = append(f.Campaigns, id)
		}
	}
	slices.Sort(f.Campaigns)
	ref := func(name string, into *store.ScriptRef) {
		v := strings.TrimSpace(q.Get(name))
		if v == "" {
			return
		}
		id, ver, ok := strings.Cut(v, "@")
		n, err := strconv.Atoi(ver)
		if !ok || err != nil || n < 1 || id == "" || len(id) > 64 {
			f.Errors = append(f.Errors, fmt.Sprintf("%q is not a script version (script@version) for %q.", trimTo(v, 40), name))
			return
		}
		*into = store.ScriptRef{ID: id, Version: n}
	}
	ref("a", &f.A)
	ref("b", &f.B)
	return f
}

func trimTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// dashboard is everything the page shows.
type dashboard struct {
	Filter    dashboardFilter
	Query     template.URL // the filter, escaped: the CSV links' query
	Campaigns []*store.Campaign
	Chosen    map[int64]bool
	Days      int

	Funnel []funnelStep
	Branch []funnelStep
	F      store.LeadFunnel
	Series timeSeries

	Speed store.SpeedToLead
	Hist  histogram

	Rates                *store.CallRates
	ByCampaign, ByScript []rateRow
	ByHour               []rateRow
	Reps                 []store.RepSLA
	RepTotal             store.RepSLA
	Questions            []scriptQuestions
	Heat                 heatmap
	Versions             []store.ScriptRef
	AB                   *abComparison
	Definitions          []definition
	campaignNames        map[int64]string
	scriptsByRef         map[store.ScriptRef]*ivr.Script
	answers              []store.ScriptAnswer
	drops                []store.DropOff
	days                 []store.DayLeads
	scriptsMu            sync.Mutex
	scriptsLoad          func(store.ScriptRef) *ivr.Script
}

// definition is a figure's name and how it is counted: the tooltips and
// the page's list of definitions.
type definition struct{ Name, Text string }

// definitions of every figure, in the page's order.
var definitions = []definition{
	{"Leads", "Leads that arrived (were created) in the period, from any source."},
	{"Dialled", "Of those leads, called at least once."},
	{"Reached", "Of those leads, a person answered at least one call."},
	{"Completed", "Of those leads, answered the whole questionnaire."},
	{"SQL", "Sales-qualified: completed, with a class that routes to sales."},
	{"Accepted (SAL)", "Sales-accepted: of the SQL leads, claimed or contacted by a rep."},
	{"Contacted", "Of the SQL leads, marked contacted by a rep."},
	{"Won", "Of the SQL leads, marked won."},
	{"MQL / nurture", "Completed with a class that routes to nurture (marketing-qualified)."},
	{"Disqualified", "Completed with a class that routes nowhere."},
	{"Opted out", "Asked not to be called again, on a call or through the DNC list."},
	{"Sent to sales on score", "Routed to sales by their lead score alone, without a completed call."},
	{"Speed to lead", "Web-form leads that arrived in the period: time from the form's arrival to the start of the first call, over those called."},
	{"First rep touch", "Web-form leads that became SQL: time from the form's arrival to a rep marking them contacted."},
	{"Answer rate", "Calls started in the period answered by a person, of all calls started."},
	{"Completion rate", "Answered calls that completed the questionnaire."},
	{"SQL rate", "Completed calls whose class routes to sales."},
	{"Opt-out rate", "Answered calls on which the person opted out."},
	{"SLA met", "Leads that became sales-ready in the period and were contacted by their deadline, of those decided (met or breached)."},
	{"Time to first touch", "Median time from sales-ready (the call completed, or the score threshold) to contacted."},
	{"Drop-off", "Answered calls of a script version that ended without completing, by the last question answered."},
}

func definitionOf(name string) string {
	for _, d := range definitions {
		if d.Name == name {
			return d.Text
		}
	}
	return ""
}

// funnelStep is one bar of the funnel.
type funnelStep struct {
	ID, Name, Definition string
	N                    int
	// Of is the previous step's count (the conversion's base); Width the
	// bar's share of the first step.
	Of    int
	Width float64
}

// Conversion is N of the previous step.
func (s funnelStep) Conversion() float64 { return float64(s.N) / float64(max(s.Of, 1)) }

// rateRow is one line of a contact-and-qualification table.
type rateRow struct {
	Key, Name string
	store.CallCounts
}

// scriptQuestions are one script version's questions with their answers.
type scriptQuestions struct {
	Ref       store.ScriptRef
	Questions []questionShare
}

func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	d, err := s.loadDashboard(r)
	if err != nil {
		return err
	}
	s.render(w, r, "dashboard", u, d)
	return nil
}

// loadDashboard reads every figure, the queries side by side.
func (s *Server) loadDashboard(r *http.Request) (*dashboard, error) {
	ctx := r.Context()
	f := parseDashboardFilter(r.URL.Query(), s.store.Now())
	campaigns, err := s.store.Campaigns(ctx, store.CampaignFilter{Limit: 500})
	if err != nil {
		return nil, err
	}
	d := &dashboard{Filter: f, Campaigns: campaigns, Chosen: map[int64]bool{}, campaignNames: map[int64]string{},
		scriptsByRef: map[store.ScriptRef]*ivr.Script{}, Definitions: definitions,
		Days: int(f.To.Sub(f.From).Hours()/24) + 1}
	pinned := map[store.ScriptRef]string{} // parsed when a figure needs it
	for _, c := range campaigns {
		d.campaignNames[c.ID] = c.Name
		if c.ScriptYAML != "" && c.ScriptVersion > 0 {
			pinned[store.ScriptRef{ID: c.ScriptID, Version: c.ScriptVersion}] = c.ScriptYAML
		}
	}
	known := f.Campaigns[:0]
	for _, id := range f.Campaigns {
		if _, ok := d.campaignNames[id]; !ok && len(campaigns) < 500 { // the list holds the newest 500
			f.Errors = append(f.Errors, fmt.Sprintf("There is no campaign %d: left out.", id))
			continue
		}
		known = append(known, id)
		d.Chosen[id] = true
	}
	if len(f.Campaigns) > 0 && len(known) == 0 {
		f.Errors = append(f.Errors, "None of the chosen campaigns exists: showing every campaign.")
	}
	f.Campaigns = known
	d.Filter = f
	d.scriptsLoad = func(ref store.ScriptRef) *ivr.Script {
		if text, ok := pinned[ref]; ok {
			if sc, err := ivr.Parse(ref.ID+".yaml", []byte(text)); err == nil {
				return sc
			}
		}
		return s.scriptOf(ctx, ref)
	}
	sf := f.store()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		d.F, d.days, err = s.store.LeadsByDay(gctx, sf)
		return err
	})
	g.Go(func() (err error) {
		d.Speed, err = s.store.SpeedToLead(gctx, sf)
		return err
	})
	g.Go(func() (err error) {
		d.Rates, err = s.store.CallRates(gctx, sf, d.isSales)
		return err
	})
	g.Go(func() (err error) {
		d.Reps, d.RepTotal, err = s.store.SLAByRep(gctx, sf)
		return err
	})
	g.Go(func() (err error) {
		d.answers, d.drops, err = s.store.ScriptAnswers(gctx, sf)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	d.build()
	d.Query = template.URL(f.query()) // url.Values.Encode: escaped already
	return d, nil
}

// scriptOf finds a script version's text: saved, pinned by a campaign, or
// shipped (the version a shipped script declares).
func (s *Server) scriptOf(ctx context.Context, ref store.ScriptRef) *ivr.Script {
	v, err := s.store.ScriptVersionText(ctx, ref.ID, ref.Version)
	if err == nil {
		if sc, err := ivr.Parse(ref.ID+".yaml", []byte(v.YAML)); err == nil {
			return sc
		}
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		s.cfg.Logger.WarnContext(ctx, "dashboard: read script", "script", ref.String(), "error", err)
		return nil
	}
	if b, err := scripts.Read(ref.ID); err == nil {
		if sc, err := ivr.Parse(ref.ID+".yaml", b); err == nil && sc.Version == ref.Version {
			return sc
		}
	}
	return nil
}

// script is a version's parsed script (nil when none is found).
func (d *dashboard) script(ref store.ScriptRef) *ivr.Script {
	d.scriptsMu.Lock()
	defer d.scriptsMu.Unlock()
	sc, ok := d.scriptsByRef[ref]
	if !ok && ref.ID != "" {
		sc = d.scriptsLoad(ref)
		d.scriptsByRef[ref] = sc
	}
	return sc
}

// isSales says whether a script version's class routes to sales.
func (d *dashboard) isSales(ref store.ScriptRef, class string) bool {
	sc := d.script(ref)
	if sc == nil {
		return class == "sql" // the shipped scripts' sales class, for a script no longer found
	}
	for _, c := range sc.Classes {
		if c.Name == class {
			return c.Route == ivr.RouteSales
		}
	}
	return false
}

// build turns the store's counts into the page's tables and charts.
func (d *dashboard) build() {
	f := d.F
	steps := []struct {
		id, name string
		n        int
	}{{"leads", "Leads", f.Leads}, {"dialled", "Dialled", f.Dialled}, {"reached", "Reached", f.Reached}, {"completed", "Completed", f.Completed},
		{"sql", "SQL", f.SQL}, {"accepted", "Accepted (SAL)", f.Accepted}, {"contacted", "Contacted", f.Contacted}, {"won", "Won", f.Won}}
	prev := f.Leads
	for _, st := range steps {
		d.Funnel = append(d.Funnel, funnelStep{ID: st.id, Name: st.name, Definition: definitionOf(st.name), N: st.n, Of: prev,
			Width: float64(st.n) / float64(max(f.Leads, 1))})
		prev = st.n
	}
	for _, st := range []struct {
		id, name string
		n, of    int
	}{{"mql", "MQL / nurture", f.MQL, f.Completed}, {"disqualified", "Disqualified", f.Disqualified, f.Completed},
		{"opted-out", "Opted out", f.OptedOut, f.Leads}, {"scored-to-sales", "Sent to sales on score", f.ScoredToSales, f.Leads}} {
		d.Branch = append(d.Branch, funnelStep{ID: st.id, Name: st.name, Definition: definitionOf(st.name), N: st.n, Of: st.of,
			Width: float64(st.n) / float64(max(f.Leads, 1))})
	}
	d.Series = newTimeSeries(d.Filter.From, d.Days, d.days, d.Rates.Daily)
	d.Hist = newHistogram(d.Speed.Histogram)
	d.Heat = newHeatmap(d.Rates.Heat)

	for id, c := range d.Rates.ByCampaign {
		name := d.campaignNames[id]
		if name == "" {
			name = fmt.Sprintf("campaign %d", id)
		}
		d.ByCampaign = append(d.ByCampaign, rateRow{Key: strconv.FormatInt(id, 10), Name: name, CallCounts: c})
	}
	slices.SortFunc(d.ByCampaign, func(a, b rateRow) int { return cmp.Or(cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.Name, b.Name)) })
	for ref, c := range d.Rates.ByScript {
		d.ByScript = append(d.ByScript, rateRow{Key: ref.String(), Name: ref.String(), CallCounts: c})
		d.Versions = append(d.Versions, ref)
	}
	slices.SortFunc(d.ByScript, func(a, b rateRow) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(d.Versions, compareRefs)
	for h, c := range d.Rates.ByHour {
		if c.Calls > 0 {
			d.ByHour = append(d.ByHour, rateRow{Key: strconv.Itoa(h), Name: fmt.Sprintf("%02d:00", h), CallCounts: c})
		}
	}
	d.Questions = d.questions()
	for _, ref := range []store.ScriptRef{d.Filter.A, d.Filter.B} {
		if ref.ID != "" && !slices.Contains(d.Versions, ref) {
			d.Filter.Errors = append(d.Filter.Errors, fmt.Sprintf("Script %s has no call in this period: choose one of the versions listed under Script A/B.", ref))
		}
	}
	d.AB = d.compare()
}

func compareRefs(a, b store.ScriptRef) int {
	return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Version, b.Version))
}

// questions groups the answers by script version, labelled by its script.
func (d *dashboard) questions() []scriptQuestions {
	var out []scriptQuestions
	var shares []store.AnswerShare
	flush := func(ref store.ScriptRef) {
		if len(shares) > 0 {
			out = append(out, scriptQuestions{Ref: ref, Questions: questionShares(d.script(ref), shares)})
		}
		shares = nil
	}
	var cur store.ScriptRef
	for _, a := range d.answers {
		if a.Script != cur {
			flush(cur)
			cur = a.Script
		}
		shares = append(shares, store.AnswerShare{Question: a.Question, Answer: a.Answer, N: a.N})
	}
	flush(cur)
	return out
}

// abComparison puts two versions of a script side by side.
type abComparison struct {
	A, B      store.ScriptRef
	CA, CB    store.CallCounts
	Questions []abQuestion
	// BeforeFirstA and BeforeFirstB count the answered calls that ended
	// before any answer.
	BeforeFirstA, BeforeFirstB int
}

// abQuestion is one question in both versions: how many answered calls
// answered it, and how many unfinished calls ended after it.
type abQuestion struct {
	ID, Prompt             string
	AnsweredA, AnsweredB   int
	DroppedA, DroppedB     int
	ShareA, ShareB         float64 // answered it, of answered calls
	DropShareA, DropShareB float64 // ended after it, of answered calls
	InA, InB               bool
}

// compare picks the versions (the query's, else the two latest versions
// of the script with the most answered calls) and compares them; nil when
// fewer than two versions have calls.
func (d *dashboard) compare() *abComparison {
	a, b := d.Filter.A, d.Filter.B
	if a.ID == "" || b.ID == "" {
		answered := map[string]int{}
		versions := map[string][]store.ScriptRef{}
		for _, ref := range d.Versions {
			answered[ref.ID] += d.Rates.ByScript[ref].Answered
			versions[ref.ID] = append(versions[ref.ID], ref)
		}
		best := ""
		for id, vs := range versions {
			if len(vs) >= 2 && (best == "" || answered[id] > answered[best] || answered[id] == answered[best] && id < best) {
				best = id
			}
		}
		if best == "" {
			return nil
		}
		vs := versions[best] // sorted by version
		a, b = vs[len(vs)-2], vs[len(vs)-1]
	}
	ab := &abComparison{A: a, B: b, CA: d.Rates.ByScript[a], CB: d.Rates.ByScript[b]}
	byID := map[string]*abQuestion{}
	var order []string
	add := func(ref store.ScriptRef) {
		sc := d.script(ref)
		if sc == nil {
			return
		}
		for _, q := range sc.Questions {
			if byID[q.ID] == nil {
				byID[q.ID] = &abQuestion{ID: q.ID, Prompt: ivr.Fill(q.Say, nil)}
				order = append(order, q.ID)
			}
			if ref == a {
				byID[q.ID].InA = true
			} else {
				byID[q.ID].InB = true
			}
		}
	}
	add(a)
	add(b)
	for _, an := range d.answers {
		q := byID[an.Question]
		if q == nil {
			continue
		}
		switch an.Script {
		case a:
			q.AnsweredA += an.N
		case b:
			q.AnsweredB += an.N
		}
	}
	for _, dr := range d.drops {
		if dr.After == "" {
			switch dr.Script {
			case a:
				ab.BeforeFirstA += dr.N
			case b:
				ab.BeforeFirstB += dr.N
			}
			continue
		}
		q := byID[dr.After]
		if q == nil {
			continue
		}
		switch dr.Script {
		case a:
			q.DroppedA += dr.N
		case b:
			q.DroppedB += dr.N
		}
	}
	for _, id := range order {
		q := byID[id]
		q.ShareA, q.DropShareA = ratioOf(q.AnsweredA, ab.CA.Answered), ratioOf(q.DroppedA, ab.CA.Answered)
		q.ShareB, q.DropShareB = ratioOf(q.AnsweredB, ab.CB.Answered), ratioOf(q.DroppedB, ab.CB.Answered)
		ab.Questions = append(ab.Questions, *q)
	}
	return ab
}

func ratioOf(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
