package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qualdial/qualdial/dialer/amd/amdcorpus"
	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/sipptest"
)

type callJSON struct {
	Disposition string   `json:"disposition"`
	SIPCode     int      `json:"sip_code"`
	KeysHeard   []string `json:"keys_heard"`
	ScriptID    string   `json:"script_id"`
	Outcome     string   `json:"outcome"`
	Class       string   `json:"class"`
	Total       int      `json:"total"`
	EndedBy     string   `json:"ended_by"`
	DTMFMethod  string   `json:"dtmf_method"`
	Attestation string   `json:"attestation"`
	CallerID    string   `json:"caller_id"`
}

// TestCallAgainstSoftphone places a real call with the shipped BANT script
// and its pre-rendered speech to a softphone persona that barges in.
func TestCallAgainstSoftphone(t *testing.T) {
	t.Parallel()
	p, err := softphone.Start(softphone.Config{Personas: map[string]softphone.Persona{
		"hot":  {Keys: "~1,~1,~1,~1,~120#,~1", Attestation: "A"},
		"busy": {Answer: "reject", Code: 486},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	code, out, errOut := runCLI(t, nil, "call", "--to", p.URI("hot"), "--script", "bant-en", "--caller-id", "+15550100", "--json")
	var res callJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if res.Disposition != "answered" || res.SIPCode != 200 || res.Class != "sql" || res.ScriptID != "bant-en" ||
		!slices.Equal(res.KeysHeard, []string{"1", "1", "1", "1", "120#", "1"}) || res.EndedBy != "qualdial" || res.DTMFMethod != "rfc4733" ||
		res.Attestation != "A" || res.CallerID != "+15550100" { // the PASSporT of the phone's 200 OK
		t.Fatalf("report %+v", res)
	}
	// --dtmf takes keys by one method only: SIP INFO hears none of the
	// phone's RFC 4733 presses.
	code, out, errOut = runCLI(t, nil, "call", "--to", p.URI("hot"), "--script", "bant-en", "--caller-id", "+15550100", "--json",
		"--dtmf", "info", "--max-call-length", "40s")
	res = callJSON{}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("--dtmf info: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if len(res.KeysHeard) != 0 || res.Outcome != "incomplete" || res.DTMFMethod != "none" {
		t.Errorf("--dtmf info with an RFC 4733 phone: %+v", res)
	}

	code, out, _ = runCLI(t, nil, "call", "--to", p.URI("busy"), "--script", "bant-en", "--caller-id", "+15550100")
	if code != 0 || !strings.Contains(out, "disposition  busy (SIP 486 Busy Here)") {
		t.Fatalf("busy: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, nil, "call", "--to", p.URI("hot"), "--script", "bant-en", "--caller-id", "+1", "--ring-timeout", "5s"); code != 1 || !strings.Contains(errOut, "at least 15s") {
		t.Fatalf("short ring: exit %d %s", code, errOut)
	}
}

// TestCallAgainstSipp is the acceptance check of the SIP driver: qualdial
// call against sipp as the lead phone prints the keys the scenario pressed
// and the right class.
func TestCallAgainstSipp(t *testing.T) {
	t.Parallel()
	peer := sipptest.Start(t, "../../dialer/sip/testdata/lead-keys.xml")
	code, out, errOut := runCLI(t, nil, "call", "--to", peer.URI,
		"--script", "../../dialer/sip/testdata/sipp-lead.yaml", "--caller-id", "+15550100", "--json")
	var res callJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if !slices.Equal(res.KeysHeard, []string{"1", "2", "120#"}) || res.Class != "sql" || res.Outcome != "completed" ||
		res.Attestation != "B" { // the scenario's Attestation-Info
		t.Fatalf("report %+v", res)
	}
	peer.Wait(t)
}

// TestCallMachineDetection: qualdial call --machine-detection against a
// softphone persona (from a persona file) whose greeting is a voicemail's
// with a beep: disposition machine in --json, the verdict and the message
// left after the beep; a person in the same mode answers the questionnaire.
func TestCallMachineDetection(t *testing.T) {
	t.Parallel()
	amdcorpus.Need(t)
	dir := t.TempDir()
	greeting, _, err := amdcorpus.Greeting(t.Context(), &prompt.Source{}, "Hello, you have reached the Millers. We are not home, so please leave a message after the beep.", 850, "en-gb")
	if err != nil {
		t.Fatal(err)
	}
	if err := prompt.WriteWAVFile(filepath.Join(dir, "voicemail.wav"), greeting); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "personas.yaml"), []byte("voicemail: {greeting: voicemail.wav}\nhot: {keys: \"~1,~1,~1,~1,~120#,~1\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	personas, err := softphone.LoadPersonas(filepath.Join(dir, "personas.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := softphone.Start(softphone.Config{Personas: personas})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	type amdJSON struct {
		Verdict     string `json:"verdict"`
		Cause       string `json:"cause"`
		GreetingEnd string `json:"greeting_end"`
		MessageLeft bool   `json:"message_left"`
	}
	var res struct {
		callJSON
		AMD *amdJSON `json:"amd"`
	}
	code, out, errOut := runCLI(t, nil, "call", "--to", p.URI("voicemail"), "--script", "bant-en", "--caller-id", "+15550100", "--json",
		"--machine-detection", "message")
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if res.Disposition != "machine" || res.AMD == nil || res.AMD.Verdict != "machine" || res.AMD.GreetingEnd != "beep" || !res.AMD.MessageLeft ||
		res.Outcome != "" || len(res.KeysHeard) != 0 {
		t.Fatalf("report %s", out)
	}

	res.AMD, res.callJSON = nil, callJSON{}
	code, out, errOut = runCLI(t, nil, "call", "--to", p.URI("hot"), "--script", "bant-en", "--caller-id", "+15550100", "--json",
		"--machine-detection", "hangup")
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if res.Disposition != "answered" || res.Class != "sql" || (res.AMD != nil && res.AMD.Verdict == "machine") {
		t.Fatalf("a person: %s", out)
	}
	if code, _, errOut := runCLI(t, nil, "call", "--to", p.URI("hot"), "--script", "bant-en", "--caller-id", "+15550100",
		"--machine-detection", "maybe"); code == 0 || !strings.Contains(errOut, "use off, hangup or message") {
		t.Errorf("a bad mode: exit %d %s", code, errOut)
	}
}
