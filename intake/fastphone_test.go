package intake

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// corpusCountries are the default countries the tests and campaigns use,
// with an unknown one, none, and lower case.
var corpusCountries = []string{"US", "CA", "GB", "DE", "FR", "RU", "MX", "IT", "IN", "BR", "AU", "AR", "XX", "", "us", " gb "}

// diffPolicies are the destination checks compared, in turn.
var diffPolicies = []Destinations{
	{},
	DefaultDestinations("US"),
	DefaultDestinations("CA"),
	DefaultDestinations("GB"),
	DefaultDestinations("RU"),
	{Types: NumberTypes()},
	{Types: []string{"mobile"}, Countries: []string{"de", "FR", "001", "XX"}},
	{Countries: []string{"US", "CA", "PR"}},
}

// diffResult is everything parsePhone answers that a lead depends on, as
// text.
func diffResult(p phone, err error, country string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "e164=%q ext=%q warnings=%q", p.e164, p.ext, p.warnings)
	if err != nil {
		fmt.Fprintf(&b, " err=%q emergency=%v lost=%v none=%v", err.Error(), errors.Is(err, ErrEmergency), errors.Is(err, ErrLostDigits), errors.Is(err, ErrNoPhone))
	}
	if n := p.num; n != nil && err == nil {
		fmt.Fprintf(&b, " cc=%d nn=%d ext=%q italian=%v zeros=%d", n.GetCountryCode(), n.GetNationalNumber(), n.GetExtension(),
			n.GetItalianLeadingZero(), n.GetNumberOfLeadingZeros())
	}
	return b.String()
}

// checkResult is a destination verdict as text.
func checkResult(err error) string {
	if err == nil {
		return "allowed"
	}
	var de *DestinationError
	if errors.As(err, &de) {
		return fmt.Sprintf("%q %q %q %q", de.Phone, de.Type, de.Country, de.Error())
	}
	return err.Error()
}

// compareFast compares, when the fast path answers for raw, everything
// parsePhone answers with libphonenumber's answer (parsePhoneRef), the
// number type and region the destination check uses, and the verdict of
// the destination policy d when there is one. fast says whether the fast path
// answered; when it does not, parsePhone's answer is parsePhoneRef's own
// and there is nothing to compare.
func compareFast(raw, country string, d *Destinations) (fast bool, diff string) {
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > MaxPhoneLen {
		return false, ""
	}
	if _, ok := fastParse(s, strings.ToUpper(strings.TrimSpace(country))); !ok {
		return false, ""
	}
	got, gerr := parsePhone(raw, country)
	if got.fast == nil {
		return false, fmt.Sprintf("parse(%q, %q): the fast path answered but parsePhone did not use it", raw, country)
	}
	want, werr := parsePhoneRef(raw, country)
	g, w := diffResult(got, gerr, country), diffResult(want, werr, country)
	// The type and region, by the fast path and by libphonenumber.
	nsn := []byte(got.fast.nsn)
	g += fmt.Sprintf(" fast-type=%s fast-region=%s", typeName(got.fast.plan.numberType(nsn)), got.fast.region)
	if werr == nil {
		w += fmt.Sprintf(" fast-type=%s fast-region=%s", typeName(phonenumbers.GetNumberType(want.num)), phonenumbers.GetRegionCodeForNumber(want.num))
	}
	if g != w {
		return true, fmt.Sprintf("parse(%q, %q):\n fast %s\n  ref %s", raw, country, g, w)
	}
	if d == nil {
		return true, ""
	}
	if g, w := checkResult(d.checkPhone(got)), checkResult(d.check(want.num, want.e164, true)); g != w {
		return true, fmt.Sprintf("%+v.check(%q, %q): fast %s, ref %s", d, raw, country, g, w)
	}
	return true, ""
}

