// Package intake turns what web forms, CRMs and spreadsheets send into
// leads: it maps their many field names onto qualdial's, normalises phone
// numbers to E.164 with libphonenumber, and reads call lists as CSV —
// streamed, with row numbers, whatever the delimiter, BOM or encoding. It
// does no I/O of its own beyond the reader it is given.
package intake

import (
	"errors"
	"fmt"
	"math/big"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Lead is one lead as received, before it is stored.
type Lead struct {
	Phone      string // E.164
	FirstName  string
	LastName   string
	Email      string
	Company    string
	TimeZone   string
	Region     string
	PostalCode string
	ExternalID string
	Consent    Consent
	Attributes map[string]string
}

// Consent is the permission to call, as the form captured it.
type Consent struct {
	Source, Text, Version, Page string
	At                          time.Time
	IP                          netip.Addr
}

// Field names accepted for each lead field, lower case, with - and space
// read as _. Anything else becomes an attribute.
var aliases = map[string][]string{
	"phone":           {"phone", "telephone", "tel", "mobile", "mobile_phone", "phone_number", "cell", "cellphone", "msisdn", "number", "телефон"},
	"first_name":      {"first_name", "firstname", "given_name", "fname", "имя"},
	"last_name":       {"last_name", "lastname", "surname", "family_name", "lname", "фамилия"},
	"full_name":       {"name", "full_name", "fullname", "contact_name", "фио"},
	"email":           {"email", "e_mail", "email_address", "mail", "почта"},
	"company":         {"company", "company_name", "organization", "organisation", "account", "компания"},
	"time_zone":       {"time_zone", "timezone", "tz"},
	"region":          {"region", "state", "province"},
	"postal_code":     {"postal_code", "zip", "zip_code", "postcode"},
	"external_id":     {"external_id", "id", "lead_id", "crm_id", "record_id"},
	"consent_source":  {"consent_source"},
	"consent_text":    {"consent_text", "consent", "tcpa_consent", "consent_language"},
	"consent_version": {"consent_version"},
	"consent_at":      {"consent_at", "consent_time", "consent_timestamp", "consented_at"},
	"consent_ip":      {"consent_ip", "ip", "ip_address"},
	"consent_page":    {"consent_page", "page_url", "landing_page", "source_url"},
}

var canonical = func() map[string]string {
	m := map[string]string{}
	for field, names := range aliases {
		for _, n := range names {
			m[n] = field
		}
	}
	return m
}()

// Canonical returns the lead field a column or form name means, or "" for
// a free attribute.
func Canonical(name string) string {
	return canonical[normalizeName(name)]
}

func normalizeName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer("-", "_", " ", "_", ".", "_").Replace(s)
}

// FieldError is a problem with one input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Errors is a list of field problems.
type Errors []FieldError

func (e Errors) Error() string {
	parts := make([]string, len(e))
	for i, fe := range e {
		parts[i] = fe.Field + ": " + fe.Message
	}
	return strings.Join(parts, "; ")
}

// Build makes a lead from named values. mapping renames input fields
// first (input name → lead field), for columns the aliases do not know.
// country is the default region for phone numbers written without +.
func Build(values map[string]string, mapping map[string]string, country string) (Lead, error) {
	var l Lead
	var errs Errors
	fields := map[string]string{}
	for name, v := range values {
		v = strings.TrimSpace(v)
		field := mapping[name]
		if field == "" {
			field = Canonical(name)
		}
		switch {
		case field != "":
			if fields[field] == "" {
				fields[field] = v
			}
		case v != "":
			if l.Attributes == nil {
				l.Attributes = map[string]string{}
			}
			l.Attributes[normalizeName(name)] = v
		}
	}
	phone, err := NormalizePhone(fields["phone"], country)
	if err != nil {
		errs = append(errs, FieldError{"phone", err.Error()})
	}
	l.Phone = phone
	l.FirstName, l.LastName = fields["first_name"], fields["last_name"]
	if full := fields["full_name"]; full != "" && l.FirstName == "" && l.LastName == "" {
		first, last, _ := strings.Cut(full, " ")
		l.FirstName, l.LastName = first, strings.TrimSpace(last)
	}
	l.Company, l.Region, l.PostalCode, l.ExternalID = fields["company"], fields["region"], fields["postal_code"], fields["external_id"]
	if e := fields["email"]; e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			errs = append(errs, FieldError{"email", fmt.Sprintf("%q is not an e-mail address", e)})
		} else {
			l.Email = e
		}
	}
	if tz := fields["time_zone"]; tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			errs = append(errs, FieldError{"time_zone", fmt.Sprintf("%q is not an IANA time zone like America/New_York", tz)})
		} else {
			l.TimeZone = tz
		}
	}
	l.Consent.Source, l.Consent.Text, l.Consent.Version, l.Consent.Page = fields["consent_source"], fields["consent_text"], fields["consent_version"], fields["consent_page"]
	if at := fields["consent_at"]; at != "" {
		t, err := parseTime(at)
		if err != nil {
			errs = append(errs, FieldError{"consent_at", err.Error()})
		}
		l.Consent.At = t
	}
	if ip := fields["consent_ip"]; ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			errs = append(errs, FieldError{"consent_ip", fmt.Sprintf("%q is not an IP address", ip)})
		}
		l.Consent.IP = a
	}
	if len(errs) > 0 {
		return l, errs
	}
	return l, nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339, e.g. 2026-11-23T10:00:00Z", s)
}

var excelNumber = regexp.MustCompile(`^[0-9](\.[0-9]+)?[eE]\+?[0-9]+$`)

// ErrNoPhone means the phone number is missing.
var ErrNoPhone = errors.New("a phone number is required")

// NormalizePhone parses a phone number written any common way — +1 (212)
// 555-0123, 8 (916) 123-45-67, 00442071234567, or a spreadsheet's
// 7.9161234567E+10 — and returns it in E.164. country (ISO 3166, e.g. US)
// applies to numbers written without a country code.
func NormalizePhone(raw, country string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", ErrNoPhone
	}
	if excelNumber.MatchString(s) {
		if f, _, err := big.ParseFloat(s, 10, 128, big.ToNearestEven); err == nil {
			if i, acc := f.Int(nil); acc == big.Exact {
				s = i.String()
			}
		}
	}
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	num, err := phonenumbers.Parse(s, strings.ToUpper(country))
	if (err != nil || !phonenumbers.IsValidNumber(num)) && !strings.HasPrefix(s, "+") && len(digitsOf(s)) >= 10 {
		// International numbers stored without their + (spreadsheets drop it).
		if n2, err2 := phonenumbers.Parse("+"+digitsOf(s), ""); err2 == nil && phonenumbers.IsValidNumber(n2) {
			num, err = n2, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("%q is not a phone number", raw)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("%q is not a valid phone number for %s", raw, regionOf(num, country))
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

func digitsOf(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func regionOf(num *phonenumbers.PhoneNumber, def string) string {
	if r := phonenumbers.GetRegionCodeForNumber(num); r != "" && r != "ZZ" {
		return r
	}
	return def
}
