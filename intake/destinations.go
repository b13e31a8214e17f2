package intake

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// numberTypes names libphonenumber's number types.
var numberTypes = []struct {
	name string
	typ  phonenumbers.PhoneNumberType
}{
	{"fixed_line", phonenumbers.FIXED_LINE},
	{"mobile", phonenumbers.MOBILE},
	{"fixed_line_or_mobile", phonenumbers.FIXED_LINE_OR_MOBILE},
	{"toll_free", phonenumbers.TOLL_FREE},
	{"voip", phonenumbers.VOIP},
	{"personal_number", phonenumbers.PERSONAL_NUMBER},
	{"premium_rate", phonenumbers.PREMIUM_RATE},
	{"shared_cost", phonenumbers.SHARED_COST},
	{"uan", phonenumbers.UAN},
	{"pager", phonenumbers.PAGER},
	{"voicemail", phonenumbers.VOICEMAIL},
	{"unknown", phonenumbers.UNKNOWN},
}

// defaultNumberTypes are the types campaigns call unless told otherwise:
// the ones that reach a person at an ordinary price.
var defaultNumberTypes = []string{"fixed_line", "mobile", "fixed_line_or_mobile", "toll_free", "voip"}

// NumberTypes returns the number type names Destinations accepts.
func NumberTypes() []string {
	out := make([]string, len(numberTypes))
	for i, t := range numberTypes {
		out[i] = t.name
	}
	return out
}

func typeName(t phonenumbers.PhoneNumberType) string {
	for _, nt := range numberTypes {
		if nt.typ == t {
			return nt.name
		}
	}
	return "unknown"
}

// Destinations says which numbers may be called, by libphonenumber's number
// type and by country — like a carrier's geographic permissions. Emergency
// and short numbers are refused whatever it says.
type Destinations struct {
	// Types are the number types allowed (see NumberTypes); empty means
	// the default ones: fixed_line, mobile, fixed_line_or_mobile,
	// toll_free and voip. premium_rate, shared_cost, uan, personal_number,
	// pager, voicemail and unknown must be named to be called.
	Types []string `json:"allowed_number_types,omitempty"`
	// Countries are the ISO 3166 alpha-2 regions allowed (US, GB…; 001
	// for non-geographic numbers such as satellite phones); empty allows
	// every region.
	Countries []string `json:"allowed_countries,omitempty"`
}

// DefaultDestinations allows the default number types in the campaign's
// own country only (any country when defaultCountry is empty).
func DefaultDestinations(defaultCountry string) Destinations {
	d := Destinations{Types: slices.Clone(defaultNumberTypes)}
	if c := strings.ToUpper(strings.TrimSpace(defaultCountry)); c != "" {
		d.Countries = []string{c}
	}
	return d
}

// DestinationError is a number Destinations refuses, with the reason.
type DestinationError struct {
	Phone   string // E.164, as given
	Type    string // number type, "" when the number is not valid
	Country string // region of the number, "" when not known
	reason  string
}

func (e *DestinationError) Error() string { return e.reason }

// Check says whether an E.164 number may be called: nil, or a
// *DestinationError that says why not and what would allow it.
func (d Destinations) Check(e164 string) error {
	if !strings.HasPrefix(e164, "+") {
		return &DestinationError{Phone: e164, reason: fmt.Sprintf("%s is not an E.164 number (+ and country code)", Quote(e164))}
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return &DestinationError{Phone: e164, reason: fmt.Sprintf("%s is not a phone number", Quote(e164))}
	}
	return d.check(num, e164, false)
}

// checkPhone is check for a valid number of parsePhone, by the fast path
// when it can say that the number is allowed.
func (d Destinations) checkPhone(p phone) error {
	if p.fast != nil && d.fastCheck(*p.fast) {
		return nil
	}
	return d.check(p.num, p.e164, true)
}

// check is Check for a parsed number; valid says it is known to be valid.
func (d Destinations) check(num *phonenumbers.PhoneNumber, e164 string, valid bool) error {
	shown := func() string { return phonenumbers.Format(num, phonenumbers.INTERNATIONAL) }
	if !valid && !phonenumbers.IsValidNumber(num) {
		if emergencyOrShort(num) {
			return &DestinationError{Phone: e164, reason: fmt.Sprintf("%s is an emergency or short number: %v", shown(), ErrEmergency)}
		}
		return &DestinationError{Phone: e164, reason: fmt.Sprintf("%s is not a valid phone number", shown())}
	}
	if isEmergency(num) { // no valid number is one, but this is the line that must hold
		return &DestinationError{Phone: e164, reason: fmt.Sprintf("%s is an emergency number: %v", shown(), ErrEmergency)}
	}
	typ := typeName(phonenumbers.GetNumberType(num))
	types := d.Types
	if len(types) == 0 {
		types = defaultNumberTypes
	}
	if !slices.Contains(types, typ) {
		return &DestinationError{Phone: e164, Type: typ, Country: phonenumbers.GetRegionCodeForNumber(num), reason: fmt.Sprintf(
			"%s is a %s number: campaigns do not call it unless %s is in allowed_number_types", shown(), typ, typ)}
	}
	// Valid for one of the countries is cheaper to ask than which country
	// (+1 has 25).
	if len(d.Countries) > 0 && !slices.ContainsFunc(d.Countries, func(c string) bool {
		return phonenumbers.IsValidNumberForRegion(num, strings.ToUpper(strings.TrimSpace(c)))
	}) {
		region := phonenumbers.GetRegionCodeForNumber(num)
		allowed := strings.Join(d.Countries, ", ")
		if CheckText(allowed, 1024, false) != "" {
			allowed = Quote(allowed)
		}
		return &DestinationError{Phone: e164, Type: typ, Country: region, reason: fmt.Sprintf(
			"%s is a number in %s: this campaign calls only %s unless %s is in allowed_countries", shown(), region, allowed, region)}
	}
	return nil
}

var regions = sync.OnceValue(func() []string {
	var out []string
	for r := range phonenumbers.GetSupportedRegions() {
		out = append(out, r)
	}
	out = append(out, "001")
	slices.Sort(out)
	return out
})

// Validate reports unknown type or country names as Errors on the fields
// allowed_number_types and allowed_countries, listing the valid ones.
func (d Destinations) Validate() error {
	var errs Errors
	valid := NumberTypes()
	for _, t := range d.Types {
		if !slices.Contains(valid, t) {
			errs = append(errs, FieldError{"allowed_number_types", fmt.Sprintf("%s is not a number type: use %s", Quote(t), strings.Join(valid, ", "))})
		}
	}
	for _, c := range d.Countries {
		if _, ok := slices.BinarySearch(regions(), strings.ToUpper(strings.TrimSpace(c))); !ok {
			errs = append(errs, FieldError{"allowed_countries", fmt.Sprintf("%s is not a country code: use ISO 3166 alpha-2 codes (or 001 for non-geographic numbers): %s",
				Quote(c), strings.Join(regions(), " "))})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
