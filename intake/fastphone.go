package intake

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// The fast path answers what libphonenumber answers for the common ways a
// number is written — digits with spaces, dashes, dots and parentheses,
// national or international (+, 00), with or without the country code —
// when the number is valid. It reads the same metadata and takes the same
// steps as phonenumbers.Parse, IsValidNumber and GetNumberType, but matches
// the national number against each region's patterns with a digit
// automaton (digitDFA) instead of Go regexps, and allocates almost
// nothing. Whenever a step would need more than it implements (an
// international dialling prefix, a national prefix that is a pattern, an
// Italian leading zero, an invalid number, an error), it says so and the
// caller asks libphonenumber. The answers are the same by construction,
// and TestFastPhoneDifferential compares them on over a million numbers
// the fast path answers.

// Indexes of a region's number descriptions in its automaton.
const (
	descGeneral = iota
	descPremium
	descTollFree
	descSharedCost
	descVoip
	descPersonal
	descPager
	descUAN
	descVoicemail
	descFixed
	descMobile
	numDescs
)

// Outcomes of libphonenumber's testNumberLength.
const (
	lengthPossible = iota
	lengthLocalOnly
	lengthTooShort
	lengthInvalid
	lengthTooLong
)

// regionPlan is what the fast path needs of one region's metadata.
type regionPlan struct {
	once sync.Once
	meta *phonenumbers.PhoneMetadata
	ok   bool // false: the fast path leaves numbers of this region to libphonenumber
	// parseOK: the prefixes compiled too, numbers written for the region
	// can be parsed.
	parseOK bool

	cc       int
	ccDigits string
	types    *digitDFA // the number descriptions, in desc order
	lengths  [numDescs][]int32
	local    []int32 // the general description's local-only lengths
	same     bool    // the same pattern for mobile and fixed line
	// National prefix for parsing: none, digit strings, one of which
	// (npPlain: "0", "8", "0|180020"), or another pattern (npDFA, prefix
	// match) the fast path does not strip.
	npPlain []string
	npDFA   *digitDFA
	idd     *digitDFA // international prefix, prefix match
	leading *digitDFA // leading digits, prefix match; nil when there are none
}

