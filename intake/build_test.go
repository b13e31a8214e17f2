package intake

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fieldErrors returns the field errors of err by field name.
func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	var fe Errors
	if err != nil && !errors.As(err, &fe) {
		t.Fatalf("not field errors: %v", err)
	}
	m := map[string]string{}
	for _, e := range fe {
		m[e.Field] = e.Message
	}
	return m
}

// TestBuildLimits: NUL bytes, invalid UTF-8, control characters and
// over-long values or names are field errors, named after the field, with
// the limit.
func TestBuildLimits(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("é", n) } // 2 bytes, 1 character
	attrs := func(n int) map[string]string {
		m := map[string]string{"phone": "+12125550123"}
		for i := range n {
			m[fmt.Sprintf("a%d", i)] = "x"
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		values map[string]string
		field  string // "" for no error
		msg    string // part of the message
	}{
		{"NUL in a name", map[string]string{"first_name": "Ann\x00"}, "first_name", "NUL"},
		{"invalid UTF-8", map[string]string{"last_name": "Lee\xff"}, "last_name", "UTF-8"},
		{"escape character", map[string]string{"company": "Acme\x1b[31m"}, "company", "U+001B"},
		{"line break in a name", map[string]string{"first_name": "Ann\r\nBob"}, "first_name", "must be one line"},
		{"C1 control", map[string]string{"first_name": "An\u0085n"}, "first_name", "U+0085"},
		{"tab is fine", map[string]string{"first_name": "Ann\tB"}, "", ""},
		{"line breaks in notes are fine", map[string]string{"notes": "line one\r\nline two"}, "", ""},
		{"line breaks in consent text are fine", map[string]string{"consent_text": "I agree.\nReally."}, "", ""},
		{"NUL in an attribute", map[string]string{"notes": "a\x00b"}, "notes", "NUL"},
		{"256-character name", map[string]string{"first_name": long(256)}, "", ""},
		{"257-character name", map[string]string{"first_name": long(257)}, "first_name", "longer than 256 characters"},
		{"long full name", map[string]string{"name": long(300)}, "full_name", "256"},
		{"long e-mail", map[string]string{"email": long(321) + "@example.com"}, "email", "320"},
		{"long external id", map[string]string{"crm_id": long(256)}, "external_id", "255"},
		{"long phone", map[string]string{"phone": strings.Repeat("1", 65)}, "phone", "64"},
		{"long consent text", map[string]string{"consent": long(4097)}, "consent_text", "4096"},
		{"long attribute", map[string]string{"notes": long(1025)}, "notes", "1024"},
		{"long field name", map[string]string{long(129): "x"}, "fields", "128"},
		{"NUL in a field name", map[string]string{"utm\x00source": "x"}, "fields", `"utm\x00source" contains a NUL`},
		{"control character in a field name", map[string]string{"utm\x07": "x"}, "fields", "U+0007"},
		{"invalid UTF-8 in a field name", map[string]string{"utm\xff": "x"}, "fields", "UTF-8"},
		{"a value without a name", map[string]string{"": "x"}, "fields", "without a field name"},
		{"100 attributes", attrs(100), "", ""},
		{"101 attributes", attrs(101), "attributes", "at most 100"},
	} {
		v := map[string]string{"phone": "+12125550123"}
		for k, x := range tc.values {
			v[k] = x
		}
		l, err := Build(v, nil, "US")
		fe := fieldErrors(t, err)
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field != "" && !strings.Contains(fe[tc.field], tc.msg):
			t.Errorf("%s: errors %v, want %s: …%s…", tc.name, fe, tc.field, tc.msg)
		}
		if tc.field != "" && len(fe) != 1 {
			t.Errorf("%s: %d errors, want 1: %v", tc.name, len(fe), fe)
		}
		for k, a := range l.Attributes {
			if !utf8.ValidString(k) || !utf8.ValidString(a) || strings.IndexByte(k+a, 0) >= 0 {
				t.Errorf("%s: attribute %q=%q is not text", tc.name, k, a)
			}
		}
	}
}

