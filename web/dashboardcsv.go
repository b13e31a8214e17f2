package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/internal/csvdownload"
	"github.com/qualdial/qualdial/store"
)

// dashboardCSV writes one chart's figures as CSV, filtered as on screen:
// GET /dashboard/funnel.csv?from=…&to=…&campaign=….
func (s *Server) dashboardCSV(w http.ResponseWriter, r *http.Request, u *store.User) error {
	chart := r.PathValue("chart")
	write, ok := dashboardCSVs[chart]
	if !ok {
		s.notFoundFor(w, r, u)
		return nil
	}
	d, err := s.loadDashboard(r)
	if err != nil {
		return err
	}
	if len(d.Filter.Errors) > 0 { // a file says nothing of what it left out: refuse it
		http.Error(w, "The filter is wrong:\n"+strings.Join(d.Filter.Errors, "\n"), http.StatusBadRequest)
		return nil
	}
	name := fmt.Sprintf("qualdial-%s-%s-to-%s.csv", chart[:len(chart)-len(".csv")], d.Filter.From.Format(time.DateOnly), d.Filter.To.Format(time.DateOnly))
	out := csvdownload.New(w, name, s.cfg.Logger).WithBOM() // Excel reads it as UTF-8
	return out.Finish(write(d, out))
}

// dashboardCSVs are the charts' CSV files by name.
var dashboardCSVs = map[string]func(*dashboard, *csvdownload.Stream) error{
	"funnel.csv":  funnelCSV,
	"daily.csv":   dailyCSV,
	"speed.csv":   speedCSV,
	"rates.csv":   ratesCSV,
	"sla.csv":     slaCSV,
	"answers.csv": answersCSV,
	"ab.csv":      abCSV,
	"heatmap.csv": heatmapCSV,
}

func itoa(n int) string { return strconv.Itoa(n) }

// ifAny is v when there is something (n > 0) to measure it over, else an
// empty cell: no rate of nothing.
func ifAny(n int, v string) string {
	if n == 0 {
		return ""
	}
	return v
}

// rate is a share with four decimals, as a spreadsheet reads it.
func rate(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) }

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

func rows(out *csvdownload.Stream, rows ...[]string) error {
	for _, r := range rows {
		if err := out.Row(r...); err != nil {
			return err
		}
	}
	return nil
}

func funnelCSV(d *dashboard, out *csvdownload.Stream) error {
	if err := out.Row("step", "leads", "of_previous", "conversion", "definition"); err != nil {
		return err
	}
	for _, st := range append(append([]funnelStep(nil), d.Funnel...), d.Branch...) {
		if err := out.Row(st.ID, itoa(st.N), itoa(st.Of), ifAny(st.Of, rate(st.Conversion())), st.Definition); err != nil {
			return err
		}
	}
	return nil
}

func dailyCSV(d *dashboard, out *csvdownload.Stream) error {
	if err := out.Row("day", "leads_arrived", "of_them_dialled", "of_them_sql", "calls_started", "calls_answered"); err != nil {
		return err
	}
	for _, day := range d.Series.Days {
		if err := out.Row(day.Day.Format(time.DateOnly), itoa(day.Leads), itoa(day.Dialled), itoa(day.SQL), itoa(day.Calls), itoa(day.Answered)); err != nil {
			return err
		}
	}
	return nil
}

func speedCSV(d *dashboard, out *csvdownload.Stream) error {
	sp := d.Speed
	if err := rows(out, []string{"figure", "value"},
		[]string{"web_form_leads", itoa(sp.WebForms)}, []string{"dialled", itoa(sp.Dialled)},
		[]string{"p50_seconds", ifAny(sp.Dialled, seconds(sp.P50))}, []string{"p90_seconds", ifAny(sp.Dialled, seconds(sp.P90))},
		[]string{"p99_seconds", ifAny(sp.Dialled, seconds(sp.P99))},
		[]string{"under_60s", itoa(sp.Under1m)}, []string{"under_5min", itoa(sp.Under5m)},
		[]string{"sales_ready", itoa(sp.SalesReady)}, []string{"touched", itoa(sp.Touched)},
		[]string{"touch_p50_seconds", ifAny(sp.Touched, seconds(sp.TouchP50))},
		[]string{"touch_p90_seconds", ifAny(sp.Touched, seconds(sp.TouchP90))}); err != nil {
		return err
	}
	for _, b := range sp.Histogram {
		if err := out.Row("waited "+b.Label, itoa(b.N)); err != nil {
			return err
		}
	}
	return nil
}

