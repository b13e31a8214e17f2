package ivr_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/ivr"
)

const sqlClass = `  - {name: sql, when: "total >= 70 && budget > 0 && authority > 0", route: sales, sla: 24h, say: "A specialist will call you within one business day."}`

// transferScript is bant-en with its sql class transferring the lead.
func transferScript(t *testing.T, transfer string) []byte {
	t.Helper()
	src, err := os.ReadFile("../scripts/bant-en.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), sqlClass) {
		t.Fatal("bant-en's sql class changed")
	}
	return []byte(strings.Replace(string(src), sqlClass, `  - name: sql
    when: "total >= 70 && budget > 0 && authority > 0"
    route: sales
    sla: 24h
    say: "Great news: let me connect you with a specialist now."
`+transfer, 1))
}

func TestTransferTurn(t *testing.T) {
	s, ds := ivr.Parse("hot.yaml", transferScript(t, `    transfer:
      to: "sip:sales@pbx.example.com"
      whisper: "Hot lead: {{first_name|the lead}}, class {{class}}, score {{total}}."
      timeout: 20s
`))
	if s == nil {
		t.Fatal(ds)
	}
	eng := ivr.NewEngine(s)
	st, turn := eng.Start(map[string]string{"first_name": "Ann"})
	for _, k := range []string{"1", "1", "1", "1", "250#", "1"} {
		var err error
		if st, turn, err = eng.Next(st, ivr.Input{Keys: k}); err != nil {
			t.Fatal(err)
		}
	}
	tr := turn.Transfer
	if !turn.Final || tr == nil || tr.To != "sip:sales@pbx.example.com" || tr.Timeout != ivr.Duration(20*time.Second) {
		t.Fatalf("final turn %+v", turn)
	}
	if len(turn.Prompts) != 1 || turn.Prompts[0].Text != "Great news: let me connect you with a specialist now." {
		t.Errorf("said before the transfer: %+v", turn.Prompts)
	}
	r := eng.Result(st)
	if !strings.HasPrefix(tr.Whisper.Text, "Hot lead: Ann, class sql, score ") || tr.Whisper.Kind != ivr.PromptWhisper ||
		!strings.HasSuffix(tr.Whisper.Text, "score "+strconv.Itoa(r.Total)+".") {
		t.Errorf("whisper %+v (total %d)", tr.Whisper, r.Total)
	}
	// Nobody answers: the fallback line, then the ending.
	if len(tr.Fallback) != 2 || tr.Fallback[0].Text != ivr.DefaultFallbackSay || tr.Fallback[0].Kind != ivr.PromptFallback ||
		tr.Fallback[1].Kind != ivr.PromptEnding {
		t.Errorf("fallback %+v", tr.Fallback)
	}
	if r.Class != "sql" || r.Transfer == nil || r.Transfer.FallbackSLA != ivr.DefaultFallbackSLA || r.Transfer.Fallback != "callback" {
		t.Errorf("result %+v", r)
	}
	// Another class ends as before: no transfer.
	st, _ = eng.Start(nil)
	for _, k := range []string{"1", "1", "3", "3", "3#", "3"} {
		st, turn, _ = eng.Next(st, ivr.Input{Keys: k})
	}
	if turn.Transfer != nil || eng.Result(st).Transfer != nil {
		t.Errorf("a disqualified lead is transferred: %+v", turn)
	}
}

func TestTransferValidation(t *testing.T) {
	tests := []struct{ transfer, want string }{
		{"    transfer: {whisper: hi}\n", "transfer needs to"},
		{"    transfer: {to: \"555-0100\"}\n", `transfer to "555-0100": use an E.164 number`},
		{"    transfer: {to: \"sip:sales@pbx\\r\\nX-Evil: 1\"}\n", "use an E.164 number"},
		{"    transfer: {to: \"sip:a b@pbx\"}\n", "use an E.164 number"},
		{"    transfer: {to: \"+15550100\", timeout: 2s}\n", "transfer timeout 2s: use 5s to 2m"},
		{"    transfer: {to: \"+15550100\", fallback: voicemail}\n", `fallback "voicemail": use callback`},
		{"    transfer: {to: \"+15550100\", fallback_sla: 90d}\n", "fallback_sla 90d"},
		{"    transfer: {to: \"+15550100\", whisper: \"" + strings.Repeat("a", 501) + "\"}\n", "whisper is 501 characters"},
		{"    transfer: {to: \"+15550100\", whisper: \"{{budget_code\"}\n", "transfer whisper"},
		{"    transfer: {to: \"+15550100\", whsiper: x}\n", "whsiper"},
	}
	for _, tt := range tests {
		_, ds := ivr.Parse("hot.yaml", transferScript(t, tt.transfer))
		if err := ds.Err(); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "hot.yaml:") {
			t.Errorf("%q: %v; want %q with file and line", tt.transfer, err, tt.want)
		}
	}
	// Only a sales-ready class is transferred.
	src := strings.Replace(string(transferScript(t, "    transfer: {to: \"+15550100\", whisper: hi}\n")), "route: sales\n    sla: 24h", "route: nurture", 1)
	if _, ds := ivr.Parse("hot.yaml", []byte(src)); ds.Err() == nil || !strings.Contains(ds.Err().Error(), "only a sales-ready lead") {
		t.Errorf("transfer on route nurture: %v", ds.Err())
	}
	// No whisper: a warning, not an error.
	s, ds := ivr.Parse("hot.yaml", transferScript(t, "    transfer: {to: \"+15550100\"}\n"))
	if s == nil || !strings.Contains(ds.Warnings().String(), "no whisper") {
		t.Errorf("no whisper: %v", ds)
	}
}
