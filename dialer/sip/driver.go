// Package sip is qualdial's SIP driver: outbound calls over a SIP trunk (or
// straight to SIP URIs) with sipgo for signalling and the media package for
// RTP. It plays script prompts as G.711 and hears keys sent as RFC 4733
// telephone-events, SIP INFO or in-band tones.
package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/amd"
	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/ivr"
)

// PromptSource turns a prompt into 8 kHz audio; *prompt.Source is one.
type PromptSource interface {
	Audio(ctx context.Context, p ivr.Prompt, language, voice string) ([]int16, error)
}

// Config configures the driver. Zero values mean the documented defaults.
type Config struct {
	// ListenAddr is the local UDP address for SIP; port 0 picks a free one.
	// Default 0.0.0.0:5060.
	ListenAddr string
	// PublicHost is the address put in Via, Contact and SDP: the address
	// the trunk can reach us at. Default: the listen IP; required when
	// listening on all interfaces. A host name stays in Via and Contact;
	// the SDP gets the address it resolves to when the driver starts.
	PublicHost string
	// Trunk is host[:port] of the SIP trunk: E.164 numbers are dialled as
	// sip:+E164@Trunk. SIP URIs are dialled as they are.
	Trunk string
	// OutboundProxy (host:port) receives every INVITE, whatever its URI.
	OutboundProxy string
	// Username and Password answer 401/407 digest challenges.
	Username, Password string
	// RTPPortMin and RTPPortMax bound the RTP ports; zero: any free port.
	RTPPortMin, RTPPortMax int
	// Codecs offered, in order of preference; default PCMU, PCMA.
	Codecs []media.Codec
	// DisableInband turns off in-band DTMF detection (on by default; RFC
	// 4733 and SIP INFO are always accepted).
	DisableInband bool
	// NoResponseTimeout gives up on an INVITE that gets no response at all
	// (not even 100 Trying); default 8s. The call is then ambiguous.
	NoResponseTimeout time.Duration
	// MaxCallDuration hangs up answered calls that run longer; default 10m.
	MaxCallDuration time.Duration
	// MediaTimeout ends a call when no RTP arrives for this long; default 20s.
	MediaTimeout time.Duration
	// MachineDetection tunes answering-machine detection (calls whose
	// request asks for it); zero: the defaults of package amd.
	MachineDetection amd.Config
	// GreetingEnd tunes how the end of a machine's greeting is found before
	// a message is left; zero: package amd's defaults.
	GreetingEnd amd.GreetingEndConfig
	// Prompts renders prompt audio. Required for calls that say anything.
	Prompts PromptSource
	// UserAgent is the User-Agent header of our requests (and the Server
	// header of our responses to offers); default "qualdial". No Supported
	// header is sent: qualdial implements no SIP option tag (100rel,
	// timer, replaces…), and UPDATE is listed in Allow.
	UserAgent string
	// Logger is the driver's logger; nil discards.
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.ListenAddr == "" {
		out.ListenAddr = "0.0.0.0:5060"
	}
	if len(out.Codecs) == 0 {
		out.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	// A codec listed twice is offered once, where it first appears.
	seen := map[media.Codec]bool{}
	out.Codecs = slices.DeleteFunc(slices.Clone(out.Codecs), func(c media.Codec) bool {
		dup := seen[c]
		seen[c] = true
		return dup
	})
	if out.NoResponseTimeout == 0 {
		out.NoResponseTimeout = 8 * time.Second
	}
	if out.MaxCallDuration == 0 {
		out.MaxCallDuration = 10 * time.Minute
	}
	if out.MediaTimeout == 0 {
		out.MediaTimeout = 20 * time.Second
	}
	if out.UserAgent == "" {
		out.UserAgent = "qualdial"
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

func (c *Config) validate() error {
	host, _, err := net.SplitHostPort(c.ListenAddr)
	if err != nil {
		return fmt.Errorf("sip: ListenAddr %q must be host:port, like 0.0.0.0:5060", c.ListenAddr)
	}
	if ip := net.ParseIP(host); (host == "" || (ip != nil && ip.IsUnspecified())) && c.PublicHost == "" {
		return fmt.Errorf("sip: listening on all interfaces (%s): set PublicHost to the address the trunk reaches us at", c.ListenAddr)
	}
	if c.RTPPortMin < 0 || c.RTPPortMax > 65535 || c.RTPPortMin > c.RTPPortMax {
		return fmt.Errorf("sip: RTP port range %d-%d is invalid", c.RTPPortMin, c.RTPPortMax)
	}
	if (c.RTPPortMin == 0) != (c.RTPPortMax == 0) {
		return errors.New("sip: set both RTPPortMin and RTPPortMax, or neither")
	}
	for _, codec := range c.Codecs {
		if codec != media.PCMU && codec != media.PCMA {
			return fmt.Errorf("sip: codec %d is not supported: use PCMU (0) or PCMA (8)", codec)
		}
	}
	if c.NoResponseTimeout < 0 || c.MaxCallDuration < 0 || c.MediaTimeout < 0 {
		return errors.New("sip: timeouts must not be negative")
	}
	if err := c.MachineDetection.Validate(); err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	return nil
}

// Driver places SIP calls. Create it with New; Close it when done.
type Driver struct {
	cfg       Config
	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	client    *sipgo.Client
	dua       *sipgo.DialogUA
	conn      net.PacketConn
	addr      *net.UDPAddr // actual SIP listen address
	host      string       // public host
	mediaHost string       // public host as an IP address, for SDP c=
	ports     *portPool

	mu    sync.Mutex
	calls map[string]*call // by SIP dialog id

	jitter *media.JitterStats // RTP send pacing of ended calls

	audioMu sync.Mutex
	audio   map[audioKey][]byte // prompts encoded in G.711, shared by calls

	closeOnce sync.Once
}

var _ dialer.Driver = (*Driver)(nil)

// New starts the driver's SIP listener.
func New(cfg Config) (*Driver, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	conn, err := net.ListenPacket("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("sip: listen on %s: %w", cfg.ListenAddr, err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr)
	host := cfg.PublicHost
	if host == "" {
		host = addr.IP.String()
	}
	mediaHost, err := resolveHost(host)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := checkTrunkReachable(cfg, addr.IP, mediaHost); err != nil {
		conn.Close()
		return nil, err
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(host))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sip: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, fmt.Errorf("sip: %w", err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(addr.Port),
		sipgo.WithClientConnectionAddr(addr.String()), sipgo.WithClientLogger(cfg.Logger),
		sipgo.WithClientNAT()) // ;rport in Via (RFC 3581): responses come back to the port we sent from
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, fmt.Errorf("sip: %w", err)
	}
	d := &Driver{
		cfg: cfg, ua: ua, srv: srv, client: client, conn: conn, addr: addr, host: host, mediaHost: mediaHost,
		ports:  newPortPool(cfg.RTPPortMin, cfg.RTPPortMax),
		calls:  make(map[string]*call),
		jitter: &media.JitterStats{},
		audio:  make(map[audioKey][]byte),
		dua: &sipgo.DialogUA{Client: client, RewriteContact: true,
			ContactHDR: gosip.ContactHeader{Address: gosip.Uri{User: "qualdial", Host: host, Port: addr.Port}}},
	}
	srv.OnBye(d.onBye)
	srv.OnInfo(d.onInfo)
	srv.OnInvite(d.onInvite)
	srv.OnUpdate(d.onUpdate)
	srv.OnOptions(func(req *gosip.Request, tx gosip.ServerTransaction) {
		_ = tx.Respond(gosip.NewResponseFromRequest(req, gosip.StatusOK, "OK", nil))
	})
	srv.OnAck(d.onAck) // ACKs of our answers to re-INVITEs
	go func() { _ = srv.ServeUDP(conn) }()
	if err := awaitListener(client, addr); err != nil {
		d.Close()
		return nil, err
	}
	cfg.Logger.Info("sip driver listening", "addr", addr.String(), "public_host", host)
	return d, nil
}

// resolveHost returns host as an IP address, resolving a host name: SDP's
// c= line must carry an address (RFC 4566 allows names, but phones and
// gateways do not resolve them).
func resolveHost(host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", fmt.Errorf("sip: PublicHost %q does not resolve (it goes into SDP as an IP address): %w", host, err)
	}
	for _, ip := range ips { // IPv4 first: the socket is usually IPv4
		if ip.IP.To4() != nil {
			return ip.IP.String(), nil
		}
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("sip: PublicHost %q resolves to no address", host)
	}
	return ips[0].IP.String(), nil
}

// checkTrunkReachable refuses a configuration whose trunk cannot be
// reached: listening (or advertising) a loopback address while the trunk
// is elsewhere starts fine and then fails every call as congestion.
func checkTrunkReachable(cfg Config, listenIP net.IP, mediaHost string) error {
	next := cfg.Trunk // where INVITEs go first
	if cfg.OutboundProxy != "" {
		next = cfg.OutboundProxy
	}
	if next == "" {
		return nil
	}
	th := next
	if h, _, err := net.SplitHostPort(next); err == nil {
		th = h
	}
	trunkIP := net.ParseIP(th)
	if trunkIP == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, th)
		cancel()
		if err != nil || len(ips) == 0 {
			cfg.Logger.Warn("sip trunk does not resolve now; calls will fail until it does", "trunk", next, "error", err)
			return nil
		}
		trunkIP = ips[0].IP
	}
	if trunkIP.IsLoopback() {
		return nil
	}
	if listenIP.IsLoopback() {
		return fmt.Errorf("sip: listening on loopback (%s) cannot reach the trunk %s (%s): listen on an address the trunk can reach (--sip-listen 0.0.0.0:5060 with --sip-public-host set to our public address)",
			cfg.ListenAddr, next, trunkIP)
	}
	if ip := net.ParseIP(mediaHost); ip != nil && ip.IsLoopback() {
		return fmt.Errorf("sip: public host %s is a loopback address, which the trunk %s (%s) cannot reach: set --sip-public-host to the address the trunk reaches us at",
			cfg.PublicHost, next, trunkIP)
	}
	return nil
}

