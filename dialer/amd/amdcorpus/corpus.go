// Package amdcorpus makes the answers that machine detection is measured
// on: people answering the phone and answering machines' greetings, spoken
// by espeak-ng in several voices, with beeps, pauses and line noise, as
// they reach us through G.711. Tests and benchmarks of package amd use it,
// and so do the SIP tests, whose softphone plays a greeting on answer.
package amdcorpus

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/dialer/prompt"
)

// SampleRate of the audio: 8 kHz.
const SampleRate = 8000

// Sample is one answer: who answered and what the line carried from the
// answer on.
type Sample struct {
	// Name tells the sample apart, e.g. "human/hello/en-us".
	Name string
	// Machine: an answering machine (or carrier voicemail) answered.
	Machine bool
	// Hard marks answers that fool energy-and-cadence detection by design
	// (a machine that says "Hello?" and pauses; a receptionist's long
	// greeting): counted, and reported apart.
	Hard bool
	// PCM is the audio, 8 kHz, after a G.711 round trip with line noise.
	PCM []int16
	// GreetingEnd is where a message may start (after the beep, or the
	// greeting's last word), in samples; 0 for people.
	GreetingEnd int
}

// Part of an answer: speech, a pause, or a beep.
type part struct {
	say   string
	pause float64 // seconds
	beep  float64 // Hz
	beepS float64 // seconds
}

func say(text string) part                  { return part{say: text} }
func pause(s float64) part                  { return part{pause: s} }
func beep(hz, seconds float64) part         { return part{beep: hz, beepS: seconds} }
func answer(parts ...part) []part           { return parts }
func humanTail(parts ...part) []part        { return append(parts, pause(4)) }
func machineTail(b part, ps ...part) []part { return append(append(ps, pause(0.3), b), pause(3)) }

// Voices speak every answer, as different people and machines would.
var Voices = []string{"en-us", "en-gb", "en-us+f3", "en-gb-scotland", "en-029"}

// humans answer the phone, and then wait for the caller.
var humans = map[string][]part{
	"hello":          humanTail(say("Hello?")),
	"hello-this-is":  humanTail(say("Hello, this is Sam.")),
	"yeah":           humanTail(say("Yeah?")),
	"hi":             humanTail(say("Hi.")),
	"hello-hello":    humanTail(say("Hello?"), pause(1.2), say("Hello?")),
	"speaking":       humanTail(say("Speaking.")),
	"who-is-this":    humanTail(say("Hello, who is this?")),
	"yes":            humanTail(say("Yes?")),
	"late-hello":     humanTail(pause(0.8), say("Hello?")),
	"hey-whats-up":   humanTail(say("Hey, what's up?")),
	"good-morning":   humanTail(say("Good morning.")),
	"silent-then-hi": humanTail(pause(1.5), say("Hi?")),
}

// hardHumans answer like a machine would.
var hardHumans = map[string][]part{
	"receptionist": humanTail(say("Good afternoon, thank you for calling Acme Industries, Maria speaking, how can I help you?")),
}

// machines greet and beep.
var machines = map[string][]part{
	"personal":    machineTail(beep(1000, 0.5), say("Hi, you've reached John Smith. I can't take your call right now. Please leave a message after the tone.")),
	"carrier":     machineTail(beep(850, 0.4), say("The wireless customer you are calling is not available. At the tone, please record your message.")),
	"short":       machineTail(beep(1400, 0.3), say("Hi, this is Anna, leave me a message.")),
	"family":      machineTail(beep(440, 0.8), say("Hello, you have reached the Millers. We are not home, so leave a message.")),
	"business":    machineTail(beep(1100, 0.5), say("Thank you for calling Acme Software. Our office is closed. Please leave your name and number after the beep.")),
	"late":        machineTail(beep(1000, 0.5), pause(1), say("You have reached the voicemail of five five five, one two three four. Please leave a message.")),
	"no-beep":     machineTail(pause(0), say("Sorry I missed your call. Leave your number and I will call you back.")),
	"unavailable": machineTail(beep(950, 0.6), say("The person you are calling is unavailable. Please leave a message after the tone.")),
}

