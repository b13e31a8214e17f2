package api

import (
	"cmp"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/internal/csvdownload"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scoring"
	"github.com/qualdial/qualdial/store"
)

// The scoring calibration report: for a campaign's closed leads (won or
// lost by sales), how each answer, each profile rule and each score band
// did, and which score threshold best separates won from lost — so that
// marketing and sales agree their criteria on data.

// minTrusted is the fewest closed leads a report is worth trusting on.
const minTrusted = 30

// Score bands: 10 points wide by default, 1 to 1000.
const (
	defaultBand = 10
	maxBand     = 1000
)

// answerRow is one answer to one question and the closed leads that gave it.
type answerRow struct {
	Question string `json:"question"`
	// Prompt is the question's text in the campaign's pinned script.
	Prompt string `json:"prompt,omitempty"`
	// Answer is the key pressed, or for a digits question the range the
	// number fell in (10–249), or the number when no range holds it.
	Answer string         `json:"answer"`
	Points map[string]int `json:"points,omitempty"`
	scoring.Tally
	rank int
}

// profileRuleRow is one profile rule and the closed leads it held and did
// not hold for.
type profileRuleRow struct {
	Rule    string         `json:"rule"`
	When    string         `json:"when"`
	Points  map[string]int `json:"points"`
	Held    scoring.Tally  `json:"held"`
	NotHeld scoring.Tally  `json:"not_held"`
}

// calibrationReport is the scoring report's JSON.
type calibrationReport struct {
	CampaignID    int64      `json:"campaign_id"`
	Campaign      string     `json:"campaign"`
	ScriptID      string     `json:"script_id"`
	ScriptVersion int        `json:"script_version"`
	From          *time.Time `json:"from,omitempty"`
	To            *time.Time `json:"to,omitempty"`
	Band          int        `json:"band"`
	scoring.Tally
	// Unscored counts the closed leads with neither a lead score nor a
	// call total: in the totals, answers and profile rules, not in the
	// bands and thresholds.
	Unscored     int                `json:"unscored"`
	Note         string             `json:"note,omitempty"`
	Answers      []answerRow        `json:"answers"`
	ProfileRules []profileRuleRow   `json:"profile_rules"`
	ScoreBands   []scoring.Band     `json:"score_bands"`
	Best         *scoring.Threshold `json:"best_threshold"`
	Sales        *scoring.Threshold `json:"sales_threshold"`
	Call         *scoring.Threshold `json:"call_threshold"`
	closed       []store.ClosedLead
	script       *ivr.Script         // the campaign's pinned script
	answerCounts []store.AnswerCount // as the store counted them
}

