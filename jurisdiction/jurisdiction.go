// Package jurisdiction holds the calling rules of countries and US states
// (hours per weekday, holidays, calls per 24 hours, written consent) and
// combines the ones that bind a call into one verdict: the stricter rule
// wins. It is pure: the caller says where a lead may be and what the
// campaign is for; it says when the lead may be called.
//
// The project's table is embedded (rules.yaml, Default); operators give
// their own, reviewed by counsel, with Parse.
package jurisdiction

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Purpose is what a campaign calls for: it decides which rules bind it and
// whether written consent is mandatory.
type Purpose string

// Campaign purposes. Unspecified applies every rule's hours and caps but
// leaves consent to the campaign's require_consent.
const (
	Unspecified   Purpose = "unspecified"
	Telemarketing Purpose = "telemarketing"
	Informational Purpose = "informational"
)

// Purposes lists the valid purposes.
var Purposes = []Purpose{Unspecified, Telemarketing, Informational}

// Valid reports whether p is one of Purposes.
func (p Purpose) Valid() bool { return slices.Contains(Purposes, p) }

// Rule is one jurisdiction's rule, as written in the table.
type Rule struct {
	// Jurisdiction is an ISO 3166 country ("US") or subdivision ("US-FL").
	Jurisdiction string
	// Name says what the rule is; Source cites the law.
	Name, Source string
	// MaxCallsPer24h caps calls to a number in any 24 hours (0: no cap).
	MaxCallsPer24h int
	// WrittenConsent: prior express written consent is required.
	WrittenConsent bool
	// AppliesTo lists the purposes the rule binds.
	AppliesTo []Purpose
	// Line is the rule's line in its file.
	Line int

	week     week
	holidays []Holiday
}

// Hours describes the rule's calling hours, "Mon-Sat 08:00-20:00, Sun closed"-like.
func (r *Rule) Hours() string { return r.week.String() }

// Holidays lists the days the rule forbids calls on.
func (r *Rule) Holidays() []Holiday { return r.holidays }

// binds reports whether the rule binds a campaign of purpose p: an
// unspecified purpose is bound by every rule.
func (r *Rule) binds(p Purpose) bool {
	return p == Unspecified || p == "" || slices.Contains(r.AppliesTo, p)
}

// day is one weekday's hours: unset (no constraint), closed, or a span.
type day struct {
	set, closed bool
	start, end  time.Duration
}

// week holds the hours by time.Weekday (0 = Sunday).
type week [7]day

// narrow intersects w with o.
func (w *week) narrow(o week) {
	for i, d := range o {
		cur := &w[i]
		switch {
		case !d.set:
		case !cur.set:
			*cur = d
		case d.closed || cur.closed:
			*cur = day{set: true, closed: true}
		default:
			cur.start, cur.end = max(cur.start, d.start), min(cur.end, d.end)
			if cur.start >= cur.end {
				*cur = day{set: true, closed: true}
			}
		}
	}
}

var dayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// String groups equal consecutive days, Monday first.
func (w week) String() string {
	order := []int{1, 2, 3, 4, 5, 6, 0}
	text := func(d day) string {
		switch {
		case !d.set:
			return "any time"
		case d.closed:
			return "closed"
		}
		return clock(d.start) + "-" + clock(d.end)
	}
	var parts []string
	for i := 0; i < len(order); {
		j := i
		for j+1 < len(order) && w[order[j+1]] == w[order[i]] {
			j++
		}
		days := dayNames[order[i]]
		if j > i {
			days += "-" + dayNames[order[j]]
		}
		parts = append(parts, days+" "+text(w[order[i]]))
		i = j + 1
	}
	if len(parts) == 1 {
		return strings.TrimPrefix(parts[0], "Mon-Sun ")
	}
	return strings.Join(parts, ", ")
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

// Holiday is a day without calls: a fixed date, or the Nth (or last)
// weekday of a month.
type Holiday struct {
	Name    string
	Month   time.Month
	Day     int          // fixed date; 0 for a weekday rule
	Nth     int          // 1–5, or -1 for the last
	Weekday time.Weekday // with Nth
}

// On reports whether the holiday falls on the date y-m-d.
func (h Holiday) On(y int, m time.Month, d int) bool {
	if m != h.Month {
		return false
	}
	if h.Day != 0 {
		return d == h.Day
	}
	if time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday() != h.Weekday {
		return false
	}
	if h.Nth > 0 {
		return (d-1)/7+1 == h.Nth
	}
	return d+7 > time.Date(y, m+1, 0, 12, 0, 0, 0, time.UTC).Day() // the month's last such weekday
}

// federal are the US federal holidays (5 U.S.C. 6103), on their dates.
var federal = []Holiday{
	{Name: "New Year's Day", Month: time.January, Day: 1},
	{Name: "Martin Luther King Jr. Day", Month: time.January, Nth: 3, Weekday: time.Monday},
	{Name: "Washington's Birthday", Month: time.February, Nth: 3, Weekday: time.Monday},
	{Name: "Memorial Day", Month: time.May, Nth: -1, Weekday: time.Monday},
	{Name: "Juneteenth", Month: time.June, Day: 19},
	{Name: "Independence Day", Month: time.July, Day: 4},
	{Name: "Labor Day", Month: time.September, Nth: 1, Weekday: time.Monday},
	{Name: "Columbus Day", Month: time.October, Nth: 2, Weekday: time.Monday},
	{Name: "Veterans Day", Month: time.November, Day: 11},
	{Name: "Thanksgiving Day", Month: time.November, Nth: 4, Weekday: time.Thursday},
	{Name: "Christmas Day", Month: time.December, Day: 25},
}

// Table is a set of rules by jurisdiction.
type Table struct {
	// File names where the rules were read from.
	File  string
	rules []*Rule
}

// Rules lists the table's rules in their file's order.
func (t *Table) Rules() []*Rule { return t.rules }

//go:embed rules.yaml
var defaultRules []byte

// Default returns the project's table (rules.yaml), parsed once. Tables
// are never changed once parsed: it is shared.
var Default = sync.OnceValue(func() *Table {
	t, err := Parse("rules.yaml", defaultRules)
	if err != nil {
		panic(err) // the embedded table is tested
	}
	return t
})

// MaxFileSize bounds a rules file.
const MaxFileSize = 1 << 20

type ruleYAML struct {
	Jurisdiction   string            `yaml:"jurisdiction"`
	Name           string            `yaml:"name"`
	Hours          string            `yaml:"hours"`
	Days           map[string]string `yaml:"days"`
	Holidays       []string          `yaml:"holidays"`
	MaxCallsPer24h int               `yaml:"max_calls_per_24h"`
	WrittenConsent bool              `yaml:"written_consent"`
	AppliesTo      []Purpose         `yaml:"applies_to"`
	Source         string            `yaml:"source"`
}

var (
	yamlLine    = regexp.MustCompile(`^line (\d+): (.*?)(?: in type \S+)?$`)
	codePattern = regexp.MustCompile(`^[A-Z]{2}(-[A-Z0-9]{1,3})?$`)
	spanPattern = regexp.MustCompile(`^(\d\d):(\d\d)-(\d\d):(\d\d)$`)
	weekdays    = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
		"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}
	months = map[string]time.Month{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
		"oct": 10, "nov": 11, "dec": 12}
)

// Parse reads a rules table (the format of rules.yaml). Errors name the
// file and the line.
func Parse(file string, data []byte) (*Table, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes; a rules file may have at most %d", file, len(data), MaxFileSize)
	}
	var raw []ruleYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if te := (*yaml.TypeError)(nil); errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			return nil, fmt.Errorf("%s:%s: %s", file, m[1], m[2])
		}
		return nil, fmt.Errorf("%s: %s", file, msg)
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	lines := make([]int, len(raw))
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.SequenceNode {
		for i, n := range doc.Content[0].Content {
			if i < len(lines) {
				lines[i] = n.Line
			}
		}
	}
	t := &Table{File: file}
	for i, r := range raw {
		rule, err := r.rule(lines[i])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, lines[i], err)
		}
		t.rules = append(t.rules, rule)
	}
	if len(t.rules) == 0 {
		return nil, fmt.Errorf("%s: no rules", file)
	}
	return t, nil
}

