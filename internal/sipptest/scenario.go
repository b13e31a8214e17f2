package sipptest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Lead returns a sipp UAS scenario for one call from qualdial: it answers
// with PCMU and telephone-event 101, runs steps once the ACK is in, then
// waits for the caller's BYE. Steps are PlayPCAP, Pause, Info.
func Lead(steps ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="lead">
<recv request="INVITE" crlf="true" rrs="true">
`)
	// In-dialog requests (Info) need the INVITE's From and To; sipp
	// refuses variables that are set and never used.
	if strings.Contains(strings.Join(steps, ""), "[$caller]") {
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
<send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
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

]]></send>
<recv request="ACK" crlf="true"/>
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
	return fmt.Sprintf(`<send><![CDATA[
INFO [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$callee];tag=[pid]SIPpTag01[call_number]
To:[$caller]
[last_Call-ID:]
CSeq: %d INFO
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal=%c
Duration=100

]]></send>
<recv response="200" timeout="5000"/>
`, cseq, key)
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
