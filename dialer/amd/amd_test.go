package amd_test

import (
	"math"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer/amd"
)

// signal builds audio from steps: a positive duration is a word (a voiced
// buzz), a negative one silence; tone adds a pure tone.
type step struct {
	word, quiet time.Duration
	toneHz      float64
	tone        time.Duration
}

func word(d time.Duration) step             { return step{word: d} }
func quiet(d time.Duration) step            { return step{quiet: d} }
func tone(hz float64, d time.Duration) step { return step{toneHz: hz, tone: d} }

func signal(steps ...step) []int16 {
	var out []int16
	n := func(d time.Duration) int { return int(d * amd.SampleRate / time.Second) }
	for _, s := range steps {
		for i := range n(s.word) {
			// A voice: 130 Hz fundamental and harmonics, as a vowel.
			t := float64(i) / amd.SampleRate
			v := 0.0
			for h := 1.0; h <= 12; h++ {
				v += math.Sin(2*math.Pi*130*h*t) / h
			}
			out = append(out, int16(2500*v))
		}
		out = append(out, make([]int16, n(s.quiet))...)
		for i := range n(s.tone) {
			out = append(out, int16(8000*math.Sin(2*math.Pi*s.toneHz*float64(i)/amd.SampleRate)))
		}
	}
	return out
}

const ms = time.Millisecond

