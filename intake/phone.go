package intake

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// ErrLostDigits means a spreadsheet stored a phone number as a number and
// wrote it in scientific notation with fewer digits than it has
// (1.31256E+10): the rest are gone, and guessing them would call somebody
// else.
var ErrLostDigits = errors.New("lost digits in a spreadsheet")

// ErrEmergency means a number reaches emergency services (911, 112, 999,
// 000…) or is a short service code; qualdial never calls them.
var ErrEmergency = errors.New("qualdial never calls emergency or short numbers")

// excelNumber is a number in a spreadsheet's scientific notation, with a
// decimal point or comma: 7.9161234567E+10, 7,91612E+10.
var excelNumber = regexp.MustCompile(`^([1-9])(?:[.,]([0-9]*))?[eE]\+?([0-9]{1,2})$`)

// phone is a parsed phone number.
type phone struct {
	e164     string
	ext      string // digits after the number (x12, ext. 12, ;ext=12, #12)
	num      *phonenumbers.PhoneNumber
	warnings []string
	fast     *fastNumber // set when the fast path parsed it
}

// NormalizePhone parses a phone number written any common way — +1 (212)
// 555-0123, 8 (916) 123-45-67, 00442071234567, or a spreadsheet's
// 7.9161234567E+10 — and returns it in E.164. country (ISO 3166, e.g. US)
// applies to numbers written without a country code. An extension (x12,
// ext. 12, ;ext=12, #12) is not part of the result: Build keeps it as the
// attribute phone_extension. Spreadsheet numbers that lost digits
// (ErrLostDigits) and emergency or short numbers (ErrEmergency) are
// refused.
func NormalizePhone(raw, country string) (string, error) {
	p, err := parsePhone(raw, country)
	return p.e164, err
}

func parsePhone(raw, country string) (phone, error) {
	if s := strings.TrimSpace(raw); fastPhone && s != "" && len(s) <= MaxPhoneLen {
		if n, ok := fastParse(s, strings.ToUpper(strings.TrimSpace(country))); ok {
			return phone{e164: n.e164(), num: n.number(), fast: &n}, nil
		}
	}
	return parsePhoneRef(raw, country)
}

// fastPhone says whether parsePhone tries the fast path (fastParse)
// first; benchmarks turn it off to measure libphonenumber alone.
var fastPhone = true

// parsePhoneRef is parsePhone by libphonenumber alone: the reference the
// fast path is held to, and the answer whenever the fast path has none.
func parsePhoneRef(raw, country string) (phone, error) {
	var p phone
	s := strings.TrimSpace(raw)
	if s == "" {
		return p, ErrNoPhone
	}
	if n := utf8.RuneCountInString(s); n > MaxPhoneLen {
		return p, fmt.Errorf("%s is longer than %d characters: not a phone number", Quote(s), MaxPhoneLen)
	}
	country = strings.ToUpper(strings.TrimSpace(country))
	if m := excelNumber.FindStringSubmatch(s); m != nil {
		digits, warning, err := spreadsheetDigits(s, m[1], m[2], m[3])
		if err != nil {
			return p, err
		}
		s = digits
		if warning != "" {
			p.warnings = append(p.warnings, warning)
		}
	}
	if country != "" && !strings.HasPrefix(s, "+") && phonenumbers.IsEmergencyNumber(s, country) {
		return p, fmt.Errorf("%q is an emergency number: %w", raw, ErrEmergency)
	}
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	num, err := phonenumbers.Parse(s, country)
	ext := num.GetExtension()
	if (err != nil || !phonenumbers.IsValidNumber(num)) && !strings.HasPrefix(s, "+") {
		// International numbers stored without their + (spreadsheets drop it).
		main, e := phonenumbers.MaybeSeparateExtensionFromPhone(s)
		if d := digitsOf(main); len(d) >= 10 {
			if n2, err2 := phonenumbers.Parse("+"+d, ""); err2 == nil && phonenumbers.IsValidNumber(n2) {
				num, err, ext = n2, nil, e
			}
		}
	}
	if err != nil {
		return p, fmt.Errorf("%q is not a phone number", raw)
	}
	if !phonenumbers.IsValidNumber(num) {
		if emergencyOrShort(num) {
			return p, fmt.Errorf("%q is an emergency or short number: %w", raw, ErrEmergency)
		}
		if r := regionOf(num, country); r != "" {
			return p, fmt.Errorf("%q is not a valid phone number for %s", raw, r)
		}
		return p, fmt.Errorf("%q is not a valid phone number", raw)
	}
	p.num, p.ext = num, ext
	p.e164 = phonenumbers.Format(num, phonenumbers.E164)
	return p, nil
}

// spreadsheetDigits turns a number in scientific notation back into its
// digits when they are all there. Scientific notation drops trailing zeros,
// so one missing digit is read as a final 0 (2.12555012E+09 is 2125550120)
// with a warning; more than one missing digit is ErrLostDigits.
func spreadsheetDigits(raw, lead, frac, exp string) (digits, warning string, err error) {
	e, _ := strconv.Atoi(exp)
	if e < len(frac) || e > 16 {
		return "", "", fmt.Errorf("%q is not a phone number", raw)
	}
	significant, length := 1+len(frac), e+1
	digits = lead + frac + strings.Repeat("0", e-len(frac))
	switch lost := length - significant; {
	case lost >= 2:
		return "", "", fmt.Errorf("%q %w (only %d significant digits); format the column as text and export again", raw, ErrLostDigits, significant)
	case lost == 1:
		warning = fmt.Sprintf("%q was read as %s: spreadsheet notation drops a final 0; format the column as text to be sure", raw, digits)
	}
	return digits, warning, nil
}

// emergencyOrShort reports whether an invalid number is an emergency
// number or a short code in the country of its calling code.
func emergencyOrShort(num *phonenumbers.PhoneNumber) bool {
	region := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
	return isEmergency(num) || phonenumbers.IsValidShortNumberForRegion(num, region)
}

// isEmergency reports whether a number is exactly an emergency number in
// the country of its calling code.
func isEmergency(num *phonenumbers.PhoneNumber) bool {
	region := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
	return phonenumbers.IsEmergencyNumber(phonenumbers.GetNationalSignificantNumber(num), region)
}

func digitsOf(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// regionOf names the region of a number, else def if it is one.
func regionOf(num *phonenumbers.PhoneNumber, def string) string {
	if r := phonenumbers.GetRegionCodeForNumber(num); r != "" && r != "ZZ" {
		return r
	}
	if _, ok := slices.BinarySearch(regions(), def); ok {
		return def
	}
	return ""
}