// hardMachines sound like a person answering.
var hardMachines = map[string][]part{
	"fake-hello": machineTail(beep(1000, 0.5), say("Hello?"), pause(1.5), say("Ha, got you. I am not here, leave a message.")),
}

// Need skips a test that needs espeak-ng where it is not installed — but
// not in CI (CI set), where it must be.
func Need(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("espeak-ng is required in CI")
		}
		tb.Skip(err)
	}
}

// Build speaks every sample with espeak-ng (through src) in every voice.
// Noise is seeded: the same corpus every time.
func Build(ctx context.Context, src *prompt.Source) ([]Sample, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []Sample
	add := func(kind string, machine, hard bool, set map[string][]part) error {
		for _, name := range slices.Sorted(maps.Keys(set)) {
			for _, v := range Voices {
				pcm, end, err := render(ctx, src, set[name], v)
				if err != nil {
					return fmt.Errorf("%s/%s/%s: %w", kind, name, v, err)
				}
				out = append(out, Sample{Name: kind + "/" + name + "/" + v, Machine: machine, Hard: hard, PCM: line(pcm, rng), GreetingEnd: end})
			}
		}
		return nil
	}
	for _, s := range []struct {
		kind          string
		machine, hard bool
		set           map[string][]part
	}{{"human", false, false, humans}, {"human", false, true, hardHumans}, {"machine", true, false, machines}, {"machine", true, true, hardMachines}} {
		if err := add(s.kind, s.machine, s.hard, s.set); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Greeting renders one machine greeting (speech, a pause, a beep, silence)
// in a voice, for a softphone to play: the audio and where its beep ends.
func Greeting(ctx context.Context, src *prompt.Source, text string, beepHz float64, voice string) ([]int16, int, error) {
	pcm, end, err := render(ctx, src, machineTail(beep(beepHz, 0.5), say(text)), voice)
	return pcm, end, err
}

// render speaks the parts; end is where the last beep (or, with none, the
// last speech) ends.
func render(ctx context.Context, src *prompt.Source, parts []part, voice string) (pcm []int16, end int, err error) {
	for _, p := range parts {
		switch {
		case p.say != "":
			s, err := src.Speak(ctx, p.say, "en-US", voice)
			if err != nil {
				return nil, 0, err
			}
			pcm = append(pcm, trim(s)...)
			end = len(pcm)
		case p.beepS > 0:
			n := int(p.beepS * SampleRate)
			for i := range n {
				pcm = append(pcm, int16(8000*math.Sin(2*math.Pi*p.beep*float64(i)/SampleRate)))
			}
			end = len(pcm)
		default:
			pcm = append(pcm, make([]int16, int(p.pause*SampleRate))...)
		}
	}
	return pcm, end, nil
}

// trim cuts the silence espeak-ng puts around speech, so that pauses are
// the corpus's own.
func trim(pcm []int16) []int16 {
	const quiet = 200
	i, j := 0, len(pcm)
	for i < j && abs16(pcm[i]) < quiet {
		i++
	}
	for j > i && abs16(pcm[j-1]) < quiet {
		j--
	}
	return pcm[i:j]
}

// line adds a telephone line's noise (about -60 dBFS) and its μ-law round
// trip.
func line(pcm []int16, rng *rand.Rand) []int16 {
	noisy := make([]int16, len(pcm))
	for i, s := range pcm {
		v := int(s) + rng.IntN(61) - 30
		noisy[i] = int16(max(math.MinInt16, min(math.MaxInt16, v)))
	}
	return media.PCMU.Decode(nil, media.PCMU.Encode(nil, noisy))
}

func abs16(s int16) int16 {
	if s < 0 {
		return -s
	}
	return s
}