// nanpFormats are the ways lists write a NANP number: A is the area code,
// X the exchange, L the line, S the line less a digit, D one more digit.
var nanpFormats = []string{"+1 A X L", "+1-A-X-L", "1-A-X-L", "(A) X-L", "A.X.L", "A X L", "AXL", "1AXL", "+1AXL",
	"+1 (A) X-L", "001 A X L", "011 1 A X L", " 1 (A)X-L ", "A-X-S", "A-X-LD", "1.A.X.L"}

// nanpNumbers writes numbers of one NANP area code: exchanges and lines at
// random, valid and not, in the ways lists write them.
func nanpNumbers(r *rand.Rand, npa, n int, emit func(raw, country string)) {
	countries := []string{"US", "US", "US", "CA", "", "GB", "MX", "XX", "us"}
	for range n {
		nxx, line := r.IntN(1000), r.IntN(10000)
		if r.IntN(4) > 0 { // mostly plausible exchanges
			nxx = 200 + r.IntN(800)
		}
		a, x, l := strconv.Itoa(npa), fmt.Sprintf("%03d", nxx), fmt.Sprintf("%04d", line)
		raw := strings.NewReplacer("A", a, "X", x, "L", l, "S", l[:3], "D", strconv.Itoa(r.IntN(10))).
			Replace(nanpFormats[r.IntN(len(nanpFormats))])
		emit(raw, countries[r.IntN(len(countries))])
	}
}

var phoneTypes = []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
	phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
	phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}

// regionNumbers writes numbers of a region: its example numbers of each
// type with digits changed at random, written nationally and
// internationally, with or without + and punctuation, with a digit more or
// less, for the region itself or another default country.
func regionNumbers(r *rand.Rand, region string, n int, emit func(raw, country string)) {
	var examples []*phonenumbers.PhoneNumber
	for _, t := range phoneTypes {
		if ex := phonenumbers.GetExampleNumberForType(region, t); ex != nil {
			examples = append(examples, ex)
		}
	}
	if len(examples) == 0 {
		return
	}
	var forms []string // each example written five ways
	for _, ex := range examples {
		e164 := phonenumbers.Format(ex, phonenumbers.E164)
		forms = append(forms, phonenumbers.Format(ex, phonenumbers.NATIONAL), phonenumbers.Format(ex, phonenumbers.INTERNATIONAL),
			e164, "00"+e164[1:], e164[1:])
	}
	for range n {
		// National form most, then international.
		s := forms[5*r.IntN(len(examples))+[]int{0, 0, 0, 1, 1, 2, 3, 4}[r.IntN(8)]]
		// Change the digits after the first few.
		b := []byte(s)
		seen := 0
		for i, c := range b {
			if c >= '0' && c <= '9' {
				if seen++; seen > 3 && r.IntN(2) == 0 {
					b[i] = byte('0' + r.IntN(10))
				}
			}
		}
		s = string(b)
		switch r.IntN(10) {
		case 0:
			s += strconv.Itoa(r.IntN(10))
		case 1:
			if i := strings.LastIndexAny(s, "0123456789"); i > 0 {
				s = s[:i] + s[i+1:]
			}
		case 2:
			s = strings.ReplaceAll(s, " ", "-")
		case 3:
			s = strings.ReplaceAll(s, " ", ".")
		case 4:
			s = strings.ReplaceAll(s, " ", "")
		}
		country := region
		if r.IntN(4) == 0 {
			country = corpusCountries[r.IntN(len(corpusCountries))]
		}
		emit(s, country)
	}
}

