package intake

import (
	"errors"
	"io"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, country, want string }{
		{"+1 (212) 555-0123", "US", "+12125550123"},
		{"(212) 555-0123", "US", "+12125550123"},
		{"212.555.0123", "US", "+12125550123"},
		{"+7 916 123-45-67", "US", "+79161234567"},
		{"8 (916) 123-45-67", "RU", "+79161234567"},
		{"79161234567", "US", "+79161234567"},      // international without +
		{"7.9161234567E+10", "RU", "+79161234567"}, // Excel
		{"2.12555012E+09", "US", "+12125550120"},   // Excel, US national
		{"0044 20 7946 0958", "US", "+442079460958"},
		{"020 7946 0958", "GB", "+442079460958"},
		{"555-0123", "US", ""},
		{"hello", "US", ""},
		{"", "US", ""},
	} {
		got, err := NormalizePhone(tc.raw, tc.country)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("NormalizePhone(%q, %s) = %q, %v; want %q", tc.raw, tc.country, got, err, tc.want)
		}
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	l, err := Build(map[string]string{"Telephone": "(212) 555-0123", "Full Name": "Ann Lee Smith", "E-mail": "ann@example.com",
		"Company Name": "Acme", "tz": "America/New_York", "utm_source": "google", "Consent": "I agree", "ip": "203.0.113.9",
		"consent_at": "2026-11-23T10:00:00Z", "budget range": "10k"}, nil, "US")
	if err != nil {
		t.Fatal(err)
	}
	if l.Phone != "+12125550123" || l.FirstName != "Ann" || l.LastName != "Lee Smith" || l.Email != "ann@example.com" ||
		l.Company != "Acme" || l.TimeZone != "America/New_York" || l.Attributes["utm_source"] != "google" ||
		l.Attributes["budget_range"] != "10k" || l.Consent.Text != "I agree" || l.Consent.IP.String() != "203.0.113.9" || l.Consent.At.IsZero() {
		t.Fatalf("lead %+v", l)
	}
	l, err = Build(map[string]string{"Handy": "+4915123456789", "Vorname": "Jo"}, map[string]string{"Handy": "phone", "Vorname": "first_name"}, "DE")
	if err != nil || l.Phone != "+4915123456789" || l.FirstName != "Jo" {
		t.Fatalf("mapped: %+v %v", l, err)
	}
	_, err = Build(map[string]string{"phone": "12", "email": "not-an-email", "tz": "Mars/Base", "consent_ip": "x"}, nil, "US")
	var fe Errors
	if !errors.As(err, &fe) || len(fe) != 4 {
		t.Fatalf("want 4 field errors, got %v", err)
	}
}

func readAll(t *testing.T, c *CSV) (ok []Record, bad []*RowError) {
	t.Helper()
	for {
		r, err := c.Next()
		var re *RowError
		switch {
		case err == io.EOF:
			return ok, bad
		case errors.As(err, &re):
			bad = append(bad, re)
		case err != nil:
			t.Fatal(err)
		default:
			ok = append(ok, r)
		}
	}
}

func TestCSVDialects(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"comma":      "phone,first_name\n+12125550101,Ann\n+12125550102,Bob\n",
		"semicolon":  "\ufeffphone;first_name\r\n+12125550101;Ann\r\n\r\n+12125550102;Bob\r\n",
		"tab":        "phone\tfirst_name\n+12125550101\tAnn\n+12125550102\tBob",
		"quoted":     "\"phone\",\"first_name\"\n\"+12125550101\",\"Ann\"\n\"+12125550102\",\"Bob\"\n",
		"multi-line": "phone,first_name,notes\n+12125550101,Ann,\"line one\nline two, still\"\n+12125550102,Bob,\n",
	} {
		c, err := NewCSV(strings.NewReader(src), "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ok, bad := readAll(t, c)
		if len(ok) != 2 || len(bad) != 0 || ok[0].Values["first_name"] != "Ann" || ok[1].Values["phone"] != "+12125550102" {
			t.Errorf("%s: ok %+v bad %v", name, ok, bad)
		}
		if name == "multi-line" && (ok[0].Values["notes"] != "line one\nline two, still" || ok[1].Row != 4) {
			t.Errorf("multi-line: %q, second row at line %d", ok[0].Values["notes"], ok[1].Row)
		}
		if name == "semicolon" && ok[1].Row != 4 {
			t.Errorf("semicolon: second row at line %d, want 4 (empty line 3)", ok[1].Row)
		}
	}
	// Windows-1251, as Russian Excel saves it.
	raw, _ := charmap.Windows1251.NewEncoder().String("телефон;имя\n+79161234567;Иван\n")
	c, err := NewCSV(strings.NewReader(raw), "windows-1251")
	if err != nil {
		t.Fatal(err)
	}
	ok, _ := readAll(t, c)
	if len(ok) != 1 || ok[0].Values["имя"] != "Иван" || Canonical("телефон") != "phone" {
		t.Fatalf("windows-1251: %+v", ok)
	}
	if _, err := NewCSV(strings.NewReader(""), ""); err == nil {
		t.Error("empty file accepted")
	}
	if _, err := NewCSV(strings.NewReader("a\n"), "latin-9"); err == nil {
		t.Error("unknown charset accepted")
	}
	// A row with more fields than the header is an error of that row only.
	c, _ = NewCSV(strings.NewReader("phone,name\n+12125550101,Ann\n+12125550102,Bob,extra\n+12125550103,Cy\n"), "")
	ok, bad := readAll(t, c)
	if len(ok) != 2 || len(bad) != 1 || bad[0].Row != 3 {
		t.Fatalf("extra fields: ok %d bad %+v", len(ok), bad)
	}
}
