package ivr

import (
	"strings"
	"testing"
)

// TestVoicemail: the message left on a machine is the script's voicemail
// with the lead's placeholders filled, else its identify line; a broken
// placeholder in it names the line.
func TestVoicemail(t *testing.T) {
	withMessage := strings.Replace(baseScript, "\nidentify:", "\nvoicemail: \"Hi {{first_name|there}}, Acme calling back about your demo. Call us at 800 555 0100, or to stop these calls, press 9 when we call.\"\nidentify:", 1)
	s, ds := Parse("vm.yaml", []byte(withMessage))
	if s == nil {
		t.Fatalf("script: %v", ds)
	}
	e := NewEngine(s)
	st, _ := e.Start(map[string]string{"first_name": "Dana"})
	p := e.Voicemail(st)
	if p.Kind != PromptVoicemail || !strings.HasPrefix(p.Text, "Hi Dana, Acme calling back") || !p.Personalized || !strings.HasPrefix(p.Generic, "Hi there,") {
		t.Errorf("voicemail %+v", p)
	}
	if !containsText(s.Texts(), p.Generic) {
		t.Errorf("texts to render lack the voicemail: %q", s.Texts())
	}

	base := baseEngine(t)
	st, turn := base.Start(nil)
	if p := base.Voicemail(st); p.Text != turn.Prompts[0].Text || p.Kind != PromptVoicemail {
		t.Errorf("without a voicemail: %+v; want the identify line %q", p, turn.Prompts[0].Text)
	}

	broken := strings.Replace(baseScript, "\nidentify:", "\nvoicemail: \"Hi {{first_name\"\nidentify:", 1)
	_, ds = Parse("vm.yaml", []byte(broken))
	if errs := ds.Errors(); len(errs) != 1 || errs[0].File != "vm.yaml" || errs[0].Line < 2 || !strings.Contains(errs[0].String(), "voicemail") {
		t.Errorf("a broken voicemail: %v", ds)
	}
}

func containsText(texts []string, t string) bool {
	for _, x := range texts {
		if x == t {
			return true
		}
	}
	return false
}
