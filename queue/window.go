package queue

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/qualdial/qualdial/jurisdiction"
	"github.com/qualdial/qualdial/store"
)

// Window is when a campaign may call: on these ISO weekdays (1 = Monday …
// 7 = Sunday), from Start to End lead-local time (clock offsets from
// midnight). DESIGN.md's legal bounds, 08:00–21:00, are enforced by the
// database and by Validate.
type Window struct {
	Days       []int
	Start, End time.Duration
	// Law is what the jurisdictions of the lead allow on top (hours per
	// weekday, holidays); the zero value allows any time.
	Law jurisdiction.Applied
}

// CallWindow is when a campaign may call a lead: its window, narrowed by
// the rules of the table (nil: the project's) that bind the campaign's
// purpose where the lead may be.
func CallWindow(rules *jurisdiction.Table, c *store.Campaign, p Place) Window {
	if rules == nil {
		rules = jurisdiction.Default()
	}
	var codes []string
	for _, w := range Jurisdictions(p) {
		codes = append(codes, w.Code)
	}
	return Window{Days: c.WindowDays, Start: c.WindowStart, End: c.WindowEnd, Law: rules.For(codes, jurisdiction.Purpose(c.Purpose))}
}

// Legal bounds of any calling window.
const (
	earliest = 8 * time.Hour
	latest   = 21 * time.Hour
)

// DefaultWindow is the calling window of a campaign created without one
// (store.CampaignDefaults: Monday–Saturday 09:00–20:00).
var DefaultWindow = func() Window {
	d := store.CampaignDefaults()
	return Window{Days: d.WindowDays, Start: d.WindowStart, End: d.WindowEnd}
}()

// Validate reports a window that is empty or outside 08:00–21:00.
func (w Window) Validate() error {
	if len(w.Days) == 0 {
		return fmt.Errorf("calling window has no days")
	}
	for _, d := range w.Days {
		if d < 1 || d > 7 {
			return fmt.Errorf("calling window day %d: use 1 (Monday) to 7 (Sunday)", d)
		}
	}
	if w.Start < earliest || w.End > latest || w.Start >= w.End {
		return fmt.Errorf("calling window %s–%s must lie within 08:00–21:00 and end after it starts", Clock(w.Start), Clock(w.End))
	}
	return nil
}

// Clock formats a time of day (an offset from midnight) as HH:MM.
func Clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

// String formats the window as "Mon-Sat 09:00-20:00"-like text, and the
// law's hours when they narrow it.
func (w Window) String() string {
	if w.Law.Narrows(w.Days, w.Start, w.End) {
		return w.campaign() + " and " + w.Law.Hours() + " (" + strings.Join(w.Law.Jurisdictions, ", ") + ")"
	}
	return w.campaign()
}

