package media

import (
	"io/fs"
	"log/slog"
	"math"
	"math/cmplx"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/scripts"
)

// detect runs pcm through a new detector in 20 ms frames, as packets bring
// it, and returns the keys heard.
func detect(pcm []int16) string {
	d := NewToneDetector()
	var out []byte
	for i := 0; i < len(pcm); i += FrameSamples {
		out = d.Detect(out, pcm[i:min(i+FrameSamples, len(pcm))])
	}
	return string(out)
}

// line passes audio through a codec and adds noise, as a phone line does.
func line(pcm []int16, c Codec, noise float64, r *rand.Rand) []int16 {
	out := c.Decode(nil, c.Encode(nil, pcm))
	for i := range out {
		out[i] = int16(max(-32768, min(32767, float64(out[i])+r.NormFloat64()*noise)))
	}
	return out
}

func silence(ms int) []int16 { return make([]int16, ms*SampleRate/1000) }

func cat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestToneDetector(t *testing.T) {
	t.Parallel()
	var pcm []int16
	for _, k := range []byte(Keys) {
		pcm = cat(pcm, Tone(k, 100), silence(60))
	}
	if got := detect(pcm); got != Keys {
		t.Fatalf("detected %q", got)
	}
	r := rand.New(rand.NewSource(1))
	for _, c := range []Codec{PCMU, PCMA} {
		if got := detect(line(pcm, c, 300, r)); got != Keys {
			t.Fatalf("through %s with noise: %q", c, got)
		}
	}
	// Feed returns the keys one at a time, whatever the frame size.
	d := NewToneDetector()
	var fed []byte
	for i := 0; i < len(pcm); i += 1000 {
		if k, ok := d.Feed(pcm[i:min(i+1000, len(pcm))]); ok {
			fed = append(fed, k)
		}
	}
	for k, ok := d.Feed(nil); ok; k, ok = d.Feed(nil) {
		fed = append(fed, k)
	}
	if string(fed) != Keys {
		t.Errorf("Feed in 125 ms pieces: %q", fed)
	}
	// Talk-off: speech-like signals — a vowel with harmonics, a chirp, noise,
	// a single tone — are not keys.
	var vowel []int16
	for i := range 3 * SampleRate {
		tt := float64(i) / SampleRate
		f0 := 120 + 30*math.Sin(2*math.Pi*3*tt)
		v := 0.0
		for h := 1; h <= 20; h++ {
			v += math.Sin(2*math.Pi*f0*float64(h)*tt) * 3000 / float64(h)
		}
		vowel = append(vowel, int16(v))
	}
	chirp := make([]int16, 2*SampleRate)
	for i := range chirp {
		tt := float64(i) / SampleRate
		chirp[i] = int16(9000 * math.Sin(2*math.Pi*(500+500*tt)*tt))
	}
	noise := make([]int16, SampleRate)
	for i := range noise {
		noise[i] = int16(r.NormFloat64() * 5000)
	}
	single := make([]int16, SampleRate)
	for i := range single {
		single[i] = int16(9000 * math.Sin(2*math.Pi*770*float64(i)/SampleRate))
	}
	for name, sig := range map[string][]int16{"vowel": vowel, "chirp": chirp, "noise": noise, "single tone": single} {
		if got := detect(sig); got != "" {
			t.Errorf("%s detected as %q", name, got)
		}
	}
}

// Every tone of 40 ms is heard exactly once, whatever its phase against the
// 20 ms packets: all 160 sample offsets, every key, both codecs, with line
// noise. Tones of 20 ms are never heard, a 10 ms drop-out does not split a
// press, and a 40 ms pause separates two presses of one key.
func TestToneDetectorEveryPhase(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewSource(2))
	for off := range FrameSamples {
		lead := make([]int16, 480+off)
		c := []Codec{PCMU, PCMA}[off%2]
		for i, k := range []byte(Keys) {
			if got := detect(line(cat(lead, Tone(k, 40), silence(100)), c, 200, r)); got != string(k) {
				t.Fatalf("40 ms of %c at offset %d through %s heard as %q", k, off, c, got)
			}
			if i%4 != off%4 {
				continue // 20 ms tones: a quarter of the keys at each offset
			}
			if got := detect(line(cat(lead, Tone(k, 20), silence(100)), c, 200, r)); got != "" {
				t.Fatalf("20 ms of %c at offset %d through %s heard as %q", k, off, c, got)
			}
		}
		tone := Tone('8', 200)
		clear(tone[800 : 800+80]) // a 10 ms drop-out
		if got := detect(line(cat(lead, tone, silence(100)), PCMU, 200, r)); got != "8" {
			t.Fatalf("200 ms of 8 with a 10 ms drop-out at offset %d heard as %q", off, got)
		}
		if got := detect(line(cat(lead, Tone('3', 40), silence(40), Tone('3', 40), silence(100)), PCMU, 200, r)); got != "33" {
			t.Fatalf("3, 40 ms pause, 3 at offset %d heard as %q", off, got)
		}
	}
}

