package amd

import (
	"math"
	"time"
)

// GreetingEndConfig sets when a machine's greeting counts as over; a zero
// field takes the default shown.
type GreetingEndConfig struct {
	// Silence after speech that ends a greeting without a beep (default
	// 2s: longer than a greeting's pauses).
	Silence time.Duration
	// MinBeep is how long a steady tone must last to be the beep (default
	// 120ms).
	MinBeep time.Duration
	// MaxWait ends the wait regardless (default 20s): a message is left
	// over whatever is still playing rather than never.
	MaxWait time.Duration
	// SilenceThreshold is as in Config (default 256).
	SilenceThreshold int
}

func (c GreetingEndConfig) withDefaults() GreetingEndConfig {
	if c.Silence <= 0 {
		c.Silence = 2 * time.Second
	}
	if c.MinBeep <= 0 {
		c.MinBeep = 120 * time.Millisecond
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 20 * time.Second
	}
	if c.SilenceThreshold <= 0 {
		c.SilenceThreshold = 256
	}
	return c
}

// Beep tones are looked for between these frequencies, every beepStep:
// answering machines and carriers' voicemail beep at 400-2000 Hz.
const (
	beepLow, beepHigh, beepStep = 350.0, 2200.0, 25.0
	nBeepBins                   = int((beepHigh-beepLow)/beepStep) + 1
	// toneShare is the part of a frame's energy one bin must carry for
	// the frame to be a tone: 1 for a pure tone on the bin, 0.81 half a
	// step off; speech spreads over many harmonics.
	toneShare = 0.6
)

// GreetingEnd tells when an answering machine's greeting is over, so that
// a message is left on the recording: when its beep ends, when it has been
// silent for a while after speaking, or after MaxWait. Feed it the audio
// that follows the machine verdict.
type GreetingEnd struct {
	cfg    GreetingEndConfig
	coef   [nBeepBins]float64
	frames framer

	heard   time.Duration
	silence time.Duration
	spoke   bool
	toneBin int           // bin of the current tone run, -1 for none
	toneRun time.Duration // length of the current tone run
	beeping bool          // the current tone run is long enough to be the beep
	done    bool
	cause   string
}

// NewGreetingEnd starts waiting for the end of a greeting; spoke says
// whether the machine was already heard speaking (else silence counts only
// once it has).
func NewGreetingEnd(cfg GreetingEndConfig, spoke bool) *GreetingEnd {
	g := &GreetingEnd{cfg: cfg.withDefaults(), spoke: spoke, toneBin: -1}
	for i := range g.coef {
		f := beepLow + float64(i)*beepStep
		g.coef[i] = 2 * math.Cos(2*math.Pi*f/SampleRate)
	}
	return g
}

// Feed takes more audio and reports, once the greeting is over, why:
// beep, silence or max_wait; later calls return the same.
func (g *GreetingEnd) Feed(pcm []int16) (cause string, done bool) {
	if !g.done {
		g.frames.feed(pcm, g.frame)
	}
	return g.cause, g.done
}

func (g *GreetingEnd) end(cause string) bool {
	g.done, g.cause = true, cause
	return true
}

func (g *GreetingEnd) frame(f []int16) bool {
	g.heard += frameLen
	bin := -1
	if voiced(f, g.cfg.SilenceThreshold) {
		g.silence = 0
		bin = g.tone(f)
		if bin < 0 {
			g.spoke = true
		}
	} else {
		g.silence += frameLen
	}
	switch {
	case bin >= 0 && g.toneBin >= 0 && abs(bin-g.toneBin) <= 1:
		g.toneRun += frameLen
	case bin >= 0:
		if g.beeping {
			return g.end("beep") // another tone right after: the beep is over
		}
		g.toneBin, g.toneRun = bin, frameLen
	default:
		if g.beeping {
			return g.end("beep")
		}
		g.toneBin, g.toneRun = -1, 0
	}
	if g.toneRun >= g.cfg.MinBeep {
		g.beeping = true
	}
	if g.spoke && !g.beeping && g.silence >= g.cfg.Silence {
		return g.end("silence")
	}
	if g.heard >= g.cfg.MaxWait {
		return g.end("max_wait")
	}
	return false
}

// tone returns the beep bin that carries most of the frame's energy, or -1
// when none carries toneShare of it.
func (g *GreetingEnd) tone(f []int16) int {
	var energy float64
	for _, s := range f {
		energy += float64(s) * float64(s)
	}
	if energy == 0 {
		return -1
	}
	best, bestPower := -1, 0.0
	for i, c := range g.coef {
		var s1, s2 float64
		for _, s := range f {
			s0 := float64(s) + c*s1 - s2
			s2, s1 = s1, s0
		}
		if p := s1*s1 + s2*s2 - c*s1*s2; p > bestPower {
			best, bestPower = i, p
		}
	}
	if 2*bestPower/(float64(len(f))*energy) < toneShare {
		return -1
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Utterance tells when the far end has said a sentence and stopped: at
// least MinSpeech of speech (pauses shorter than Gap do not end it)
// followed by Silence, within the first Within of audio — a phone that
// screens the call asking who is calling ("Please say your name and the
// reason for your call"), not a person's "Hello?". It fires once.
type Utterance struct {
	cfg    UtteranceConfig
	frames framer

	heard, speech, silence time.Duration
	done, fired            bool
}

// UtteranceConfig sets Utterance; a zero field takes the default shown.
type UtteranceConfig struct {
	MinSpeech time.Duration // default 1.2s
	Gap       time.Duration // default 300ms
	Silence   time.Duration // default 600ms
	Within    time.Duration // default 10s
	// SilenceThreshold is as in Config (default 256).
	SilenceThreshold int
}

// NewUtterance starts listening.
func NewUtterance(cfg UtteranceConfig) *Utterance {
	if cfg.MinSpeech <= 0 {
		cfg.MinSpeech = 1200 * time.Millisecond
	}
	if cfg.Gap <= 0 {
		cfg.Gap = 300 * time.Millisecond
	}
	if cfg.Silence <= 0 {
		cfg.Silence = 600 * time.Millisecond
	}
	if cfg.Within <= 0 {
		cfg.Within = 10 * time.Second
	}
	if cfg.SilenceThreshold <= 0 {
		cfg.SilenceThreshold = 256
	}
	return &Utterance{cfg: cfg}
}

// Feed takes more audio and reports true once, when a sentence has ended.
func (u *Utterance) Feed(pcm []int16) bool {
	if u.done {
		return false
	}
	u.frames.feed(pcm, u.frame)
	if u.fired && !u.done {
		u.done = true
		return true
	}
	return false
}

func (u *Utterance) frame(f []int16) bool {
	u.heard += frameLen
	if voiced(f, u.cfg.SilenceThreshold) {
		u.speech += frameLen
		u.silence = 0
	} else {
		u.silence += frameLen
		if u.silence >= u.cfg.Gap && u.speech < u.cfg.MinSpeech {
			u.speech = 0 // a word or two, then a pause: not a sentence
		}
		if u.speech >= u.cfg.MinSpeech && u.silence >= u.cfg.Silence {
			u.fired = true
			return true
		}
	}
	if u.heard >= u.cfg.Within {
		u.done = true
		return true
	}
	return false
}
