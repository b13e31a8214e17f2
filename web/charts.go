package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/qualdial/qualdial/store"
)

// The dashboards' charts, drawn on the server as SVG: no script, and the
// same figures as the tables and CSV files next to them.

// Geometry of the time series, in pixels.
const (
	seriesW, seriesH       = 720, 220
	seriesLeft, seriesTop  = 44, 10
	seriesPlotW            = seriesW - seriesLeft - 10
	seriesPlotH            = seriesH - seriesTop - 28
	seriesMarkersUpToDays  = 62
	histogramW, histogramH = 560, 200
	histogramBarsTop       = 14
	histogramPlotH         = histogramH - histogramBarsTop - 34
)

// timeSeries is a line chart of counts per day.
type timeSeries struct {
	W, H, Left, Bottom int
	Lines              []seriesLine
	YTicks             []seriesTick
	XTicks             []seriesTick
	Days               []seriesDay
	Max                int
	Empty              bool
}

type seriesLine struct {
	Name, Class string
	Points      string // the polyline's points
	Marks       []seriesMark
}

type seriesMark struct {
	X, Y  int
	Title string
}

type seriesTick struct {
	X, Y int
	Text string
}

// seriesDay is one day's figures, for the CSV and the table.
type seriesDay struct {
	Day                                  time.Time
	Leads, Dialled, SQL, Calls, Answered int
}

// newTimeSeries draws a period's days: leads arrived (and of them dialled
// and SQL, by day of arrival), calls started and answered.
func newTimeSeries(from time.Time, days int, leads []store.DayLeads, calls map[time.Time]store.CallCounts) timeSeries {
	ts := timeSeries{W: seriesW, H: seriesH, Left: seriesLeft, Bottom: seriesTop + seriesPlotH}
	byDay := map[time.Time]store.DayLeads{}
	for _, l := range leads {
		byDay[l.Day] = l
	}
	for i := range days {
		day := from.AddDate(0, 0, i)
		l, c := byDay[day], calls[day]
		sd := seriesDay{Day: day, Leads: l.Leads, Dialled: l.Dialled, SQL: l.SQL, Calls: c.Calls, Answered: c.Answered}
		ts.Days = append(ts.Days, sd)
		ts.Max = max(ts.Max, sd.Leads, sd.Calls, sd.Answered, sd.SQL)
	}
	ts.Empty = ts.Max == 0
	top := niceCeiling(ts.Max)
	x := func(i int) int {
		if days <= 1 {
			return seriesLeft + seriesPlotW/2
		}
		return seriesLeft + i*seriesPlotW/(days-1)
	}
	y := func(v int) int { return seriesTop + seriesPlotH - v*seriesPlotH/top }
	for _, line := range []struct {
		name, class string
		of          func(seriesDay) int
	}{
		{"Leads arrived", "s-leads", func(d seriesDay) int { return d.Leads }},
		{"Calls started", "s-calls", func(d seriesDay) int { return d.Calls }},
		{"Calls answered", "s-answered", func(d seriesDay) int { return d.Answered }},
		{"SQL (by day of arrival)", "s-sql", func(d seriesDay) int { return d.SQL }},
	} {
		sl := seriesLine{Name: line.name, Class: line.class}
		var pts []string
		for i, d := range ts.Days {
			v := line.of(d)
			pts = append(pts, fmt.Sprintf("%d,%d", x(i), y(v)))
			if days <= seriesMarkersUpToDays {
				sl.Marks = append(sl.Marks, seriesMark{X: x(i), Y: y(v), Title: fmt.Sprintf("%s %s: %d", d.Day.Format("Mon 2 Jan"), line.name, v)})
			}
		}
		sl.Points = strings.Join(pts, " ")
		ts.Lines = append(ts.Lines, sl)
	}
	for _, v := range []int{0, top / 2, top} {
		ts.YTicks = append(ts.YTicks, seriesTick{X: seriesLeft - 6, Y: y(v), Text: fmt.Sprint(v)})
	}
	labels := min(days, 6)
	for k := range labels {
		i := 0
		if labels > 1 {
			i = k * (days - 1) / (labels - 1)
		}
		ts.XTicks = append(ts.XTicks, seriesTick{X: x(i), Y: seriesH - 8, Text: from.AddDate(0, 0, i).Format("2 Jan")})
	}
	return ts
}

// niceCeiling rounds a chart's top up to 1, 2 or 5 times a power of ten
// (at least 1), so its half is a round tick too.
func niceCeiling(n int) int {
	if n <= 1 {
		return 2
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{2, 4, 10} {
			if n <= m*p {
				return m * p
			}
		}
	}
}

// histogram is a bar chart of the speed-to-lead buckets.
type histogram struct {
	W, H, Bottom int
	Bars         []histogramBar
	Total        int
}

type histogramBar struct {
	X, Y, W, H int
	LabelX     int
	Label      string
	N          int
	Share      float64
}

func newHistogram(buckets []store.SpeedBucket) histogram {
	h := histogram{W: histogramW, H: histogramH, Bottom: histogramBarsTop + histogramPlotH}
	most := 0
	for _, b := range buckets {
		h.Total += b.N
		most = max(most, b.N)
	}
	if len(buckets) == 0 {
		return h
	}
	slot := histogramW / len(buckets)
	for i, b := range buckets {
		bh := 0
		if most > 0 {
			bh = b.N * histogramPlotH / most
		}
		bar := histogramBar{X: i*slot + 6, W: slot - 12, H: bh, Y: histogramBarsTop + histogramPlotH - bh, LabelX: i*slot + slot/2,
			Label: b.Label, N: b.N}
		if h.Total > 0 {
			bar.Share = float64(b.N) / float64(h.Total)
		}
		h.Bars = append(h.Bars, bar)
	}
	return h
}

// dashboardFuncs are the template functions of the dashboards.
var dashboardFuncs = map[string]any{
	// pct1 is a share with one decimal: "12.5%".
	"pct1": func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	// pctOf is a share with one decimal, or "–" when its base is nothing.
	"pctOf": func(f float64, base int) string {
		if base == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", f*100)
	},
	"add":   func(a, b int) int { return a + b },
	"share": func(n, of int) float64 { return float64(n) / float64(max(of, 1)) },
	"wait":  wait,
	"defn":  definitionOf,
	"list":  func(v ...any) []any { return v },
	"row": func(key, name string, c store.CallCounts) rateRow {
		return rateRow{Key: key, Name: name, CallCounts: c}
	},
}

// wait says how long something took, as a person reads it: "12.3 s",
// "4 min 5 s", "3 h 20 min", "2 d 3 h".
func wait(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d d %d h", int(d.Hours())/24, int(d.Hours())%24)
}
