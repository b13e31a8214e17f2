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

// The detector judges a 20 ms window of audio every 10 ms, so that a tone is
// seen whatever its phase against packet boundaries.
const (
	toneHop    = 80          // samples between windows: 10 ms
	toneWindow = 2 * toneHop // samples judged at once: 20 ms
	toneRun    = 3           // windows in a row that must agree: 40 ms of tone
	toneGap    = 3           // windows without the key before it counts again
	toneFloor  = 2e4         // mean power below which a window is silence (about -45 dBm0)
	nTones     = len(rowFreqs) + len(colFreqs)
)

// ToneDetector finds DTMF keys in audio (in-band DTMF). It judges a 20 ms
// window every 10 ms and reports a key once three windows in a row agree
// on it — 40 ms of tone, at any phase against the packets, while a 20 ms
// blip never spans three windows. A key is reported again only after three
// windows without it (about 30 ms of pause), so a 10 ms drop-out in a long
// tone does not make two keys of one. To avoid hearing keys in speech
// ("talk-off"), a window counts only when one row and one column tone stand
// well above the others, their levels are within the twist limits, and
// together they carry most of the window's energy.
//
// Each 10 ms block is run through the Goertzel filters once and windows
// are put together from two blocks, so the cost per sample is that of
// judging disjoint 20 ms frames; blocks of a quiet line are not filtered at
// all. It is not safe for concurrent use.
type ToneDetector struct {
	coef, cosw, sinw [nTones]float64 // per tone: 2cos ω, cos ω, sin ω
	rotRe, rotIm     [nTones]float64 // e^(-jω·toneHop): moves a block's sum one block later

	blocks   [2]toneBlock // the block being filled and the one before it
	cur      int          // index of the block being filled
	fill     int          // samples in it
	havePrev bool

	cand    byte // key of the latest windows, 0 for none
	run     int  // windows in a row with cand
	latched byte // key reported and not yet released
	gap     int  // windows in a row without latched

	queue []byte // keys found but not yet returned by Feed
}

// toneBlock is 10 ms of audio and, once computed, its DFT at the eight
// DTMF frequencies.
type toneBlock struct {
	pcm    [toneHop]int16
	energy float64
	re, im [nTones]float64
	done   bool // re and im are computed
}

// NewToneDetector returns a detector for 8 kHz audio.
func NewToneDetector() *ToneDetector {
	d := &ToneDetector{}
	for i, f := range append(rowFreqs[:], colFreqs[:]...) {
		w := 2 * math.Pi * f / SampleRate
		d.coef[i], d.cosw[i], d.sinw[i] = 2*math.Cos(w), math.Cos(w), math.Sin(w)
		d.rotRe[i], d.rotIm[i] = math.Cos(w*toneHop), -math.Sin(w*toneHop)
	}
	return d
}

// Detect takes audio of any length (20 ms frames in practice) and appends
// the keys newly detected in it to dst.
func (d *ToneDetector) Detect(dst []byte, pcm []int16) []byte {
	for len(pcm) > 0 {
		b := &d.blocks[d.cur]
		n := copy(b.pcm[d.fill:], pcm)
		pcm = pcm[n:]
		d.fill += n
		if d.fill < toneHop {
			break
		}
		energy := 0.0
		for _, x := range b.pcm {
			energy += float64(x) * float64(x)
		}
		b.done, b.energy = false, energy
		if d.havePrev {
			dst = d.step(dst, d.classify(&d.blocks[1-d.cur], b))
		}
		d.havePrev, d.cur, d.fill = true, 1-d.cur, 0
	}
	return dst
}

// Feed takes audio (ideally one 20 ms frame) and returns a key when one is
// newly detected. Should one frame hold two keys, the second is returned by
// the next call.
func (d *ToneDetector) Feed(frame []int16) (byte, bool) {
	d.queue = d.Detect(d.queue, frame)
	if len(d.queue) == 0 {
		return 0, false
	}
	k := d.queue[0]
	d.queue = d.queue[:copy(d.queue, d.queue[1:])]
	return k, true
}

// step takes the verdict on one window and appends a key when one is due.
func (d *ToneDetector) step(dst []byte, key byte) []byte {
	switch {
	case key == 0:
		d.cand, d.run = 0, 0
	case key == d.cand:
		d.run++
	default:
		d.cand, d.run = key, 1
	}
	if d.latched != 0 {
		if key == d.latched {
			d.gap = 0
		} else if d.gap++; d.gap >= toneGap {
			d.latched = 0
		}
	}
	if d.cand != 0 && d.run >= toneRun && d.cand != d.latched {
		d.latched, d.gap = d.cand, 0
		dst = append(dst, d.cand)
	}
	return dst
}

// goertzel computes a block's DFT at the DTMF frequencies, once.
func (d *ToneDetector) goertzel(b *toneBlock) {
	if b.done {
		return
	}
	// Four filters at a time: their recurrences are independent, so the
	// processor overlaps them.
	for g := 0; g < nTones; g += 4 {
		k0, k1, k2, k3 := d.coef[g], d.coef[g+1], d.coef[g+2], d.coef[g+3]
		var a1, a2, b1, b2, c1, c2, e1, e2 float64
		for _, v := range b.pcm {
			x := float64(v)
			a1, a2 = x+k0*a1-a2, a1
			b1, b2 = x+k1*b1-b2, b1
			c1, c2 = x+k2*c1-c2, c1
			e1, e2 = x+k3*e1-e2, e1
		}
		// s1 - e^(-jω)·s2 is the block's DFT, up to a phase common to
		// every block at this frequency.
		for i, s := range [4][2]float64{{a1, a2}, {b1, b2}, {c1, c2}, {e1, e2}} {
			b.re[g+i], b.im[g+i] = s[0]-d.cosw[g+i]*s[1], d.sinw[g+i]*s[1]
		}
	}
	b.done = true
}

// classify judges the window made of blocks a and b (b follows a) and
// returns its key, or 0.
func (d *ToneDetector) classify(a, b *toneBlock) byte {
	energy := a.energy + b.energy
	if energy/toneWindow < toneFloor {
		return 0
	}
	d.goertzel(a)
	d.goertzel(b)
	var power [nTones]float64
	for i := range power {
		re := a.re[i] + d.rotRe[i]*b.re[i] - d.rotIm[i]*b.im[i]
		im := a.im[i] + d.rotRe[i]*b.im[i] + d.rotIm[i]*b.re[i]
		power[i] = re*re + im*im
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
	// The two tones carry most of the energy (the DFT power of a pure
	// sinusoid is about N²·A²/4 while the energy is N·A²/2).
	if (rp+cp)*2/toneWindow < 0.6*energy {
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
