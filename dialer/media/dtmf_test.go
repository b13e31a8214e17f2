package media

import (
	"slices"
	"testing"
	"time"
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

// pkt is one telephone-event packet arriving at a time, or (key 0) a call
// of Expire at that time.
type pkt struct {
	ms      int // arrival, in ms from the start
	ssrc    uint32
	ts      uint32
	key     byte
	end     bool
	payload []byte // instead of key/end, when set
}

// press is the packets of one press of key, 100 ms long, the first
// arriving at ms: updates every 20 ms, then three End packets.
func press(ms int, ssrc, ts uint32, key byte) []pkt {
	var out []pkt
	for i := range 4 {
		out = append(out, pkt{ms: ms + 20*i, ssrc: ssrc, ts: ts, key: key})
	}
	for i := range 3 {
		out = append(out, pkt{ms: ms + 80 + 20*i, ssrc: ssrc, ts: ts, key: key, end: true})
	}
	return out
}

func noEnd(p []pkt) []pkt { return p[:4] }
func ends(p []pkt) []pkt  { return p[4:] }

func at(ms int) []pkt { return []pkt{{ms: ms}} } // Expire at ms

func seq(parts ...[]pkt) []pkt {
	var out []pkt
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestEventDetector(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		packets []pkt
		want    string
		wantAt  []int // when each key is reported, in ms (optional)
	}{
		{"one press, reported on its first End", press(0, 1, 1000, '1'), "1", []int{80}},
		{"120#", seq(press(0, 1, 1000, '1'), press(300, 1, 3400, '2'), press(600, 1, 5800, '0'), press(900, 1, 8200, '#')), "120#", nil},
		{"redundant End arriving after the next press started",
			seq(press(0, 1, 1000, '1'), press(300, 1, 3400, '2')[:2], ends(press(0, 1, 1000, '1'))[:1], press(300, 1, 3400, '2')[2:]),
			"12", nil},
		{"redundant End arriving after the next press ended (120# heard as 1210#)",
			seq(press(0, 1, 1000, '1'), press(300, 1, 3400, '2'), []pkt{{ms: 520, ssrc: 1, ts: 1000, key: '1', end: true}},
				press(600, 1, 5800, '0'), press(900, 1, 8200, '#')),
			"120#", nil},
		{"whole repeated update packet of an ended press",
			seq(press(0, 1, 1000, '1'), press(300, 1, 3400, '2')[:2], []pkt{{ms: 345, ssrc: 1, ts: 1000, key: '1'}}, press(300, 1, 3400, '2')[2:], at(900)),
			"12", nil},
		{"timestamps and SSRCs need not grow",
			seq(press(0, 1, 2000, '#'), press(300, 1, 800, '0'), press(600, 2, 2000, '5')), "#05", nil},
		{"End packets lost: reported when the next press starts",
			seq(noEnd(press(0, 2, 3000, '7')), press(200, 2, 4600, '8')), "78", []int{200, 280}},
		{"End packets lost: reported EventFlushAfter after the last packet, once",
			seq(noEnd(press(0, 2, 3000, '7')), at(100), at(309), at(310), at(330), press(600, 2, 7800, '8'), at(2000)),
			"78", []int{310, 680}},
		{"End packets late after the press was flushed",
			seq(noEnd(press(0, 2, 3000, '7')), at(400), ends(press(320, 2, 3000, '7')), at(2000)), "7", []int{400}},
		{"a gap in a long press's updates longer than EventFlushAfter",
			seq(noEnd(press(0, 3, 100, '4')), at(350), []pkt{{ms: 400, ssrc: 3, ts: 100, key: '4'}, {ms: 700, ssrc: 3, ts: 100, key: '4'},
				{ms: 1400, ssrc: 3, ts: 100, key: '4'}, {ms: 1500, ssrc: 3, ts: 100, key: '4', end: true}}, at(3000)),
			"4", []int{350}},
		{"one capture replayed for two presses of a key, 1.5 s apart", seq(press(0, 1, 1000, '1'), press(1600, 1, 1000, '1')), "11", nil},
		{"a timestamp reused for another key is another press",
			seq(press(0, 1, 1000, '1'), press(200, 1, 1000, '2')), "12", nil},
		{"a single End packet is a press", []pkt{{ms: 0, ssrc: 1, ts: 9, key: '9', end: true}, {ms: 1, ssrc: 1, ts: 9, key: '9', end: true}}, "9", nil},
		{"event codes above 15 and short payloads are not keys",
			[]pkt{{ms: 0, ssrc: 1, ts: 1, payload: []byte{200, 0x80, 0, 0}}, {ms: 1, ssrc: 1, ts: 2, payload: []byte{1, 0x80}}, {ms: 2000}}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d EventDetector
			var got []byte
			var when []int
			for _, p := range tc.packets {
				now := t0.Add(time.Duration(p.ms) * time.Millisecond)
				var out []Press
				switch {
				case p.payload != nil:
					out = d.Feed(nil, now, p.ssrc, p.ts, p.payload)
				case p.key == 0:
					if pr, ok := d.Expire(now); ok {
						out = append(out, pr)
					}
				default:
					code, _ := EventCode(p.key)
					out = d.Feed(nil, now, p.ssrc, p.ts, Event{Code: code, End: p.end, Volume: 10, Length: 800}.AppendTo(nil))
				}
				for _, pr := range out {
					got = append(got, pr.Key)
					when = append(when, int(now.Sub(t0)/time.Millisecond))
				}
			}
			if string(got) != tc.want {
				t.Fatalf("keys %q, want %q", got, tc.want)
			}
			if tc.wantAt != nil && !slices.Equal(when, tc.wantAt) {
				t.Errorf("reported at %v ms, want %v", when, tc.wantAt)
			}
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte{5, 0x8a, 0x03, 0x20}, uint32(7), uint16(0))
	f.Add([]byte{}, uint32(0), uint16(300))
	f.Fuzz(func(t *testing.T, b []byte, ts uint32, ms uint16) {
		ev, err := ParseEvent(b)
		if err == nil && len(ev.AppendTo(nil)) != 4 {
			t.Fatal("bad re-encode")
		}
		// Whatever arrives, a press is reported at most once: feeding the
		// packet again and expiring never repeats a key.
		var d EventDetector
		now := time.Unix(0, 0)
		n := len(d.Feed(nil, now, 1, ts, b))
		n += len(d.Feed(nil, now.Add(time.Duration(ms)*time.Millisecond), 1, ts, b))
		if _, ok := d.Expire(now.Add(time.Hour)); ok {
			n++
		}
		if n > 1 {
			t.Fatalf("one press reported %d times", n)
		}
		if n == 1 && (err != nil || ev.Key() == 0) {
			t.Fatal("a payload that is not a key was reported")
		}
	})
}
