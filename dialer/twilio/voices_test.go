package twilio

import "testing"

func TestVoiceFor(t *testing.T) {
	for _, c := range []struct {
		language, voice string
		want            SayVoice
		ok              bool
	}{
		{"en-US", "", SayVoice{"Polly.Joanna-Neural", "en-US"}, true},
		{"en", "", SayVoice{"Polly.Joanna-Neural", "en-US"}, true},
		{"en_GB", "", SayVoice{"Polly.Amy-Neural", "en-GB"}, true},
		{"en-CA", "", SayVoice{"Polly.Joanna-Neural", "en-US"}, true},
		{"es", "", SayVoice{"Polly.Lucia-Neural", "es-ES"}, true},
		{"es-MX", "", SayVoice{"Polly.Mia-Neural", "es-MX"}, true},
		{"fr", "", SayVoice{"Polly.Lea-Neural", "fr-FR"}, true},
		{"de", "", SayVoice{"Polly.Vicki-Neural", "de-DE"}, true},
		{"pt-BR", "", SayVoice{"Polly.Camila-Neural", "pt-BR"}, true},
		{"zh-CN", "", SayVoice{"Polly.Zhiyu-Neural", "cmn-CN"}, true},
		{"ru-RU", "", SayVoice{"Polly.Tatyana", "ru-RU"}, true},
		// espeak-ng voice names never reach Twilio.
		{"en-US", "en-us", SayVoice{"Polly.Joanna-Neural", "en-US"}, true},
		{"en-US", "mb-en1", SayVoice{"Polly.Joanna-Neural", "en-US"}, true},
		// A Twilio voice the script names is kept.
		{"en-US", "Polly.Matthew-Neural", SayVoice{"Polly.Matthew-Neural", "en-US"}, true},
		{"en-GB", "Google.en-GB-Neural2-A", SayVoice{"Google.en-GB-Neural2-A", "en-GB"}, true},
		// No Twilio voice: spoken with the default, and reported.
		{"tlh", "", DefaultVoice, false},
		{"", "", DefaultVoice, false},
	} {
		got, ok := VoiceFor(c.language, c.voice)
		if got != c.want || ok != c.ok {
			t.Errorf("VoiceFor(%q, %q) = %v, %v; want %v, %v", c.language, c.voice, got, ok, c.want, c.ok)
		}
	}
}