// scoringReport answers GET /v1/reports/scoring: JSON, or CSV for Accept:
// text/csv or ?format=csv.
func (s *server) scoringReport(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	q, err := readQuery(r, "campaign", "from", "to", "band", "format")
	if err != nil {
		return err
	}
	ref := strings.TrimSpace(q.str("campaign"))
	if ref == "" && len(q.v["campaign"]) <= 1 {
		q.c.add("campaign", "required: the campaign's id or name")
	}
	f := store.ClosedFilter{From: queryTime(q, "from"), To: queryTime(q, "to")}
	if f.From != nil && f.To != nil && !f.To.After(*f.From) {
		q.c.add("to", "must be after from")
	}
	band := defaultBand
	if q.has("band") {
		n, err := strconv.Atoi(q.str("band"))
		if err != nil || n < 1 || n > maxBand {
			q.c.add("band", "%s: use a whole number of points from 1 to %d", quote(q.str("band")), maxBand)
		}
		band = n
	}
	format := q.enum("format", []string{"json", "csv"})
	if err := q.c.err(); err != nil {
		return err
	}
	c, err := s.campaignByRef(r, ref, "the query has an invalid parameter")
	if err != nil {
		return err
	}
	f.CampaignID = c.ID
	rep, err := s.calibrate(r, c, f, band)
	if err != nil {
		return err
	}
	if format == "csv" || (format == "" && wantsCSV(r)) {
		return s.writeScoringCSV(w, rep)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// queryTime reads an RFC 3339 time parameter; nil when absent or invalid.
func queryTime(q *query, name string) *time.Time {
	if !q.has(name) {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, q.str(name))
	if err != nil {
		q.c.add(name, "%s: use an RFC 3339 time such as 2026-01-31T00:00:00Z", quote(q.str(name)))
		return nil
	}
	return &t
}

// wantsCSV reports whether the Accept header asks for text/csv.
func wantsCSV(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(part); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

// calibrate computes the report over the campaign's closed leads, with its
// pinned script.
func (s *server) calibrate(r *http.Request, c *store.Campaign, f store.ClosedFilter, band int) (*calibrationReport, error) {
	sc, ds := ivr.Parse(c.ScriptID+".yaml", []byte(c.ScriptYAML))
	if sc == nil {
		return nil, fmt.Errorf("campaign %d: pinned script: %w", c.ID, ds.Err())
	}
	leads, err := s.store.ClosedLeads(r.Context(), f)
	if err != nil {
		return nil, err
	}
	answers, err := s.store.ClosedAnswers(r.Context(), f)
	if err != nil {
		return nil, err
	}
	rep := &calibrationReport{CampaignID: c.ID, Campaign: c.Name, ScriptID: sc.ID, ScriptVersion: sc.Version, From: f.From, To: f.To, Band: band,
		closed: leads, script: sc, answerCounts: answers}
	rep.answerRows()
	rep.profileRows(ivr.NewEngine(sc))
	var scored []scoring.Closed
	for _, l := range leads {
		rep.Tally = rep.Tally.Add(l.Won)
		if score, ok := l.LeadScore(); ok {
			scored = append(scored, scoring.Closed{Score: score, Won: l.Won})
		} else {
			rep.Unscored++
		}
	}
	if rep.Closed < minTrusted {
		rep.Note = fmt.Sprintf("too few closed leads to trust: %d", rep.Closed)
	}
	rep.ScoreBands = scoring.Bands(scored, band)
	if best, ok := scoring.BestThreshold(scored); ok {
		rep.Best = &best
	}
	for _, t := range []struct {
		dst **scoring.Threshold
		at  *int
	}{{&rep.Sales, c.SalesThreshold}, {&rep.Call, c.CallThreshold}} {
		if t.at != nil && len(scored) > 0 {
			th := scoring.Evaluate(scored, *t.at)
			*t.dst = &th
		}
	}
	return rep, nil
}

// answerRows turns the store's answer counts into rows, labelled with the
// script: a digits answer becomes the range it fell in.
func (rep *calibrationReport) answerRows() {
	type key struct{ question, answer string }
	rows := map[key]*answerRow{}
	for _, a := range rep.answerCounts {
		row := answerRow{Question: a.Question, Answer: a.Keys}
		q := rep.script.Question(a.Question)
		if q != nil {
			row.Prompt = q.Say
			if act, ok := q.Keys[a.Keys]; ok && a.Value == nil {
				row.Points = act.Score
			}
		}
		if a.Value != nil {
			row.Answer = strconv.FormatInt(*a.Value, 10)
			row.rank = len(rangesOf(q))
			for i, rg := range rangesOf(q) {
				if *a.Value >= rg.Min && *a.Value <= rg.Max {
					row.Answer, row.Points, row.rank = fmt.Sprintf("%d–%d", rg.Min, rg.Max), rg.Score, i
					break
				}
			}
		}
		k := key{row.Question, row.Answer}
		if rows[k] == nil {
			rows[k] = &row
		}
		rows[k].Tally = scoring.Count(rows[k].Won+a.Won, rows[k].Lost+a.Lost)
	}
	order := func(question string) int { // script order; unknown questions last
		for i, q := range rep.script.Questions {
			if q.ID == question {
				return i
			}
		}
		return len(rep.script.Questions)
	}
	rep.Answers = make([]answerRow, 0, len(rows))
	for _, row := range rows {
		rep.Answers = append(rep.Answers, *row)
	}
	slices.SortFunc(rep.Answers, func(a, b answerRow) int {
		return cmp.Or(cmp.Compare(order(a.Question), order(b.Question)), strings.Compare(a.Question, b.Question),
			cmp.Compare(a.rank, b.rank), cmp.Compare(len(a.Answer), len(b.Answer)), strings.Compare(a.Answer, b.Answer))
	})
}

func rangesOf(q *ivr.Question) []ivr.Range {
	if q == nil {
		return nil
	}
	return q.Ranges
}

// profileRows evaluates each profile rule of the pinned script on each
// closed lead's fields now.
func (rep *calibrationReport) profileRows(eng *ivr.Engine) {
	rep.ProfileRules = make([]profileRuleRow, len(rep.script.Profile))
	for i, pr := range rep.script.Profile {
		rep.ProfileRules[i] = profileRuleRow{Rule: pr.Name, When: pr.When, Points: pr.Score}
	}
	for _, l := range rep.closed {
		hits := eng.Profile(l.Fields())
		for i := range rep.ProfileRules {
			row := &rep.ProfileRules[i]
			if slices.ContainsFunc(hits, func(h ivr.ProfileHit) bool { return h.Rule == row.Rule }) {
				row.Held = row.Held.Add(l.Won)
			} else {
				row.NotHeld = row.NotHeld.Add(l.Won)
			}
		}
	}
}

// writeScoringCSV writes the report as one table; its section column says
// what each row is (total, answer, profile_rule, score_band, threshold).
func (s *server) writeScoringCSV(w http.ResponseWriter, rep *calibrationReport) error {
	out := csvdownload.New(w, "scoring-report.csv", s.cfg.Logger)
	rate := func(r *float64) string {
		if r == nil {
			return ""
		}
		return strconv.FormatFloat(*r, 'f', 4, 64)
	}
	tally := func(section, name, value, prompt string, t scoring.Tally) error {
		return out.Row(section, name, value, prompt, strconv.Itoa(t.Closed), strconv.Itoa(t.Won), strconv.Itoa(t.Lost), rate(t.WinRate),
			"", "", "", "", "")
	}
	err := out.Row("section", "name", "value", "prompt", "closed", "won", "lost", "win_rate",
		"accuracy", "true_positives", "false_positives", "true_negatives", "false_negatives")
	if err == nil {
		err = tally("total", "all", rep.Note, "", rep.Tally)
	}
	for _, a := range rep.Answers {
		if err == nil {
			err = tally("answer", a.Question, a.Answer, a.Prompt, a.Tally)
		}
	}
	for _, p := range rep.ProfileRules {
		if err == nil {
			err = tally("profile_rule", p.Rule, "held", p.When, p.Held)
		}
		if err == nil {
			err = tally("profile_rule", p.Rule, "not_held", p.When, p.NotHeld)
		}
	}
	for _, b := range rep.ScoreBands {
		if err == nil {
			err = tally("score_band", "score", b.Label, "", b.Tally)
		}
	}
	for _, t := range []struct {
		name string
		th   *scoring.Threshold
	}{{"best", rep.Best}, {"sales", rep.Sales}, {"call", rep.Call}} {
		if err == nil && t.th != nil {
			th := t.th
			won, lost := th.TP+th.FN, th.TN+th.FP
			err = out.Row("threshold", t.name, strconv.Itoa(th.T), "", strconv.Itoa(won+lost), strconv.Itoa(won), strconv.Itoa(lost), "",
				strconv.FormatFloat(th.Accuracy, 'f', 4, 64), strconv.Itoa(th.TP), strconv.Itoa(th.FP), strconv.Itoa(th.TN), strconv.Itoa(th.FN))
		}
	}
	if err != nil {
		err = fmt.Errorf("scoring report CSV: %w", err)
	}
	return out.Finish(err)
}

// campaignByRef finds a campaign by id or name: an unknown one is a 404, a
// malformed id a 400 naming the campaign (detail says where it was).
func (s *server) campaignByRef(r *http.Request, ref, detail string) (*store.Campaign, error) {
	if msg := intake.CheckText(ref, maxCampaignName, false); msg != "" {
		return nil, &apiError{status: http.StatusBadRequest, detail: detail,
			fields: []intake.FieldError{{Field: "campaign", Message: msg}}}
	}
	c, err := s.findCampaign(r, ref)
	var ae *apiError
	if errors.As(err, &ae) && len(ae.fields) == 1 {
		ae.fields[0].Field = "campaign"
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("campaign " + quote(ref))
	}
	return c, err
}
