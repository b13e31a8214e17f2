package ivr

import (
	"encoding/json"
	"os"
	"testing"
)

func benchScript(b *testing.B) ([]byte, *Engine) {
	src, err := os.ReadFile("../scripts/bant-en.yaml")
	if err != nil {
		b.Fatal(err)
	}
	s, ds := Parse("bant-en.yaml", src)
	if s == nil {
		b.Fatal(ds)
	}
	return src, NewEngine(s)
}

// BenchmarkParse measures loading and validating a shipped script
// (YAML decode, field checks, expression compilation).
func BenchmarkParse(b *testing.B) {
	src, _ := benchScript(b)
	b.ReportAllocs()
	for b.Loop() {
		if s, _ := Parse("bant-en.yaml", src); s == nil {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkCall measures one whole qualification call's engine work:
// Start, six answers, classification and the result.
func BenchmarkCall(b *testing.B) {
	_, e := benchScript(b)
	ins := []Input{{Keys: "1"}, {Keys: "1"}, {Keys: "1"}, {Keys: "1"}, {Keys: "120#"}, {Keys: "1"}}
	lead := map[string]string{"first_name": "Ann"}
	b.ReportAllocs()
	for b.Loop() {
		st, _ := e.Start(lead)
		for _, in := range ins {
			st, _, _ = e.Next(st, in)
		}
		if r := e.Result(st); r.Class != "sql" {
			b.Fatal(r.Class)
		}
	}
}

// BenchmarkWebhookTurn measures one turn as a webhook-driven driver does
// it: decode the stored state, step the engine, encode the state again.
func BenchmarkWebhookTurn(b *testing.B) {
	_, e := benchScript(b)
	st, _ := e.Start(map[string]string{"first_name": "Ann"})
	for _, in := range []Input{{Keys: "1"}, {Keys: "1"}, {Keys: "1"}} {
		st, _, _ = e.Next(st, in)
	}
	stored, _ := json.Marshal(st)
	b.ReportAllocs()
	for b.Loop() {
		var cur State
		if err := json.Unmarshal(stored, &cur); err != nil {
			b.Fatal(err)
		}
		next, _, err := e.Next(cur, Input{Keys: "1"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(next); err != nil {
			b.Fatal(err)
		}
	}
}
