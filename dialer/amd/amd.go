// Package amd tells an answering machine from a person by the first
// seconds of the far end's audio after the answer, the way dialers have
// done it on their own trunks for decades: by energy and cadence, not by
// words. A person answers with a short word or two ("Hello?") and then
// waits; a machine talks on (a greeting of several seconds), or says
// nothing at first. The parameters are those of Asterisk's AMD, under the
// same names, so that settings tuned there carry over.
//
// A second detector, [GreetingEnd], tells when a machine's greeting is over
// (its beep, or the silence after it), so that a message is left on the
// recording rather than spoken over the greeting.
//
// Both are pure: no clock (time is counted in samples of 8 kHz audio), no
// goroutines, no I/O. They are not safe for concurrent use.
package amd

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// SampleRate is the rate of the audio fed: 8 kHz linear PCM (G.711
// decoded).
const SampleRate = 8000

// frame is the unit judged: 20 ms.
const (
	frameSamples = SampleRate / 50
	frameLen     = 20 * time.Millisecond
)

// Verdict is what the far end was taken for.
type Verdict string

// Verdicts. Unsure is given when the analysis time ran out, or the line
// stayed silent: the call is then treated as a person's (hanging up on a
// person is an abandoned call; playing the questionnaire to a machine only
// costs an attempt).
const (
	Human   Verdict = "human"
	Machine Verdict = "machine"
	Unsure  Verdict = "unsure"
)

// Result is a detector's verdict, why, and after how much audio.
type Result struct {
	Verdict Verdict
	// Cause is a short reason: initial_silence, long_greeting,
	// max_words, long_word, after_greeting_silence, max_time.
	Cause string
	// After is how much audio was heard when it was decided.
	After time.Duration
	// Words is how many words were counted.
	Words int
}

// Config sets the detector's thresholds; a zero field takes the default
// shown (Asterisk's amd.conf defaults, but for MaxWords, see there).
type Config struct {
	// InitialSilence: silence this long before the first word ends the
	// analysis (default 2.5s) as InitialSilenceVerdict says.
	InitialSilence time.Duration
	// InitialSilenceVerdict is Unsure (default: a person who waits for the
	// caller to speak) or Machine (as Asterisk: a machine that pauses
	// before its greeting).
	InitialSilenceVerdict Verdict
	// Greeting: an unbroken stretch of speech this long is a machine's
	// greeting (default 1.5s).
	Greeting time.Duration
	// AfterGreetingSilence: silence this long after speech is a person
	// waiting for an answer (default 800ms).
	AfterGreetingSilence time.Duration
	// TotalAnalysisTime: no verdict after this much audio is Unsure
	// (default 5s).
	TotalAnalysisTime time.Duration
	// MinWordLength: speech shorter than this is noise, not a word
	// (default 100ms).
	MinWordLength time.Duration
	// BetweenWordsSilence: a pause this long ends a word and the stretch
	// of speech (default 50ms).
	BetweenWordsSilence time.Duration
	// MaxWords: this many words is a machine (default 4; Asterisk's is 2,
	// which takes "Hello, who is this?" for a machine).
	MaxWords int
	// MaxWordLength: one word this long is a machine (default 5s).
	MaxWordLength time.Duration
	// SilenceThreshold is the mean absolute sample value below which a
	// frame is silence (default 256, as Asterisk; about -42 dBFS).
	SilenceThreshold int
}

// withDefaults fills in the zero fields.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.InitialSilence, 2500*time.Millisecond)
	def(&c.Greeting, 1500*time.Millisecond)
	def(&c.AfterGreetingSilence, 800*time.Millisecond)
	def(&c.TotalAnalysisTime, 5*time.Second)
	def(&c.MinWordLength, 100*time.Millisecond)
	def(&c.BetweenWordsSilence, 50*time.Millisecond)
	def(&c.MaxWordLength, 5*time.Second)
	if c.MaxWords == 0 {
		c.MaxWords = 4
	}
	if c.SilenceThreshold == 0 {
		c.SilenceThreshold = 256
	}
	if c.InitialSilenceVerdict == "" {
		c.InitialSilenceVerdict = Unsure
	}
	return c
}

