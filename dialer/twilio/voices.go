package twilio

import (
	"regexp"
	"strings"
)

// SayVoice is a voice Twilio's <Say> speaks and the language it speaks it
// in: the pair goes into the voice and language attributes together.
type SayVoice struct {
	Voice    string // e.g. Polly.Joanna-Neural
	Language string // e.g. en-US
}

// DefaultVoice is what a script whose language has no Twilio voice is
// spoken with (see VoiceFor).
var DefaultVoice = SayVoice{"Polly.Joanna-Neural", "en-US"}

// sayVoices are Amazon Polly voices Twilio offers, neural where Polly has a
// neural voice for the language, keyed by language tag (lower case).
var sayVoices = map[string]SayVoice{
	"en-us":  {"Polly.Joanna-Neural", "en-US"},
	"en-gb":  {"Polly.Amy-Neural", "en-GB"},
	"en-au":  {"Polly.Olivia-Neural", "en-AU"},
	"en-in":  {"Polly.Kajal-Neural", "en-IN"},
	"en-ie":  {"Polly.Niamh-Neural", "en-IE"},
	"en-nz":  {"Polly.Aria-Neural", "en-NZ"},
	"en-za":  {"Polly.Ayanda-Neural", "en-ZA"},
	"es-es":  {"Polly.Lucia-Neural", "es-ES"},
	"es-mx":  {"Polly.Mia-Neural", "es-MX"},
	"es-us":  {"Polly.Lupe-Neural", "es-US"},
	"fr-fr":  {"Polly.Lea-Neural", "fr-FR"},
	"fr-ca":  {"Polly.Gabrielle-Neural", "fr-CA"},
	"de-de":  {"Polly.Vicki-Neural", "de-DE"},
	"de-at":  {"Polly.Hannah-Neural", "de-AT"},
	"it-it":  {"Polly.Bianca-Neural", "it-IT"},
	"pt-br":  {"Polly.Camila-Neural", "pt-BR"},
	"pt-pt":  {"Polly.Ines-Neural", "pt-PT"},
	"nl-nl":  {"Polly.Laura-Neural", "nl-NL"},
	"nl-be":  {"Polly.Lisa-Neural", "nl-BE"},
	"da-dk":  {"Polly.Sofie-Neural", "da-DK"},
	"sv-se":  {"Polly.Elin-Neural", "sv-SE"},
	"nb-no":  {"Polly.Ida-Neural", "nb-NO"},
	"fi-fi":  {"Polly.Suvi-Neural", "fi-FI"},
	"pl-pl":  {"Polly.Ola-Neural", "pl-PL"},
	"cs-cz":  {"Polly.Jitka-Neural", "cs-CZ"},
	"ca-es":  {"Polly.Arlet-Neural", "ca-ES"},
	"ja-jp":  {"Polly.Takumi-Neural", "ja-JP"},
	"ko-kr":  {"Polly.Seoyeon-Neural", "ko-KR"},
	"cmn-cn": {"Polly.Zhiyu-Neural", "cmn-CN"},
	"yue-cn": {"Polly.Hiujin-Neural", "yue-CN"},
	"ar-ae":  {"Polly.Hala-Neural", "ar-AE"},
	"tr-tr":  {"Polly.Burcu-Neural", "tr-TR"},
	"hi-in":  {"Polly.Kajal-Neural", "hi-IN"},
	"ru-ru":  {"Polly.Tatyana", "ru-RU"}, // Polly has no neural Russian voice
	"ro-ro":  {"Polly.Carmen", "ro-RO"},
	"is-is":  {"Polly.Dora", "is-IS"},
	"cy-gb":  {"Polly.Gwyneth", "cy-GB"},
}

// baseLanguage is the region a bare language tag (or one with a region no
// voice has) is spoken in.
var baseLanguage = map[string]string{
	"en": "en-us", "es": "es-es", "fr": "fr-fr", "de": "de-de", "it": "it-it", "pt": "pt-br", "nl": "nl-nl",
	"da": "da-dk", "sv": "sv-se", "nb": "nb-no", "no": "nb-no", "fi": "fi-fi", "pl": "pl-pl", "cs": "cs-cz",
	"ca": "ca-es", "ja": "ja-jp", "ko": "ko-kr", "zh": "cmn-cn", "cmn": "cmn-cn", "yue": "yue-cn", "ar": "ar-ae",
	"tr": "tr-tr", "hi": "hi-in", "ru": "ru-ru", "ro": "ro-ro", "is": "is-is", "cy": "cy-gb",
}

// twilioVoice matches the voice names Twilio's <Say> takes: Amazon Polly
// (Polly.Name, -Neural or -Generative), Google (Google.ll-RR-Kind-X) and
// the basic man, woman and alice. espeak-ng names (en-us, mb-en1, english)
// do not match.
var twilioVoice = regexp.MustCompile(`^(Polly\.[A-Z][a-zA-Z]+(-Neural|-Generative)?|Google\.[a-z]{2,3}-[A-Z]{2}-[A-Za-z0-9]+(-[A-Za-z0-9]+)*|man|woman|alice)$`)

// ValidVoice reports whether name is a voice Twilio's <Say> knows.
func ValidVoice(name string) bool { return twilioVoice.MatchString(name) }

// VoiceFor maps a script's language (BCP 47: en, en-US, es-MX, pt-BR,
// zh-CN…) and optional voice to what Twilio's <Say> is given. The script's
// voice is kept when it is a Twilio voice (an espeak-ng voice name is not,
// and is ignored); otherwise the language's Polly voice is used. A region
// no voice speaks falls back to the language's main one (en-CA → en-US).
// ok is false when Twilio has no voice for the language: DefaultVoice is
// returned then, and `qualdial script check` warns.
func VoiceFor(language, voice string) (v SayVoice, ok bool) {
	tag := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(language), "_", "-"))
	switch tag {
	case "zh-cn", "zh-hans", "zh-hans-cn":
		tag = "cmn-cn"
	case "zh-hk", "zh-hant-hk":
		tag = "yue-cn"
	case "no-no":
		tag = "nb-no"
	}
	v, ok = sayVoices[tag]
	if !ok {
		base, _, _ := strings.Cut(tag, "-")
		if full, found := baseLanguage[base]; found {
			v, ok = sayVoices[full]
		}
	}
	if !ok {
		v = DefaultVoice
	}
	if ValidVoice(voice) {
		v.Voice = voice
	}
	return v, ok
}
