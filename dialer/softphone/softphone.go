// Package softphone is a real SIP user agent that plays a lead: it answers
// (or rejects, or lets ring), listens to the prompts and presses keys by
// persona — by RFC 4733, SIP INFO or in-band tones. Tests, the demo and
// users checking a trunk dial it instead of a real phone. One softphone can
// be a whole call list: the dialled number picks the persona.
package softphone

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"go.yaml.in/yaml/v3"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/media"
	"github.com/qualdial/qualdial/dialer/prompt"
)

// DTMF modes.
const (
	DTMFRFC4733 = "rfc4733"
	DTMFInfo    = "info"
	DTMFInband  = "inband"
)

// Persona is how one lead behaves.
type Persona struct {
	// Answer is answer (default), reject or noanswer.
	Answer string `yaml:"answer"`
	// Code answers reject personas (default 486 Busy Here).
	Code int `yaml:"code"`
	// Ring is how long to ring before answering (default 200ms).
	Ring time.Duration `yaml:"ring"`
	// Keys lists what to do at each prompt, comma-separated: keys to press
	// when the prompt ends (1, 120#), ~keys to press during it (barge-in),
	// timeout to press nothing, hangup to hang up when it ends, ~hangup to
	// hang up during it. hold: before keys (hold:1, ~hold:1) puts the call
	// on hold when the prompt ends (or during it, with ~) for HoldFor, then
	// takes it off hold and presses the keys once the prompt has played
	// out. Afterwards the phone waits for the caller's BYE.
	Keys string `yaml:"keys"`
	// HoldFor is how long a hold: step holds the call; default 3s.
	HoldFor time.Duration `yaml:"hold_for"`
	// DTMF is rfc4733 (default), info or inband.
	DTMF string `yaml:"dtmf"`
	// AnswerAfter makes a "busy-then-answer" lead: the first N calls get
	// Code (whatever Answer says), later ones are answered.
	AnswerAfter int `yaml:"answer_after"`
	// Silent stops sending RTP after answering (to test media timeouts).
	Silent bool `yaml:"silent"`
	// Greeting is a WAV file played from the answer on: an answering
	// machine's greeting and beep, or a person's "Hello?". Empty: the
	// phone sends silence.
	Greeting string `yaml:"greeting"`
	// GreetingAudio is the greeting as 8 kHz samples (tests); it wins over
	// Greeting, and LoadPersonas fills it from Greeting.
	GreetingAudio []int16 `yaml:"-"`

	// Habits of gateways between real leads and us, for keys sent as RFC
	// 4733 — to test that each press is heard once.
	// ToneToo leaves each key's tone in the audio beside its events.
	ToneToo bool `yaml:"tone_too"`
	// Leak sends this much of the tone in the audio before the events
	// start (gateways leak 40-60ms while they detect the key).
	Leak time.Duration `yaml:"leak"`
	// InfoToo sends each key as SIP INFO as well, just before its events.
	InfoToo bool `yaml:"info_too"`
	// DropEnd sends no End packets: the audio simply resumes.
	DropEnd bool `yaml:"drop_end"`
	// LateEnd sends each press's End packet again during the next press.
	LateEnd bool `yaml:"late_end"`

	// Attestation (A, B or C, in either case) answers as a trunk that
	// signs calls and says so: the 200 OK carries an Identity header with
	// the SHAKEN PASSporT of the INVITE's caller ID at that level (RFC
	// 8224/8588).
	Attestation string `yaml:"attestation"`
}

// Config configures a softphone.
type Config struct {
	// ListenAddr is the UDP address, e.g. 127.0.0.1:5070; port 0 picks one.
	ListenAddr string
	// Default is the persona for numbers not in Personas.
	Default Persona
	// Personas maps the dialled user part (a number or name) to a persona.
	Personas map[string]Persona
	// Username and Password, if set, are demanded with a 401 digest challenge.
	Username, Password string
	// Record keeps the audio each call heard (for Calls).
	Record bool
	// RecordDir, if set, gets a WAV file of what each answered call heard:
	// <user>-<call-id>.wav. It implies Record.
	RecordDir string
	// Logger; nil discards.
	Logger *slog.Logger
}

