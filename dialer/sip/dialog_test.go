package sip

import (
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/dialertest"
	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/sipptest"
	"github.com/qualdial/qualdial/ivr"
)

// dialPeer calls a sipp lead running the scenario and returns the call
// and the peer.
func dialPeer(t *testing.T, scenario string, req dialer.DialRequest) (*call, *sipptest.Peer) {
	t.Helper()
	peer := sipptest.StartScenario(t, scenario)
	d, err := New(Config{ListenAddr: "127.0.0.1:0", Prompts: fixture.Hum(0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	req.To = peer.URI
	if req.CallerID == "" {
		req.CallerID = "+15550100"
	}
	req.RingTimeout = 10 * time.Second
	c, err := d.Dial(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Hangup(t.Context()) })
	return c.(*call), peer
}

// sippMessage is one SIP message in sipp's trace.
type sippMessage struct {
	received bool
	text     string
}

// messages splits sipp's message trace into messages.
func messages(trace string) []sippMessage {
	var out []sippMessage
	for _, part := range strings.Split(trace, "----------------------------------------------- ")[1:] {
		head, body, ok := strings.Cut(part, "\n\n")
		if !ok {
			continue
		}
		out = append(out, sippMessage{received: strings.Contains(head, "message received"), text: strings.TrimSpace(body)})
	}
	return out
}

// response finds the final response sipp received for its request cseq.
func response(t *testing.T, peer *sipptest.Peer, cseq string) string {
	t.Helper()
	for _, m := range messages(peer.Messages(t)) {
		if m.received && strings.HasPrefix(m.text, "SIP/2.0 ") && !strings.HasPrefix(m.text, "SIP/2.0 1") &&
			regexp.MustCompile(`(?mi)^CSeq:\s*`+regexp.QuoteMeta(cseq)+`\s*$`).MatchString(m.text) {
			return m.text
		}
	}
	return ""
}

// waitResponse waits (generously) until sipp has received the response.
func waitResponse(t *testing.T, peer *sipptest.Peer, cseq string) string {
	t.Helper()
	for range 300 {
		if r := response(t, peer, cseq); r != "" {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("sipp received no final response to %q; trace:\n%s", cseq, peer.Messages(t))
	return ""
}

var originVersion = regexp.MustCompile(`(?m)^o=qualdial \d+ (\d+) `)

// Item 5: re-INVITE and UPDATE offers are answered per RFC 3264 — direction
// mirrored, codec and address followed, o= version one up each time, 488
// for an offer with no codec of ours (the media unchanged).
func TestSippReInviteAndUpdateOffers(t *testing.T) {
	t.Parallel()
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	sinkPort := sink.LocalAddr().(*net.UDPAddr).Port
	scenario := sipptest.Lead(
		sipptest.Pause(300*time.Millisecond),
		sipptest.Offer("INVITE", 1, sipptest.SDP{Version: 1, Direction: "sendonly"}, 200),
		sipptest.Offer("INVITE", 2, sipptest.SDP{Version: 2, Direction: "inactive"}, 200),
		sipptest.Offer("INVITE", 3, sipptest.SDP{Version: 3, Direction: "recvonly"}, 200),
		sipptest.Offer("INVITE", 4, sipptest.SDP{Version: 4}, 200),
		sipptest.Offer("UPDATE", 5, sipptest.SDP{Version: 5, Payloads: "8 101", Addr: "127.0.0.1", Port: sinkPort}, 200),
		sipptest.Offer("INVITE", 6, sipptest.SDP{Version: 6, Payloads: "18"}, 488),
	)
	c, peer := dialPeer(t, scenario, dialer.DialRequest{})
	waitResponse(t, peer, "6 INVITE")

	want := []struct {
		cseq, line string
	}{
		{"1 INVITE", "a=recvonly"},
		{"2 INVITE", "a=inactive"},
		{"3 INVITE", "a=sendonly"},
		{"4 INVITE", "a=sendrecv"},
		{"5 UPDATE", "a=sendrecv"},
	}
	var versions []string
	for _, w := range want {
		r := response(t, peer, w.cseq)
		if !strings.HasPrefix(r, "SIP/2.0 200") || !strings.Contains(r, w.line) {
			t.Errorf("response to %s lacks 200 and %q:\n%s", w.cseq, w.line, r)
		}
		if m := originVersion.FindStringSubmatch(r); m != nil {
			versions = append(versions, m[1])
		} else {
			t.Errorf("response to %s has no o= line of ours:\n%s", w.cseq, r)
		}
	}
	if !slices.IsSortedFunc(versions, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	}) || len(slices.Compact(slices.Clone(versions))) != len(versions) {
		t.Errorf("o= versions %v do not grow with each answer", versions)
	}
	upd := response(t, peer, "5 UPDATE")
	if !strings.Contains(upd, "m=audio ") || !regexp.MustCompile(`(?m)^m=audio \d+ RTP/AVP 8 101\s*$`).MatchString(upd) || strings.Contains(upd, "PCMU") {
		t.Errorf("answer to the PCMA-only UPDATE is not PCMA:\n%s", upd)
	}
	if r := response(t, peer, "6 INVITE"); !strings.HasPrefix(r, "SIP/2.0 488") {
		t.Errorf("offer without a common codec: %s", r)
	}

	// The media followed the UPDATE — A-law, to the new address — and the
	// refused offer changed nothing.
	if got := c.media.Codec(); got != media.PCMA {
		t.Errorf("codec after the PCMA-only UPDATE and a refused offer: %s", got)
	}
	buf := make([]byte, 1500)
	_ = sink.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 5 {
		n, _, err := sink.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no RTP at the address of the UPDATE (packet %d): %v", i, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil || p.PayloadType != uint8(media.PCMA) {
			t.Fatalf("RTP at the new address: payload type %d, %v; want PCMA", p.PayloadType, err)
		}
	}
	_ = c.Hangup(t.Context())
	peer.Wait(t)
}

// Item 5: a re-INVITE without an offer gets our SDP as the offer in the
// 200 (a new version), and the answer in the ACK is followed.
func TestSippReInviteWithoutOffer(t *testing.T) {
	t.Parallel()
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	scenario := sipptest.Lead(
		sipptest.Pause(300*time.Millisecond),
		sipptest.InviteWithoutOffer(1, sipptest.SDP{Version: 1, Payloads: "8 101", Addr: "127.0.0.1", Port: sink.LocalAddr().(*net.UDPAddr).Port}),
	)
	c, peer := dialPeer(t, scenario, dialer.DialRequest{})
	r := waitResponse(t, peer, "1 INVITE")
	var invite string
	for _, m := range messages(peer.Messages(t)) {
		if m.received && strings.HasPrefix(m.text, "INVITE ") {
			invite = m.text
		}
	}
	first, again := originVersion.FindStringSubmatch(invite), originVersion.FindStringSubmatch(r)
	if first == nil || again == nil || first[1] == again[1] || !strings.Contains(r, "a=sendrecv") {
		t.Errorf("offer in the 200 (version %v after %v):\n%s", again, first, r)
	}
	buf := make([]byte, 1500)
	_ = sink.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := sink.ReadFromUDP(buf)
	if err != nil || n < 12 || buf[1]&0x7f != byte(media.PCMA) {
		t.Fatalf("RTP after the answer in the ACK: %d bytes, %v; want PCMA at the new address", n, err)
	}
	_ = c.Hangup(t.Context())
	peer.Wait(t)
}

// Item 7: a 200 OK without SDP after a 183 with SDP: the early SDP is the
// answer, the call goes on and its keys are heard.
func TestSippEarlySDPIn183(t *testing.T) {
	t.Parallel()
	scenario := sipptest.LeadWith(sipptest.LeadOptions{EarlySDP: true},
		sipptest.Pause(500*time.Millisecond),
		sipptest.PlayPCAP("/usr/share/sip-tester/dtmf_2833_1.pcap"),
		sipptest.Pause(500*time.Millisecond),
		sipptest.PlayPCAP("/usr/share/sip-tester/dtmf_2833_pound.pcap"),
	)
	c, peer := dialPeer(t, scenario, dialer.DialRequest{})
	if got := keys(t, c, 2, 5*time.Second); got != "1#" {
		t.Errorf("keys %q, want 1#", got)
	}
	_ = c.Hangup(t.Context())
	peer.Wait(t)
}

// Item 11 and the caller name of item 10, on the wire: User-Agent on
// requests, ;rport in Via, a=rtcp-mux offered, and a display name with a
// quote and a backslash escaped as a quoted-string, adding no header.
func TestSippWireHygiene(t *testing.T) {
	t.Parallel()
	c, peer := dialPeer(t, sipptest.Lead(),
		dialer.DialRequest{CallerName: `Acme "Sales" \ Co`})
	_ = c.Hangup(t.Context())
	peer.Wait(t)
	var invite, bye string
	for _, m := range messages(peer.Messages(t)) {
		switch {
		case m.received && strings.HasPrefix(m.text, "INVITE "):
			invite = m.text
		case m.received && strings.HasPrefix(m.text, "BYE "):
			bye = m.text
		}
	}
	for _, want := range []string{"\nUser-Agent: qualdial", ";rport", "a=rtcp-mux", `From: "Acme \"Sales\" \\ Co" <sip:+15550100@127.0.0.1>`} {
		if !strings.Contains(invite, want) {
			t.Errorf("INVITE lacks %q:\n%s", want, invite)
		}
	}
	if !strings.Contains(bye, "\nUser-Agent: qualdial") {
		t.Errorf("BYE lacks User-Agent:\n%s", bye)
	}
}

// Item 9: RTP from a source other than the latched one is dropped: forged
// telephone-events sent to our RTP port by another socket press no key
// (here 9, the opt-out) and do not take the prompts.
func TestSippForgedRTPIsIgnored(t *testing.T) {
	t.Parallel()
	scenario := sipptest.Lead(
		sipptest.Pause(300*time.Millisecond),
		sipptest.PlayPCAP("/usr/share/sip-tester/dtmf_2833_1.pcap"),
		sipptest.Pause(2500*time.Millisecond),
		sipptest.PlayPCAP("/usr/share/sip-tester/dtmf_2833_2.pcap"),
	)
	c, peer := dialPeer(t, scenario, dialer.DialRequest{})
	if got := keys(t, c, 1, 5*time.Second); got != "1" {
		t.Fatalf("first key %q, want 1", got)
	}
	// The lead's RTP is latched: now a stranger sends 9s.
	forger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	target := c.media.LocalAddr()
	stop := make(chan struct{})
	forged := make(chan int, 1)
	nines, err := media.EventSequence('9', 6)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		seq, sent := uint16(1), 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for ts := uint32(1000); ; ts += 1600 {
			for _, ev := range nines {
				select {
				case <-stop:
					forged <- sent
					return
				case <-tick.C:
				}
				p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: media.EventPT, SequenceNumber: seq, Timestamp: ts, SSRC: 0xbadbad}, Payload: ev.AppendTo(nil)}
				b, _ := p.Marshal()
				_, _ = forger.WriteToUDP(b, target)
				seq++
				sent++
			}
		}
	}()
	got := keys(t, c, 1, 6*time.Second)
	close(stop)
	if n := <-forged; n == 0 {
		t.Fatal("the forger sent nothing")
	}
	if got != "2" {
		t.Errorf("key after the forgery %q, want the lead's 2", got)
	}
	if c.media.Dropped() == 0 {
		t.Error("no forged packet was dropped")
	}
	_ = forger.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := forger.ReadFromUDP(make([]byte, 1500)); err == nil {
		t.Errorf("prompts went to the forger (%d bytes)", n)
	}
	_ = c.Hangup(t.Context())
	peer.Wait(t)
}

