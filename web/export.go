package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/qualdial/qualdial/internal/csvdownload"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// Exports: the leads of a page as a CSV file for a spreadsheet, filtered
// as on screen. The inbox's at /inbox/export.csv (the inbox's query:
// show, campaign, class; every page, not one), a campaign's leads at
// /campaigns/{id}/leads.csv (the leads table's query: status, class).

func (s *Server) exportRoutes(mux *http.ServeMux) {
	mux.Handle("GET /inbox/export.csv", s.role(s.inboxExport, store.RoleAdmin, store.RoleSales))
	mux.Handle("GET /campaigns/{id}/leads.csv", s.role(s.campaignLeadsExport, store.RoleAdmin, store.RoleMarketing))
}

// exportColumns are an export's columns before the scores, the answers and
// the notes. The API's GET /v1/leads/export.csv has its own, fixed ones.
var exportColumns = []string{"id", "external_id", "campaign_id", "campaign", "name", "company", "email", "phone", "source", "status",
	"class", "route", "total", "sales_stage", "claimed_by", "sla_due_at", "contacted_at", "sla_met", "local_zone", "script"}

// inboxExport writes the leads the inbox lists with the same query, every
// page of them, as CSV: the inbox's own filter (inboxFilter). A filter the
// inbox would not take is a 400 naming it.
func (s *Server) inboxExport(w http.ResponseWriter, r *http.Request, u *store.User) error {
	d, f, err := s.inboxFilter(r, u)
	if err != nil {
		return err
	}
	if len(d.Errors) > 0 {
		http.Error(w, strings.Join(d.Errors, "\n"), http.StatusBadRequest)
		return nil
	}
	now := s.store.Now()
	name := "inbox"
	if d.Show != "" {
		name += "-" + d.Show      // a valid view: letters only
		if d.Show == "breached" { // as inboxLoad
			f.DueBefore = &now
		}
	}
	return s.exportLeads(w, r, f, name+"-"+now.UTC().Format("2006-01-02")+".csv")
}

// checkClass returns v when it is a class leads of the campaign (0: of any
// campaign) may have; else it adds a problem naming the classes there are.
func (s *Server) checkClass(ctx context.Context, campaignID int64, v string, problems *[]string) (string, error) {
	classes, err := s.store.CampaignClasses(ctx, campaignID)
	if err != nil {
		return "", err
	}
	if slices.Contains(classes, v) {
		return v, nil
	}
	whose := "any campaign's script"
	if campaignID != 0 {
		whose = "the campaign's script"
	}
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	*problems = append(*problems, fmt.Sprintf("class %q is not a class of %s: use %s", v, whose, strings.Join(classes, ", ")))
	return "", nil
}

// campaignLeadsExport writes a campaign's leads as CSV, filtered as its
// leads table (status, class), all pages.
func (s *Server) campaignLeadsExport(w http.ResponseWriter, r *http.Request, u *store.User) error {
	c, err := s.pathCampaign(w, r)
	if c == nil || err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.LeadFilter{CampaignID: c.ID}
	var problems []string
	if st := q.Get("status"); st != "" {
		if slices.Contains(statusNames(), st) {
			f.Status = st
		} else {
			problems = append(problems, fmt.Sprintf("status %q is not a lead status: use %s", st, strings.Join(statusNames(), ", ")))
		}
	}
	if v := q.Get("class"); v != "" {
		if f.Class, err = s.checkClass(r.Context(), c.ID, v, &problems); err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "\n"), http.StatusBadRequest)
		return nil
	}
	return s.exportLeads(w, r, f, fmt.Sprintf("campaign-%d-leads-%s.csv", c.ID, s.store.Now().UTC().Format("2006-01-02")))
}

// exportLeads streams the leads f selects as a CSV file for spreadsheets
// named filename (made of safe characters only): UTF-8 with a BOM, every
// cell formula-safe, phone numbers kept as text.
func (s *Server) exportLeads(w http.ResponseWriter, r *http.Request, f store.LeadFilter, filename string) error {
	out := csvdownload.New(w, filename, s.cfg.Logger).WithBOM()
	var sheet *exportSheet
	err := s.store.ExportLeads(r.Context(), f, func(scripts []store.ExportScript) error {
		sheet = newExportSheet(scripts)
		return out.Row(sheet.header()...)
	}, func(l *store.ExportLead) error {
		return out.Row(sheet.row(l)...)
	})
	if err != nil {
		err = fmt.Errorf("export %s: %w", filename, err)
	}
	return out.Finish(err)
}

// exportSheet is an export's columns: the dimensions and questions of
// the leads' scripts, and the script each lead's answers are read with.
type exportSheet struct {
	dims      []string
	questions []string
	column    map[string]int // question → its index in questions
	scripts   map[scriptOf]*ivr.Script
	cells     []string
}

// scriptOf is a script as leads recorded it, in their campaign.
type scriptOf struct {
	campaign int64
	id       string
	version  int
}

