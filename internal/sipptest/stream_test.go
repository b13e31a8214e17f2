package sipptest

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/qualdial/qualdial/dialer/media"
)

// readPCAP parses what WritePCAP wrote, checking the framing.
func readPCAP(t *testing.T, path string) []Packet {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != pcapLinkEthernet {
		t.Fatalf("pcap header % x", b[:min(24, len(b))])
	}
	var out []Packet
	var first time.Time
	for off := 24; off < len(b); {
		at := time.Unix(int64(binary.LittleEndian.Uint32(b[off:])), int64(binary.LittleEndian.Uint32(b[off+4:]))*1000)
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		frame := b[off+16 : off+16+n]
		off += 16 + n
		if first.IsZero() {
			first = at
		}
		ip := frame[ethHeader:]
		if binary.BigEndian.Uint16(frame[12:]) != 0x0800 || ip[9] != 17 || checksum(ip[:ipv4Header]) != 0 ||
			int(binary.BigEndian.Uint16(ip[2:])) != len(ip) || int(binary.BigEndian.Uint16(ip[ipv4Header+4:])) != len(ip)-ipv4Header {
			t.Fatalf("bad frame % x", frame[:ethHeader+ipv4Header+udpHeader])
		}
		var p Packet
		if err := p.Unmarshal(ip[ipv4Header+udpHeader:]); err != nil {
			t.Fatal(err)
		}
		p.At = at.Sub(first)
		out = append(out, p)
	}
	return out
}

func TestStreamPCAP(t *testing.T) {
	t.Parallel()
	s := NewStream(media.PCMU, 101)
	s.Quiet(40 * time.Millisecond)
	start1 := s.Press(Press{Key: '1', ToneToo: true})
	s.Quiet(100 * time.Millisecond)
	start2 := s.Press(Press{Key: '2', Leak: 50 * time.Millisecond, NoEnd: true, LateEnd: true})
	path := filepath.Join(t.TempDir(), "s.pcap")
	if err := WritePCAP(path, s.Packets()); err != nil {
		t.Fatal(err)
	}
	pkts := readPCAP(t, path)
	if len(pkts) != len(s.Packets()) {
		t.Fatalf("%d packets read back, %d written", len(pkts), len(s.Packets()))
	}
	if start1 != 40*time.Millisecond || start2 != start1+7*media.FrameInterval+100*time.Millisecond {
		t.Errorf("presses start at %s and %s", start1, start2)
	}
	var tone1, events1, ends1, leak2, events2, ends2, lateEnds int
	var ts1 uint32
	for i, p := range pkts {
		if p.SSRC != pkts[0].SSRC || (i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1) || p.At != s.Packets()[i].At {
			t.Fatalf("packet %d: ssrc %x seq %d at %s", i, p.SSRC, p.SequenceNumber, p.At)
		}
		inPress1 := p.At >= start1 && p.At < start1+5*media.FrameInterval
		if p.PayloadType == 101 {
			ev, err := media.ParseEvent(p.Payload)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case ev.Key() == '1' && !ev.End:
				events1++
				ts1 = p.Timestamp
			case ev.Key() == '1' && p.At < start2:
				ends1++
			case ev.Key() == '1':
				lateEnds++
				if p.Timestamp != ts1 {
					t.Errorf("late End with timestamp %d, its press had %d", p.Timestamp, ts1)
				}
			case ev.Key() == '2' && ev.End:
				ends2++
			case ev.Key() == '2':
				events2++
				if p.At < start2+50*time.Millisecond {
					t.Errorf("events of 2 start at %s, before the leak ends", p.At-start2)
				}
			}
			continue
		}
		pcm := media.PCMU.Decode(nil, p.Payload)
		loud := meanSquare(pcm) > 1e6
		switch {
		case inPress1 && loud:
			tone1++
		case p.At >= start2 && p.At < start2+60*time.Millisecond && loud:
			leak2++
		case loud:
			t.Errorf("tone in the audio at %s", p.At)
		}
	}
	if events1 != 4 || ends1 != 3 || tone1 != 5 || leak2 != 3 || events2 != 4 || ends2 != 0 || lateEnds != 1 {
		t.Errorf("1: %d events, %d ends, %d tone frames; 2: %d leaked frames, %d events, %d ends; %d late ends",
			events1, ends1, tone1, leak2, events2, ends2, lateEnds)
	}
	var unordered []Packet
	unordered = append(unordered, Packet{At: time.Second, Packet: rtp.Packet{Header: rtp.Header{Version: 2}}}, Packet{})
	if err := WritePCAP(filepath.Join(t.TempDir(), "x.pcap"), unordered); err == nil {
		t.Error("packets out of order were written")
	}
}

func meanSquare(pcm []int16) float64 {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return sum / float64(max(len(pcm), 1))
}