// awaitListener returns once the SIP server owns its socket, so that
// requests leave from it: it sends OPTIONS to itself until one is answered.
func awaitListener(client *sipgo.Client, addr *net.UDPAddr) error {
	self := *addr
	if self.IP.IsUnspecified() {
		self.IP = net.IPv4(127, 0, 0, 1)
	}
	var uri gosip.Uri
	if err := gosip.ParseUri("sip:ping@"+self.String(), &uri); err != nil {
		return err
	}
	var last error
	for range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		_, last = client.Do(ctx, gosip.NewRequest(gosip.OPTIONS, uri))
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("sip: listener on %s did not come up: %w", addr, last)
}

// Addr is the SIP listen address (with the port chosen when it was 0).
func (d *Driver) Addr() *net.UDPAddr { return d.addr }

type audioKey struct {
	text, audio, language, voice string
	codec                        media.Codec
}

// maxEncodedPrompts bounds the encoded-prompt cache; personalised prompts
// make it churn, so it is simply emptied when full.
const maxEncodedPrompts = 2048

// encoded returns a prompt's audio in the codec, encoding each prompt once:
// thousands of calls then share one read-only copy of every prompt.
func (d *Driver) encoded(ctx context.Context, p ivr.Prompt, language, voice string, codec media.Codec) ([]byte, error) {
	key := audioKey{p.Text, p.Audio, language, voice, codec}
	d.audioMu.Lock()
	b, ok := d.audio[key]
	d.audioMu.Unlock()
	if ok {
		return b, nil
	}
	pcm, err := d.cfg.Prompts.Audio(ctx, p, language, voice)
	if err != nil {
		return nil, err
	}
	b = codec.Encode(make([]byte, 0, len(pcm)), pcm)
	d.audioMu.Lock()
	if len(d.audio) >= maxEncodedPrompts {
		clear(d.audio)
	}
	d.audio[key] = b
	d.audioMu.Unlock()
	return b, nil
}

