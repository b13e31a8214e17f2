package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/jurisdiction"
	"github.com/qualdial/qualdial/queue"
)

// loadRules reads a jurisdiction rules file; "" is the project's table.
func loadRules(file string) (*jurisdiction.Table, error) {
	if file == "" {
		return jurisdiction.Default(), nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--jurisdiction-rules: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, jurisdiction.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("--jurisdiction-rules: %w", err)
	}
	return jurisdiction.Parse(file, data)
}

// rulesReport is what `qualdial rules --json` prints.
type rulesReport struct {
	Phone          string            `json:"phone"`
	Purpose        string            `json:"purpose"`
	Jurisdictions  []rulesWhere      `json:"jurisdictions"`
	TimeZones      []string          `json:"time_zones"`
	Hours          string            `json:"hours"`
	Holidays       []string          `json:"holidays"`
	MaxCallsPer24h int               `json:"max_calls_per_24h"`
	WrittenConsent bool              `json:"written_consent"`
	At             time.Time         `json:"at"`
	AllowedAt      bool              `json:"allowed_at"`
	NextAllowed    *time.Time        `json:"next_allowed"`
	Rules          []rulesReportRule `json:"rules"`
}

type rulesWhere struct {
	Code string `json:"code"`
	From string `json:"from"`
}

type rulesReportRule struct {
	Jurisdiction   string   `json:"jurisdiction"`
	Name           string   `json:"name"`
	Hours          string   `json:"hours"`
	Holidays       []string `json:"holidays"`
	MaxCallsPer24h int      `json:"max_calls_per_24h"`
	WrittenConsent bool     `json:"written_consent"`
	AppliesTo      []string `json:"applies_to"`
	Source         string   `json:"source"`
	File           string   `json:"file"`
}