// oddNumbers writes what lists also hold: extensions, spreadsheet
// notation, letters, other digits, stray signs, emergency and short
// numbers, and random strings of phone characters.
func oddNumbers(r *rand.Rand, n int, emit func(raw, country string)) {
	fixed := []string{"911", "9-1-1", "112", "999", "000", "110", "+1 911", "+44 999", "+49 112", "1-800-FLOWERS",
		"+1 212 555 0123 x12", "+1 212 555 0123 ext. 12", "+12125550123;ext=12", "+1 212 555 0123 #12", "(212) 555-0123 x 7",
		"2.12555012E+09", "7.9161234567E+10", "1.31256E+10", "4.42079460958e11", "tel:+1-212-555-0123", "+٢١٢٥٥٥٠١٢٣",
		"＋1 212 555 0123", "+1 212 555 0123 / 4", "++1 212 555 0123", "+-1 212 555 0123", "(+1) 212 555 0123", "0", "00", "+", "()",
		"+0 212 555 0123", "+999 123 456", "8 800 555-35-35", "0800 123 4567", "+39 06 1234 5678", "06 1234 5678", "+7 (916) 123-45-67 доб. 12"}
	alphabet := "0123456789 -.()+x#,;e/"
	countries := corpusCountries
	for i := range n {
		if i < len(fixed)*len(countries) {
			emit(fixed[i%len(fixed)], countries[i/len(fixed)])
			continue
		}
		b := make([]byte, 1+r.IntN(20))
		for j := range b {
			if r.IntN(3) > 0 {
				b[j] = byte('0' + r.IntN(10))
			} else {
				b[j] = alphabet[r.IntN(len(alphabet))]
			}
		}
		emit(string(b), countries[r.IntN(len(countries))])
	}
}

// TestFastPhoneDifferential: the fast path answers exactly what
// libphonenumber answers — E.164, error and its kind, warnings, the
// parsed number, its type and region, and the verdict of several
// destination policies — on over a million generated numbers: every NANP
// area code with random exchanges and lines in many formats, every
// region's example numbers changed at random (the corpus countries most),
// and malformed inputs.
func TestFastPhoneDifferential(t *testing.T) {
	t.Parallel()
	perNPA, perCorpus, perRegion, odd := 2200, 72000, 1000, 20000
	full := !raceEnabled && !testing.Short()
	if !full { // the race detector makes libphonenumber ~10× slower
		perNPA, perCorpus, perRegion, odd = 40, 1600, 40, 2000
	}
	var generated, fast atomic.Int64
	regions := regions()
	const shards = 16
	for shard := range shards {
		t.Run(strconv.Itoa(shard), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(11, uint64(shard)))
			failures := 0
			emit := func(raw, country string) {
				// A destination policy for every other number, in turn.
				var d *Destinations
				if i := generated.Add(1); i%2 == 0 {
					d = &diffPolicies[i/2%int64(len(diffPolicies))]
				}
				f, diff := compareFast(raw, country, d)
				if f {
					fast.Add(1)
				}
				if diff != "" {
					if failures++; failures <= 10 {
						t.Error(diff)
					}
				}
			}
			for npa := 200 + shard; npa <= 999; npa += shards {
				nanpNumbers(r, npa, perNPA, emit)
			}
			for _, c := range corpusCountries[:12] {
				regionNumbers(r, c, perCorpus/shards, emit)
			}
			for i := shard; i < len(regions); i += shards {
				regionNumbers(r, regions[i], perRegion, emit)
			}
			oddNumbers(r, odd/shards, emit)
		})
	}
	t.Cleanup(func() {
		n, f := generated.Load(), fast.Load()
		t.Logf("%d numbers generated; the fast path answered %d (%.0f%%), all compared with libphonenumber; the others are libphonenumber's own answer", n, f, 100*float64(f)/float64(n))
		if full && f < 1_000_000 {
			t.Errorf("%d numbers compared, want at least 1,000,000", f)
		}
	})
}

// FuzzFastPhone: for any input and default country, the fast path and
// libphonenumber agree.
func FuzzFastPhone(f *testing.F) {
	for _, s := range []string{"(212) 555-0123", "+1 212 555 0123", "1-212-555-0123", "020 7946 0958", "8 (916) 123-45-67",
		"0044 20 7946 0958", "+49 30 123456", "911", "1.31256E+10"} {
		for _, c := range []string{"US", "GB", "RU", "DE", ""} {
			f.Add(s, c)
		}
	}
	f.Fuzz(func(t *testing.T, raw, country string) {
		if _, diff := compareFast(raw, country, &diffPolicies[len(raw)%len(diffPolicies)]); diff != "" {
			t.Error(diff)
		}
	})
}