// maxGreeting bounds a greeting: a minute of audio.
const maxGreeting = 60 * media.SampleRate

// readGreeting reads a greeting WAV file.
func readGreeting(file string) ([]int16, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A minute of 48 kHz 16-bit stereo, and its header: refused before it
	// is decoded.
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() || st.Size() > 60*48000*2*2+4096 {
		return nil, fmt.Errorf("%s: not a regular file of at most a minute of audio (%d bytes)", file, st.Size())
	}
	pcm, err := prompt.DecodeWAV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(pcm) > maxGreeting {
		return nil, fmt.Errorf("%s: %s long; at most a minute", file, time.Duration(len(pcm))*time.Second/media.SampleRate)
	}
	return pcm, nil
}

// LoadPersonas reads a persona file: a YAML mapping of user part → persona,
// with an optional "default" entry.
func LoadPersonas(path string) (map[string]Persona, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]Persona
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a typo ("greting:") is an error, not a persona without it
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for user, p := range m {
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("%s: persona %q: %w", path, user, err)
		}
		if p.Greeting != "" && p.GreetingAudio == nil {
			file := p.Greeting
			if !filepath.IsAbs(file) {
				file = filepath.Join(filepath.Dir(path), file)
			}
			if p.GreetingAudio, err = readGreeting(file); err != nil {
				return nil, fmt.Errorf("%s: persona %q: greeting: %w", path, user, err)
			}
			m[user] = p
		}
	}
	return m, nil
}

func (p Persona) validate() error {
	if p.Attestation != "" && dialer.Attestation(p.Attestation) == "" {
		return fmt.Errorf("attestation %q: use A, B or C", p.Attestation)
	}
	switch p.Answer {
	case "", "answer", "reject", "noanswer":
	default:
		return fmt.Errorf("answer %q: use answer, reject or noanswer", p.Answer)
	}
	switch p.DTMF {
	case "", DTMFRFC4733, DTMFInfo, DTMFInband:
	default:
		return fmt.Errorf("dtmf %q: use rfc4733, info or inband", p.DTMF)
	}
	if p.Code != 0 && (p.Code < 300 || p.Code > 699) {
		return fmt.Errorf("code %d: use a SIP failure code (300-699)", p.Code)
	}
	if err := p.validateGateway(); err != nil {
		return err
	}
	_, err := parseSteps(p.Keys)
	return err
}

// Record is what happened on one call to the softphone.
type Record struct {
	User     string   // dialled user part
	From     string   // the caller's user part: the caller ID presented
	CallID   string   // SIP Call-ID
	Invites  int      // INVITEs received for this Call-ID (retransmissions aside)
	Answered bool     // 200 OK sent
	Canceled bool     // the caller sent CANCEL
	Pressed  []string // keys sent, per step
	// HoldAnswers are the directions the caller answered the phone's
	// re-INVITEs with (recvonly to a hold, sendrecv to the resume), or
	// their failure codes.
	HoldAnswers []string
	ByeFrom     string // "caller", "phone" or "" while up
	Heard       int    // samples of audio heard
	// Audio is what the call heard (8 kHz), with Config.Record.
	Audio   []int16
	File    string    // recording, with RecordDir
	Started time.Time // INVITE received
	Ended   time.Time
}

// Phone is a running softphone.
type Phone struct {
	cfg  Config
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	dsc  *sipgo.DialogServerCache
	conn net.PacketConn
	addr *net.UDPAddr
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	records []*Record
	byUser  map[string]int // calls per user, for answer_after
	nonce   string
}