// holdCall dials a softphone persona that holds the call, with a media
// timeout far shorter than the hold, and runs the BANT script (2 s for a
// key) over it.
func holdCall(t *testing.T, cfg Config, per softphone.Persona) (dialer.Outcome, *ivr.Engine, softphone.Record) {
	t.Helper()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Prompts = fixture.Hum(1500 * time.Millisecond) // the hold starts 400 ms into a prompt
	cfg.MediaTimeout = 1500 * time.Millisecond
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	phone, err := softphone.Start(softphone.Config{ListenAddr: "127.0.0.1:0", Default: per})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	_, eng, err := dialertest.Script("bant")
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial(t.Context(), dialer.DialRequest{To: phone.URI("holder"), CallerID: "+15550100", RingTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out := dialer.RunCall(t.Context(), c, eng, dialer.RunOptions{Lead: map[string]string{"first_name": "Ann"}})
	var rec softphone.Record
	for range 250 {
		if calls := phone.Calls(); len(calls) == 1 && calls[0].ByeFrom != "" {
			rec = calls[0]
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out, eng, rec
}

// Item 6: the lead holds the call (sendonly, no RTP at all) for 2.7
// times the media timeout and longer than the key timeout, in the middle
// of a prompt; the call survives, the prompt resumes, the question waits,
// and the result is the one the keys give.
func TestHoldDoesNotEndTheCall(t *testing.T) {
	t.Parallel()
	steps := []string{"1", "~hold:1", "1", "1", "120#", "1"}
	out, eng, rec := holdCall(t, Config{}, softphone.Persona{Keys: strings.Join(steps, ","), HoldFor: 4 * time.Second})
	want := dialertest.Expected(eng, dialertest.Lead{Steps: []string{"1", "hold:1", "1", "1", "120#", "1"}}, map[string]string{"first_name": "Ann"})
	if out.Err != nil || out.Result.Outcome != want.Outcome || out.Result.Class != want.Class || out.Result.Total != want.Total {
		t.Fatalf("result %+v (err %v), want %+v; timeline %v", out.Result, out.Err, want, out.Timeline)
	}
	if got := out.KeysHeard(); !slices.Equal(got, []string{"1", "1", "1", "1", "120#", "1"}) {
		t.Errorf("keys heard %v", got)
	}
	if out.EndedBy != dialer.EndedByQualdial {
		t.Errorf("ended by %q", out.EndedBy)
	}
	if !slices.Equal(rec.HoldAnswers, []string{"recvonly", "sendrecv"}) {
		t.Errorf("the hold and resume were answered %v, want [recvonly sendrecv]", rec.HoldAnswers)
	}
}

// Item 6: the maximum call length still bounds a call on hold.
func TestHoldIsBoundedByMaxCallLength(t *testing.T) {
	t.Parallel()
	out, _, rec := holdCall(t, Config{MaxCallDuration: 4 * time.Second}, softphone.Persona{Keys: "~hold:1", HoldFor: time.Minute})
	if out.EndedBy != dialer.EndedByMaxLength {
		t.Errorf("ended by %q, want max_length; timeline %v", out.EndedBy, out.Timeline)
	}
	if len(rec.HoldAnswers) == 0 || rec.HoldAnswers[0] != "recvonly" {
		t.Errorf("hold answered %v", rec.HoldAnswers)
	}
}
