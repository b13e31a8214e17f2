package intake

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestNormalizePhoneSpreadsheet: spreadsheet numbers that lost digits are
// refused, never turned into somebody else's number; exact ones work.
func TestNormalizePhoneSpreadsheet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, country, want, err string }{
		{"7.9161234567E+10", "RU", "+79161234567", ""},
		{"7,9161234567E+10", "RU", "+79161234567", ""}, // decimal comma
		{"2.12555012E+09", "US", "+12125550120", ""},   // one final 0 dropped by the notation
		{"4.42079460958e11", "GB", "+442079460958", ""},
		{"1.31256E+10", "US", "", `"1.31256E+10" lost digits in a spreadsheet (only 6 significant digits); format the column as text and export again`},
		{"2.12555E+09", "US", "", `"2.12555E+09" lost digits in a spreadsheet (only 6 significant digits); format the column as text and export again`},
		{"7,91612E+10", "RU", "", `"7,91612E+10" lost digits in a spreadsheet (only 6 significant digits); format the column as text and export again`},
		{"2.13E+09", "US", "", "lost digits"},
		{"1.25E+1", "US", "", "not a phone number"},
	} {
		got, err := NormalizePhone(tc.raw, tc.country)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q, %q", tc.raw, got, err, tc.want, tc.err)
		}
		if strings.Contains(tc.err, "lost digits") && !errors.Is(err, ErrLostDigits) {
			t.Errorf("%q: %v is not ErrLostDigits", tc.raw, err)
		}
	}
	l, err := Build(map[string]string{"phone": "2.12555012E+09"}, nil, "US")
	if err != nil || len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "read as 2125550120") {
		t.Errorf("warning for an assumed final 0: %+v %v", l, err)
	}
}

// TestEmergencyNumbers: emergency and short numbers are never a lead's
// phone, and never a destination, whatever the policy allows.
func TestEmergencyNumbers(t *testing.T) {
	t.Parallel()
	everything := Destinations{Types: NumberTypes()} // every type, every country
	for _, tc := range []struct{ raw, country string }{
		{"911", "US"}, {"9-1-1", "US"}, {"+1 911", ""}, {"112", "DE"}, {"+49 112", ""}, {"110", "DE"},
		{"999", "GB"}, {"+44 999", ""}, {"112", "GB"}, {"000", "AU"}, {"+61 000", ""}, {"112", "RU"}, {"+7 112", ""},
	} {
		if p, err := NormalizePhone(tc.raw, tc.country); err == nil {
			t.Errorf("NormalizePhone(%q, %s) = %q", tc.raw, tc.country, p)
		} else if !errors.Is(err, ErrEmergency) {
			t.Errorf("NormalizePhone(%q, %s): %v, want ErrEmergency", tc.raw, tc.country, err)
		}
	}
	for _, e164 := range []string{"+1911", "+49112", "+44999", "+61000", "+7112", "+33112", "+34112"} {
		err := everything.Check(e164)
		var de *DestinationError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "emergency or short number") {
			t.Errorf("Check(%s) = %v", e164, err)
		}
	}
	// E.164 validity alone already refuses them: none is a valid number.
	for _, e164 := range []string{"+1911", "+49112", "+44999", "+61000", "+7112"} {
		num, err := phonenumbers.Parse(e164, "")
		if err == nil && phonenumbers.IsValidNumber(num) {
			t.Errorf("%s is a valid number", e164)
		}
	}
}

