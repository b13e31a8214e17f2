package media

import (
	"math"
	"testing"
)

// Known code points from ITU-T G.711 tables.
func TestG711KnownValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		codec Codec
		pcm   int16
		code  byte
	}{
		{PCMU, 0, 0xFF}, {PCMU, -1, 0x7F}, {PCMU, 32767, 0x80}, {PCMU, -32768, 0x00}, {PCMU, 1000, 0xCE},
		{PCMA, 0, 0xD5}, {PCMA, -8, 0x55}, {PCMA, 32767, 0xAA}, {PCMA, -32768, 0x2A}, {PCMA, 1000, 0xFA},
	} {
		if got := tc.codec.Encode(nil, []int16{tc.pcm})[0]; got != tc.code {
			t.Errorf("%s encode %d = %#02x, want %#02x", tc.codec, tc.pcm, got, tc.code)
		}
	}
	if PCMU.Silence() != PCMU.Encode(nil, []int16{0})[0] || PCMA.Silence() != PCMA.Encode(nil, []int16{0})[0] {
		t.Error("Silence() is not the encoding of 0")
	}
}

// Every code decodes to a value that encodes back to the same code, and a
// sweep of linear values round-trips within G.711's quantisation error.
func TestG711RoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []Codec{PCMU, PCMA} {
		for code := range 256 {
			lin := c.Decode(nil, []byte{byte(code)})[0]
			back := c.Encode(nil, []int16{lin})[0]
			if c.Decode(nil, []byte{back})[0] != lin {
				t.Fatalf("%s code %#02x → %d → %#02x", c, code, lin, back)
			}
		}
		for x := -32768; x <= 32767; x += 7 {
			got := int(c.Decode(nil, c.Encode(nil, []int16{int16(x)}))[0])
			// Logarithmic companding: error under ~1/16 of the magnitude plus a small floor.
			if limit := math.Abs(float64(x))/16 + 40; math.Abs(float64(got-x)) > limit {
				t.Fatalf("%s: %d → %d, error above %.0f", c, x, got, limit)
			}
		}
	}
}

func BenchmarkEncodeFrame(b *testing.B) {
	pcm := make([]int16, FrameSamples)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(float64(i)/5))
	}
	buf := make([]byte, 0, FrameSamples)
	for b.Loop() {
		buf = PCMU.Encode(buf[:0], pcm)
	}
}