// build compiles the plan once; it stays !ok when anything in the metadata
// is outside what the fast path reproduces.
func (r *regionPlan) build() {
	r.once.Do(func() {
		m := r.meta
		descs := [numDescs]*phonenumbers.PhoneNumberDesc{
			m.GetGeneralDesc(), m.GetPremiumRate(), m.GetTollFree(), m.GetSharedCost(), m.GetVoip(),
			m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail(), m.GetFixedLine(), m.GetMobile(),
		}
		patterns := make([]string, numDescs)
		for i, d := range descs {
			if d == nil {
				return
			}
			patterns[i] = d.GetNationalNumberPattern()
			r.lengths[i] = d.PossibleLength
		}
		if len(r.lengths[descGeneral]) == 0 {
			return
		}
		var err error
		if r.types, err = compileDigitDFA(patterns); err != nil {
			return
		}
		r.local = descs[descGeneral].PossibleLengthLocalOnly
		r.same = m.GetSameMobileAndFixedLinePattern()
		r.cc = int(m.GetCountryCode())
		r.ccDigits = strconv.Itoa(r.cc)
		if ld := m.GetLeadingDigits(); ld != "" {
			if r.leading, err = compileDigitDFA([]string{ld}); err != nil {
				return
			}
		}
		r.ok = true
		// Parsing in the region also needs its prefixes.
		if np := m.GetNationalPrefixForParsing(); np != "" {
			if alts := strings.Split(np, "|"); !slices.ContainsFunc(alts, func(a string) bool { return !isDigits(a) }) &&
				m.GetNationalPrefixTransformRule() == "" {
				r.npPlain = alts
			} else if r.npDFA, err = compileDigitDFA([]string{np}); err != nil {
				return
			}
		}
		if r.idd, err = compileDigitDFA([]string{m.GetInternationalPrefix()}); err != nil {
			return
		}
		r.parseOK = true
	})
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// matches is libphonenumber's isNumberMatchingDesc for description i.
func (r *regionPlan) matches(mask uint32, i, n int) bool {
	if mask&(1<<i) == 0 {
		return false
	}
	l := r.lengths[i]
	return len(l) == 0 || slices.Contains(l, int32(n))
}

// typeOrder is the order in which getNumberTypeHelper tries the types
// before fixed line and mobile.
var typeOrder = [...]struct {
	desc int
	typ  phonenumbers.PhoneNumberType
}{
	{descPremium, phonenumbers.PREMIUM_RATE}, {descTollFree, phonenumbers.TOLL_FREE}, {descSharedCost, phonenumbers.SHARED_COST},
	{descVoip, phonenumbers.VOIP}, {descPersonal, phonenumbers.PERSONAL_NUMBER}, {descPager, phonenumbers.PAGER},
	{descUAN, phonenumbers.UAN}, {descVoicemail, phonenumbers.VOICEMAIL},
}

// numberType is libphonenumber's getNumberTypeHelper.
func (r *regionPlan) numberType(nsn []byte) phonenumbers.PhoneNumberType {
	mask, n := r.types.full(nsn), len(nsn)
	if !r.matches(mask, descGeneral, n) {
		return phonenumbers.UNKNOWN
	}
	for _, t := range typeOrder {
		if r.matches(mask, t.desc, n) {
			return t.typ
		}
	}
	switch {
	case r.matches(mask, descFixed, n):
		if r.same || r.matches(mask, descMobile, n) {
			return phonenumbers.FIXED_LINE_OR_MOBILE
		}
		return phonenumbers.FIXED_LINE
	case !r.same && r.matches(mask, descMobile, n):
		return phonenumbers.MOBILE
	}
	return phonenumbers.UNKNOWN
}

// generalPattern says whether digits match the general description's
// pattern, lengths aside.
func (r *regionPlan) generalPattern(digits []byte) bool {
	return r.types.full(digits)&(1<<descGeneral) != 0
}

// lengthOf is libphonenumber's testNumberLength for an unknown type.
func (r *regionPlan) lengthOf(n int) int {
	possible := r.lengths[descGeneral]
	if possible[0] == -1 {
		return lengthInvalid
	}
	if slices.Contains(r.local, int32(n)) {
		return lengthLocalOnly
	}
	switch {
	case possible[0] == int32(n):
		return lengthPossible
	case possible[0] > int32(n):
		return lengthTooShort
	case possible[len(possible)-1] < int32(n):
		return lengthTooLong
	case slices.Contains(possible[1:], int32(n)):
		return lengthPossible
	}
	return lengthInvalid
}

// stripNationalPrefix is libphonenumber's
// maybeStripNationalPrefixAndCarrierCode; ok is false when the prefix is
// a pattern that matches (left to libphonenumber).
func (r *regionPlan) stripNationalPrefix(number []byte) (out []byte, ok bool) {
	switch {
	case len(number) == 0:
		return number, true
	case r.npDFA != nil:
		return number, r.npDFA.prefix(number) == 0
	}
	// The first alternative that matches, as a Go regexp picks it; with
	// no capturing group, the whole match is stripped.
	i := slices.IndexFunc(r.npPlain, func(p string) bool { return hasPrefix(number, p) })
	if i < 0 {
		return number, true
	}
	rest := number[len(r.npPlain[i]):]
	if r.generalPattern(number) && !r.generalPattern(rest) {
		return number, true
	}
	return rest, true
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

// plans holds a plan per region and per non-geographic calling code, and
// the short-number metadata's emergency numbers per region.
type plans struct {
	byRegion  map[string]*regionPlan
	nonGeo    map[int]*regionPlan
	emergency map[string]*emergencyPlan
}

// emergencyPlan matches a region's emergency numbers exactly.
type emergencyPlan struct {
	once    sync.Once
	pattern string
	dfa     *digitDFA
	ok      bool
}

func (e *emergencyPlan) build() {
	e.once.Do(func() {
		var err error
		e.dfa, err = compileDigitDFA([]string{e.pattern})
		e.ok = err == nil
	})
}

var phonePlans = sync.OnceValue(func() *plans {
	p := &plans{byRegion: map[string]*regionPlan{}, nonGeo: map[int]*regionPlan{}, emergency: map[string]*emergencyPlan{}}
	if coll, err := phonenumbers.MetadataCollection(); err == nil {
		for _, m := range coll.GetMetadata() {
			if m.GetId() == "001" {
				p.nonGeo[int(m.GetCountryCode())] = &regionPlan{meta: m}
			} else {
				p.byRegion[m.GetId()] = &regionPlan{meta: m}
			}
		}
	}
	if coll, err := phonenumbers.ShortNumberMetadataCollection(); err == nil {
		for _, m := range coll.GetMetadata() {
			// libphonenumber's IsEmergencyNumber: no emergency
			// description or an empty pattern never matches.
			if e := m.GetEmergency(); m.GetId() != "001" && e != nil && e.GetNationalNumberPattern() != "" {
				p.emergency[m.GetId()] = &emergencyPlan{pattern: e.GetNationalNumberPattern()}
			}
		}
	}
	return p
})

// planFor is libphonenumber's getMetadataForRegionOrCallingCode, nil when
// there is no metadata or the fast path cannot use it.
func (p *plans) planFor(cc int, region string) (*regionPlan, bool) {
	var r *regionPlan
	if region == "001" {
		r = p.nonGeo[cc]
	} else {
		r = p.byRegion[region]
	}
	if r == nil {
		return nil, true
	}
	r.build()
	return r, r.ok
}

// isEmergency is libphonenumber's IsEmergencyNumber for digits only;
// ok is false when it cannot tell.
func (p *plans) isEmergency(digits []byte, region string) (emergency, ok bool) {
	e := p.emergency[region]
	if e == nil {
		return false, true
	}
	e.build()
	if !e.ok {
		return false, false
	}
	return e.dfa.full(digits) != 0, true
}

// fastNumber is a valid number found by the fast path.
type fastNumber struct {
	cc     int
	nsn    string
	region string      // GetRegionCodeForNumber
	plan   *regionPlan // its metadata
}

// regionForNumber is libphonenumber's GetRegionCodeForNumber; ok is false
// when the fast path cannot tell.
func (p *plans) regionForNumber(cc int, nsn []byte) (string, bool) {
	regions := phonenumbers.GetRegionCodesForCountryCode(cc)
	switch len(regions) {
	case 0:
		return "", true
	case 1:
		return regions[0], true
	}
	for _, region := range regions {
		r, ok := p.planFor(cc, region)
		if !ok || r == nil {
			return "", false
		}
		if r.leading != nil {
			if r.leading.prefix(nsn) != 0 {
				return region, true
			}
		} else if r.numberType(nsn) != phonenumbers.UNKNOWN {
			return region, true
		}
	}
	return "", true
}

// validForRegion is libphonenumber's IsValidNumberForRegion; ok is false
// when the fast path cannot tell.
func (p *plans) validForRegion(cc int, nsn []byte, region string) (valid, ok bool) {
	r, ok := p.planFor(cc, region)
	if !ok {
		return false, false
	}
	if r == nil || (region != "001" && cc != r.cc) {
		return false, true
	}
	return r.numberType(nsn) != phonenumbers.UNKNOWN, true
}

// maxFastDigits is the most digits the fast path reads: a 3-digit country
// code and a 17-digit national number.
const maxFastDigits = 20

// fastParse is parsePhone for the common shapes of a valid number: s is
// trimmed, country upper case. ok is false when libphonenumber must
// answer.
func fastParse(s, country string) (n fastNumber, ok bool) {
	var buf [maxFastDigits]byte
	digits := buf[:0]
	plus := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if len(digits) == maxFastDigits {
				return n, false
			}
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		case c == '+' && i == 0:
			plus = true
		default:
			return n, false
		}
	}
	if len(digits) < 4 {
		return n, false
	}
	p := phonePlans()
	var def *regionPlan
	if country != "" {
		var ok bool
		if def, ok = p.planFor(0, country); !ok || (def != nil && !def.parseOK) {
			return n, false
		}
	}
	if !plus {
		if def == nil {
			return n, false
		}
		// parsePhone's check for emergency numbers written nationally.
		if e, ok := p.isEmergency(digits, country); !ok || e {
			return n, false
		}
		if strings.HasPrefix(s, "00") {
			plus, digits = true, digits[2:]
		}
	}
	var cc int
	var plan *regionPlan
	var nn []byte
	if plus {
		// maybeExtractCountryCode for a number with +.
		if len(digits) <= phonenumbers.MIN_LENGTH_FOR_NSN || digits[0] == '0' {
			return n, false
		}
		c := 0
		for i := 1; i <= phonenumbers.MAX_LENGTH_COUNTRY_CODE && i <= len(digits); i++ {
			c = 10*c + int(digits[i-1]-'0')
			if len(phonenumbers.GetRegionCodesForCountryCode(c)) > 0 {
				cc, nn = c, digits[i:]
				break
			}
		}
		if cc == 0 {
			return n, false
		}
	} else {
		// maybeExtractCountryCode for a number without: an
		// international prefix is left to libphonenumber; the default
		// region's country code is taken when the rest looks better.
		if def.idd.prefix(digits) != 0 {
			return n, false
		}
		nn = digits
		if hasPrefix(digits, def.ccDigits) {
			national, ok := def.stripNationalPrefix(digits[len(def.ccDigits):])
			if !ok {
				return n, false
			}
			if (!def.generalPattern(digits) && def.generalPattern(national)) || def.lengthOf(len(digits)) == lengthTooLong {
				cc, nn = def.cc, national
			}
		}
	}
	if cc != 0 {
		// parseHelper keeps the default region's metadata (none for
		// 001) when the country code is its own.
		region := phonenumbers.GetRegionCodeForCountryCode(cc)
		usable := true
		if region == country {
			plan = def
		} else {
			plan, usable = p.planFor(cc, region)
		}
		if !usable || plan == nil || !plan.parseOK {
			return n, false
		}
	} else {
		cc, plan = def.cc, def
	}
	// parseHelper: the national prefix is stripped when what is left has
	// a possible length.
	if len(nn) < phonenumbers.MIN_LENGTH_FOR_NSN {
		return n, false
	}
	stripped, ok := plan.stripNationalPrefix(nn)
	if !ok {
		return n, false
	}
	switch plan.lengthOf(len(stripped)) {
	case lengthTooShort, lengthLocalOnly, lengthInvalid:
	default:
		nn = stripped
	}
	if len(nn) < phonenumbers.MIN_LENGTH_FOR_NSN || len(nn) > phonenumbers.MAX_LENGTH_FOR_NSN || nn[0] == '0' {
		return n, false
	}
	region, ok := p.regionForNumber(cc, nn)
	if !ok || region == "" {
		return n, false
	}
	if valid, ok := p.validForRegion(cc, nn, region); !ok || !valid {
		return n, false
	}
	rp, _ := p.planFor(cc, region)
	return fastNumber{cc: cc, nsn: string(nn), region: region, plan: rp}, true
}