// TestDestinations: premium-rate and other costly numbers, and other
// countries, are refused by default, with the reason and what would allow
// them.
func TestDestinations(t *testing.T) {
	t.Parallel()
	us := DefaultDestinations("us")
	for _, tc := range []struct {
		d     Destinations
		e164  string
		err   string // part of the message; "" for allowed
		typ   string
		where string
	}{
		{us, "+12125550123", "", "", ""},
		{us, "+18005550123", "", "", ""}, // toll free
		{us, "+19005550123", "+1 900-555-0123 is a premium_rate number: campaigns do not call it unless premium_rate is in allowed_number_types", "premium_rate", "US"},
		{us, "+442079460958", "+44 20 7946 0958 is a number in GB: this campaign calls only US unless GB is in allowed_countries", "fixed_line", "GB"},
		{DefaultDestinations("GB"), "+449090123456", "is a premium_rate number", "premium_rate", "GB"},
		{DefaultDestinations("DE"), "+4918012345", "is a shared_cost number", "shared_cost", "DE"},
		{DefaultDestinations("FR"), "+33806123456", "is a uan number", "uan", "FR"},
		{DefaultDestinations("GB"), "+447031234567", "is a personal_number number", "personal_number", "GB"},
		{Destinations{Types: []string{"premium_rate"}, Countries: []string{"US"}}, "+19005550123", "", "", ""},
		{Destinations{Types: []string{"premium_rate"}}, "+12125550123", "fixed_line_or_mobile", "fixed_line_or_mobile", "US"},
		{Destinations{}, "+442079460958", "", "", ""},                                // zero value: default types, any country
		{Destinations{Countries: []string{"gb", "001"}}, "+80012345678", "", "", ""}, // international freephone
		{Destinations{Countries: []string{"GB"}}, "+80012345678", "is a number in 001", "toll_free", "001"},
		{Destinations{Countries: []string{"CA"}}, "+16135550123", "", "", ""},
		{Destinations{Countries: []string{"CA"}}, "+12125550123", "calls only CA unless US is in allowed_countries", "fixed_line_or_mobile", "US"},
		{Destinations{}, "+19005550123", "premium_rate", "premium_rate", "US"},
		{us, "12125550123", "not an E.164 number", "", ""},
		{us, "+1212", "not a valid phone number", "", ""},
	} {
		err := tc.d.Check(tc.e164)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%v.Check(%s) = %v", tc.d, tc.e164, err)
			}
			continue
		}
		var de *DestinationError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.err) || de.Type != tc.typ || de.Country != tc.where || de.Phone != tc.e164 {
			t.Errorf("%v.Check(%s) = %#v, want …%s… (%s, %s)", tc.d, tc.e164, err, tc.err, tc.typ, tc.where)
		}
	}
	// Every example number of an allowed type in every country passes:
	// the emergency and short-number checks refuse no real number.
	all := Destinations{Types: NumberTypes()}
	for _, region := range regions() {
		for _, nt := range numberTypes {
			ex := phonenumbers.GetExampleNumberForType(region, nt.typ)
			if ex == nil || !phonenumbers.IsValidNumber(ex) {
				continue
			}
			if err := all.Check(phonenumbers.Format(ex, phonenumbers.E164)); err != nil {
				t.Errorf("%s %s: %v", region, nt.name, err)
			}
		}
	}
}

func TestDestinationsValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultDestinations("US").Validate(); err != nil {
		t.Error(err)
	}
	if err := (Destinations{Types: NumberTypes(), Countries: []string{"us", "GB", "001"}}).Validate(); err != nil {
		t.Error(err)
	}
	err := Destinations{Types: []string{"mobile", "premium"}, Countries: []string{"US", "XX", "USA"}}.Validate()
	fe := fieldErrors(t, err)
	if !strings.Contains(fe["allowed_number_types"], `"premium" is not a number type: use fixed_line, mobile`) ||
		!strings.Contains(fe["allowed_countries"], "ISO 3166") || !strings.Contains(fe["allowed_countries"], " GB ") {
		t.Errorf("Validate: %v", err)
	}
	var errs Errors
	if errors.As(err, &errs); len(errs) != 3 {
		t.Errorf("%d errors, want 3: %v", len(errs), err)
	}
	if d := DefaultDestinations(""); d.Countries != nil || !slices.Equal(d.Types, []string{"fixed_line", "mobile", "fixed_line_or_mobile", "toll_free", "voip"}) {
		t.Errorf("DefaultDestinations(\"\") = %+v", d)
	}
}