func (e *env) rulesCommand() *cobra.Command {
	var (
		file, region, postal, country, zone, purpose, at string
		asJSON                                           bool
	)
	cmd := &cobra.Command{
		Use:   "rules NUMBER",
		Short: "Print the calling rules that apply to a phone number (hours, holidays, calls per 24 h, written consent)",
		Long: `Print the calling rules that bind a call to NUMBER: the jurisdictions it may be in
(its country, the state of its area code, and the state given with --region or
--postal-code: every one of them binds), the calling hours in the lead's local
time, the holidays without calls, the calls allowed in 24 hours and whether
written consent is required for the campaign purpose. They apply at dial time
on top of each campaign's calling window; the stricter wins.`,
		Example: `  qualdial rules +13055550100 --purpose telemarketing
  qualdial rules +12145550100 --region TX --at 2026-12-06T10:00:00-06:00 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rules, err := loadRules(file)
			if err != nil {
				return err
			}
			p := jurisdiction.Purpose(purpose)
			if !p.Valid() {
				return fmt.Errorf("--purpose %q: use unspecified, telemarketing or informational", purpose)
			}
			when := time.Now()
			if at != "" {
				if when, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at %q: use RFC 3339, e.g. 2026-12-06T10:00:00-05:00", at)
				}
			}
			defCountry := strings.ToUpper(country)
			if defCountry == "" {
				defCountry = "US"
			}
			num, err := intake.NormalizePhone(args[0], defCountry)
			if err != nil {
				return fmt.Errorf("%q: %w", args[0], err)
			}
			if country == "" {
				// The number's country, for the address's zones and state.
				if n, err := phonenumbers.Parse(num, ""); err == nil {
					country = phonenumbers.GetRegionCodeForNumber(n)
				}
			}
			place := queue.Place{TimeZone: zone, Region: region, PostalCode: postal, Country: country, Phone: num}
			r := rulesReport{Phone: num, Purpose: string(p), At: when, Holidays: []string{}, Rules: []rulesReportRule{}}
			var codes []string
			for _, w := range queue.Jurisdictions(place) {
				r.Jurisdictions = append(r.Jurisdictions, rulesWhere{w.Code, w.From})
				codes = append(codes, w.Code)
			}
			if strings.TrimSpace(region) != "" && !slices.ContainsFunc(r.Jurisdictions, func(w rulesWhere) bool { return w.From == "state given" }) {
				return fmt.Errorf("--region %q: not a US state or Canadian province of %s (FL, Florida or US-FL)", clip(region), country)
			}
			law := rules.For(codes, p)
			r.Hours, r.MaxCallsPer24h, r.WrittenConsent = law.Hours(), law.MaxCallsPer24h, law.WrittenConsent
			for _, h := range law.Holidays() {
				r.Holidays = append(r.Holidays, h.Name)
			}
			for _, rule := range law.Rules {
				rr := rulesReportRule{Jurisdiction: rule.Jurisdiction, Name: rule.Name, Hours: rule.Hours(), Holidays: []string{},
					MaxCallsPer24h: rule.MaxCallsPer24h, WrittenConsent: rule.WrittenConsent, Source: rule.Source,
					File: fmt.Sprintf("%s:%d", rules.File, rule.Line)}
				for _, a := range rule.AppliesTo {
					rr.AppliesTo = append(rr.AppliesTo, string(a))
				}
				for _, h := range rule.Holidays() {
					rr.Holidays = append(rr.Holidays, h.Name)
				}
				r.Rules = append(r.Rules, rr)
			}
			// The law alone: a window open all day every day, narrowed by it.
			zones, zerr := queue.Zones(place)
			if zerr != nil && zone != "" {
				return fmt.Errorf("--time-zone: %w", zerr)
			}
			for _, z := range zones {
				r.TimeZones = append(r.TimeZones, z.String())
			}
			if zerr == nil {
				w := queue.Window{Days: []int{1, 2, 3, 4, 5, 6, 7}, Start: 0, End: 24 * time.Hour, Law: law}
				r.AllowedAt = w.Open(when, zones)
				if next, ok := w.NextOpen(when, zones); ok && !r.AllowedAt {
					r.NextAllowed = &next
				}
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			printRules(e.stdout, r, zerr)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&file, "jurisdiction-rules", "", "YAML table of rules replacing the project's")
	e.bindEnv(fl, "jurisdiction-rules", "QUALDIAL_JURISDICTION_RULES")
	fl.StringVar(&region, "region", "", "the lead's state or province (FL or Florida)")
	fl.StringVar(&postal, "postal-code", "", "the lead's ZIP or postal code")
	fl.StringVar(&country, "country", "", "the lead's country, ISO 3166 (default: the number's)")
	fl.StringVar(&zone, "time-zone", "", "the lead's IANA time zone, when known")
	fl.StringVar(&purpose, "purpose", string(jurisdiction.Telemarketing), "the campaign's purpose: telemarketing, informational or unspecified")
	fl.StringVar(&at, "at", "", "judge this moment, RFC 3339 (default: now)")
	fl.BoolVar(&asJSON, "json", false, "print JSON (stable snake_case fields)")
	return cmd
}

func printRules(w io.Writer, r rulesReport, zoneErr error) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	var where []string
	for _, j := range r.Jurisdictions {
		where = append(where, j.Code+" ("+j.From+")")
	}
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Number", r.Phone)
	row("Purpose", r.Purpose)
	row("Jurisdictions", noneIfEmpty(strings.Join(where, ", ")))
	row("Calling hours", r.Hours+" (the lead's local time; a campaign's window narrows them)")
	row("Holidays", noneIfEmpty(strings.Join(r.Holidays, ", ")))
	if r.MaxCallsPer24h > 0 {
		row("Calls in 24 h", fmt.Sprintf("at most %d, every campaign counted", r.MaxCallsPer24h))
	} else {
		row("Calls in 24 h", "no cap by law (serve's --number-cap applies)")
	}
	if r.WrittenConsent {
		row("Written consent", "required before calling")
	} else {
		row("Written consent", "not required by these rules (the campaign's require_consent decides)")
	}
	if zoneErr != nil {
		row("Time zones", zoneErr.Error())
	} else {
		row("Time zones", strings.Join(r.TimeZones, ", "))
		verdict := "allowed"
		if !r.AllowedAt {
			verdict = "not allowed"
			if r.NextAllowed != nil {
				verdict += "; next allowed " + r.NextAllowed.UTC().Format(time.RFC3339)
			}
		}
		row("At "+r.At.Format(time.RFC3339), verdict)
	}
	_ = tw.Flush()
	if len(r.Rules) > 0 {
		fmt.Fprintln(w, "\nRules:")
		for _, rule := range r.Rules {
			fmt.Fprintf(w, "  %s  %s\n    %s", rule.Jurisdiction, rule.Name, rule.Hours)
			if len(rule.Holidays) > 0 {
				fmt.Fprintf(w, "; no calls on %s", strings.Join(rule.Holidays, ", "))
			}
			if rule.MaxCallsPer24h > 0 {
				fmt.Fprintf(w, "; at most %d calls in 24 h", rule.MaxCallsPer24h)
			}
			if rule.WrittenConsent {
				fmt.Fprint(w, "; written consent")
			}
			fmt.Fprintf(w, "\n    %s  (%s)\n", rule.Source, rule.File)
		}
	}
}

// noneIfEmpty says "none" for an empty list.
func noneIfEmpty(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// clip shortens what a user typed for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
