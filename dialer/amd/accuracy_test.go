package amd_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer/amd"
	"github.com/qualdial/qualdial/dialer/amd/amdcorpus"
	"github.com/qualdial/qualdial/dialer/prompt"
)

// corpus is built once per test binary (espeak-ng takes a few seconds).
var corpus = sync.OnceValues(func() ([]amdcorpus.Sample, error) {
	return amdcorpus.Build(context.Background(), &prompt.Source{})
})

// needCorpus skips where espeak-ng is missing — but not in CI, where it
// must be installed.
func needCorpus(tb testing.TB) []amdcorpus.Sample {
	tb.Helper()
	amdcorpus.Need(tb)
	set, err := corpus()
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

// score is machine detection's record on a corpus.
type score struct {
	machineAsMachine, machineMissed, humanAsMachine, humanAsHuman int
	wrong                                                         []string
	decidedAfter                                                  []time.Duration
}

func (s score) precision() float64 {
	return float64(s.machineAsMachine) / float64(max(1, s.machineAsMachine+s.humanAsMachine))
}
func (s score) recall() float64 {
	return float64(s.machineAsMachine) / float64(max(1, s.machineAsMachine+s.machineMissed))
}

// run detects every sample, fed in 20 ms packets.
func run(tb testing.TB, set []amdcorpus.Sample, cfg amd.Config, hard bool) score {
	var sc score
	for _, smp := range set {
		if smp.Hard != hard {
			continue
		}
		d, err := amd.New(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		var res amd.Result
		done := false
		for i := 0; i < len(smp.PCM) && !done; i += 160 {
			res, done = d.Feed(smp.PCM[i:min(i+160, len(smp.PCM))])
		}
		machine := res.Verdict == amd.Machine
		switch {
		case smp.Machine && machine:
			sc.machineAsMachine++
		case smp.Machine:
			sc.machineMissed++
		case machine:
			sc.humanAsMachine++
		default:
			sc.humanAsHuman++
		}
		if machine != smp.Machine {
			sc.wrong = append(sc.wrong, fmt.Sprintf("%s: %s (%s after %s, %d words)", smp.Name, res.Verdict, res.Cause, res.After, res.Words))
		}
		sc.decidedAfter = append(sc.decidedAfter, res.After)
	}
	return sc
}

// TestAccuracyOnSpokenAnswers measures detection on the corpus: people
// answering and machines greeting, in five voices. Hanging up on a person
// is the costly mistake (an abandoned call), so precision must be high;
// recall may be lower (a machine missed hears the questionnaire and times
// out). The hard cases — answers built to fool cadence detection — are
// reported, not required.
func TestAccuracyOnSpokenAnswers(t *testing.T) {
	set := needCorpus(t)
	sc := run(t, set, amd.Config{}, false)
	hard := run(t, set, amd.Config{}, true)
	t.Logf("machines %d/%d detected; people %d/%d taken for machines; precision %.3f recall %.3f",
		sc.machineAsMachine, sc.machineAsMachine+sc.machineMissed, sc.humanAsMachine, sc.humanAsMachine+sc.humanAsHuman, sc.precision(), sc.recall())
	t.Logf("hard cases: %d of %d machines detected, %d of %d people taken for machines",
		hard.machineAsMachine, hard.machineAsMachine+hard.machineMissed, hard.humanAsMachine, hard.humanAsMachine+hard.humanAsHuman)
	if len(sc.wrong) > 0 {
		t.Logf("wrong:\n%s", strings.Join(sc.wrong, "\n"))
	}
	if len(hard.wrong) > 0 {
		t.Logf("hard cases wrong:\n%s", strings.Join(hard.wrong, "\n"))
	}
	if sc.precision() < 0.95 || sc.recall() < 0.85 {
		t.Errorf("precision %.3f (want ≥ 0.95), recall %.3f (want ≥ 0.85)", sc.precision(), sc.recall())
	}
	for _, after := range sc.decidedAfter {
		if after > 5*time.Second {
			t.Errorf("a verdict after %s: the analysis must end by 5 s", after)
		}
	}
}

// TestGreetingEndOnMachines: after the verdict, the message starts once
// the greeting is over — never over the beep or the greeting's words, and
// within 2.5 s of its end.
func TestGreetingEndOnMachines(t *testing.T) {
	set := needCorpus(t)
	for _, smp := range set {
		if !smp.Machine || smp.Hard {
			continue
		}
		d, _ := amd.New(amd.Config{})
		i, done := 0, false
		var res amd.Result
		for ; i < len(smp.PCM) && !done; i += 160 {
			res, done = d.Feed(smp.PCM[i:min(i+160, len(smp.PCM))])
		}
		if res.Verdict != amd.Machine {
			continue // missed: the questionnaire plays, no message
		}
		g := amd.NewGreetingEnd(amd.GreetingEndConfig{}, res.Words > 0)
		cause, ended := "", false
		for ; i < len(smp.PCM) && !ended; i += 160 {
			cause, ended = g.Feed(smp.PCM[i:min(i+160, len(smp.PCM))])
		}
		at := time.Duration(i) * time.Second / amd.SampleRate
		end := time.Duration(smp.GreetingEnd) * time.Second / amd.SampleRate
		if !ended || at < end || at > end+2500*time.Millisecond {
			t.Errorf("%s: greeting over (%s, ended %v) at %s; it ends at %s", smp.Name, cause, ended, at, end)
		}
		wantCause := "beep"
		if strings.Contains(smp.Name, "no-beep") {
			wantCause = "silence"
		}
		if cause != wantCause {
			t.Errorf("%s: greeting over by %s, want %s", smp.Name, cause, wantCause)
		}
	}
}

// BenchmarkDetect reports detection's accuracy on the corpus beside its
// cost: precision and recall of "machine", people taken for machines, and
// the median time to a verdict, for people and for machines.
func BenchmarkDetect(b *testing.B) {
	set := needCorpus(b)
	var audio time.Duration
	for _, s := range set {
		audio += time.Duration(len(s.PCM)) * time.Second / amd.SampleRate
	}
	b.ResetTimer()
	var sc score
	for range b.N {
		sc = run(b, set, amd.Config{}, false)
	}
	b.StopTimer()
	var human, machine []time.Duration
	i := 0
	for _, s := range set {
		if s.Hard {
			continue
		}
		if s.Machine {
			machine = append(machine, sc.decidedAfter[i])
		} else {
			human = append(human, sc.decidedAfter[i])
		}
		i++
	}
	b.ReportMetric(sc.precision(), "precision")
	b.ReportMetric(sc.recall(), "recall")
	b.ReportMetric(float64(sc.humanAsMachine), "people_as_machines")
	b.ReportMetric(median(human).Seconds(), "s_to_human_verdict")
	b.ReportMetric(median(machine).Seconds(), "s_to_machine_verdict")
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/audio.Seconds(), "ns/audio_s")
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	slices.Sort(s)
	return s[len(s)/2]
}
