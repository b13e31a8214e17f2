package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// campaignData is a campaign's page.
type campaignData struct {
	C         *store.Campaign
	F         store.Funnel
	Window    string
	Waiting   []store.Count
	Disp      []store.Count
	Questions []questionShare
	Heat      heatmap
	Leads     []*store.Lead
	Filter    store.LeadFilter
	Statuses  []string
	Classes   []string
	// FilterError says a filter value was not one of the choices.
	FilterError string
	// Next is the URL of the next page ("" on the last).
	Next template.URL
	// Export is the leads' CSV, filtered as the table.
	Export template.URL
}

// questionShare is one question's answers with their shares.
type questionShare struct {
	ID, Prompt string
	Total      int
	Answers    []answerShare
}

type answerShare struct {
	Answer, Meaning string
	N, FromForm     int
	Share           float64
}

const leadsPerPage = 50

func (s *Server) campaignPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	c, err := s.pathCampaign(w, r)
	if c == nil || err != nil {
		return err
	}
	ctx := r.Context()
	d := campaignData{C: c, Window: queue.Window{Days: c.WindowDays, Start: c.WindowStart, End: c.WindowEnd}.String(),
		Statuses: statusNames()}
	funnels, err := s.store.Funnels(ctx, []int64{c.ID})
	if err != nil {
		return err
	}
	d.F = funnels[c.ID]
	if d.Waiting, err = s.store.WaitingReasons(ctx, c.ID); err != nil {
		return err
	}
	disp, classes, err := s.store.Dispositions(ctx, c.ID)
	if err != nil {
		return err
	}
	d.Disp = disp
	for _, cl := range classes {
		d.Classes = append(d.Classes, cl.Key)
	}
	shares, err := s.store.AnswerDistribution(ctx, c.ID)
	if err != nil {
		return err
	}
	var sc *ivr.Script
	if c.ScriptYAML != "" {
		sc, _ = ivr.Parse(c.ScriptID+".yaml", []byte(c.ScriptYAML))
	}
	d.Questions = questionShares(sc, shares)
	cells, err := s.store.AnswerHeatmap(ctx, c.ID)
	if err != nil {
		return err
	}
	d.Heat = newHeatmap(cells)

	// The leads, filtered and paged (most urgent first, as the API lists them).
	q := r.URL.Query()
	d.Filter = store.LeadFilter{CampaignID: c.ID, Limit: leadsPerPage + 1}
	switch st := q.Get("status"); {
	case slices.Contains(d.Statuses, st):
		d.Filter.Status = st
	case st != "":
		d.FilterError = "There is no lead status " + strconv.Quote(st) + ": showing every status."
	}
	if cl := q.Get("class"); cl != "" && len(cl) <= 64 {
		d.Filter.Class = cl
	}
	if after, err := strconv.ParseInt(q.Get("after"), 10, 64); err == nil && after > 0 {
		d.Filter.AfterID = after
		if due, err := time.Parse(time.RFC3339Nano, q.Get("due")); err == nil {
			d.Filter.AfterDue = &due
		}
	}
	ev := url.Values{}
	if d.Filter.Status != "" {
		ev.Set("status", d.Filter.Status)
	}
	if d.Filter.Class != "" {
		ev.Set("class", d.Filter.Class)
	}
	d.Export = template.URL(fmt.Sprintf("/campaigns/%d/leads.csv", c.ID))
	if len(ev) > 0 {
		d.Export += template.URL("?" + ev.Encode()) // built here from escaped values
	}
	leads, err := s.store.ListLeads(ctx, d.Filter)
	if err != nil {
		return err
	}
	if len(leads) > leadsPerPage {
		leads = leads[:leadsPerPage]
		last := leads[len(leads)-1]
		v := url.Values{"status": {d.Filter.Status}, "class": {d.Filter.Class}, "after": {strconv.FormatInt(last.ID, 10)}}
		if last.SLADueAt != nil {
			v.Set("due", last.SLADueAt.UTC().Format(time.RFC3339Nano))
		}
		d.Next = template.URL(fmt.Sprintf("/campaigns/%d?%s#leads", c.ID, v.Encode())) // built here from escaped values
	}
	d.Leads = leads
	s.render(w, r, "campaign", u, d)
	return nil
}

