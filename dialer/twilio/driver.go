// Package twilio is qualdial's Twilio driver: calls are created with the
// REST API (twilio-go) and run by TwiML webhooks. The handlers are
// stateless — each call's engine state lives in the database, keyed by a
// random token in the webhook URLs — so any replica can serve any webhook,
// and every webhook is checked against X-Twilio-Signature.
package twilio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	twilio "github.com/twilio/twilio-go"
	twclient "github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/ivr"
)

// SessionStore keeps call sessions as JSON; *store.Store implements it.
// A session's JSON has an "attempt_id" member when the call belongs to an
// attempt (DialRequest.AttemptID).
type SessionStore interface {
	CreateSession(ctx context.Context, token string, data []byte) error
	Session(ctx context.Context, token string) ([]byte, error)
	UpdateSession(ctx context.Context, token string, fn func([]byte) ([]byte, error)) error
}

// HeardStore is a SessionStore that also keeps what a call has heard with
// its attempt: UpdateSessionHeard saves the script state fn returns on the
// session's attempt, and a state ended by the opt-out key on the
// do-not-call list, in the same transaction as the session. With it, the
// opt-out is on the list before the goodbye is said and the call can be
// settled without the worker that placed it. *store.Store implements it.
type HeardStore interface {
	UpdateSessionHeard(ctx context.Context, token string, fn func([]byte) ([]byte, *ivr.State, error)) error
}

// Config configures the driver and its webhook handler.
type Config struct {
	// AccountSID and AuthToken authenticate REST calls and sign webhooks.
	AccountSID, AuthToken string
	// PublicURL is where Twilio reaches qualdial's webhooks, e.g.
	// https://dialer.example.com — exactly as Twilio calls it, since
	// signatures cover the URL. The handler is mounted at /twilio/.
	PublicURL string
	// APIBaseURL overrides https://api.twilio.com (a proxy, or a fake
	// Twilio in tests).
	APIBaseURL string
	// Sessions stores call state. Required.
	Sessions SessionStore
	// MachineDetection asks Twilio to tell people from answering machines
	// for calls whose request does not say (campaigns do); machines are hung
	// up on and reported as the machine disposition.
	MachineDetection bool
	// Poll is how often the dialing worker looks at the call's session;
	// default 100ms.
	Poll time.Duration
	// WebhookReadTimeout bounds the time to read a webhook's body; default
	// 10s. Twilio sends its few hundred bytes at once: a body that trickles
	// in is not Twilio, and must not hold a connection open.
	WebhookReadTimeout time.Duration
	// HTTPClient for REST calls; default 15s timeout.
	HTTPClient *http.Client
	// Now is the clock of the call timelines; nil means time.Now (serve
	// passes the store's, so every stored time comes from one clock).
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
	// Audio holds recorded prompt audio: a question's `audio:` path is a
	// path in it, played with <Play> from a signed, expiring URL that the
	// Handler of any replica serves. nil: no recorded audio (CheckPrompts
	// refuses scripts that need it).
	Audio fs.FS
	// AudioKey signs audio URLs; empty means the auth token. Every replica
	// needs the same key.
	AudioKey string
	// AudioTTL is how long an audio URL stays valid; default 2h.
	AudioTTL time.Duration
}

func (c *Config) validate() error {
	switch {
	case c.AccountSID == "" || c.AuthToken == "":
		return errors.New("twilio: account SID and auth token are required (console.twilio.com → Account Info)")
	case c.PublicURL == "":
		return errors.New("twilio: PublicURL is required: the https address Twilio reaches qualdial's /twilio/ webhooks at")
	case c.Sessions == nil:
		return errors.New("twilio: Sessions is required")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("twilio: PublicURL %q must be an absolute http(s) URL", c.PublicURL)
	}
	return nil
}

// Driver places calls through Twilio.
type Driver struct {
	cfg      Config
	rest     *twilio.RestClient
	public   string
	audioKey []byte

	engMu   sync.Mutex
	engines map[string]*ivr.Engine // by script text: Dial's and the webhooks'
}

var _ dialer.Driver = (*Driver)(nil)

// rewriteHost sends the REST client's requests to another base URL
// (twilio-go has no base-URL option).
type rewriteHost struct {
	target *url.URL
	next   http.RoundTripper
}

func (t rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.target.Scheme, t.target.Host, t.target.Host
	return t.next.RoundTrip(r)
}

