package sipptest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Lead returns a sipp UAS scenario for one call from qualdial: it answers
// with PCMU and telephone-event 101, runs steps once the ACK is in, then
// waits for the caller's BYE. Steps are PlayPCAP, Pause, Info, Offer.
func Lead(steps ...string) string { return LeadWith(LeadOptions{}, steps...) }

// LeadOptions vary how the lead answers.
type LeadOptions struct {
	// EarlySDP answers with 183 Session Progress carrying the SDP, then a
	// 200 OK without SDP (seen in the field).
	EarlySDP bool
}

// LeadWith is Lead answering as the options say.
func LeadWith(o LeadOptions, steps ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="lead">
<recv request="INVITE" crlf="true" rrs="true">
`)
	// In-dialog requests (Info) need the INVITE's From and To; sipp
	// refuses variables that are set and never used.
	if strings.Contains(strings.Join(steps, ""), "[$caller]") || strings.Contains(strings.Join(steps, ""), "[$callee]") {
		b.WriteString(`  <action>
    <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="caller"/>
    <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="callee"/>
  </action>
`)
	}
	b.WriteString(`</recv>
<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
<pause milliseconds="200"/>
`)
	sdp := `v=0
o=lead 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
`
	ok := `SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
`
	if o.EarlySDP {
		b.WriteString(`<send><![CDATA[
SIP/2.0 183 Session Progress
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

` + sdp + `
]]></send>
<pause milliseconds="300"/>
<send retrans="500"><![CDATA[
` + ok + `Content-Length: 0

]]></send>
`)
	} else {
		b.WriteString(`<send retrans="500"><![CDATA[
` + ok + `Content-Type: application/sdp
Content-Length: [len]

` + sdp + `
]]></send>
`)
	}
	b.WriteString(`<recv request="ACK" crlf="true"/>
`)
	for _, s := range steps {
		b.WriteString(s)
	}
	b.WriteString(`<recv request="BYE" timeout="30000"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<timewait milliseconds="500"/>
</scenario>
`)
	return b.String()
}

// PlayPCAP plays a capture to the caller's media address. It does not
// wait for the capture to end: follow it with a Pause.
func PlayPCAP(path string) string {
	return fmt.Sprintf(`<nop><action><exec play_pcap_audio=%q/></action></nop>
`, path)
}

// Pause waits.
func Pause(d time.Duration) string {
	return fmt.Sprintf("<pause milliseconds=\"%d\"/>\n", d.Milliseconds())
}

// Info sends a key as SIP INFO (application/dtmf-relay) within the call and
// waits for its 200. cseq numbers the lead's own requests: 1, 2, …
func Info(key byte, cseq int) string {
	return inDialog("INFO", "", cseq, "application/dtmf-relay", fmt.Sprintf("Signal=%c\nDuration=100\n\n", key)) +
		"<recv response=\"200\" timeout=\"5000\"/>\n"
}

// inDialog is a <send> of a request of the lead's within the call: via is
// its Via line ("" for a new transaction), contentType "" for no body.
func inDialog(method, via string, cseq int, contentType, body string) string {
	if via == "" {
		via = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"
	}
	length := "Content-Length: 0\n"
	if contentType != "" {
		length = "Content-Type: " + contentType + "\nContent-Length: [len]\n"
	}
	return fmt.Sprintf(`<send><![CDATA[
%s [next_url] SIP/2.0
%s
From:[$callee];tag=[pid]SIPpTag01[call_number]
To:[$caller]
[last_Call-ID:]
CSeq: %d %s
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
%s
%s]]></send>
`, method, via, cseq, method, length, body)
}

// SDP is an offer of the lead's audio in a re-INVITE or UPDATE. Its
// origin version must grow with each offer of a call.
type SDP struct {
	// Version is the o= session version.
	Version int
	// Payloads are the m= line's formats, e.g. "8 101"; default "0 101".
	Payloads string
	// Direction is sendrecv (default), sendonly, recvonly or inactive.
	Direction string
	// Addr is the c= address; default the lead's media address.
	Addr string
	// Port is the m= port; default the lead's media port.
	Port int
}

func (o SDP) String() string {
	payloads, dir, addr, port := o.Payloads, o.Direction, o.Addr, "[media_port]"
	if payloads == "" {
		payloads = "0 101"
	}
	if dir == "" {
		dir = "sendrecv"
	}
	if addr == "" {
		addr = "[media_ip]"
	}
	if o.Port != 0 {
		port = strconv.Itoa(o.Port)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\no=lead 53655765 %d IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[media_ip_type] %s\nt=0 0\nm=audio %s RTP/AVP %s\n",
		2353687637+o.Version, addr, port, payloads)
	for _, f := range strings.Fields(payloads) {
		switch f {
		case "0":
			b.WriteString("a=rtpmap:0 PCMU/8000\n")
		case "8":
			b.WriteString("a=rtpmap:8 PCMA/8000\n")
		case "101":
			b.WriteString("a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n")
		default:
			fmt.Fprintf(&b, "a=rtpmap:%s X-unknown/8000\n", f)
		}
	}
	fmt.Fprintf(&b, "a=ptime:20\na=%s\n", dir)
	return b.String()
}

// Offer sends an offer within the call — method INVITE (a re-INVITE) or
// UPDATE — and waits for the final response, which must have code want
// (200, or 488 for an offer qualdial cannot take); a re-INVITE's response
// is acknowledged. cseq numbers the lead's own requests: 1, 2, … The
// response is in the peer's Messages.
func Offer(method string, cseq int, sdp SDP, want int) string {
	out := inDialog(method, "", cseq, "application/sdp", sdp.String()+"\n") +
		fmt.Sprintf("<recv response=\"100\" optional=\"true\"/>\n<recv response=\"%d\" timeout=\"5000\"/>\n", want)
	if method == "INVITE" {
		via := ""
		if want >= 300 {
			via = "[last_Via:]" // the ACK of a failure is part of the INVITE's transaction
		}
		out += inDialog("ACK", via, cseq, "", "")
	}
	return out
}

// InviteWithoutOffer sends a re-INVITE without SDP (RFC 3264 §8: qualdial
// offers in its 200) and puts the answer in the ACK.
func InviteWithoutOffer(cseq int, answer SDP) string {
	return inDialog("INVITE", "", cseq, "", "") +
		"<recv response=\"100\" optional=\"true\"/>\n<recv response=\"200\" timeout=\"5000\"/>\n" +
		inDialog("ACK", "", cseq, "application/sdp", answer.String()+"\n")
}

// StartScenario writes a scenario (from Lead) to a file and runs sipp with
// it, as Start does.
func StartScenario(t testing.TB, xml string) *Peer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lead.xml")
	if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	return Start(t, path)
}