// SendJitter is how far RTP send intervals strayed from 20 ms, over every
// call that has ended.
func (d *Driver) SendJitter() *media.JitterStats { return d.jitter }

// Close stops listening and hangs up calls still up. It is idempotent.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		calls := make([]*call, 0, len(d.calls))
		for _, c := range d.calls {
			calls = append(calls, c)
		}
		d.mu.Unlock()
		for _, c := range calls {
			_ = c.Hangup(context.Background())
		}
		_ = d.srv.Close()
		_ = d.ua.Close()
		_ = d.conn.Close()
	})
	return nil
}

// CanDial implements dialer.Preflight: a phone number needs a trunk.
func (d *Driver) CanDial(to string) error {
	_, err := d.target(to)
	if errors.Is(err, dialer.ErrNotConfigured) {
		return err
	}
	return nil
}

// target turns a DialRequest's To into a SIP URI.
func (d *Driver) target(to string) (gosip.Uri, error) {
	var uri gosip.Uri
	switch {
	case strings.HasPrefix(to, "sip:") || strings.HasPrefix(to, "sips:"):
		if err := gosip.ParseUri(to, &uri); err != nil {
			return uri, fmt.Errorf("invalid SIP URI %q: %w", to, err)
		}
		return uri, nil
	case strings.HasPrefix(to, "+") && len(to) > 4 && strings.Trim(to[1:], "0123456789") == "":
		if d.cfg.Trunk == "" {
			return uri, fmt.Errorf("cannot dial %s: no SIP trunk is configured for phone numbers (--sip-trunk): %w", dialer.MaskPhone(to), dialer.ErrNotConfigured)
		}
		err := gosip.ParseUri("sip:"+to+"@"+d.cfg.Trunk, &uri)
		return uri, err
	}
	return uri, fmt.Errorf("cannot dial %q: use an E.164 number (+15551234567) or a SIP URI", to)
}