func TestDetectorVerdicts(t *testing.T) {
	for _, c := range []struct {
		name  string
		audio []int16
		cfg   amd.Config
		want  amd.Verdict
		cause string
		after time.Duration // when the verdict must come, ±40 ms
	}{
		{"hello then waiting", signal(word(400*ms), quiet(3*time.Second)), amd.Config{}, amd.Human, "after_greeting_silence", 1200 * ms},
		{"two words then waiting", signal(word(300*ms), quiet(200*ms), word(300*ms), quiet(3*time.Second)), amd.Config{}, amd.Human, "after_greeting_silence", 1600 * ms},
		{"long greeting", signal(word(3 * time.Second)), amd.Config{}, amd.Machine, "long_greeting", 1500 * ms},
		{"many short words", signal(word(200*ms), quiet(100*ms), word(200*ms), quiet(100*ms), word(200*ms), quiet(100*ms), word(200*ms), quiet(2*time.Second)),
			amd.Config{}, amd.Machine, "max_words", 1000 * ms},
		{"silence", signal(quiet(6 * time.Second)), amd.Config{}, amd.Unsure, "initial_silence", 2500 * ms},
		{"silence, as Asterisk", signal(quiet(6 * time.Second)), amd.Config{InitialSilenceVerdict: amd.Machine}, amd.Machine, "initial_silence", 2500 * ms},
		{"a click is not a word", signal(word(60*ms), quiet(2*time.Second), word(300*ms), quiet(2*time.Second)), amd.Config{}, amd.Human, "after_greeting_silence", 3160 * ms},
		{"talking on and off past the analysis time", signal(word(1000*ms), quiet(600*ms), word(1000*ms), quiet(600*ms), word(1000*ms), quiet(600*ms), word(1000*ms)),
			amd.Config{MaxWords: 10}, amd.Unsure, "max_time", 5000 * ms},
		{"a word too long", signal(word(3 * time.Second)), amd.Config{Greeting: 10 * time.Second, TotalAnalysisTime: 10 * time.Second, MaxWordLength: 2 * time.Second},
			amd.Machine, "long_word", 2000 * ms},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Fed whole, and in uneven pieces: the same verdict at the same point.
			for _, piece := range []int{len(c.audio), 160, 7, 333} {
				d, err := amd.New(c.cfg)
				if err != nil {
					t.Fatal(err)
				}
				var res amd.Result
				done := false
				for i := 0; i < len(c.audio) && !done; i += piece {
					res, done = d.Feed(c.audio[i:min(i+piece, len(c.audio))])
				}
				if !done || res.Verdict != c.want || res.Cause != c.cause || res.After < c.after-40*ms || res.After > c.after+40*ms {
					t.Fatalf("fed in pieces of %d: %+v (done %v); want %s by %s after %s", piece, res, done, c.want, c.cause, c.after)
				}
				if again, _ := d.Feed(signal(word(time.Second))); again != res {
					t.Fatalf("the verdict changed: %+v, then %+v", res, again)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, bad := range []amd.Config{{Greeting: time.Millisecond}, {MaxWords: -1}, {TotalAnalysisTime: 2 * time.Minute},
		{SilenceThreshold: 40000}, {InitialSilenceVerdict: "human"}} {
		if _, err := amd.New(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := (amd.Config{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestGreetingEnd(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoke bool
		audio []int16
		cause string
		at    time.Duration
	}{
		{"beep after the words", true, signal(word(time.Second), quiet(300*ms), tone(1000, 500*ms), quiet(3*time.Second)), "beep", 1820 * ms},
		{"a low beep", true, signal(word(time.Second), quiet(300*ms), tone(440, 800*ms), quiet(3*time.Second)), "beep", 2120 * ms},
		{"no beep: silence", true, signal(word(time.Second), quiet(4*time.Second)), "silence", 3000 * ms},
		{"silence before any word does not end it", false, signal(quiet(3*time.Second), word(time.Second), quiet(3*time.Second)), "silence", 6000 * ms},
		{"a blip is not the beep", true, signal(word(time.Second), tone(1000, 60*ms), word(time.Second), quiet(3*time.Second)), "silence", 4060 * ms},
		{"never ends: max wait", true, signal(word(25 * time.Second)), "max_wait", 20 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := amd.NewGreetingEnd(amd.GreetingEndConfig{}, c.spoke)
			i, cause, done := 0, "", false
			for ; i < len(c.audio) && !done; i += 160 {
				cause, done = g.Feed(c.audio[i:min(i+160, len(c.audio))])
			}
			at := time.Duration(i) * time.Second / amd.SampleRate
			if !done || cause != c.cause || at < c.at-40*ms || at > c.at+40*ms {
				t.Fatalf("ended %v by %q at %s; want %q at %s", done, cause, at, c.cause, c.at)
			}
		})
	}
}

// FuzzDetector: any audio, fed in any pieces, gives a verdict within the
// analysis time and keeps it.
func FuzzDetector(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, uint8(160))
	f.Add(make([]byte, 90000), uint8(7))
	f.Fuzz(func(t *testing.T, raw []byte, piece uint8) {
		pcm := make([]int16, len(raw)/2)
		for i := range pcm {
			pcm[i] = int16(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
		}
		pcm = append(pcm, make([]int16, 6*amd.SampleRate)...) // then silence: it must decide
		d, _ := amd.New(amd.Config{})
		g := amd.NewGreetingEnd(amd.GreetingEndConfig{}, true)
		step := int(piece) + 1
		var res amd.Result
		done := false
		for i := 0; i < len(pcm) && !done; i += step {
			res, done = d.Feed(pcm[i:min(i+step, len(pcm))])
			g.Feed(pcm[i:min(i+step, len(pcm))])
		}
		if !done || res.After > 5*time.Second {
			t.Fatalf("no verdict by 5 s: %+v %v", res, done)
		}
	})
}

func TestUtterance(t *testing.T) {
	for _, c := range []struct {
		name  string
		audio []int16
		at    time.Duration // 0: never
	}{
		{"a screening question", signal(word(900*ms), quiet(200*ms), word(900*ms), quiet(2*time.Second)), 2600 * ms},
		{"hello, then waiting", signal(word(400*ms), quiet(3*time.Second)), 0},
		{"hello, hello", signal(word(400*ms), quiet(500*ms), word(400*ms), quiet(3*time.Second)), 0},
		{"too late", signal(quiet(9*time.Second), word(2*time.Second), quiet(2*time.Second)), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := amd.NewUtterance(amd.UtteranceConfig{})
			var at time.Duration
			for i := 0; i < len(c.audio); i += 160 {
				if u.Feed(c.audio[i:min(i+160, len(c.audio))]) {
					if at != 0 {
						t.Fatal("fired twice")
					}
					at = time.Duration(i+160) * time.Second / amd.SampleRate
				}
			}
			if (c.at == 0) != (at == 0) || (c.at != 0 && (at < c.at-40*ms || at > c.at+40*ms)) {
				t.Errorf("fired at %s; want %s", at, c.at)
			}
		})
	}
}
