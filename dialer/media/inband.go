package media

import "math"

// DTMF tone frequencies: rows then columns.
var (
	rowFreqs = [4]float64{697, 770, 852, 941}
	colFreqs = [4]float64{1209, 1336, 1477, 1633}
	keypad   = [4][4]byte{{'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}}
)

// Tone returns ms milliseconds of the key's DTMF tone at about -7 dBm0 per
// frequency, as 8 kHz linear samples.
func Tone(key byte, ms int) []int16 {
	for r := range 4 {
		for c := range 4 {
			if keypad[r][c] != key {
				continue
			}
			n := ms * SampleRate / 1000
			out := make([]int16, n)
			for i := range out {
				t := float64(i) / SampleRate
				out[i] = int16(7000 * (math.Sin(2*math.Pi*rowFreqs[r]*t) + math.Sin(2*math.Pi*colFreqs[c]*t)))
			}
			return out
		}
	}
	return nil
}

// ToneDetector finds DTMF keys in audio (in-band DTMF), one 20 ms frame at a
// time. A key is reported once it has been stable for two frames (40 ms), and
// again only after a frame without it. To avoid hearing keys in speech
// ("talk-off"), a frame counts only when one row and one column tone stand
// well above the others, their levels are within the twist limits, and
// together they carry most of the frame's energy.
type ToneDetector struct {
	coeffs  [8]float64
	last    byte // key in the previous frame, 0 if none
	run     int  // frames the current key has lasted
	emitted bool
}

// NewToneDetector returns a detector for 8 kHz audio.
func NewToneDetector() *ToneDetector {
	d := &ToneDetector{}
	for i, f := range append(rowFreqs[:], colFreqs[:]...) {
		d.coeffs[i] = 2 * math.Cos(2*math.Pi*f/SampleRate)
	}
	return d
}

// Feed takes one frame (ideally FrameSamples long) and returns a key when
// one is newly detected.
func (d *ToneDetector) Feed(frame []int16) (byte, bool) {
	key := d.classify(frame)
	switch {
	case key == 0:
		d.last, d.run, d.emitted = 0, 0, false
		return 0, false
	case key != d.last:
		d.last, d.run, d.emitted = key, 1, false
		return 0, false
	}
	d.run++
	if d.run >= 2 && !d.emitted {
		d.emitted = true
		return key, true
	}
	return 0, false
}

func (d *ToneDetector) classify(frame []int16) byte {
	if len(frame) < 100 {
		return 0
	}
	var power [8]float64
	energy := 0.0
	for _, s := range frame {
		energy += float64(s) * float64(s)
	}
	// Too quiet to be a key (about -45 dBm0).
	if energy/float64(len(frame)) < 2e4 {
		return 0
	}
	for i, k := range d.coeffs {
		var s1, s2 float64
		for _, x := range frame {
			s0 := float64(x) + k*s1 - s2
			s2, s1 = s1, s0
		}
		power[i] = s1*s1 + s2*s2 - k*s1*s2
	}
	r, rp := strongest(power[:4])
	c, cp := strongest(power[4:])
	// Each tone must dominate its group by 6 dB.
	for i := range 4 {
		if (i != r && power[i]*4 > rp) || (i != c && power[4+i]*4 > cp) {
			return 0
		}
	}
	// Twist: column tone at most 8 dB above or 4 dB below the row tone.
	if cp > rp*6.3 || rp > cp*2.5 {
		return 0
	}
	// The two tones carry most of the energy (Goertzel power of a pure
	// sinusoid is about N²·A²/4 while the energy is N·A²/2).
	if (rp+cp)*2/float64(len(frame)) < 0.6*energy {
		return 0
	}
	return keypad[r][c]
}

func strongest(p []float64) (int, float64) {
	best := 0
	for i := range p {
		if p[i] > p[best] {
			best = i
		}
	}
	return best, p[best]
}