// Dial places a call and returns it once answered.
func (d *Driver) Dial(ctx context.Context, req dialer.DialRequest) (dialer.Call, error) {
	log := req.Logger
	if log == nil {
		log = d.cfg.Logger
	}
	log = log.With("to", dialer.MaskPhone(req.To))
	uri, err := d.target(req.To)
	if errors.Is(err, dialer.ErrNotConfigured) {
		return nil, &dialer.DialError{Disposition: dialer.Failed, Reason: "no SIP trunk configured", Err: err}
	}
	if err != nil {
		return nil, &dialer.DialError{Disposition: dialer.InvalidNumber, Err: err}
	}
	if req.CallerID == "" {
		return nil, &dialer.DialError{Disposition: dialer.Failed, Err: errors.New("no caller ID: one is required to place calls")}
	}
	rtpConn, err := d.ports.listen(d.addr.IP)
	if err != nil {
		return nil, &dialer.DialError{Disposition: dialer.Failed, Err: fmt.Errorf("rtp port: %w", err)}
	}
	keepConn := false
	defer func() {
		if !keepConn {
			rtpConn.Close()
		}
	}()
	sdpID := rand.Uint64() >> 1
	local := media.LocalSDP{Host: d.mediaHost, Port: rtpConn.LocalAddr().(*net.UDPAddr).Port, Codecs: d.cfg.Codecs,
		EventPT: media.EventPT, SessionID: sdpID, Version: sdpID, RTCPMux: true}
	offer, err := local.Marshal()
	if err != nil {
		return nil, &dialer.DialError{Disposition: dialer.Failed, Err: err}
	}

	invite := gosip.NewRequest(gosip.INVITE, uri)
	invite.SetBody(offer)
	from := &gosip.FromHeader{DisplayName: quotedStringBody(req.CallerName), Address: gosip.Uri{User: req.CallerID, Host: d.host}, Params: gosip.NewParams()}
	from.Params.Add("tag", gosip.GenerateTagN(16))
	invite.AppendHeader(from)
	invite.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	invite.AppendHeader(gosip.NewHeader("Allow", allow))
	invite.AppendHeader(gosip.NewHeader("User-Agent", d.cfg.UserAgent))
	if d.cfg.OutboundProxy != "" {
		invite.SetDestination(d.cfg.OutboundProxy)
	}
	timings := dialer.Timings{Sent: time.Now()}
	sess, err := d.dua.WriteInvite(ctx, invite)
	if err != nil {
		return nil, &dialer.DialError{Disposition: dialer.Congestion, Err: fmt.Errorf("send INVITE: %w", err)}
	}
	log = log.With("call_id", invite.CallID().Value())
	log.Debug("INVITE sent")

	// Ring timeout cancels (CANCEL on the wire once something answered
	// provisionally); with no response at all, give up without a CANCEL.
	ringCtx, cancelRing := context.WithCancelCause(ctx)
	defer cancelRing(nil)
	var provisional sync.Once
	gotResponse := make(chan struct{})
	ring := req.RingTimeout
	if ring <= 0 {
		ring = 25 * time.Second
	}
	ringTimer := time.AfterFunc(ring, func() {
		select {
		case <-gotResponse:
			cancelRing(errRingTimeout) // CANCEL on the wire
		default:
			cancelRing(sipgo.WaitAnswerForceCancelErr) // nothing to CANCEL yet: stop waiting
		}
	})
	defer ringTimer.Stop()
	noResponse := time.AfterFunc(d.cfg.NoResponseTimeout, func() {
		select {
		case <-gotResponse:
		default:
			cancelRing(sipgo.WaitAnswerForceCancelErr)
		}
	})
	defer noResponse.Stop()
	var earlySDP []byte // SDP of a 183 Session Progress, if any
	attestation := ""   // as a response reported it (see attestationOf)
	err = sess.WaitAnswer(ringCtx, sipgo.AnswerOptions{
		Username: d.cfg.Username, Password: d.cfg.Password,
		OnResponse: func(res *gosip.Response) error {
			provisional.Do(func() { close(gotResponse) })
			if res.IsProvisional() && res.StatusCode > 100 && timings.Ringing.IsZero() {
				timings.Ringing = time.Now()
			}
			if res.IsProvisional() && len(res.Body()) > 0 && isSDP(res) {
				earlySDP = append([]byte(nil), res.Body()...)
			}
			if a := attestationOf(res, req.CallerID); a != "" {
				attestation = a
			}
			return nil
		},
	})
	if err != nil {
		_ = sess.Close()
		return nil, d.classifyDialError(ctx, ringCtx, sess, err, gotResponse)
	}
	// Set the call up before the ACK: the far end may send INFO or a
	// re-INVITE as soon as it has the ACK.
	answer := sess.InviteResponse.Body()
	if len(answer) == 0 && earlySDP != nil {
		// A 200 without SDP after a 183 with SDP: the early answer stands
		// (RFC 3261 §13.2.1: the answer comes once, in the first reliable
		// or provisional response that carries it).
		log.Debug("200 OK without SDP: using the SDP of the 183")
		answer = earlySDP
	}
	remote, err := media.ParseSDP(answer, d.cfg.Codecs)
	if err != nil {
		log.Warn("unusable SDP answer; hanging up", "error", err, "sdp", string(answer))
		_ = sess.Ack(ctx)
		_ = sess.Bye(context.WithoutCancel(ctx))
		_ = sess.Close()
		return nil, &dialer.DialError{Disposition: dialer.Failed, SIPCode: 200, Ambiguous: true, Err: err}
	}
	// Machine detection listens from the answer on, beside the script.
	// Without it, a phone that screens the call is answered: its question
	// gets the identification again.
	var listen *machineListener
	var screen *screenListener
	var onAudio func([]int16)
	if req.MachineDetection == dialer.MachineHangup || req.MachineDetection == dialer.MachineMessage {
		listen = newMachineListener(d.cfg.MachineDetection, d.cfg.GreetingEnd, req.MachineDetection == dialer.MachineMessage)
		onAudio = listen.feed
	} else {
		screen = newScreenListener(d.cfg.MachineDetection.SilenceThreshold)
		onAudio = screen.feed
	}
	msess, err := media.NewSession(media.SessionConfig{
		Conn: rtpConn, Remote: remote.Addr, Latch: true, Codec: remote.Codec,
		SendEventPT: remote.EventPT, RecvEventPT: media.EventPT, DetectInband: !d.cfg.DisableInband,
		DTMF: media.DTMFMode(req.DTMF), MediaTimeout: d.cfg.MediaTimeout, Logger: log, OnAudio: onAudio,
	})
	if err != nil {
		_ = sess.Ack(ctx)
		_ = sess.Bye(context.WithoutCancel(ctx))
		_ = sess.Close()
		return nil, &dialer.DialError{Disposition: dialer.Failed, SIPCode: 200, Ambiguous: true, Err: err}
	}
	keepConn = true
	timings.Answered = time.Now()
	c := newCall(d, sess, msess, req, log)
	c.listen, c.screen = listen, screen
	c.local = local
	c.timings = timings
	c.attestation = attestation
	if a := attestationOf(sess.InviteResponse, req.CallerID); a != "" {
		c.attestation = a // the 200 OK's word is the last
	}
	d.mu.Lock()
	d.calls[sess.ID] = c
	d.mu.Unlock()
	if err := sess.Ack(ctx); err != nil {
		_ = c.Hangup(context.WithoutCancel(ctx))
		return nil, &dialer.DialError{Disposition: dialer.Failed, SIPCode: 200, Ambiguous: true, Err: fmt.Errorf("ACK: %w", err)}
	}
	log.Info("call answered", "codec", remote.Codec.String(), "rfc4733", remote.EventPT >= 0, "attestation", c.attestation)
	return c, nil
}