// Start listens and answers calls until Close.
func Start(cfg Config) (*Phone, error) {
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RecordDir != "" {
		cfg.Record = true
		if err := os.MkdirAll(cfg.RecordDir, 0o755); err != nil {
			return nil, fmt.Errorf("softphone: record dir: %w", err)
		}
	}
	if err := cfg.Default.validate(); err != nil {
		return nil, fmt.Errorf("softphone: default persona: %w", err)
	}
	for u, p := range cfg.Personas {
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("softphone: persona %q: %w", u, err)
		}
	}
	conn, err := net.ListenPacket("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("softphone: listen: %w", err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("qualdial-softphone"), sipgo.WithUserAgentHostname(addr.IP.String()))
	if err != nil {
		conn.Close()
		return nil, err
	}
	srv, _ := sipgo.NewServer(ua)
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(addr.IP.String()), sipgo.WithClientPort(addr.Port),
		sipgo.WithClientConnectionAddr(addr.String()))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Phone{
		cfg: cfg, ua: ua, srv: srv, conn: conn, addr: addr, log: cfg.Logger, ctx: ctx, cancel: cancel,
		byUser: map[string]int{}, nonce: gosip.GenerateTagN(16),
		dsc: sipgo.NewDialogServerCache(client, gosip.ContactHeader{Address: gosip.Uri{User: "phone", Host: addr.IP.String(), Port: addr.Port}}),
	}
	srv.OnInvite(p.onInvite)
	srv.OnAck(func(req *gosip.Request, tx gosip.ServerTransaction) { _ = p.dsc.ReadAck(req, tx) })
	srv.OnBye(func(req *gosip.Request, tx gosip.ServerTransaction) {
		if err := p.dsc.ReadBye(req, tx); err != nil {
			_ = tx.Respond(gosip.NewResponseFromRequest(req, gosip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		}
	})
	srv.OnInfo(func(req *gosip.Request, tx gosip.ServerTransaction) {
		_ = tx.Respond(gosip.NewResponseFromRequest(req, gosip.StatusOK, "OK", nil))
	})
	srv.OnOptions(func(req *gosip.Request, tx gosip.ServerTransaction) {
		_ = tx.Respond(gosip.NewResponseFromRequest(req, gosip.StatusOK, "OK", nil))
	})
	go func() { _ = srv.ServeUDP(conn) }()
	// Wait until the server owns the socket, so in-dialog requests (INFO,
	// BYE) leave from it: ping ourselves with OPTIONS.
	var self gosip.Uri
	_ = gosip.ParseUri("sip:ping@"+addr.String(), &self)
	for i := 0; ; i++ {
		rctx, rcancel := context.WithTimeout(ctx, 250*time.Millisecond)
		_, err := client.Do(rctx, gosip.NewRequest(gosip.OPTIONS, self))
		rcancel()
		if err == nil {
			break
		}
		if i == 200 {
			p.Close()
			return nil, fmt.Errorf("softphone: listener did not come up: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return p, nil
}

// Addr is the softphone's SIP address.
func (p *Phone) Addr() *net.UDPAddr { return p.addr }

// URI is a SIP URI that reaches the given user on this softphone.
func (p *Phone) URI(user string) string { return fmt.Sprintf("sip:%s@%s", user, p.addr) }

// Calls returns a copy of the call records so far.
func (p *Phone) Calls() []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Record, len(p.records))
	for i, r := range p.records {
		out[i] = *r
		out[i].Pressed = append([]string(nil), r.Pressed...)
		out[i].HoldAnswers = append([]string(nil), r.HoldAnswers...)
	}
	return out
}

// Close hangs up and stops listening. It is idempotent.
func (p *Phone) Close() error {
	p.cancel()
	p.wg.Wait()
	_ = p.srv.Close()
	_ = p.ua.Close()
	return p.conn.Close()
}

func (p *Phone) update(r *Record, f func(*Record)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(r)
}

func (p *Phone) persona(user string) Persona {
	if per, ok := p.cfg.Personas[user]; ok {
		return per
	}
	if per, ok := p.cfg.Personas["default"]; ok {
		return per
	}
	return p.cfg.Default
}

// challenge demands digest credentials; it reports whether the request may
// go on.
func (p *Phone) challenge(req *gosip.Request, tx gosip.ServerTransaction) bool {
	if p.cfg.Username == "" {
		return true
	}
	chal := &digest.Challenge{Realm: "qualdial-softphone", Nonce: p.nonce, Algorithm: "MD5"}
	if h := req.GetHeader("Authorization"); h != nil {
		cred, err := digest.ParseCredentials(h.Value())
		if err == nil && cred.Username == p.cfg.Username {
			want, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: cred.URI, Username: p.cfg.Username,
				Password: p.cfg.Password, Cnonce: cred.Cnonce, Count: cred.Nc})
			if err == nil && want.Response == cred.Response {
				return true
			}
		}
		_ = tx.Respond(gosip.NewResponseFromRequest(req, gosip.StatusForbidden, "Forbidden", nil))
		return false
	}
	res := gosip.NewResponseFromRequest(req, gosip.StatusUnauthorized, "Unauthorized", nil)
	res.AppendHeader(gosip.NewHeader("WWW-Authenticate", chal.String()))
	_ = tx.Respond(res)
	return false
}