// speech is the shipped prompt audio (scripts/prompts/*/*.ul): espeak-ng
// speech in μ-law, English and Russian, minutes of it — real speech to
// prove the detector does not hear keys in it.
func speech(t testing.TB) []int16 {
	t.Helper()
	var pcm []int16
	err := fs.WalkDir(scripts.Prompts, ".", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".ul") {
			return err
		}
		ul, err := fs.ReadFile(scripts.Prompts, path)
		pcm = append(pcm, PCMU.Decode(nil, ul)...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) < 3*60*SampleRate {
		t.Fatalf("only %.0f s of prompt audio in scripts/prompts", float64(len(pcm))/SampleRate)
	}
	return pcm
}

// Talk-off: no key in the recorded speech, played at three levels and at
// three phases against the detector's 10 ms blocks (about 50 minutes of
// speech in all; with -short, once as recorded).
func TestToneDetectorTalkOff(t *testing.T) {
	t.Parallel()
	pcm := speech(t)
	gains, offsets := []float64{0.5, 1, 2}, []int{0, 27, 53}
	if testing.Short() {
		gains, offsets = gains[1:2], offsets[:1]
	}
	total := 0
	for _, gain := range gains {
		for _, off := range offsets {
			scaled := make([]int16, off, off+len(pcm))
			for _, s := range pcm {
				scaled = append(scaled, int16(max(-32768, min(32767, float64(s)*gain))))
			}
			if got := detect(scaled); got != "" {
				t.Errorf("speech at gain %.1f, offset %d: %d false keys %q", gain, off, len(got), got)
			}
			total += len(pcm)
		}
	}
	t.Logf("%.1f minutes of speech, no false keys", float64(total)/SampleRate/60)
}

// The window put together from two 10 ms blocks is the DFT of the 20 ms
// window at each DTMF frequency.
func TestToneDetectorWindowSums(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewSource(3))
	d := NewToneDetector()
	var a, b toneBlock
	var pcm [toneWindow]int16
	for i := range pcm {
		pcm[i] = int16(r.Intn(20000) - 10000)
	}
	copy(a.pcm[:], pcm[:toneHop])
	copy(b.pcm[:], pcm[toneHop:])
	d.goertzel(&a)
	d.goertzel(&b)
	for i, f := range append(rowFreqs[:], colFreqs[:]...) {
		var want complex128
		for n, x := range pcm {
			want += complex(float64(x), 0) * cmplx.Exp(complex(0, -2*math.Pi*f*float64(n)/SampleRate))
		}
		rot := complex(d.rotRe[i], d.rotIm[i])
		got := complex(a.re[i], a.im[i]) + rot*complex(b.re[i], b.im[i])
		if w, g := cmplx.Abs(want), cmplx.Abs(got); math.Abs(w-g) > 1e-6*w {
			t.Errorf("%.0f Hz: |window| %.1f from blocks, %.1f directly", f, g, w)
		}
	}
}

// BenchmarkToneDetector is the cost of listening to one 20 ms frame: it
// runs on every audio packet of every call that listens for tones.
func BenchmarkToneDetector(b *testing.B) {
	var tones []int16
	for _, k := range []byte("123") {
		tones = cat(tones, Tone(k, 100), silence(100))
	}
	for _, bc := range []struct {
		name string
		pcm  []int16
	}{
		{"silence", silence(1000)},
		{"speech", speech(b)},
		{"tones", tones},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := NewToneDetector()
			var keys []byte
			frames := len(bc.pcm) / FrameSamples
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f := i % frames
				keys = d.Detect(keys[:0], bc.pcm[f*FrameSamples:(f+1)*FrameSamples])
			}
		})
	}
}

// However audio is cut into packets, the detector hears the same keys; and
// every key it reports stood for three windows, so reports are at least
// 30 ms apart.
func FuzzToneDetector(f *testing.F) {
	f.Add(PCMU.Encode(nil, cat(Tone('1', 60), silence(40), Tone('#', 45))), uint8(160))
	f.Add(PCMU.Encode(nil, cat(silence(5), Tone('5', 40), Tone('6', 40))), uint8(7))
	f.Add([]byte{0x00, 0x80, 0xff}, uint8(1))
	f.Fuzz(func(t *testing.T, ulaw []byte, chunk uint8) {
		pcm := PCMU.Decode(nil, ulaw)
		whole := string(NewToneDetector().Detect(nil, pcm))
		d := NewToneDetector()
		var pieces []byte
		step := int(chunk) + 1
		for i := 0; i < len(pcm); i += step {
			pieces = d.Detect(pieces, pcm[i:min(i+step, len(pcm))])
		}
		if string(pieces) != whole {
			t.Fatalf("in %d-sample pieces %q, at once %q", step, pieces, whole)
		}
		if strings.Trim(whole, Keys) != "" {
			t.Fatalf("reported %q", whole)
		}
		if windows := len(pcm)/toneHop - 1; len(whole) > max(windows, 0)/toneRun {
			t.Fatalf("%d keys in %d windows", len(whole), windows)
		}
	})
}

// BenchmarkKeyInputAudio is the whole cost of one received audio frame for
// the key input of a call that listens for tones: the detector and the
// bookkeeping around it.
func BenchmarkKeyInputAudio(b *testing.B) {
	pcm := speech(b)
	in := newKeyInput(SessionConfig{SendEventPT: 101, RecvEventPT: 101, DetectInband: true}, func(byte) {}, slog.New(slog.DiscardHandler))
	frames := len(pcm) / FrameSamples
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f := i % frames
		now = now.Add(FrameInterval)
		in.audio(now, pcm[f*FrameSamples:(f+1)*FrameSamples])
	}
}