var errRingTimeout = errors.New("ring timeout")

func (d *Driver) classifyDialError(ctx, ringCtx context.Context, sess *sipgo.DialogClientSession, err error, gotResponse <-chan struct{}) error {
	var resp *sipgo.ErrDialogResponse
	if errors.As(err, &resp) {
		code := resp.Res.StatusCode
		return &dialer.DialError{Disposition: dialer.ClassifySIP(code), SIPCode: code, Reason: resp.Res.Reason}
	}
	responded := false
	select {
	case <-gotResponse:
		responded = true
	default:
	}
	code, reason := 0, ""
	if r := sess.InviteResponse; r != nil && r.StatusCode >= 200 {
		code, reason = r.StatusCode, r.Reason
	}
	switch cause := context.Cause(ringCtx); {
	case errors.Is(cause, errRingTimeout):
		return &dialer.DialError{Disposition: dialer.NoAnswer, SIPCode: code, Reason: reason, Err: errRingTimeout}
	case errors.Is(cause, sipgo.WaitAnswerForceCancelErr):
		return &dialer.DialError{Disposition: dialer.Congestion, Ambiguous: true,
			Err: fmt.Errorf("no response to INVITE within %s", d.cfg.NoResponseTimeout)}
	case ctx.Err() != nil:
		return &dialer.DialError{Disposition: dialer.Canceled, SIPCode: code, Reason: reason, Ambiguous: responded && code == 0, Err: ctx.Err()}
	}
	// Transport errors, timer B: the far end may or may not have rung.
	return &dialer.DialError{Disposition: dialer.Congestion, SIPCode: code, Reason: reason, Ambiguous: responded, Err: err}
}

