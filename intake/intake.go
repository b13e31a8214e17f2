// Package intake turns what web forms, CRMs and spreadsheets send into
// leads: it maps their many field names onto qualdial's, normalises phone
// numbers to E.164 with libphonenumber, checks where a number may be called,
// and reads call lists as CSV — streamed, with row numbers, whatever the
// delimiter, BOM or encoding. It does no I/O of its own beyond the reader it
// is given.
//
// # Field names and precedence
//
// Input names are matched case-insensitively, with space, - and . read as _.
// Each lead field has a list of accepted names (see Aliases). When one input
// carries several names for the same field — phone and mobile, first_name
// and fname, email and mail — the first non-empty value in this order wins:
//
//  1. a column the caller's mapping renames to the field (ties: by input name);
//  2. the field's aliases, in the order Aliases lists them (ties: by input name).
//
// The values that lose are never dropped: they are kept as attributes under
// their own normalised names (mobile, fname…). For the phone the order is
// PhoneFieldPrecedence(): phone, telephone, tel, mobile, mobile_phone,
// phone_number, cell, cellphone, msisdn, number, телефон — so a row with
// both phone and mobile dials phone and keeps mobile as an attribute, and
// says so in Lead.Warnings.
//
// # Limits
//
// Every name and value is valid UTF-8 without NUL bytes or control
// characters (tab is allowed everywhere; line breaks only in free text:
// attributes and consent_text). Lengths, in characters: first_name,
// last_name, full name and company 256; email 320; external_id,
// consent_source and consent_version 255; phone 64; region 128; postal_code
// 32; time_zone, consent_at and consent_ip 64; consent_page 2048;
// consent_text 4096; at most 100 attributes, names up to 128 characters,
// values up to 1024. A CSV row is at most 64 KB (CSVOptions.MaxRowBytes).
package intake

