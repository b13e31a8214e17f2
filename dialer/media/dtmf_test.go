package media

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

func TestEventRoundTrip(t *testing.T) {
	t.Parallel()
	for code := range uint8(16) {
		for _, end := range []bool{false, true} {
			ev := Event{Code: code, End: end, Volume: 10, Length: 800}
			got, err := ParseEvent(ev.AppendTo(nil))
			if err != nil || got != ev {
				t.Fatalf("%+v → %+v, %v", ev, got, err)
			}
		}
	}
	if _, err := ParseEvent([]byte{1, 2}); err == nil {
		t.Error("short payload accepted")
	}
	// The bytes of the RFC 4733 example: event 5, end, volume 10, duration 800.
	if b := (Event{Code: 5, End: true, Volume: 10, Length: 800}).AppendTo(nil); !slices.Equal(b, []byte{5, 0x8a, 0x03, 0x20}) {
		t.Errorf("payload % x", b)
	}
}

func TestEventDetector(t *testing.T) {
	t.Parallel()
	seq := func(key byte) [][]byte {
		evs, _ := EventSequence(key, 5)
		var out [][]byte
		for _, e := range evs {
			out = append(out, e.AppendTo(nil))
		}
		return out
	}
	var d EventDetector
	var got []byte
	feed := func(ssrc, ts uint32, packets [][]byte) {
		for _, p := range packets {
			got = append(got, d.Feed(ssrc, ts, p)...)
		}
	}
	feed(1, 1000, seq('1'))
	feed(1, 1000, seq('1')[5:]) // late retransmitted end packets
	feed(1, 2000, seq('#'))
	feed(1, 800, seq('0'))      // timestamps and sequences need not grow
	feed(2, 2000, seq('5'))     // another SSRC with a timestamp seen before
	feed(2, 3000, seq('7')[:3]) // end packets lost...
	feed(2, 4000, seq('8'))     // ...reported when the next press starts
	feed(2, 5000, seq('9')[:2])
	if k, ok := d.Flush(); ok {
		got = append(got, k)
	}
	if _, ok := d.Flush(); ok {
		t.Error("Flush reported the same press twice")
	}
	if string(got) != "1#05789" {
		t.Fatalf("keys %q, want 1#05789", got)
	}
	if d.Feed(1, 1, []byte{200, 0x80, 0, 0}) != nil {
		t.Error("event code 200 reported as a key")
	}
}

func TestToneDetector(t *testing.T) {
	t.Parallel()
	detect := func(pcm []int16) string {
		d := NewToneDetector()
		var out []byte
		for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
			if k, ok := d.Feed(pcm[i : i+FrameSamples]); ok {
				out = append(out, k)
			}
		}
		return string(out)
	}
	var pcm []int16
	gap := make([]int16, 60*SampleRate/1000)
	for _, k := range []byte("0123456789*#ABCD") {
		pcm = append(append(pcm, Tone(k, 100)...), gap...)
	}
	if got := detect(pcm); got != "0123456789*#ABCD" {
		t.Fatalf("detected %q", got)
	}
	// Through G.711 and with noise, as on a phone line.
	r := rand.New(rand.NewSource(1))
	line := PCMU.Decode(nil, PCMU.Encode(nil, pcm))
	for i := range line {
		line[i] += int16(r.NormFloat64() * 300)
	}
	if got := detect(line); got != "0123456789*#ABCD" {
		t.Fatalf("through G.711 with noise: %q", got)
	}
	// A 20 ms blip is too short to be a key.
	if got := detect(append(Tone('5', 20), gap...)); got != "" {
		t.Errorf("20 ms tone detected as %q", got)
	}
	// Talk-off: speech-like signals — a vowel with harmonics, a chirp, noise,
	// a single tone — are not keys.
	var speech []int16
	for i := range 3 * SampleRate {
		tt := float64(i) / SampleRate
		f0 := 120 + 30*math.Sin(2*math.Pi*3*tt)
		v := 0.0
		for h := 1; h <= 20; h++ {
			v += math.Sin(2*math.Pi*f0*float64(h)*tt) * 3000 / float64(h)
		}
		speech = append(speech, int16(v))
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
	for name, sig := range map[string][]int16{"speech": speech, "chirp": chirp, "noise": noise, "single tone": single} {
		if got := detect(sig); got != "" {
			t.Errorf("%s detected as %q", name, got)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte{5, 0x8a, 0x03, 0x20})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d EventDetector
		ev, err := ParseEvent(b)
		if err == nil && len(ev.AppendTo(nil)) != 4 {
			t.Fatal("bad re-encode")
		}
		d.Feed(1, 2, b)
		d.Flush()
	})
}