func (d *Driver) lookup(req *gosip.Request) *call {
	id, err := gosip.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[id]
}

func (d *Driver) forget(c *call) {
	d.mu.Lock()
	delete(d.calls, c.sess.ID)
	d.mu.Unlock()
}

func respond(tx gosip.ServerTransaction, req *gosip.Request, code int, reason string) {
	_ = tx.Respond(gosip.NewResponseFromRequest(req, code, reason, nil))
}

// onBye: the far end hung up.
func (d *Driver) onBye(req *gosip.Request, tx gosip.ServerTransaction) {
	c := d.lookup(req)
	if c == nil {
		respond(tx, req, gosip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	_ = c.sess.ReadBye(req, tx)
	c.remoteHangup()
}

// onInfo takes DTMF sent as SIP INFO (application/dtmf-relay or
// application/dtmf). The key goes to the call's key input like the keys of
// its RTP stream: the DTMF mode decides whether INFO counts, and a key
// that also came as telephone-events is heard once.
func (d *Driver) onInfo(req *gosip.Request, tx gosip.ServerTransaction) {
	c := d.lookup(req)
	if c == nil {
		respond(tx, req, gosip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(h.Value()))
	}
	key, ok := parseInfoDTMF(ct, req.Body())
	if !ok {
		respond(tx, req, gosip.StatusOK, "OK") // INFO for other packages: accept and ignore
		return
	}
	respond(tx, req, gosip.StatusOK, "OK")
	c.media.InjectKey(key)
}

// parseInfoDTMF reads "Signal=5\r\nDuration=160" (dtmf-relay) or "5" (dtmf).
func parseInfoDTMF(contentType string, body []byte) (byte, bool) {
	var sig string
	switch {
	case strings.HasPrefix(contentType, "application/dtmf-relay"):
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				sig = strings.TrimSpace(v)
			}
		}
	case strings.HasPrefix(contentType, "application/dtmf"):
		sig = strings.TrimSpace(string(body))
	default:
		return 0, false
	}
	if n, err := strconv.Atoi(sig); err == nil && n >= 0 && n < 16 { // event codes: 10 = *, 11 = #
		return media.Keys[n], true
	}
	if len(sig) == 1 {
		if _, ok := media.EventCode(strings.ToUpper(sig)[0]); ok {
			return strings.ToUpper(sig)[0], true
		}
	}
	return 0, false
}

