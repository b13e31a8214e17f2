package media

// Codec is a G.711 variant, identified by its static RTP payload type.
type Codec uint8

// The two G.711 codecs.
const (
	PCMU Codec = 0 // μ-law, North America and Japan
	PCMA Codec = 8 // A-law, the rest of the world
)

// SampleRate of G.711 and of all audio in this package.
const SampleRate = 8000

// FrameSamples is one 20 ms frame at 8 kHz: also its size in G.711 bytes.
const FrameSamples = 160

// String names the codec as SDP does.
func (c Codec) String() string {
	if c == PCMA {
		return "PCMA"
	}
	return "PCMU"
}

// Silence is the codec's byte for a zero sample.
func (c Codec) Silence() byte {
	if c == PCMA {
		return 0xD5
	}
	return 0xFF
}

// Encode appends the G.711 encoding of pcm to dst.
func (c Codec) Encode(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		if c == PCMA {
			dst = append(dst, linearToAlaw(s))
		} else {
			dst = append(dst, linearToUlaw(s))
		}
	}
	return dst
}

// Decode appends the linear samples of g711 to dst.
func (c Codec) Decode(dst []int16, g711 []byte) []int16 {
	table := &ulawTable
	if c == PCMA {
		table = &alawTable
	}
	for _, b := range g711 {
		dst = append(dst, table[b])
	}
	return dst
}

var ulawTable, alawTable [256]int16

func init() {
	for i := range 256 {
		ulawTable[i] = ulawToLinear(byte(i))
		alawTable[i] = alawToLinear(byte(i))
	}
}

// linearToUlaw follows ITU-T G.711 with the usual 0x84 bias.
func linearToUlaw(s int16) byte {
	const bias, clip = 0x84, 32635
	x, sign := int(s), 0
	if x < 0 {
		x, sign = -x, 0x80
	}
	x = min(x, clip) + bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	return ^byte(sign | exp<<4 | (x>>(exp+3))&0x0f)
}

func ulawToLinear(u byte) int16 {
	u = ^u
	sign, exp, mant := u&0x80, int(u>>4)&0x07, int(u&0x0f)
	x := ((mant << 3) + 0x84) << exp
	x -= 0x84
	if sign != 0 {
		return int16(-x)
	}
	return int16(x)
}

func linearToAlaw(s int16) byte {
	x := int(s) >> 3 // A-law works on 13 bits
	sign := byte(0x80)
	if x < 0 {
		x, sign = -x-1, 0
	}
	var out byte
	switch {
	case x < 32:
		out = byte(x >> 1)
	default:
		exp := 1
		for v := x >> 5; v > 1 && exp < 7; v >>= 1 {
			exp++
		}
		if x > 0xFFF {
			x = 0xFFF
		}
		out = byte(exp<<4) | byte((x>>exp)&0x0f)
	}
	return (out | sign) ^ 0x55
}

func alawToLinear(a byte) int16 {
	a ^= 0x55
	sign, exp, mant := a&0x80, int(a>>4)&0x07, int(a&0x0f)
	var x int
	if exp == 0 {
		x = (mant << 4) + 8
	} else {
		x = ((mant << 4) + 0x108) << (exp - 1)
	}
	if sign == 0 {
		return int16(-x)
	}
	return int16(x)
}