// TestBuildPrecedence: several names for one field pick the same winner
// every time (the alias order), and the others are kept as attributes.
func TestBuildPrecedence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		values  map[string]string
		mapping map[string]string
		check   func(Lead) bool
	}{
		{"phone over mobile", map[string]string{"Mobile": "+12125550102", "Phone": "+12125550101"}, nil, func(l Lead) bool {
			return l.Phone == "+12125550101" && l.Attributes["mobile"] == "+12125550102" && len(l.Warnings) == 1 &&
				strings.Contains(l.Warnings[0], "mobile is kept")
		}},
		{"tel over cell", map[string]string{"cell": "+12125550102", "tel": "+12125550101"}, nil, func(l Lead) bool {
			return l.Phone == "+12125550101" && l.Attributes["cell"] == "+12125550102"
		}},
		{"an empty phone loses", map[string]string{"phone": " ", "mobile": "+12125550102"}, nil, func(l Lead) bool {
			return l.Phone == "+12125550102" && len(l.Attributes) == 0 && len(l.Warnings) == 0
		}},
		{"first_name over fname, email over mail", map[string]string{"phone": "+12125550101", "fname": "Jo", "first_name": "Ann",
			"mail": "b@example.com", "email": "a@example.com"}, nil, func(l Lead) bool {
			return l.FirstName == "Ann" && l.Attributes["fname"] == "Jo" && l.Email == "a@example.com" && l.Attributes["mail"] == "b@example.com"
		}},
		{"a mapped column wins", map[string]string{"Handy": "+4915123456789", "phone": "+12125550101"}, map[string]string{"Handy": "phone"}, func(l Lead) bool {
			return l.Phone == "+4915123456789" && l.Attributes["phone"] == "+12125550101"
		}},
		{"a mapping to an alias", map[string]string{"Handy": "+4915123456789"}, map[string]string{"Handy": "mobile"}, func(l Lead) bool {
			return l.Phone == "+4915123456789"
		}},
		{"a mapping to a new name renames the attribute", map[string]string{"phone": "+12125550101", "Q7": "yes"}, map[string]string{"Q7": "Has Budget"}, func(l Lead) bool {
			return l.Attributes["has_budget"] == "yes" && len(l.Attributes) == 1
		}},
		{"clashing attribute names are numbered", map[string]string{"phone": "+12125550101", "utm source": "a", "utm_source": "b", "UTM-Source": "c"}, nil, func(l Lead) bool {
			return l.Attributes["utm_source"] == "c" && l.Attributes["utm_source_2"] == "a" && l.Attributes["utm_source_3"] == "b"
		}},
	} {
		var first Lead
		for i := range 50 { // map order is random: the result must not be
			l, err := Build(tc.values, tc.mapping, "US")
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if !tc.check(l) {
				t.Fatalf("%s: %+v", tc.name, l)
			}
			if i == 0 {
				first = l
			} else if fmt.Sprint(l) != fmt.Sprint(first) {
				t.Fatalf("%s: %+v, then %+v", tc.name, first, l)
			}
		}
	}
	// The order the package documentation quotes.
	documented := []string{"phone", "telephone", "tel", "mobile", "mobile_phone", "phone_number", "cell", "cellphone", "msisdn", "number", "телефон"}
	if got := PhoneFieldPrecedence(); !slices.Equal(got, documented) || Aliases("nope") != nil {
		t.Errorf("PhoneFieldPrecedence() = %v", got)
	}
	if !slices.Contains(Fields(), "consent_page") {
		t.Errorf("Fields() = %v", Fields())
	}
}

// TestBuildExtension: an extension is not dialled; it is kept as
// phone_extension and reported.
func TestBuildExtension(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"+1 212 555 0123 x12", "+1 212 555 0123 ext. 12", "+12125550123;ext=12", "+1 212 555 0123 #12",
		"(212) 555-0123 extension 12", "tel:+1-212-555-0123;ext=12", "1 212 555 0123 x12"} {
		l, err := Build(map[string]string{"phone": raw}, nil, "US")
		if err != nil || l.Phone != "+12125550123" || l.Attributes["phone_extension"] != "12" ||
			!slices.Contains(l.Warnings, "extension 12 kept as phone_extension; the dialler calls the main number") {
			t.Errorf("%q: %+v %v", raw, l, err)
		}
	}
	// A phone_extension column is not overwritten.
	l, err := Build(map[string]string{"phone": "+1 212 555 0123 x12", "phone_extension": "34"}, nil, "US")
	if err != nil || l.Attributes["phone_extension"] != "34" || len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "differs") {
		t.Errorf("extension column: %+v %v", l, err)
	}
	if p, err := NormalizePhone("+1 212 555 0123 x12", ""); p != "+12125550123" || err != nil {
		t.Errorf("NormalizePhone: %q %v", p, err)
	}
}

// TestBuildDestinations: with a destination policy, a premium-rate number
// is a phone field error; without one, Build works as before.
func TestBuildDestinations(t *testing.T) {
	t.Parallel()
	d := DefaultDestinations("US")
	_, err := BuildWith(map[string]string{"phone": "+1 900 555 0123"}, BuildOptions{Country: "US", Destinations: &d})
	if fe := fieldErrors(t, err); !strings.Contains(fe["phone"], "premium_rate") {
		t.Errorf("premium rate: %v", err)
	}
	if _, err := Build(map[string]string{"phone": "+1 900 555 0123"}, nil, "US"); err != nil {
		t.Errorf("without a policy: %v", err)
	}
	l, err := BuildWith(map[string]string{"phone": "(212) 555-0123"}, BuildOptions{Country: "US", Destinations: &d})
	if err != nil || l.Phone != "+12125550123" {
		t.Errorf("US number: %+v %v", l, err)
	}
}

func FuzzBuild(f *testing.F) {
	f.Add("phone", "+1 212 555 0123 x12", "US")
	f.Add("mobile", "7.9161234567E+10", "RU")
	f.Add("Vorname", "Jo\x00", "DE")
	f.Add("tel", "1,31256E+10", "")
	f.Add("phone", "911", "US")
	f.Fuzz(func(t *testing.T, name, value, country string) {
		l, err := Build(map[string]string{name: value, "phone": value, "notes": value}, nil, country)
		if err == nil {
			if !strings.HasPrefix(l.Phone, "+") {
				t.Fatalf("phone %q", l.Phone)
			}
			for k, v := range l.Attributes {
				if CheckText(k, MaxAttributeNameLen*2, true) != "" || CheckText(v, MaxAttributeValueLen, true) != "" {
					t.Fatalf("attribute %q=%q", k, v)
				}
			}
			for _, s := range []string{l.FirstName, l.LastName, l.Email, l.Company, l.ExternalID} {
				if CheckText(s, MaxEmailLen, false) != "" {
					t.Fatalf("field %q", s)
				}
			}
		} else if !utf8.ValidString(err.Error()) || strings.IndexByte(err.Error(), 0) >= 0 {
			t.Fatalf("error %q is not text", err)
		}
		// A normalised number normalises to itself.
		if p, err := NormalizePhone(value, country); err == nil {
			if p2, err := NormalizePhone(p, ""); err != nil || p2 != p {
				t.Fatalf("%q → %q → %q, %v", value, p, p2, err)
			}
			_ = DefaultDestinations(country).Check(p)
		}
	})
}