func ratesCSV(d *dashboard, out *csvdownload.Stream) error {
	if err := out.Row("by", "key", "name", "calls", "answered", "completed", "sql", "opted_out",
		"answer_rate", "completion_rate", "sql_rate", "opt_out_rate"); err != nil {
		return err
	}
	row := func(by string, r rateRow) error {
		c := r.CallCounts
		return out.Row(by, r.Key, r.Name, itoa(c.Calls), itoa(c.Answered), itoa(c.Completed), itoa(c.SQL), itoa(c.OptedOut),
			ifAny(c.Calls, rate(c.AnswerRate())), ifAny(c.Answered, rate(c.CompletionRate())), ifAny(c.Completed, rate(c.SQLRate())),
			ifAny(c.Answered, rate(c.OptOutRate())))
	}
	if err := row("all", rateRow{Key: "all", Name: "all calls", CallCounts: d.Rates.Total}); err != nil {
		return err
	}
	for _, group := range []struct {
		by string
		rs []rateRow
	}{{"campaign", d.ByCampaign}, {"script_version", d.ByScript}, {"local_hour", d.ByHour}} {
		for _, r := range group.rs {
			if err := row(group.by, r); err != nil {
				return err
			}
		}
	}
	return nil
}

func slaCSV(d *dashboard, out *csvdownload.Stream) error {
	if err := out.Row("rep", "sales_ready", "met", "breached", "pending", "contacted", "met_share", "median_touch_seconds"); err != nil {
		return err
	}
	row := func(name string, r store.RepSLA) error {
		share, median := "", ""
		if r.Met+r.Breached > 0 {
			share = rate(r.MetShare())
		}
		if r.Contacted > 0 {
			median = seconds(r.MedianTouch)
		}
		return out.Row(name, itoa(r.Leads), itoa(r.Met), itoa(r.Breached), itoa(r.Pending), itoa(r.Contacted), share, median)
	}
	for _, r := range d.Reps {
		name := r.Email
		if r.UserID == 0 {
			name = "(unclaimed)"
		}
		if err := row(name, r); err != nil {
			return err
		}
	}
	return row("all", d.RepTotal)
}

func answersCSV(d *dashboard, out *csvdownload.Stream) error {
	if err := out.Row("script", "version", "question", "keys", "meaning", "calls", "share"); err != nil {
		return err
	}
	for _, sq := range d.Questions {
		for _, q := range sq.Questions {
			for _, a := range q.Answers {
				if err := out.Row(sq.Ref.ID, itoa(sq.Ref.Version), q.ID, a.Answer, a.Meaning, itoa(a.N), rate(a.Share)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func abCSV(d *dashboard, out *csvdownload.Stream) error {
	ab := d.AB
	if ab == nil {
		return out.Row("figure", "a", "b") // no two versions of a script have calls in this period
	}
	a, b := ab.A.String(), ab.B.String()
	if err := rows(out, []string{"figure", a, b},
		[]string{"calls", itoa(ab.CA.Calls), itoa(ab.CB.Calls)}, []string{"answered", itoa(ab.CA.Answered), itoa(ab.CB.Answered)},
		[]string{"completion_rate", rate(ab.CA.CompletionRate()), rate(ab.CB.CompletionRate())},
		[]string{"sql_rate", rate(ab.CA.SQLRate()), rate(ab.CB.SQLRate())},
		[]string{"opt_out_rate", rate(ab.CA.OptOutRate()), rate(ab.CB.OptOutRate())},
		[]string{"ended_before_first_answer", itoa(ab.BeforeFirstA), itoa(ab.BeforeFirstB)}); err != nil {
		return err
	}
	for _, q := range ab.Questions {
		if err := rows(out, []string{"answered " + q.ID, itoa(q.AnsweredA), itoa(q.AnsweredB)},
			[]string{"ended_after " + q.ID, itoa(q.DroppedA), itoa(q.DroppedB)}); err != nil {
			return err
		}
	}
	return nil
}

func heatmapCSV(d *dashboard, out *csvdownload.Stream) error {
	if err := out.Row("local_weekday", "local_hour", "finished_calls", "answered", "answer_rate"); err != nil {
		return err
	}
	for _, row := range d.Heat.Rows {
		for _, c := range row.Cells {
			if c.Calls == 0 {
				continue
			}
			if err := out.Row(row.Name, itoa(c.Hour), itoa(c.Calls), itoa(c.Answered), rate(c.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}
