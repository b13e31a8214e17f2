package media

import (
	"strings"
	"testing"
)

func TestSDPRoundTrip(t *testing.T) {
	t.Parallel()
	offer, err := BuildSDP("127.0.0.1", 40000, []Codec{PCMU, PCMA}, 42)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"m=audio 40000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "c=IN IP4 127.0.0.1", "a=ptime:20"} {
		if !strings.Contains(string(offer), want) {
			t.Errorf("offer lacks %q:\n%s", want, offer)
		}
	}
	rm, err := ParseSDP(offer, []Codec{PCMU, PCMA})
	if err != nil || rm.Codec != PCMU || rm.EventPT != 101 || rm.Addr.Port != 40000 {
		t.Fatalf("parse own offer: %+v, %v", rm, err)
	}
}

func TestParseSDPAnswers(t *testing.T) {
	t.Parallel()
	both := []Codec{PCMU, PCMA}
	for _, tc := range []struct {
		name, sdp string
		codecs    []Codec
		want      RemoteMedia
		err       string
	}{
		{"asterisk style", "v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\nm=audio 18000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
			both, RemoteMedia{Codec: PCMA, EventPT: 101}, ""},
		{"media-level c, no rtpmap, no DTMF", "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\nc=IN IP4 198.51.100.7\r\n",
			both, RemoteMedia{Codec: PCMU, EventPT: -1}, ""},
		{"dynamic telephone-event pt", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 7078 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n",
			both, RemoteMedia{Codec: PCMU, EventPT: 96}, ""},
		{"only a codec we did not offer", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 7078 RTP/AVP 8\r\n",
			[]Codec{PCMU}, RemoteMedia{}, "no codec we support"},
		{"rejected stream", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n",
			both, RemoteMedia{}, "no active audio"},
		{"no address", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 7078 RTP/AVP 0\r\n",
			both, RemoteMedia{}, "no connection address"},
		{"garbage", "hello", both, RemoteMedia{}, "parse SDP"},
	} {
		rm, err := ParseSDP([]byte(tc.sdp), tc.codecs)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || rm.Codec != tc.want.Codec || rm.EventPT != tc.want.EventPT {
			t.Errorf("%s: %+v, %v", tc.name, rm, err)
		}
	}
}

func FuzzParseSDP(f *testing.F) {
	offer, _ := BuildSDP("127.0.0.1", 4000, []Codec{PCMU}, 1)
	f.Add(offer)
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rm, err := ParseSDP(b, []Codec{PCMU, PCMA})
		if err == nil && (rm.Addr == nil || rm.Addr.Port <= 0) {
			t.Fatalf("accepted SDP without a usable address: %+v", rm)
		}
	})
}

func TestSDPDirections(t *testing.T) {
	t.Parallel()
	const head = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\n"
	for _, tc := range []struct {
		name, sdp string
		want      Direction
		answer    Direction
		mux       bool
	}{
		{"none said", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 7078 RTP/AVP 0\r\n", SendRecv, SendRecv, false},
		{"session level", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\na=sendonly\r\nm=audio 7078 RTP/AVP 0\r\n", SendOnly, RecvOnly, false},
		{"media level wins", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\na=sendonly\r\nm=audio 7078 RTP/AVP 0\r\na=inactive\r\na=rtcp-mux\r\n", Inactive, Inactive, true},
		{"recvonly", head + "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 7078 RTP/AVP 0\r\na=recvonly\r\n", RecvOnly, SendOnly, false},
		{"RFC 2543 hold", head + "c=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 7078 RTP/AVP 0\r\n", SendOnly, RecvOnly, false},
	} {
		rm, err := ParseSDP([]byte(tc.sdp), []Codec{PCMU})
		if err != nil || rm.Direction != tc.want || rm.Direction.Answer() != tc.answer || rm.RTCPMux != tc.mux {
			t.Errorf("%s: %+v, %v; want %s answered %s, rtcp-mux %v", tc.name, rm, err, tc.want, tc.answer, tc.mux)
		}
	}
	b, err := LocalSDP{Host: "192.0.2.1", Port: 4000, Codecs: []Codec{PCMA}, EventPT: 96, SessionID: 7, Version: 9, Direction: RecvOnly, RTCPMux: true}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"o=qualdial 7 9 IN IP4 192.0.2.1", "m=audio 4000 RTP/AVP 8 96", "a=rtpmap:96 telephone-event/8000", "a=recvonly", "a=rtcp-mux"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("answer lacks %q:\n%s", want, b)
		}
	}
	if b, _ := (LocalSDP{Host: "192.0.2.1", Port: 4000, Codecs: []Codec{PCMU}, EventPT: -1}).Marshal(); strings.Contains(string(b), "telephone-event") {
		t.Errorf("telephone-event without EventPT:\n%s", b)
	}
}