// e164 formats the number.
func (n fastNumber) e164() string {
	return "+" + strconv.Itoa(n.cc) + n.nsn
}

// number is the number as libphonenumber's Parse returns it, in one
// allocation.
func (n fastNumber) number() *phonenumbers.PhoneNumber {
	b := &struct {
		num phonenumbers.PhoneNumber
		cc  int32
		nn  uint64
	}{cc: int32(n.cc)}
	b.nn, _ = strconv.ParseUint(n.nsn, 10, 64)
	b.num.CountryCode, b.num.NationalNumber = &b.cc, &b.nn
	return &b.num
}

// fastCheck is Destinations.check for a number of the fast path that the
// destinations allow; ok is false when it may not be (or the fast path
// cannot tell), and check must answer.
func (d Destinations) fastCheck(n fastNumber) (ok bool) {
	p := phonePlans()
	nsn := []byte(n.nsn)
	if e, ok := p.isEmergency(nsn, phonenumbers.GetRegionCodeForCountryCode(n.cc)); !ok || e {
		return false
	}
	types := d.Types
	if len(types) == 0 {
		types = defaultNumberTypes
	}
	if !slices.Contains(types, typeName(n.plan.numberType(nsn))) {
		return false
	}
	if len(d.Countries) == 0 {
		return true
	}
	for _, c := range d.Countries {
		if valid, ok := p.validForRegion(n.cc, nsn, strings.ToUpper(strings.TrimSpace(c))); !ok {
			return false
		} else if valid {
			return true
		}
	}
	return false
}