// campaign formats the campaign's part of the window.
func (w Window) campaign() string {
	names := []string{"", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	var ds []string
	for _, d := range w.Days {
		if d >= 1 && d <= 7 {
			ds = append(ds, names[d])
		}
	}
	return strings.Join(ds, ",") + " " + Clock(w.Start) + "-" + Clock(w.End)
}

// openIn reports whether the window is open at t in one zone.
func (w Window) openIn(t time.Time, loc *time.Location) bool {
	local := t.In(loc)
	wd := int(local.Weekday())
	if wd == 0 {
		wd = 7
	}
	if !slices.Contains(w.Days, wd) {
		return false
	}
	// Wall clock, not time since midnight: DST days have 23 or 25 hours.
	since := time.Duration(local.Hour())*time.Hour + time.Duration(local.Minute())*time.Minute + time.Duration(local.Second())*time.Second
	return since >= w.Start && since < w.End && w.Law.Allows(local)
}

// Open reports whether the window is open at t in every zone: a lead whose
// zone is uncertain may be called only when it is legal everywhere it may be.
func (w Window) Open(t time.Time, zones []*time.Location) bool {
	for _, z := range zones {
		if !w.openIn(t, z) {
			return false
		}
	}
	return len(zones) > 0
}

// NextOpen returns the first moment at or after t when the window is open
// in every zone, and false when there is none within 8 days (the zones'
// windows never overlap). Opening times are taken in local wall-clock time,
// so they follow daylight-saving changes.
func (w Window) NextOpen(t time.Time, zones []*time.Location) (time.Time, bool) {
	if w.Open(t, zones) {
		return t, true
	}
	// The joint window opens when some zone's window opens.
	var candidates []time.Time
	for _, z := range zones {
		local := t.In(z)
		for day := 0; day <= 8; day++ {
			y, m, d := local.AddDate(0, 0, day).Date()
			opens, ok := w.Law.Opening(time.Date(y, m, d, 12, 0, 0, 0, z))
			if !ok {
				continue // closed by law that day
			}
			opens = max(opens, w.Start)
			start := time.Date(y, m, d, int(opens.Hours()), int(opens.Minutes())%60, 0, 0, z)
			if start.After(t) {
				candidates = append(candidates, start)
			}
		}
	}
	slices.SortFunc(candidates, func(a, b time.Time) int { return a.Compare(b) })
	for _, c := range candidates {
		if w.Open(c, zones) {
			return c, true
		}
	}
	return time.Time{}, false
}

// Place is what is known of where a lead is.
type Place struct {
	TimeZone   string // IANA zone given with the lead
	Region     string // state or province: code (TX, ON) or name (Texas)
	PostalCode string
	Country    string // ISO 3166 alpha-2, the campaign's default
	Phone      string // E.164
}

// Zones decides which time zones a lead may be in, so that it is called only
// when the calling window is open in every one of them:
//   - an explicit time zone given with the lead is taken alone;
//   - otherwise the address (its postal code, else its state or province:
//     every zone of a split state such as TX, FL, ID or ND) and the phone
//     number's zones are both possible — the state never overrides the
//     number (a TX lead with a 915 El Paso number may be in Mountain time),
//     and the number never overrides the address;
//   - a number that says nothing of place (toll-free, or one spanning more
//     than four zones) counts only when there is no address.
func Zones(p Place) ([]*time.Location, error) {
	if p.TimeZone != "" {
		loc, err := loadLocation(p.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("time zone %q: %w", p.TimeZone, err)
		}
		return []*time.Location{loc}, nil
	}
	addr := addressZones(p.Country, p.Region, p.PostalCode)
	phone, specific, err := phoneZones(p.Phone)
	if err != nil && len(addr) == 0 {
		return nil, err
	}
	names := addr
	if len(addr) == 0 || specific {
		names = append(names, phone...)
	}
	var out []*time.Location
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] || n == "Etc/Unknown" {
			continue
		}
		seen[n] = true
		if loc, err := loadLocation(n); err == nil {
			out = append(out, loc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no time zone known for %s: give the lead a time_zone", p.Phone)
	}
	return out, nil
}

// locations caches the zones loadLocation loaded, by name: only valid
// names, so at most the time zone database's.
var locations sync.Map

// loadLocation is time.LoadLocation, which reads the zone's file on every
// call (a page or an export of many leads would read one per lead), once
// per zone.
func loadLocation(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, loc)
	return loc, nil
}

// phoneZones returns the zones libphonenumber gives a number, and whether
// they say where the person is (a geographic number of at most four zones).
func phoneZones(e164 string) ([]string, bool, error) {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return nil, false, fmt.Errorf("phone %s: %w", e164, err)
	}
	names, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil {
		return nil, false, err
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
		return names, len(names) <= 4, nil
	}
	return names, false, nil
}