// New returns the driver. Mount Handler() at /twilio/.
func New(cfg Config) (*Driver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.WebhookReadTimeout == 0 {
		cfg.WebhookReadTimeout = 10 * time.Second
	}
	if cfg.Poll == 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AudioTTL <= 0 {
		cfg.AudioTTL = audioTTL
	}
	key := cfg.AudioKey
	if key == "" {
		key = cfg.AuthToken
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.APIBaseURL != "" {
		u, err := url.Parse(cfg.APIBaseURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("twilio: APIBaseURL %q is not a URL", cfg.APIBaseURL)
		}
		next := hc.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		hc = &http.Client{Timeout: hc.Timeout, Transport: rewriteHost{target: u, next: next}}
	}
	c := &twclient.Client{Credentials: twclient.NewCredentials(cfg.AccountSID, cfg.AuthToken), HTTPClient: hc}
	c.SetAccountSid(cfg.AccountSID)
	return &Driver{cfg: cfg, rest: twilio.NewRestClientWithParams(twilio.ClientParams{Client: c}),
		public: strings.TrimSuffix(cfg.PublicURL, "/"), audioKey: []byte(key)}, nil
}

// session is one call's state, shared by the worker and the webhooks.
type session struct {
	Token      string `json:"token"`
	CallSid    string `json:"call_sid,omitempty"`
	Status     string `json:"status"` // Twilio's CallStatus, last seen
	AnsweredBy string `json:"answered_by,omitempty"`
	// Attestation is the STIR/SHAKEN attestation Twilio gave the call
	// (StirStatus of its ringing and in-progress callbacks).
	Attestation string `json:"attestation,omitempty"`
	ErrorCode   int    `json:"error_code,omitempty"`
	Answered    bool   `json:"answered"`
	Machine     bool   `json:"machine,omitempty"`
	// MachineMode is hangup or message: what a machine gets.
	MachineMode string            `json:"machine_mode,omitempty"`
	Script      string            `json:"script"`
	Lead        map[string]string `json:"lead,omitempty"`
	Language    string            `json:"language,omitempty"`
	Voice       string            `json:"voice,omitempty"`
	State       *ivr.State        `json:"state,omitempty"`
	Turn        *ivr.Turn         `json:"turn,omitempty"` // the last turn served
	Seq         int               `json:"seq"`            // turns served; gathers carry it
	Timeline    []dialer.Event    `json:"timeline,omitempty"`
	Done        bool              `json:"done"`
	// BeforeHangup is the state before the final status closed it as a
	// hang-up mid-script, for the gather that may still bring the keys
	// pressed just before (Twilio does not order the two).
	BeforeHangup *ivr.State `json:"before_hangup,omitempty"`
	// AttemptID is the caller's attempt (DialRequest.AttemptID), 0 for none.
	AttemptID int64 `json:"attempt_id,omitempty"`
	// CallerID is the number the call presents (a transfer presents it
	// too); TransferAt when the script's transfer began (<Dial>), and
	// Transfer how it went (Dial's action callback).
	CallerID   string                 `json:"caller_id,omitempty"`
	TransferAt time.Time              `json:"transfer_at,omitzero"`
	Transfer   *dialer.TransferResult `json:"transfer,omitempty"`
}

// maxTransferTalk bounds a call whose script may transfer the lead: the
// conversation with the rep is not cut at the campaign's call length.
const maxTransferTalk = time.Hour

// engine is the engine of a script's text, parsed once (Dial and every
// webhook of its calls ask for it).
func (d *Driver) engine(script string) (*ivr.Engine, error) {
	d.engMu.Lock()
	defer d.engMu.Unlock()
	if e, ok := d.engines[script]; ok {
		return e, nil
	}
	s, ds := ivr.Parse("script.yaml", []byte(script))
	if s == nil {
		return nil, ds.Err()
	}
	e := ivr.NewEngine(s)
	if d.engines == nil || len(d.engines) > 256 {
		d.engines = map[string]*ivr.Engine{}
	}
	d.engines[script] = e
	return e, nil
}

// transfers reports whether a script has a class that transfers the lead.
func (d *Driver) transfers(script []byte) bool {
	e, err := d.engine(string(script))
	if err != nil {
		return false
	}
	for _, c := range e.Script().Classes {
		if c.Transfer != nil {
			return true
		}
	}
	return false
}

// pressed reports whether a key was heard on the call.
func (s *session) pressed() bool {
	for _, e := range s.Timeline {
		if e.Kind == "keys" {
			return true
		}
	}
	return false
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *Driver) load(ctx context.Context, token string) (*session, error) {
	b, err := d.cfg.Sessions.Session(ctx, token)
	if err != nil {
		return nil, err
	}
	var s session
	return &s, json.Unmarshal(b, &s)
}

func (d *Driver) update(ctx context.Context, token string, fn func(*session) error) (*session, error) {
	var out session
	apply := func(b []byte) ([]byte, *ivr.State, error) {
		out = session{}
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, nil, fmt.Errorf("read call session: %w", err)
		}
		before := out.State
		if err := fn(&out); err != nil {
			return nil, nil, err
		}
		nb, err := json.Marshal(&out)
		if err != nil {
			return nil, nil, fmt.Errorf("write call session: %w", err)
		}
		if out.Machine || out.State == nil || out.State == before {
			return nb, nil, nil // nothing heard
		}
		return nb, out.State, nil
	}
	var err error
	if hs, ok := d.cfg.Sessions.(HeardStore); ok {
		err = hs.UpdateSessionHeard(ctx, token, apply)
	} else {
		err = d.cfg.Sessions.UpdateSession(ctx, token, func(b []byte) ([]byte, error) {
			nb, _, err := apply(b)
			return nb, err
		})
	}
	return &out, err
}