func (p *Phone) onInvite(req *gosip.Request, tx gosip.ServerTransaction) {
	if !p.challenge(req, tx) {
		return
	}
	user := req.Recipient.User
	per := p.persona(user)
	callID := req.CallID().Value()
	p.mu.Lock()
	var rec *Record
	for _, r := range p.records {
		if r.CallID == callID {
			rec = r
		}
	}
	if rec == nil {
		rec = &Record{User: user, CallID: callID, Started: time.Now()}
		if from := req.From(); from != nil {
			rec.From = from.Address.User
		}
		p.records = append(p.records, rec)
		p.byUser[user]++
	}
	rec.Invites++
	nth := p.byUser[user]
	p.mu.Unlock()

	dlg, err := p.dsc.ReadInvite(req, tx)
	if err != nil {
		return
	}
	defer dlg.Close()
	_ = dlg.Respond(gosip.StatusRinging, "Ringing", nil)

	code := per.Code
	if code == 0 {
		code = gosip.StatusBusyHere
	}
	reject := per.Answer == "reject"
	if per.AnswerAfter > 0 { // busy-then-answer: reject the first calls only
		reject = nth <= per.AnswerAfter
	}
	switch {
	case reject:
		time.Sleep(50 * time.Millisecond)
		_ = dlg.Respond(code, reasonFor(code), nil)
		p.update(rec, func(r *Record) { r.Ended = time.Now() })
		return
	case per.Answer == "noanswer":
		select {
		case <-dlg.Context().Done(): // CANCEL (sipgo answers it with 200 + 487)
			p.update(rec, func(r *Record) { r.Canceled = true; r.Ended = time.Now() })
		case <-p.ctx.Done():
		}
		return
	}
	ring := per.Ring
	if ring == 0 {
		ring = 200 * time.Millisecond
	}
	select {
	case <-time.After(ring):
	case <-dlg.Context().Done():
		p.update(rec, func(r *Record) { r.Canceled = true; r.Ended = time.Now() })
		return
	case <-p.ctx.Done():
		return
	}
	p.wg.Add(1)
	defer p.wg.Done()
	if err := p.answer(dlg, req, per, rec); err != nil {
		p.log.Warn("softphone call failed", "error", err)
	}
}

func reasonFor(code int) string {
	switch code {
	case 486:
		return "Busy Here"
	case 603:
		return "Decline"
	case 404:
		return "Not Found"
	case 480:
		return "Temporarily Unavailable"
	case 503:
		return "Service Unavailable"
	}
	return "Rejected"
}