// Validate says what is wrong with the settings, if anything.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	for name, d := range map[string]time.Duration{"initial silence": c.InitialSilence, "greeting": c.Greeting,
		"after-greeting silence": c.AfterGreetingSilence, "total analysis time": c.TotalAnalysisTime, "minimum word length": c.MinWordLength,
		"between-words silence": c.BetweenWordsSilence, "maximum word length": c.MaxWordLength} {
		if d < frameLen || d > time.Minute {
			errs = append(errs, fmt.Errorf("machine detection: %s %s must be between 20ms and 1m", name, d))
		}
	}
	if c.MaxWords < 1 || c.MaxWords > 100 {
		errs = append(errs, fmt.Errorf("machine detection: maximum words %d must be between 1 and 100", c.MaxWords))
	}
	if c.SilenceThreshold < 1 || c.SilenceThreshold > math.MaxInt16 {
		errs = append(errs, fmt.Errorf("machine detection: silence threshold %d must be between 1 and 32767", c.SilenceThreshold))
	}
	if c.InitialSilenceVerdict != Unsure && c.InitialSilenceVerdict != Machine {
		errs = append(errs, fmt.Errorf("machine detection: initial silence verdict %q: use unsure or machine", c.InitialSilenceVerdict))
	}
	return errors.Join(errs...)
}

// Detector judges the far end from its audio, fed as it arrives.
type Detector struct {
	cfg Config

	frames framer
	done   bool
	result Result

	heard      time.Duration // audio judged so far
	silence    time.Duration // current run of silence
	voice      time.Duration // current word's length so far
	stretch    time.Duration // current unbroken stretch of speech
	words      int
	inWord     bool // the current voiced run has been counted as a word
	spokeAfter bool // a word was heard: silence now means a person waits
}

// New returns a detector; cfg is validated.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg.withDefaults()}, nil
}

// Result is the verdict, once there is one.
func (d *Detector) Result() (Result, bool) { return d.result, d.done }

// Feed judges more audio (8 kHz linear PCM, any length) and returns the
// verdict once it is reached; later calls return the same verdict.
func (d *Detector) Feed(pcm []int16) (Result, bool) {
	if !d.done {
		d.frames.feed(pcm, d.frame)
	}
	return d.result, d.done
}

// decide ends the analysis.
func (d *Detector) decide(v Verdict, cause string) bool {
	d.done, d.result = true, Result{Verdict: v, Cause: cause, After: d.heard, Words: d.words}
	return true
}

// frame judges 20 ms of audio and reports whether a verdict was reached.
func (d *Detector) frame(f []int16) bool {
	d.heard += frameLen
	if voiced(f, d.cfg.SilenceThreshold) {
		d.silence = 0
		d.voice += frameLen
		d.stretch += frameLen
		if !d.inWord && d.voice >= d.cfg.MinWordLength {
			d.inWord, d.spokeAfter = true, true
			d.words++
			if d.words >= d.cfg.MaxWords {
				return d.decide(Machine, "max_words")
			}
		}
		if d.voice >= d.cfg.MaxWordLength {
			return d.decide(Machine, "long_word")
		}
		if d.inWord && d.stretch >= d.cfg.Greeting {
			return d.decide(Machine, "long_greeting")
		}
	} else {
		d.silence += frameLen
		if d.silence >= d.cfg.BetweenWordsSilence {
			d.voice, d.stretch, d.inWord = 0, 0, false
		}
		if !d.spokeAfter && d.silence >= d.cfg.InitialSilence {
			return d.decide(d.cfg.InitialSilenceVerdict, "initial_silence")
		}
		if d.spokeAfter && d.silence >= d.cfg.AfterGreetingSilence {
			return d.decide(Human, "after_greeting_silence")
		}
	}
	if d.heard >= d.cfg.TotalAnalysisTime {
		return d.decide(Unsure, "max_time")
	}
	return false
}

// framer cuts audio fed in pieces of any length into 20 ms frames.
type framer struct {
	pending []int16 // less than a frame, kept for the next feed
}

// feed passes each whole frame to judge until judge returns true (done:
// the rest is dropped).
func (f *framer) feed(pcm []int16, judge func([]int16) bool) {
	if len(f.pending) > 0 {
		need := frameSamples - len(f.pending)
		if len(pcm) < need {
			f.pending = append(f.pending, pcm...)
			return
		}
		f.pending = append(f.pending, pcm[:need]...)
		pcm = pcm[need:]
		if judge(f.pending) {
			f.pending = nil
			return
		}
		f.pending = f.pending[:0]
	}
	for len(pcm) >= frameSamples {
		if judge(pcm[:frameSamples]) {
			f.pending = nil
			return
		}
		pcm = pcm[frameSamples:]
	}
	f.pending = append(f.pending, pcm...)
}

// voiced reports whether a frame's mean absolute value reaches the
// threshold.
func voiced(f []int16, threshold int) bool {
	sum := 0
	for _, s := range f {
		if s < 0 {
			sum -= int(s)
		} else {
			sum += int(s)
		}
	}
	return sum >= threshold*len(f)
}