// Dial creates the call and waits until it is answered or fails.
func (d *Driver) Dial(ctx context.Context, req dialer.DialRequest) (dialer.Call, error) {
	log := req.Logger
	if log == nil {
		log = d.cfg.Logger
	}
	req, err := req.Prepared() // the rules and defaults every driver shares
	if err != nil {
		return nil, err
	}
	if !dialer.IsE164(req.To) {
		return nil, &dialer.DialError{Disposition: dialer.InvalidNumber, Err: fmt.Errorf("twilio dials E.164 numbers, not %q", dialer.MaskPhone(req.To))}
	}
	amd := req.MachineDetection
	if amd == "" && d.cfg.MachineDetection {
		amd = "hangup"
	}
	voice, ok := VoiceFor(req.Language, req.Voice)
	if !ok {
		log.Warn("no Twilio voice speaks the script's language; using the default voice", "language", req.Language, "voice", voice.Voice)
	}
	s := &session{Token: newToken(), Status: "queued", Script: string(req.Script), Lead: req.Lead, Language: voice.Language, Voice: voice.Voice,
		AttemptID: req.AttemptID, CallerID: req.CallerID}
	if amd == "hangup" || amd == "message" {
		s.MachineMode = amd
	}
	data, _ := json.Marshal(s)
	if err := d.cfg.Sessions.CreateSession(ctx, s.Token, data); err != nil {
		return nil, &dialer.DialError{Disposition: dialer.Failed, Err: err}
	}
	ring := int(req.RingTimeout.Seconds())
	if ring < 5 {
		ring = 25
	}
	p := &api.CreateCallParams{}
	p.SetTo(req.To).SetFrom(req.CallerID).SetUrl(d.hook("voice", s.Token, 0)).SetMethod("POST").
		SetStatusCallback(d.hook("status", s.Token, 0)).SetStatusCallbackMethod("POST").
		SetStatusCallbackEvent([]string{"initiated", "ringing", "answered", "completed"}).SetTimeout(ring)
	if d.transfers(req.Script) {
		req.MaxDuration = max(req.MaxDuration, maxTransferTalk)
	}
	if req.MaxDuration > 0 {
		p.SetTimeLimit(int(req.MaxDuration.Seconds()))
	}
	if s.MachineMode != "" {
		// Asynchronous detection: the call is connected at once and the
		// person hears the first prompt with no dead air while Twilio
		// listens; the verdict comes to the amd webhook. DetectMessageEnd
		// waits for the end of a voicemail greeting (the beep), so the
		// message is left on the recording.
		mode := "Enable"
		if s.MachineMode == "message" {
			mode = "DetectMessageEnd"
		}
		p.SetMachineDetection(mode).SetAsyncAmd("true").
			SetAsyncAmdStatusCallback(d.hook("amd", s.Token, 0)).SetAsyncAmdStatusCallbackMethod("POST")
	}
	created, err := d.rest.Api.CreateCall(p)
	if err != nil {
		de := classifyRESTError(err)
		// No call: the session is over (nothing waits for it to end).
		if _, uerr := d.update(context.WithoutCancel(ctx), s.Token, func(s *session) error {
			s.Done, s.Status = true, "failed"
			return nil
		}); uerr != nil {
			log.Warn("cannot close the session of a call Twilio refused", "error", uerr)
		}
		return nil, de
	}
	sid := ""
	if created.Sid != nil {
		sid = *created.Sid
	}
	// The call exists now: whatever happens to ctx, it is recorded, and
	// stopped if Dial cannot follow it.
	if _, err := d.update(context.WithoutCancel(ctx), s.Token, func(s *session) error {
		if s.CallSid == "" {
			s.CallSid = sid
		}
		return nil
	}); err != nil {
		d.abandon(context.WithoutCancel(ctx), s.Token, sid)
		return nil, &dialer.DialError{Disposition: dialer.Failed, Ambiguous: true, Err: fmt.Errorf("record the call: %w", err)}
	}
	log = log.With("call_sid", sid)
	log.Debug("twilio call created")
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	wait := time.Duration(ring)*time.Second + 30*time.Second
	if s.MachineMode != "" {
		wait += amdWait
	}
	deadline := time.After(wait)
	answered := func() dialer.Call {
		maxDur := req.MaxDuration
		if maxDur <= 0 {
			maxDur = dialer.DefaultMaxDuration
		}
		return &call{d: d, token: s.Token, sid: sid, log: log, maxDur: maxDur, done: make(chan struct{})}
	}
	for {
		select {
		case <-ctx.Done():
			d.abandon(context.WithoutCancel(ctx), s.Token, sid)
			return nil, &dialer.DialError{Disposition: dialer.Canceled, Err: ctx.Err()}
		case <-deadline:
			if cur, err := d.load(context.WithoutCancel(ctx), s.Token); err == nil && cur.Answered && !cur.Machine {
				return answered(), nil // no verdict from machine detection: a person, as far as we know
			}
			d.abandon(context.WithoutCancel(ctx), s.Token, sid)
			return nil, &dialer.DialError{Disposition: dialer.Failed, Ambiguous: true, Err: errors.New("twilio reported neither an answer nor a final status")}
		case <-tick.C:
		}
		cur, err := d.load(ctx, s.Token)
		if err != nil {
			continue
		}
		switch {
		case cur.Machine:
			return nil, &dialer.DialError{Disposition: dialer.Machine, Reason: cur.AnsweredBy}
		case cur.Answered && cur.MachineMode != "" && cur.AnsweredBy == "" && !cur.pressed() && !cur.Done:
			// The person hears the first prompt already; the call is theirs
			// once detection says human, or they press a key (a prompt that
			// times out proves nothing: a greeting outlasts it).
		case cur.Answered:
			return answered(), nil
		case cur.Done:
			return nil, failure(cur)
		}
	}
}