// allow lists the methods qualdial takes within a call.
const allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"

// isSDP reports whether a message's body is SDP.
func isSDP(m interface {
	ContentType() *gosip.ContentTypeHeader
}) bool {
	ct := m.ContentType()
	return ct == nil || strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct.Value())), "application/sdp")
}

// quotedStringBody escapes a display name for a quoted-string (RFC 3261
// §25.1): backslash before " and \. sipgo adds the surrounding quotes.
// CR and LF never get here: dialer.DialRequest.Prepared refuses them; they
// are dropped here too, so that no name can start a header.
func quotedStringBody(name string) string {
	if !strings.ContainsAny(name, "\"\\\r\n") {
		return name
	}
	var b strings.Builder
	for _, r := range name {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		case '\r', '\n':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// onInvite answers re-INVITEs of our calls (RFC 3264 offer/answer: hold,
// codec and address changes), and turns away new calls: qualdial only
// calls out.
func (d *Driver) onInvite(req *gosip.Request, tx gosip.ServerTransaction) {
	c := d.lookup(req)
	if c == nil {
		respond(tx, req, gosip.StatusTemporarilyUnavailable, "qualdial does not take inbound calls")
		return
	}
	var body []byte
	var err error
	if len(req.Body()) == 0 {
		// No offer: ours goes in the 200 and the answer comes in the ACK;
		// we offer what we have (RFC 3264 §8), without changing the media.
		body, err = c.currentSDP()
	} else {
		body, err = c.answerOffer(req.Body(), "re-INVITE")
	}
	d.respondSDP(tx, req, body, err)
}

// onAck takes the answer in the ACK of a re-INVITE that carried no offer
// (we offered in the 200).
func (d *Driver) onAck(req *gosip.Request, _ gosip.ServerTransaction) {
	if len(req.Body()) == 0 {
		return
	}
	if c := d.lookup(req); c != nil {
		c.takeAnswer(req.Body())
	}
}

// onUpdate answers UPDATEs of our calls (RFC 3311): with an SDP answer when
// they carry an offer, else a plain 200 (a session refresh).
func (d *Driver) onUpdate(req *gosip.Request, tx gosip.ServerTransaction) {
	c := d.lookup(req)
	if c == nil {
		respond(tx, req, gosip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if len(req.Body()) == 0 {
		respond(tx, req, gosip.StatusOK, "OK")
		return
	}
	body, err := c.answerOffer(req.Body(), "UPDATE")
	d.respondSDP(tx, req, body, err)
}

// respondSDP answers an offer: 200 with our SDP, or 488 when the offer
// was unacceptable (the call keeps its media).
func (d *Driver) respondSDP(tx gosip.ServerTransaction, req *gosip.Request, body []byte, err error) {
	if err != nil {
		res := gosip.NewResponseFromRequest(req, gosip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		res.AppendHeader(gosip.NewHeader("Warning", `305 qualdial "`+quotedStringBody(err.Error())+`"`))
		_ = tx.Respond(res)
		return
	}
	res := gosip.NewResponseFromRequest(req, gosip.StatusOK, "OK", body)
	res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(&d.dua.ContactHDR)
	res.AppendHeader(gosip.NewHeader("Allow", allow))
	res.AppendHeader(gosip.NewHeader("Server", d.cfg.UserAgent))
	_ = tx.Respond(res)
}
