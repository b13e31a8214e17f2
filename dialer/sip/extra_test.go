package sip_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
)

// E.164 numbers go to the trunk's domain through the outbound proxy.
func TestTrunkAndOutboundProxy(t *testing.T) {
	t.Parallel()
	p, err := softphone.Start(softphone.Config{Personas: map[string]softphone.Persona{"+15551234567": {Keys: "9"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Trunk: "trunk.example.invalid", OutboundProxy: p.Addr().String(),
		Prompts: fixture.Hum(300 * time.Millisecond), RTPPortMin: 40000, RTPPortMax: 40100})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	call, err := d.Dial(t.Context(), dialer.DialRequest{To: "+15551234567", CallerID: "+15550100", RingTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out := dialer.Run(t.Context(), call, bant(t), dialer.RunOptions{})
	if out.Result.Outcome != ivr.OutcomeOptedOut {
		t.Fatalf("result %+v", out.Result)
	}
	if c := p.Calls(); len(c) != 1 || c[0].User != "+15551234567" {
		t.Fatalf("softphone calls %+v", c)
	}
}

func TestMaxCallDuration(t *testing.T) {
	t.Parallel()
	b := setup(t, sip.Config{}, softphone.Config{Default: softphone.Persona{}}) // answers, presses nothing
	call, err := b.driver.Dial(t.Context(), dialer.DialRequest{To: b.phone.URI("talker"), CallerID: "+15550100",
		RingTimeout: 5 * time.Second, MaxDuration: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out := dialer.Run(t.Context(), call, bant(t), dialer.RunOptions{})
	if out.Err == nil || !strings.Contains(out.Err.Error(), "maximum call duration") || out.Result.Outcome != ivr.OutcomeIncomplete {
		t.Fatalf("err %v, result %+v", out.Err, out.Result)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("call lasted %s with a 1.5s cap", d)
	}
}

// A bare sipgo phone re-INVITEs and UPDATEs mid-call: both are answered
// 200 OK, the re-INVITE with our SDP, and the call goes on.
func TestReInviteAndUpdateAreAnswered(t *testing.T) {
	t.Parallel()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr)
	ua, _ := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	defer ua.Close()
	srv, _ := sipgo.NewServer(ua)
	cli, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(addr.Port), sipgo.WithClientConnectionAddr(addr.String()))
	dsc := sipgo.NewDialogServerCache(cli, gosip.ContactHeader{Address: gosip.Uri{User: "phone", Host: "127.0.0.1", Port: addr.Port}})
	results := make(chan string, 4)
	srv.OnAck(func(req *gosip.Request, tx gosip.ServerTransaction) { _ = dsc.ReadAck(req, tx) })
	srv.OnBye(func(req *gosip.Request, tx gosip.ServerTransaction) { _ = dsc.ReadBye(req, tx) })
	srv.OnInvite(func(req *gosip.Request, tx gosip.ServerTransaction) {
		dlg, err := dsc.ReadInvite(req, tx)
		if err != nil {
			return
		}
		defer dlg.Close()
		offer, _ := media.ParseSDP(req.Body(), []media.Codec{media.PCMU})
		rtp, _ := net.ListenUDP("udp", &net.UDPAddr{IP: addr.IP})
		defer rtp.Close()
		ms, _ := media.NewSession(media.SessionConfig{Conn: rtp, Remote: offer.Addr, Codec: media.PCMU, SendEventPT: offer.EventPT, RecvEventPT: -1})
		defer ms.Close()
		answer, _ := media.BuildSDP("127.0.0.1", rtp.LocalAddr().(*net.UDPAddr).Port, []media.Codec{media.PCMU}, 7)
		if err := dlg.RespondSDP(answer); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		for _, m := range []gosip.RequestMethod{gosip.INVITE, gosip.UPDATE} {
			r := gosip.NewRequest(m, req.Contact().Address)
			if m == gosip.INVITE {
				r.SetBody(answer)
				r.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			}
			res, err := dlg.Do(ctx, r)
			switch {
			case err != nil:
				results <- string(m) + " error " + err.Error()
			case m == gosip.INVITE && !strings.Contains(string(res.Body()), "m=audio"):
				results <- "re-INVITE answered without SDP"
			default:
				results <- string(m) + " " + res.StartLine()
				if m == gosip.INVITE {
					ack := gosip.NewRequest(gosip.ACK, req.Contact().Address)
					_ = dlg.WriteRequest(ack)
				}
			}
		}
		_ = ms.SendKey('9', 100)
		<-dlg.Context().Done()
	})
	go func() { _ = srv.ServeUDP(conn) }()
	time.Sleep(100 * time.Millisecond)

	d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Prompts: fixture.Hum(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	call, err := d.Dial(t.Context(), dialer.DialRequest{To: "sip:lead@" + addr.String(), CallerID: "+15550100", RingTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out := dialer.Run(t.Context(), call, bant(t), dialer.RunOptions{})
	for range 2 {
		select {
		case r := <-results:
			if !strings.Contains(r, "200 OK") {
				t.Errorf("mid-call request: %s", r)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no mid-call request result")
		}
	}
	if out.Result.Outcome != ivr.OutcomeOptedOut {
		t.Fatalf("the call did not go on after the re-INVITE: %+v, %v", out.Result, out.Err)
	}
}