// newExportSheet parses the leads' scripts (the store picked each text:
// the version the lead's result recorded, else its campaign's script). The
// columns are the scripts' dimensions, then any other dimension the scores
// name (sorted), and the scripts' questions, each in the scripts' order,
// scripts by id and version: the same leads give the same columns.
func newExportSheet(scripts []store.ExportScript) *exportSheet {
	x := &exportSheet{column: map[string]int{}, scripts: map[scriptOf]*ivr.Script{}}
	parsed := map[string]*ivr.Script{} // by text
	var extra []string
	for _, e := range scripts {
		sc, ok := parsed[e.YAML]
		if !ok && e.YAML != "" {
			sc, _ = ivr.Parse("script.yaml", []byte(e.YAML)) // nil when it does not parse: answers keep their keys
			parsed[e.YAML] = sc
		}
		x.scripts[scriptOf{e.CampaignID, e.ScriptID, e.Version}] = sc
		if sc != nil {
			for _, d := range sc.Dimensions {
				if !slices.Contains(x.dims, d) {
					x.dims = append(x.dims, d)
				}
			}
			for _, q := range sc.Questions {
				if _, ok := x.column[q.ID]; !ok {
					x.column[q.ID] = len(x.questions)
					x.questions = append(x.questions, q.ID)
				}
			}
		}
		extra = append(extra, e.ScoreKeys...)
	}
	slices.Sort(extra)
	for _, d := range slices.Compact(extra) {
		if !slices.Contains(x.dims, d) {
			x.dims = append(x.dims, d)
		}
	}
	return x
}

// header is the columns' names: score_<dimension>, answer_<question>.
func (x *exportSheet) header() []string {
	h := slices.Clone(exportColumns)
	for _, d := range x.dims {
		h = append(h, "score_"+d)
	}
	for _, q := range x.questions {
		h = append(h, "answer_"+q)
	}
	return append(h, "notes")
}

// slaMet says whether a lead was contacted before its deadline: yes, no,
// or nothing yet (pending, no deadline).
var slaMet = map[string]string{"met": "yes", "breached": "no"}

// row is a lead's cells (reused for the next row).
func (x *exportSheet) row(l *store.ExportLead) []string {
	total := ""
	if l.Total != nil {
		total = strconv.Itoa(*l.Total)
	}
	script := ""
	if l.ScriptID != "" {
		script = fmt.Sprintf("%s v%d", l.ScriptID, l.ScriptVersion)
	}
	x.cells = append(x.cells[:0], strconv.FormatInt(l.ID, 10), l.ExternalID, strconv.FormatInt(l.CampaignID, 10), l.Campaign,
		strings.TrimSpace(l.FirstName+" "+l.LastName), l.Company, l.Email, csvdownload.Text(l.Phone), l.Source, string(l.Status),
		l.Class, l.Route, total, string(l.SalesStage), l.ClaimedBy, rfc3339(l.SLADueAt), rfc3339(l.ContactedAt),
		slaMet[l.SLAStatus], localZones(&l.Lead), script)
	for _, d := range x.dims {
		v, ok := l.Scores[d]
		if !ok {
			x.cells = append(x.cells, "") // not a dimension of the lead's script
			continue
		}
		x.cells = append(x.cells, strconv.Itoa(v))
	}
	answers := len(x.cells)
	x.cells = append(x.cells, make([]string, len(x.questions))...)
	if len(l.Answers) > 0 {
		sc, fields := x.scripts[scriptOf{l.CampaignID, l.ScriptID, l.ScriptVersion}], l.Fields()
		for _, a := range l.Answers {
			if i, ok := x.column[a.Question]; ok {
				x.cells[answers+i] = answerWords(answerOf(a, sc, fields))
			}
		}
	}
	notes := make([]string, len(l.Notes))
	for i, n := range l.Notes {
		notes[i] = utc(n.At) + " " + n.By + ": " + n.Text
	}
	return append(x.cells, fitCell(strings.Join(notes, "\n")))
}

// maxCell is the most a spreadsheet cell holds: Excel's 32,767
// characters, counted in UTF-16 (an emoji counts two).
const maxCell = 32767

// fitCell cuts s to maxCell, ending with a mark that the lead page has the
// rest.
func fitCell(s string) string {
	const more = "… (cut: the rest is on the lead page)"
	n, cut := 0, -1
	for i, r := range s {
		n += utf16.RuneLen(r)
		if cut < 0 && n > maxCell-len(more) { // len in bytes ≥ in UTF-16: room to spare
			cut = i
		}
		if n > maxCell {
			return s[:cut] + more
		}
	}
	return s
}

// answerWords is an answer in one cell, as the lead page shows it: the
// keys, what they chose, the points they gave ("1: next question
// authority; budget +30").
func answerWords(a answerRow) string {
	s := a.Keys
	if a.Meaning != "" {
		s += ": " + a.Meaning
	}
	if len(a.Points) > 0 {
		s += "; " + strings.Join(a.Points, ", ")
	}
	if a.FromForm {
		s += " (from the form)"
	}
	return s
}

// localZones are the time zones the lead may be in, as calls decide them
// ("" when none is known).
func localZones(l *store.Lead) string {
	zones, err := queue.Zones(queue.Place{TimeZone: l.TimeZone, Region: l.Region, PostalCode: l.PostalCode, Country: l.Country, Phone: l.Phone})
	if err != nil {
		return ""
	}
	names := make([]string, len(zones))
	for i, z := range zones {
		names[i] = z.String()
	}
	return strings.Join(names, " ")
}

// rfc3339 writes an instant for a machine and a spreadsheet alike: UTC,
// to the second ("" for none).
func rfc3339(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