// amdWait is how long after the ring timeout Dial waits for machine
// detection's verdict (Twilio's MachineDetectionTimeout is 30 s by default)
// before taking an answered call for a person's.
const amdWait = 35 * time.Second

func (d *Driver) hook(kind, token string, seq int) string {
	u := d.public + "/twilio/" + kind + "?s=" + token
	if seq > 0 {
		u += fmt.Sprintf("&seq=%d", seq)
	}
	return u
}

// abandon stops a call Dial gives up on: completed when it was answered
// (Twilio ignores canceled for a call in progress — one answered while
// machine detection listens), canceled while it rings.
func (d *Driver) abandon(ctx context.Context, token, sid string) {
	if cur, err := d.load(ctx, token); err == nil && cur.Answered {
		d.end(sid, "completed")
		return
	}
	d.end(sid, "canceled")
}

// end stops a call: canceled before the answer, completed after.
func (d *Driver) end(sid, status string) {
	if sid == "" {
		return
	}
	p := &api.UpdateCallParams{}
	p.SetStatus(status)
	if _, err := d.rest.Api.UpdateCall(sid, p); err != nil && status == "canceled" {
		p.SetStatus("completed") // answered meanwhile
		_, _ = d.rest.Api.UpdateCall(sid, p)
	}
}

// Twilio error codes that mean the number must not be called again.
var neverCall = map[int]dialer.Disposition{
	13224: dialer.InvalidNumber, 13225: dialer.Rejected, 21211: dialer.InvalidNumber, 21214: dialer.InvalidNumber,
	21217: dialer.InvalidNumber, 21610: dialer.Rejected, 32203: dialer.Rejected,
}

