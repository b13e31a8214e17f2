package scripts_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/qualdial/qualdial/dialer/prompt"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
)

// TestShippedScripts runs each shipped script through the key sequences a
// real lead would press and checks the class it lands in. Each script must
// also pass validation without a single warning.
func TestShippedScripts(t *testing.T) {
	t.Parallel()
	type run struct {
		keys  string
		class string
		route string
		total int
	}
	table := map[string][]run{
		"bant-en": {
			{"1,1,1,1,120#,1", "sql", "sales", 90},
			{"1,1,1,1,500#,2", "sql", "sales", 90},
			{"1,1,2,2,120#,2", "mql", "nurture", 55},  // budget planned, shared decision
			{"1,1,1,3,5#,1", "mql", "nurture", 55},    // no authority: never sql
			{"1,1,3,1,1000#,1", "mql", "nurture", 60}, // no budget: never sql
			{"1,1,3,3,3#,3", "disqualified", "none", -5},
			{"1,2", "disqualified", "none", 0}, // student knock-out
			{"9", "opted_out", "none", 0},
			{"1,1,1,9", "opted_out", "none", 30},
			{"1,1,1,1,9#", "opted_out", "none", 55}, // 9 alone at the number question
			{"1,1,1,hangup", "incomplete", "none", 30},
			{"timeout,timeout,timeout", "incomplete", "none", 0},
			{"1,1,4,4,4", "incomplete", "none", 0},
			{"1,1,4,1,1,120#,1", "sql", "sales", 90}, // one wrong key, then the right ones
		},
		"bant-ru": {
			{"1,1,1,1,120#,1", "sql", "sales", 90},
			{"1,1,2,2,120#,2", "mql", "nurture", 55},
			{"1,2", "disqualified", "none", 0},
			{"9", "opted_out", "none", 0},
			{"1,1,hangup", "incomplete", "none", 0},
		},
		"anum-en": {
			{"1,1,1,1,1", "sql", "sales", 105},
			{"1,2,2,2,2", "mql", "nurture", 50},
			{"1,1,3,3,3", "disqualified", "none", 20},
			{"1,3", "not_involved", "nurture", 0}, // knock-out to a referral
			{"1,1,1,3,3", "mql", "nurture", 50},   // no urgency: never sql
			{"9", "opted_out", "none", 0},
		},
		"champ-en": {
			{"1,1,60#,1,1,1", "sql", "sales", 120},
			{"1,2,10#,2,2,2", "mql", "nurture", 70}, // only this year: not sales-ready
			{"1,4,3#,3,3,3", "disqualified", "none", -10},
			{"1,3,3#,3,3,3", "mql", "nurture", 15}, // a real challenge alone is worth nurturing
			{"1,4,60#,1,1,3", "mql", "nurture", 65},
			{"1,1,9#", "opted_out", "none", 30},
			{"1,1,0#,1", "incomplete", "none", 30}, // 0 agents is not an answer: replayed, then hangup
		},
		"faint-en": {
			{"1,1,1,1,1,1", "sql", "sales", 100},
			{"1,2,2,2,2,2", "mql", "nurture", 40},
			{"1,3", "not_interested", "nurture", 0},
			{"1,2,2,3,3,3", "disqualified", "none", 0},
			{"1,1,1,3,1,1", "mql", "nurture", 65}, // no funds: never sql
			{"9", "opted_out", "none", 0},
		},
	}
	if len(table) != len(scripts.Names()) {
		t.Fatalf("table covers %d scripts, %d are shipped: add the new one", len(table), len(scripts.Names()))
	}
	for id, runs := range table {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			data, err := scripts.Read(id)
			if err != nil {
				t.Fatal(err)
			}
			s, ds := ivr.Parse(id+".yaml", data)
			if s == nil || len(ds) > 0 {
				t.Fatalf("shipped script must be free of errors and warnings:\n%s", ds)
			}
			if s.ID != id {
				t.Fatalf("file %s.yaml holds script %q", id, s.ID)
			}
			e := ivr.NewEngine(s)
			for _, r := range runs {
				st, turn := e.Start(map[string]string{"first_name": "Ann"})
				for _, item := range strings.Split(r.keys, ",") {
					if turn.Final {
						t.Fatalf("keys %s: script ended before %q", r.keys, item)
					}
					in := ivr.Input{Keys: item}
					switch item {
					case "timeout":
						in = ivr.Input{Timeout: true}
					case "hangup":
						in = ivr.Input{Hangup: true}
					}
					st, turn, err = e.Next(st, in)
					if err != nil {
						t.Fatal(err)
					}
				}
				if !turn.Final { // the lead hangs up when the keys run out
					st, turn, _ = e.Next(st, ivr.Input{Hangup: true})
				}
				res := e.Result(st)
				if res.Class != r.class || res.Route != r.route || res.Total != r.total {
					t.Errorf("keys %s: class %s, route %s, total %d; want %s, %s, %d (%s)",
						r.keys, res.Class, res.Route, res.Total, r.class, r.route, r.total, res.Explanation.Reason)
				}
			}
		})
	}
}

// TestShippedScriptsFollowTheRules checks what DESIGN.md asks of every
// script's wording: the caller identifies itself, the first question offers
// the opt-out, every key is announced (Parse warns otherwise, and the test
// above allows no warnings), and sales-ready classes carry an SLA.
func TestShippedScriptsFollowTheRules(t *testing.T) {
	t.Parallel()
	for _, name := range scripts.Names() {
		data, _ := scripts.Read(name)
		s := ivr.MustParse(name, data)
		if len(s.Identify) < 20 {
			t.Errorf("%s: identify %q is too short to say who calls and why", name, s.Identify)
		}
		if s.OptOut.Key != "9" {
			t.Errorf("%s: opt-out key %q; shipped scripts use 9", name, s.OptOut.Key)
		}
		for _, c := range s.Classes {
			if c.Route == ivr.RouteSales && c.SLA == 0 {
				t.Errorf("%s: class %s routes to sales without an sla", name, c.Name)
			}
		}
		first := s.Question(s.Start)
		if !strings.Contains(first.Say, "9") {
			t.Errorf("%s: the first question does not offer the opt-out key", name)
		}
	}
}

// TestShippedPromptsAreRendered keeps scripts/prompts in step with the
// scripts' wording: every text must have rendered speech, so calls need no
// TTS. After changing a text, run the command in scripts/prompts/README.md.
func TestShippedPromptsAreRendered(t *testing.T) {
	t.Parallel()
	for _, name := range scripts.Names() {
		data, _ := scripts.Read(name)
		s := ivr.MustParse(name, data)
		voice := prompt.Voice(s.Language, s.Voice)
		for _, text := range s.Texts() {
			b, err := fs.ReadFile(scripts.Prompts, prompt.StorePath(voice, text))
			if err != nil {
				t.Errorf("%s: no rendered audio for %q: run go run ./cmd/qualdial prompts render --out scripts/prompts scripts/*.yaml", name, text)
				continue
			}
			if secs := float64(len(b)) / 8000; secs < 0.3 || secs > 20 {
				t.Errorf("%s: %q renders to %.1fs of audio", name, text, secs)
			}
		}
	}
}