func (r ruleYAML) rule(line int) (*Rule, error) {
	code := strings.ToUpper(strings.TrimSpace(r.Jurisdiction))
	if !codePattern.MatchString(code) {
		return nil, fmt.Errorf("jurisdiction %q: use an ISO 3166 code, US or US-FL", r.Jurisdiction)
	}
	if r.Source == "" {
		return nil, fmt.Errorf("%s: source is required: cite the law the rule comes from", code)
	}
	if r.MaxCallsPer24h < 0 {
		return nil, fmt.Errorf("%s: max_calls_per_24h %d: use 0 (no cap) or more", code, r.MaxCallsPer24h)
	}
	rule := &Rule{Jurisdiction: code, Name: r.Name, Source: r.Source, MaxCallsPer24h: r.MaxCallsPer24h,
		WrittenConsent: r.WrittenConsent, AppliesTo: r.AppliesTo, Line: line}
	if len(rule.AppliesTo) == 0 {
		rule.AppliesTo = []Purpose{Telemarketing}
	}
	for _, p := range rule.AppliesTo {
		if p != Telemarketing && p != Informational {
			return nil, fmt.Errorf("%s: applies_to %q: use telemarketing or informational", code, p)
		}
	}
	if r.Hours != "" {
		d, err := span(r.Hours)
		if err != nil {
			return nil, fmt.Errorf("%s: hours: %w", code, err)
		}
		for i := range rule.week {
			rule.week[i] = d
		}
	}
	for name, text := range r.Days {
		wd, ok := weekdays[strings.ToLower(name)]
		if !ok {
			return nil, fmt.Errorf("%s: days: %q is not a weekday (mon … sun)", code, name)
		}
		if strings.TrimSpace(text) == "closed" {
			rule.week[wd] = day{set: true, closed: true}
			continue
		}
		d, err := span(text)
		if err != nil {
			return nil, fmt.Errorf("%s: days: %s: %w", code, name, err)
		}
		rule.week[wd] = d
	}
	for _, text := range r.Holidays {
		hs, err := holidays(text)
		if err != nil {
			return nil, fmt.Errorf("%s: holidays: %w", code, err)
		}
		rule.holidays = append(rule.holidays, hs...)
	}
	return rule, nil
}