// failure classifies a call that ended without an answer.
func failure(s *session) *dialer.DialError {
	if d, ok := neverCall[s.ErrorCode]; ok {
		return &dialer.DialError{Disposition: d, ProviderCode: s.ErrorCode, Reason: s.Status}
	}
	switch s.Status {
	case "busy":
		return &dialer.DialError{Disposition: dialer.Busy, Reason: s.Status}
	case "no-answer":
		return &dialer.DialError{Disposition: dialer.NoAnswer, Reason: s.Status}
	case "canceled":
		return &dialer.DialError{Disposition: dialer.Canceled, Reason: s.Status}
	case "completed":
		return &dialer.DialError{Disposition: dialer.NoAnswer, Reason: "completed before an answer"}
	}
	return &dialer.DialError{Disposition: dialer.Failed, ProviderCode: s.ErrorCode, Reason: s.Status, Ambiguous: s.Status != "failed"}
}

// classifyRESTError maps a Calls.json error: 429 and queue-full answers
// are congestion (back off), others fail.
func classifyRESTError(err error) *dialer.DialError {
	var te *twclient.TwilioRestError
	if errors.As(err, &te) {
		if d, ok := neverCall[te.Code]; ok {
			return &dialer.DialError{Disposition: d, ProviderCode: te.Code, Reason: te.Message, Err: err}
		}
		if te.Status == http.StatusTooManyRequests || te.Code == 20429 || te.Status >= 500 {
			return &dialer.DialError{Disposition: dialer.Congestion, ProviderCode: te.Code, Reason: te.Message, Err: err}
		}
		return &dialer.DialError{Disposition: dialer.Failed, ProviderCode: te.Code, Reason: te.Message, Err: err}
	}
	return &dialer.DialError{Disposition: dialer.Congestion, Err: err}
}

// call is an answered Twilio call; its script runs in the webhooks.
type call struct {
	d      *Driver
	token  string
	sid    string
	log    *slog.Logger
	maxDur time.Duration
	done   chan struct{}
	once   sync.Once
}

var _ dialer.Runner = (*call)(nil)

func (c *call) ID() string { return c.sid }

// Turn is not used: the webhooks run the turns (see RunScript).
func (c *call) Turn(ctx context.Context, t ivr.Turn) (ivr.Input, error) {
	return ivr.Input{}, errors.New("twilio calls run their script in the webhooks: use dialer.RunCall")
}

func (c *call) Done() <-chan struct{} { return c.done }

func (c *call) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *call) markEnded() { c.once.Do(func() { close(c.done) }) }

// Hangup ends the call (idempotent).
func (c *call) Hangup(ctx context.Context) error {
	if !c.ended() {
		c.markEnded()
		c.d.end(c.sid, "completed")
	}
	return nil
}

// RunScript waits while the webhooks run the script, calls OnEnd as soon as
// the script has ended, and returns the outcome when Twilio reports the call
// completed.
func (c *call) RunScript(ctx context.Context, eng *ivr.Engine, opts dialer.RunOptions) dialer.Outcome {
	tick := time.NewTicker(c.d.cfg.Poll)
	defer tick.Stop()
	limit := time.After(c.maxDur + 30*time.Second)
	onEnd := false
	var out dialer.Outcome
	for {
		var s *session
		select {
		case <-ctx.Done():
			out.Err = ctx.Err()
			_ = c.Hangup(context.WithoutCancel(ctx))
		case <-limit:
			out.Err = errors.New("maximum call duration reached")
			_ = c.Hangup(context.WithoutCancel(ctx))
		case <-tick.C:
		}
		s, err := c.d.load(context.WithoutCancel(ctx), c.token)
		if err != nil {
			continue
		}
		if s.State != nil && s.State.Done() && !onEnd && opts.OnEnd != nil {
			onEnd = true
			if err := opts.OnEnd(ctx, *s.State); err != nil {
				out.Err = errors.Join(out.Err, err)
			}
		}
		if s.Done || out.Err != nil {
			c.markEnded()
			st := ivr.State{}
			if s.State != nil {
				st = *s.State
			}
			if !onEnd && opts.OnEnd != nil {
				_ = opts.OnEnd(ctx, st)
			}
			out.State, out.Result, out.Timeline = st, eng.Result(st), s.Timeline
			out.Transfer, out.Attestation = s.Transfer, s.Attestation
			if out.Transfer == nil && !s.TransferAt.IsZero() {
				// The call ended before Dial's action came: the lead hung up
				// while the rep's phone rang.
				out.Transfer = &dialer.TransferResult{Status: dialer.TransferLeadHungUp}
				if s.Turn != nil && s.Turn.Transfer != nil {
					out.Transfer.To = s.Turn.Transfer.To
				}
			}
			return out
		}
	}
}