// addressZones returns the zones of a US or Canadian address: the postal
// code's when it narrows a split state down, else every zone of the state
// or province; nil when nothing is known.
func addressZones(country, region, postal string) []string {
	country = strings.ToUpper(strings.TrimSpace(country))
	code := regionCode(country, region)
	if country == "US" || (country == "" && code != "") {
		if zip := strings.TrimSpace(postal); len(zip) >= 3 && isDigits(zip[:3]) {
			if z, ok := zip3Zones[zip[:3]]; ok && (code == "" || z.state == code) {
				return z.zones
			}
		}
	}
	if code == "" {
		return nil
	}
	cc := country
	if cc == "" {
		cc = "US"
	}
	if zs, ok := regionZones[cc+"-"+code]; ok {
		return zs
	}
	return nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// regionCode turns "tx", "TX" or "Texas" into "TX" for the US and Canada.
func regionCode(country, region string) string {
	r := strings.ToUpper(strings.TrimSpace(region))
	if c, sub, ok := strings.Cut(r, "-"); ok && (c == "US" || c == "CA") && (country == "" || country == c) {
		r, country = sub, c // the ISO 3166-2 form: US-FL
	}
	if r == "" {
		return ""
	}
	if _, ok := regionZones[country+"-"+r]; ok {
		return r
	}
	if _, ok := regionZones["US-"+r]; ok && country == "" {
		return r
	}
	if code, ok := regionNames[r]; ok {
		return code
	}
	return ""
}

// regionZones maps COUNTRY-REGION to every zone in use in the region, the
// majority's first: split states list all of theirs.
var regionZones = map[string][]string{
	"US-AL": {"America/Chicago"}, "US-AK": {"America/Anchorage", "America/Adak"}, "US-AZ": {"America/Phoenix", "America/Denver"},
	"US-AR": {"America/Chicago"}, "US-CA": {"America/Los_Angeles"}, "US-CO": {"America/Denver"}, "US-CT": {"America/New_York"},
	"US-DE": {"America/New_York"}, "US-DC": {"America/New_York"}, "US-FL": {"America/New_York", "America/Chicago"},
	"US-GA": {"America/New_York"}, "US-HI": {"Pacific/Honolulu"}, "US-ID": {"America/Boise", "America/Los_Angeles"},
	"US-IL": {"America/Chicago"}, "US-IN": {"America/Indiana/Indianapolis", "America/Chicago"}, "US-IA": {"America/Chicago"},
	"US-KS": {"America/Chicago", "America/Denver"}, "US-KY": {"America/New_York", "America/Chicago"}, "US-LA": {"America/Chicago"},
	"US-ME": {"America/New_York"}, "US-MD": {"America/New_York"}, "US-MA": {"America/New_York"},
	"US-MI": {"America/Detroit", "America/Menominee"}, "US-MN": {"America/Chicago"}, "US-MS": {"America/Chicago"},
	"US-MO": {"America/Chicago"}, "US-MT": {"America/Denver"}, "US-NE": {"America/Chicago", "America/Denver"},
	"US-NV": {"America/Los_Angeles", "America/Denver"}, "US-NH": {"America/New_York"}, "US-NJ": {"America/New_York"},
	"US-NM": {"America/Denver"}, "US-NY": {"America/New_York"}, "US-NC": {"America/New_York"},
	"US-ND": {"America/Chicago", "America/Denver"}, "US-OH": {"America/New_York"}, "US-OK": {"America/Chicago"},
	"US-OR": {"America/Los_Angeles", "America/Boise"}, "US-PA": {"America/New_York"}, "US-RI": {"America/New_York"},
	"US-SC": {"America/New_York"}, "US-SD": {"America/Chicago", "America/Denver"}, "US-TN": {"America/Chicago", "America/New_York"},
	"US-TX": {"America/Chicago", "America/Denver"}, "US-UT": {"America/Denver"}, "US-VT": {"America/New_York"},
	"US-VA": {"America/New_York"}, "US-WA": {"America/Los_Angeles"}, "US-WV": {"America/New_York"}, "US-WI": {"America/Chicago"},
	"US-WY": {"America/Denver"}, "US-PR": {"America/Puerto_Rico"}, "US-GU": {"Pacific/Guam"}, "US-VI": {"America/St_Thomas"},
	"CA-AB": {"America/Edmonton"}, "CA-BC": {"America/Vancouver", "America/Edmonton", "America/Creston"}, "CA-MB": {"America/Winnipeg"},
	"CA-NB": {"America/Moncton"}, "CA-NL": {"America/St_Johns", "America/Goose_Bay"}, "CA-NS": {"America/Halifax"},
	"CA-ON": {"America/Toronto", "America/Winnipeg"}, "CA-PE": {"America/Halifax"}, "CA-QC": {"America/Toronto", "America/Halifax"},
	"CA-SK": {"America/Regina", "America/Edmonton"}, "CA-YT": {"America/Whitehorse"}, "CA-NT": {"America/Yellowknife"},
	"CA-NU": {"America/Iqaluit", "America/Rankin_Inlet", "America/Cambridge_Bay"},
}

// zip3Zones narrows split US states by the first three digits of the ZIP
// code. Only prefixes in split states are listed; a prefix whose area
// straddles a zone line lists both zones (called only when both are open).
// A prefix of a split state that is not listed is in the state's majority
// zone.
var zip3Zones = func() map[string]struct {
	state string
	zones []string
} {
	const (
		east, central, mountain, pacific = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"
		boise, indy, detroit, menominee  = "America/Boise", "America/Indiana/Indianapolis", "America/Detroit", "America/Menominee"
		phoenix, anchorage, adak         = "America/Phoenix", "America/Anchorage", "America/Adak"
	)
	m := map[string]struct {
		state string
		zones []string
	}{}
	add := func(state string, zones []string, prefixes ...string) {
		for _, p := range prefixes {
			m[p] = struct {
				state string
				zones []string
			}{state, zones}
		}
	}
	add("TX", []string{central}, "750", "751", "752", "753", "754", "755", "756", "757", "758", "759", "760", "761", "762", "763",
		"764", "765", "766", "767", "768", "769", "770", "771", "772", "773", "774", "775", "776", "777", "778", "779", "780", "781",
		"782", "783", "784", "785", "786", "787", "788", "789", "790", "791", "792", "793", "794", "795", "796", "797", "733", "739")
	add("TX", []string{central, mountain}, "798")
	add("TX", []string{mountain}, "799", "885")
	add("FL", []string{east}, "320", "321", "322", "323", "326", "327", "328", "329", "330", "331", "332", "333", "334", "335",
		"336", "337", "338", "339", "340", "341", "342", "344", "346", "347", "349")
	add("FL", []string{east, central}, "324")
	add("FL", []string{central}, "325")
	add("ID", []string{boise}, "832", "833", "834", "836", "837")
	add("ID", []string{boise, pacific}, "835")
	add("ID", []string{pacific}, "838")
	add("ND", []string{central}, "580", "581", "582", "583", "584", "587")
	add("ND", []string{central, mountain}, "585", "588")
	add("ND", []string{mountain}, "586")
	add("SD", []string{central}, "570", "571", "572", "573", "574")
	add("SD", []string{central, mountain}, "575", "576")
	add("SD", []string{mountain}, "577")
	add("NE", []string{central}, "680", "681", "683", "684", "685", "686", "687", "688", "689")
	add("NE", []string{central, mountain}, "690", "691", "692")
	add("NE", []string{mountain}, "693")
	add("KS", []string{central}, "660", "661", "662", "664", "665", "666", "667", "668", "669", "670", "671", "672", "673", "674", "675", "676")
	add("KS", []string{central, mountain}, "677", "678", "679")
	add("OR", []string{pacific}, "970", "971", "972", "973", "974", "975", "976", "977", "978")
	add("OR", []string{pacific, boise}, "979")
	add("KY", []string{east}, "400", "401", "402", "403", "404", "405", "406", "407", "408", "409", "410", "411", "412", "413",
		"414", "415", "416", "417", "418", "425", "426")
	add("KY", []string{central, east}, "421", "422", "424", "427")
	add("KY", []string{central}, "420", "423")
	add("TN", []string{central}, "370", "371", "372", "375", "380", "381", "382", "383", "384", "385")
	add("TN", []string{central, east}, "373")
	add("TN", []string{east}, "374", "376", "377", "378", "379")
	add("IN", []string{indy}, "460", "461", "462", "467", "468", "469", "470", "471", "472", "473", "474", "478", "479")
	add("IN", []string{indy, central}, "465", "466", "475")
	add("IN", []string{central}, "463", "464", "476", "477")
	add("MI", []string{detroit}, "480", "481", "482", "483", "484", "485", "486", "487", "488", "489", "490", "491", "492",
		"493", "494", "495", "496", "497")
	add("MI", []string{detroit, menominee}, "498", "499")
	add("NV", []string{pacific}, "889", "890", "891", "893", "894", "895", "897")
	add("NV", []string{pacific, mountain}, "898")
	add("AZ", []string{phoenix}, "850", "851", "852", "853", "855", "856", "857", "859", "863", "864")
	add("AZ", []string{phoenix, mountain}, "860", "865")
	add("AK", []string{anchorage}, "996", "997", "998", "999")
	add("AK", []string{anchorage, adak}, "995")
	return m
}()

// regionNames maps full US state and Canadian province names to codes.
var regionNames = map[string]string{
	"ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA", "COLORADO": "CO",
	"CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC", "FLORIDA": "FL", "GEORGIA": "GA", "HAWAII": "HI",
	"IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA",
	"MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN", "MISSISSIPPI": "MS",
	"MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV", "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ",
	"NEW MEXICO": "NM", "NEW YORK": "NY", "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK",
	"OREGON": "OR", "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD",
	"TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA", "WASHINGTON": "WA",
	"WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY", "PUERTO RICO": "PR",
	"ALBERTA": "AB", "BRITISH COLUMBIA": "BC", "MANITOBA": "MB", "NEW BRUNSWICK": "NB", "NEWFOUNDLAND AND LABRADOR": "NL",
	"NOVA SCOTIA": "NS", "ONTARIO": "ON", "PRINCE EDWARD ISLAND": "PE", "QUEBEC": "QC", "QUÉBEC": "QC", "SASKATCHEWAN": "SK",
	"YUKON": "YT", "NORTHWEST TERRITORIES": "NT", "NUNAVUT": "NU",
}

// Where is a jurisdiction a lead may be in, and what says so.
type Where struct {
	Code string // ISO 3166: "US", "US-FL", "CA-ON"
	From string // "state given", "postal code 331", "area code 305", "number"
}

// Jurisdictions lists every jurisdiction a lead may be in: its country,
// and the state or province of its address and of its number's area code
// when known. Both count when they differ (Florida's law presumes a
// Florida area code is a Florida resident; the address may be newer):
// the rules of each bind the call.
func Jurisdictions(p Place) []Where {
	var out []Where
	add := func(code, from string) {
		for _, w := range out {
			if w.Code == code {
				return
			}
		}
		out = append(out, Where{code, from})
	}
	country := strings.ToUpper(strings.TrimSpace(p.Country))
	num, err := phonenumbers.Parse(p.Phone, "")
	numCountry := ""
	if err == nil {
		numCountry = phonenumbers.GetRegionCodeForNumber(num)
	}
	if numCountry != "" {
		add(numCountry, "number")
	}
	if country != "" {
		add(country, "country given")
	}
	if country == "" {
		country = numCountry
	}
	if country == "" {
		return out
	}
	if country == "US" || country == "CA" {
		if code := regionCode(country, p.Region); code != "" {
			add(country+"-"+code, "state given")
		} else if zip := strings.TrimSpace(p.PostalCode); country == "US" && len(zip) >= 3 && isDigits(zip[:3]) {
			if z, ok := zip3Zones[zip[:3]]; ok {
				add("US-"+z.state, "postal code "+zip[:3])
			}
		}
	}
	if err == nil && (numCountry == "US" || numCountry == "CA") {
		nsn := phonenumbers.GetNationalSignificantNumber(num)
		code := geoState(num)
		if code == "" && len(nsn) == 10 {
			code = areaCodeState(nsn[:3])
		}
		if code != "" {
			add(numCountry+"-"+code, "area code "+nsn[:min(3, len(nsn))])
		}
	}
	return out
}

// geoState is the state or province libphonenumber's geocoder gives a
// number ("Miami, FL" or "Florida"), as a code; "" when it says none.
func geoState(num *phonenumbers.PhoneNumber) string {
	geo, _ := phonenumbers.GetGeocodingForNumber(num, "en")
	if _, st, ok := strings.Cut(geo, ", "); ok && len(st) == 2 {
		return st
	}
	return regionNames[strings.ToUpper(geo)]
}

// areaCodes caches areaCodeState by NPA.
var areaCodes sync.Map

// areaCodeState is the state of a NANP area code: the one the geocoder
// gives most of its exchanges (it knows places per exchange, and nothing
// of exchanges it does not list, such as 555); "" for a non-geographic
// code.
func areaCodeState(npa string) string {
	if v, ok := areaCodes.Load(npa); ok {
		return v.(string)
	}
	votes := map[string]int{}
	for exch := 200; exch <= 999; exch++ {
		if num, err := phonenumbers.Parse(fmt.Sprintf("+1%s%03d0000", npa, exch), ""); err == nil {
			if st := geoState(num); st != "" {
				votes[st]++
			}
		}
	}
	best := ""
	for st, n := range votes {
		if n > votes[best] || (n == votes[best] && st < best) {
			best = st
		}
	}
	areaCodes.Store(npa, best)
	return best
}