// questionShares labels the answer counts with the script's prompts and
// what each answer meant, in the script's order.
// sc may be nil (the ids are shown).
func questionShares(sc *ivr.Script, shares []store.AnswerShare) []questionShare {
	var out []questionShare
	for _, a := range shares {
		if len(out) == 0 || out[len(out)-1].ID != a.Question {
			qs := questionShare{ID: a.Question}
			if sc != nil {
				if q := sc.Question(a.Question); q != nil {
					qs.Prompt = ivr.Fill(q.Say, nil) // as a lead without fields hears it
				}
			}
			out = append(out, qs)
		}
		qs := &out[len(out)-1]
		qs.Total += a.N
		qs.Answers = append(qs.Answers, answerShare{Answer: a.Answer, N: a.N, FromForm: a.FromForm, Meaning: meaning(sc, a.Question, a.Answer)})
	}
	for i := range out {
		for j := range out[i].Answers {
			out[i].Answers[j].Share = float64(out[i].Answers[j].N) / float64(out[i].Total)
		}
	}
	if sc != nil { // the script's order; questions it no longer has last
		order := map[string]int{}
		for i, q := range sc.Questions {
			order[q.ID] = i + 1
		}
		slices.SortStableFunc(out, func(a, b questionShare) int {
			return cmpOrder(order[a.ID], order[b.ID])
		})
	}
	return out
}

func cmpOrder(a, b int) int {
	switch {
	case a == b:
		return 0
	case a == 0:
		return 1
	case b == 0:
		return -1
	case a < b:
		return -1
	}
	return 1
}

// meaning says what an answer was worth and led to: its points, then the
// next question or the class; a number answer by the range it fell in.
func meaning(sc *ivr.Script, question, keys string) string {
	if sc == nil {
		return ""
	}
	q := sc.Question(question)
	if q == nil {
		return ""
	}
	act, ok := q.Keys[keys]
	prefix := ""
	if !ok {
		n, err := strconv.ParseInt(keys, 10, 64)
		if err != nil {
			return ""
		}
		for _, r := range q.Ranges {
			if n >= r.Min && n <= r.Max {
				act, ok, prefix = r.Action, true, fmt.Sprintf("%d–%d: ", r.Min, r.Max)
				break
			}
		}
		if !ok {
			return ""
		}
	}
	var parts []string
	for _, d := range sc.Dimensions {
		if p, ok := act.Score[d]; ok {
			parts = append(parts, fmt.Sprintf("%s %+d", d, p))
		}
	}
	switch {
	case act.Class != "":
		parts = append(parts, "class "+act.Class)
	case act.Next != "":
		parts = append(parts, "→ "+act.Next)
	}
	return prefix + strings.Join(parts, ", ")
}

func statusNames() []string {
	out := make([]string, len(store.LeadStatuses))
	for i, st := range store.LeadStatuses {
		out[i] = string(st)
	}
	return out
}

// heatmap is the day × hour answer-rate grid, drawn as SVG.
type heatmap struct {
	Rows  []heatRow
	Calls int
	// Hours labels the columns every three hours.
	Hours []heatLabel
}

type heatRow struct {
	Name  string
	Y     int
	Cells []heatCell
}

type heatCell struct {
	X, Hour, Calls, Answered int
	Rate                     float64
	// Class is the colour step: h0 (no answer) to h5 (most), none
	// without calls.
	Class string
}

type heatLabel struct {
	X    int
	Text string
}

// Geometry of the heatmap's SVG, in pixels.
const (
	heatCell0X = 40 // left of the first column, after the day names
	heatCellW  = 22
	heatCellH  = 22
)

func newHeatmap(cells []store.HourCell) heatmap {
	var h heatmap
	byKey := map[[2]int]store.HourCell{}
	for _, c := range cells {
		byKey[[2]int{c.Day, c.Hour}] = c
		h.Calls += c.Calls
	}
	for i, wd := range weekdays {
		row := heatRow{Name: wd.Name, Y: 16 + i*heatCellH}
		for hour := range 24 {
			c := byKey[[2]int{wd.N, hour}]
			cell := heatCell{X: heatCell0X + hour*heatCellW, Hour: hour, Calls: c.Calls, Answered: c.Answered, Class: "none"}
			if c.Calls > 0 {
				cell.Rate = float64(c.Answered) / float64(c.Calls)
				cell.Class = fmt.Sprintf("h%d", min(5, int(cell.Rate*5+0.9999)))
			}
			row.Cells = append(row.Cells, cell)
		}
		h.Rows = append(h.Rows, row)
	}
	for hour := 0; hour < 24; hour += 3 {
		h.Hours = append(h.Hours, heatLabel{X: heatCell0X + hour*heatCellW + 2, Text: fmt.Sprintf("%02d", hour)})
	}
	return h
}