// span parses HH:MM-HH:MM.
func span(text string) (day, error) {
	m := spanPattern.FindStringSubmatch(strings.TrimSpace(text))
	if m == nil {
		return day{}, fmt.Errorf("%q: use HH:MM-HH:MM", text)
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	if n(m[1]) > 24 || n(m[2]) > 59 || n(m[3]) > 24 || n(m[4]) > 59 {
		return day{}, fmt.Errorf("%q: not a time of day", text)
	}
	start := time.Duration(n(m[1]))*time.Hour + time.Duration(n(m[2]))*time.Minute
	end := time.Duration(n(m[3]))*time.Hour + time.Duration(n(m[4]))*time.Minute
	if start >= end || end > 24*time.Hour {
		return day{}, fmt.Errorf("%q: the end must come after the start, by midnight", text)
	}
	return day{set: true, start: start, end: end}, nil
}

// holidays parses "federal", MM-DD, "N WEEKDAY MONTH" or "last WEEKDAY MONTH".
func holidays(text string) ([]Holiday, error) {
	t := strings.ToLower(strings.TrimSpace(text))
	if t == "federal" {
		return federal, nil
	}
	var mo, d int
	if n, _ := fmt.Sscanf(t, "%d-%d", &mo, &d); n == 2 && len(t) == 5 {
		if mo < 1 || mo > 12 || d < 1 || d > time.Date(2024, time.Month(mo)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
			return nil, fmt.Errorf("%q: not a date", text)
		}
		return []Holiday{{Name: text, Month: time.Month(mo), Day: d}}, nil
	}
	f := strings.Fields(t)
	if len(f) == 3 {
		nth := -1
		if f[0] != "last" {
			nth, _ = strconv.Atoi(f[0])
		}
		wd, okd := weekdays[f[1]]
		m, okm := months[f[2]]
		if okd && okm && (nth == -1 || (nth >= 1 && nth <= 5)) {
			return []Holiday{{Name: text, Month: m, Nth: nth, Weekday: wd}}, nil
		}
	}
	return nil, fmt.Errorf("%q: use federal, MM-DD, \"3 mon jan\" or \"last mon may\"", text)
}

// Applied is what binds a call: the rules of every jurisdiction the lead
// may be in, combined (the strictest hours, every holiday, the lowest cap).
// The zero Applied binds nothing.
type Applied struct {
	// Jurisdictions are the codes looked up, the country's first.
	Jurisdictions []string
	// Rules are the rules that bind, in table order.
	Rules []*Rule
	// MaxCallsPer24h is the lowest cap of the rules (0: none).
	MaxCallsPer24h int
	// WrittenConsent: a rule requires written consent for this purpose.
	WrittenConsent bool

	week     week
	holidays []Holiday
}

// For combines the rules binding a campaign of purpose p calling a lead
// who may be in any of codes (a subdivision brings its country's rules).
func (t *Table) For(codes []string, p Purpose) Applied {
	var want []string
	for _, c := range codes {
		c = strings.ToUpper(c)
		if country, _, ok := strings.Cut(c, "-"); ok && !slices.Contains(want, country) {
			want = append(want, country)
		}
		if !slices.Contains(want, c) {
			want = append(want, c)
		}
	}
	a := Applied{Jurisdictions: want}
	for _, r := range t.rules {
		if !slices.Contains(want, r.Jurisdiction) || !r.binds(p) {
			continue
		}
		a.Rules = append(a.Rules, r)
		a.week.narrow(r.week)
		a.holidays = append(a.holidays, r.holidays...)
		if r.MaxCallsPer24h > 0 && (a.MaxCallsPer24h == 0 || r.MaxCallsPer24h < a.MaxCallsPer24h) {
			a.MaxCallsPer24h = r.MaxCallsPer24h
		}
		a.WrittenConsent = a.WrittenConsent || (r.WrittenConsent && p == Telemarketing)
	}
	return a
}

// Hours describes the combined calling hours.
func (a Applied) Hours() string { return a.week.String() }

// Narrows reports whether the rules forbid some moment of a window open
// on days (ISO weekdays: 1 = Monday … 7 = Sunday) from start to end: a
// holiday, a closed day, or shorter hours.
func (a Applied) Narrows(days []int, start, end time.Duration) bool {
	if len(a.holidays) > 0 {
		return true
	}
	for _, iso := range days {
		d := a.week[time.Weekday(iso%7)]
		if d.set && (d.closed || d.start > start || d.end < end) {
			return true
		}
	}
	return false
}

// Holidays lists the combined holidays, each once.
func (a Applied) Holidays() []Holiday {
	var out []Holiday
	for _, h := range a.holidays {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// Holiday names the holiday falling on local's date, if one binds.
func (a Applied) Holiday(local time.Time) (string, bool) {
	y, m, d := local.Date()
	for _, h := range a.holidays {
		if h.On(y, m, d) {
			return h.Name, true
		}
	}
	return "", false
}

// Allows reports whether the rules allow a call at local, the lead's wall
// clock.
func (a Applied) Allows(local time.Time) bool {
	if _, ok := a.Holiday(local); ok {
		return false
	}
	d := a.week[local.Weekday()]
	if !d.set {
		return true
	}
	since := time.Duration(local.Hour())*time.Hour + time.Duration(local.Minute())*time.Minute + time.Duration(local.Second())*time.Second
	return !d.closed && since >= d.start && since < d.end
}

// Opening returns when calls may start on local's date (an offset from
// midnight; 0 without hours), and false when the day is closed.
func (a Applied) Opening(local time.Time) (time.Duration, bool) {
	if _, ok := a.Holiday(local); ok {
		return 0, false
	}
	d := a.week[local.Weekday()]
	if d.closed {
		return 0, false
	}
	return d.start, true
}