import (
	"cmp"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Lead is one lead as received, before it is stored.
type Lead struct {
	Phone      string // E.164, without the extension (see Attributes["phone_extension"])
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
	// Warnings are things the lead was accepted despite, worth telling
	// whoever sent it: an extension kept aside, a second phone number kept
	// as an attribute, a spreadsheet number read with an assumed final 0.
	Warnings []string
}

// Consent is the permission to call, as the form captured it.
type Consent struct {
	Source, Text, Version, Page string
	At                          time.Time
	IP                          netip.Addr
}

// fieldAliases lists, per lead field, the input names that mean it. The
// order of each list is the precedence when an input has several of them.
var fieldAliases = []struct {
	field string
	names []string
}{
	{"phone", []string{"phone", "telephone", "tel", "mobile", "mobile_phone", "phone_number", "cell", "cellphone", "msisdn", "number", "телефон"}},
	{"first_name", []string{"first_name", "firstname", "given_name", "fname", "имя"}},
	{"last_name", []string{"last_name", "lastname", "surname", "family_name", "lname", "фамилия"}},
	{"full_name", []string{"name", "full_name", "fullname", "contact_name", "фио"}},
	{"email", []string{"email", "e_mail", "email_address", "mail", "почта"}},
	{"company", []string{"company", "company_name", "organization", "organisation", "account", "компания"}},
	{"time_zone", []string{"time_zone", "timezone", "tz"}},
	{"region", []string{"region", "state", "province"}},
	{"postal_code", []string{"postal_code", "zip", "zip_code", "postcode"}},
	{"external_id", []string{"external_id", "id", "lead_id", "crm_id", "record_id"}},
	{"consent_source", []string{"consent_source"}},
	{"consent_text", []string{"consent_text", "consent", "tcpa_consent", "consent_language"}},
	{"consent_version", []string{"consent_version"}},
	{"consent_at", []string{"consent_at", "consent_time", "consent_timestamp", "consented_at"}},
	{"consent_ip", []string{"consent_ip", "ip", "ip_address"}},
	{"consent_page", []string{"consent_page", "page_url", "landing_page", "source_url"}},
}

type alias struct {
	field string
	rank  int // position in the field's list: lower wins
}

var canonical = func() map[string]alias {
	m := map[string]alias{}
	for _, fa := range fieldAliases {
		for i, n := range fa.names {
			m[n] = alias{fa.field, i}
		}
	}
	return m
}()

// Canonical returns the lead field a column or form name means, or "" for
// a free attribute.
func Canonical(name string) string {
	return canonical[normalizeName(name)].field
}

// Fields returns the lead fields, in a stable order.
func Fields() []string {
	out := make([]string, len(fieldAliases))
	for i, fa := range fieldAliases {
		out[i] = fa.field
	}
	return out
}

// Aliases returns the input names accepted for a lead field, in order of
// precedence (the first non-empty one wins), or nil for an unknown field.
func Aliases(field string) []string {
	for _, fa := range fieldAliases {
		if fa.field == field {
			return slices.Clone(fa.names)
		}
	}
	return nil
}

// PhoneFieldPrecedence returns the names a phone number may come under, in
// order of precedence: when a row has several (phone and mobile, tel and
// cell), the first non-empty one is dialled and the others are kept as
// attributes.
func PhoneFieldPrecedence() []string { return Aliases("phone") }

// normalizeName lower-cases a name and reads space, - and . as _.
func normalizeName(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
}

// Limits on names and values, in characters. The package documentation
// lists them per field.
const (
	MaxNameLen           = 256  // first_name, last_name, full name, company
	MaxEmailLen          = 320  // email
	MaxIDLen             = 255  // external_id, consent_source, consent_version
	MaxPhoneLen          = 64   // phone, as written, with formatting and extension
	MaxURLLen            = 2048 // consent_page
	MaxTextLen           = 4096 // consent_text
	MaxAttributes        = 100  // attributes per lead
	MaxAttributeNameLen  = 128  // any input name (form field or column)
	MaxAttributeValueLen = 1024 // each attribute value
)

// fieldLimit is the longest value per lead field, in characters.
var fieldLimit = map[string]int{
	"phone": MaxPhoneLen, "first_name": MaxNameLen, "last_name": MaxNameLen, "full_name": MaxNameLen,
	"email": MaxEmailLen, "company": MaxNameLen, "time_zone": 64, "region": 128, "postal_code": 32,
	"external_id": MaxIDLen, "consent_source": MaxIDLen, "consent_text": MaxTextLen, "consent_version": MaxIDLen,
	"consent_at": 64, "consent_ip": 64, "consent_page": MaxURLLen,
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

// BuildOptions says how to build a lead.
type BuildOptions struct {
	// Mapping renames input fields first (input name → lead field or alias),
	// for columns the aliases do not know. A target that is not a lead
	// field renames an attribute.
	Mapping map[string]string
	// Country is the default region (ISO 3166 alpha-2) for phone numbers
	// written without a country code.
	Country string
	// Destinations, when set, refuses numbers it does not allow (premium
	// rate, other countries…) as a phone field error.
	Destinations *Destinations
	// Now is when the lead arrives: consent given later than that (beyond
	// ConsentSkew, for clocks a little apart) is refused. Zero: not checked.
	Now time.Time
}

// ConsentSkew is how far in the future a consent time may be (the form's
// clock may run a little ahead of qualdial's).
const ConsentSkew = 5 * time.Minute

// Build makes a lead from named values; it is BuildWith without a
// destination check.
func Build(values map[string]string, mapping map[string]string, country string) (Lead, error) {
	return BuildWith(values, BuildOptions{Mapping: mapping, Country: country})
}

// input is one named value, resolved to a lead field or an attribute.
type input struct {
	name  string // as given
	key   string // attribute name
	field string // lead field, "" for an attribute
	rank  int    // precedence among inputs for the same field: lower wins
	value string
}

// BuildWith makes a lead from named values: form fields or a CSV row. Field
// problems come back as Errors, all at once; the lead returned beside them
// is incomplete.
func BuildWith(values map[string]string, o BuildOptions) (Lead, error) {
	var l Lead
	var errs Errors
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	ins := make([]input, 0, len(names))
	for _, name := range names {
		if strings.TrimSpace(name) == "" {
			if strings.TrimSpace(values[name]) != "" {
				errs = append(errs, FieldError{"fields", "a value without a field name: name every field or column"})
			}
			continue
		}
		if msg := CheckText(name, MaxAttributeNameLen, true); msg != "" {
			errs = append(errs, FieldError{"fields", "the field name " + Quote(name) + " " + msg})
			continue
		}
		in := input{name: name, key: normalizeName(name), value: strings.TrimSpace(values[name])}
		if target, ok := o.Mapping[name]; ok && strings.TrimSpace(target) != "" {
			t := normalizeName(target)
			if a, known := canonical[t]; known {
				in.field, in.rank = a.field, -1
			} else {
				in.key = t
			}
		} else if a, known := canonical[in.key]; known {
			in.field, in.rank = a.field, a.rank
		}
		if in.value != "" {
			ins = append(ins, in)
		}
	}
	// Winners first: by field, then precedence, then name.
	slices.SortStableFunc(ins, func(a, b input) int {
		return cmp.Or(strings.Compare(a.field, b.field), cmp.Compare(a.rank, b.rank))
	})
	fields := map[string]string{}
	var phoneFrom string
	addAttr := func(key, v string) {
		if l.Attributes == nil {
			l.Attributes = map[string]string{}
		}
		k := key
		for n := 2; ; n++ {
			if _, taken := l.Attributes[k]; !taken {
				break
			}
			k = key + "_" + strconv.Itoa(n)
		}
		l.Attributes[k] = v
	}
	var attrs []input
	for _, in := range ins {
		if in.field != "" {
			if _, taken := fields[in.field]; !taken {
				if msg := CheckText(in.value, fieldLimit[in.field], in.field == "consent_text"); msg != "" {
					errs = append(errs, FieldError{in.field, msg})
					fields[in.field] = ""
					continue
				}
				fields[in.field] = in.value
				if in.field == "phone" {
					phoneFrom = in.key
				}
				continue
			}
			if in.field == "phone" && phoneFrom != "" && in.value != fields["phone"] {
				l.Warnings = append(l.Warnings, fmt.Sprintf("two phone numbers: %s is dialled, %s is kept as the attribute %s", phoneFrom, in.key, in.key))
			}
		}
		attrs = append(attrs, in)
	}
	// Attributes in name order, so a clash of normalised names is numbered
	// the same way every time.
	slices.SortFunc(attrs, func(a, b input) int { return strings.Compare(a.name, b.name) })
	for _, in := range attrs {
		if msg := CheckText(in.value, MaxAttributeValueLen, true); msg != "" {
			errs = append(errs, FieldError{in.key, msg})
			continue
		}
		addAttr(in.key, in.value)
	}

	if raw := fields["phone"]; raw != "" || !hasKey(fields, "phone") {
		p, err := parsePhone(raw, o.Country)
		switch {
		case err != nil:
			errs = append(errs, FieldError{"phone", err.Error()})
		case o.Destinations != nil:
			if err := o.Destinations.checkPhone(p); err != nil {
				errs = append(errs, FieldError{"phone", err.Error()})
			}
		}
		l.Phone = p.e164
		l.Warnings = append(l.Warnings, p.warnings...)
		if p.ext != "" {
			if old, ok := l.Attributes["phone_extension"]; ok && old != p.ext {
				l.Warnings = append(l.Warnings, fmt.Sprintf("extension %s in the phone number differs from phone_extension %s; phone_extension is kept", p.ext, Quote(old)))
			} else {
				addAttr("phone_extension", p.ext)
				l.Warnings = append(l.Warnings, fmt.Sprintf("extension %s kept as phone_extension; the dialler calls the main number", p.ext))
			}
		}
	}
	if n := len(l.Attributes); n > MaxAttributes {
		errs = append(errs, FieldError{"attributes", fmt.Sprintf("%d extra fields, at most %d: leave out unused columns or form fields", n, MaxAttributes)})
	}
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
		switch {
		case err != nil:
			errs = append(errs, FieldError{"consent_at", err.Error()})
		case !o.Now.IsZero() && t.After(o.Now.Add(ConsentSkew)):
			errs = append(errs, FieldError{"consent_at", fmt.Sprintf("%s is in the future: consent is given before the lead arrives", at)})
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

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// CheckText says what is wrong with a piece of text, or "" when nothing is:
// invalid UTF-8, a NUL byte, a control character other than tab (line
// breaks too, unless multiline), or more than max characters. The API checks
// every text it takes with it.
func CheckText(s string, max int, multiline bool) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8 text"
	}
	for _, r := range s {
		switch {
		case r == 0:
			return "contains a NUL byte"
		case r == '\t', multiline && (r == '\n' || r == '\r'):
		case r == '\n' || r == '\r':
			return "must be one line (no line breaks)"
		case unicode.IsControl(r):
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Sprintf("is longer than %d characters (%d)", max, n)
	}
	return ""
}

// Quote quotes s for a message, escaped and cut to 40 characters.
func Quote(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		return strconv.Quote(string(r[:40])) + "…"
	}
	return strconv.Quote(s)
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339, e.g. 2026-11-23T10:00:00Z", s)
}

// ErrNoPhone means the phone number is missing.
var ErrNoPhone = errors.New("a phone number is required")
