// Package twiliotest is a fake Twilio for tests: it takes Calls.json like
// Twilio (basic auth, form fields, a JSON CallSid back) and then calls the
// webhooks the way Twilio does — signed form posts with CallSid, CallStatus,
// Digits, AnsweredBy, status callbacks, and now and then the same webhook
// twice — acting out a persona per number. It is test code, not product.
package twiliotest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Twilio is a running fake.
type Twilio struct {
	t        testing.TB
	srv      *httptest.Server
	SID      string // account SID the REST calls must use
	Token    string // auth token: REST password and webhook signing key
	personas map[string]Persona
	seq      atomic.Int64
	// OnHear, when set (before the first call), is called as each Say is
	// heard, before the fake sends its next webhook: a test can look at
	// what qualdial had recorded by the time a prompt was answered.
	OnHear func(number, text string)

	mu      sync.Mutex
	created []url.Values        // Calls.json forms received
	times   []time.Time         // when each was received
	repeats int                 // webhooks deliberately sent twice
	heard   map[string][]string // number → everything said and played to it
	events  map[string][]string // number → what happened on its call, in order
	voices  map[string][]string // number → voice/language of each Say
	calls   map[string]*call    // by CallSid
	updates []url.Values        // call update forms received
}

// Persona is how the callee of one number behaves.
type Persona struct {
	Answer  string   // "" (answer), busy, no-answer, failed, machine
	Code    int      // ErrorCode with failed
	Steps   []string // per prompt: keys (1, 120#), timeout or hangup
	Retries bool     // send every gather webhook twice, as Twilio sometimes does
	// AnsweredBy overrides what answering machine detection says of the
	// callee (human; machine_start for a machine, or machine_end_beep when
	// the call asked for DetectMessageEnd; fax, unknown…).
	AnsweredBy string
	// Refuse makes Calls.json answer 400 with this Twilio error code (21211:
	// invalid To number; 21215: geo permissions…): no call is created.
	Refuse int
	// Attestation is the STIR/SHAKEN attestation Twilio gives the call
	// (A, B, C), sent as StirStatus with its ringing and in-progress
	// status callbacks; empty: not sent, as for numbers Twilio does not
	// sign.
	Attestation string
	// VerdictAfter is how many TwiML documents the call runs before
	// asynchronous detection reports (default 1: during the first prompt;
	// a long voicemail greeting outlasts a few).
	VerdictAfter int
}

// New starts a fake Twilio, stopped when the test ends.
func New(t testing.TB, personas map[string]Persona) *Twilio {
	f := &Twilio{t: t, SID: "AC0123456789abcdef0123456789abcdef", Token: "0123456789abcdef0123456789abcdef", personas: personas}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serveREST))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the fake REST API's base URL.
func (f *Twilio) URL() string { return f.srv.URL }

// Calls returns the Calls.json forms received so far.
func (f *Twilio) Calls() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.created)
}

// Events returns what happened on a number's calls, in order: answered,
// silence:amd (synchronous detection held the call in silence), amd:VERDICT,
// say:TEXT, play:PATH, hung up by qualdial.
func (f *Twilio) Events(number string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events[number])
}

// Voices returns the voice and language ("Polly.Joanna-Neural/en-US") of
// every Say to a number, in order.
func (f *Twilio) Voices(number string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.voices[number])
}

// Updates returns the call update forms (Calls/{CallSid}.json) received.
func (f *Twilio) Updates() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.updates)
}

// Heard returns what was said (Say) and played (Play, as "play:" and the
// URL's path) to a number, in order.
func (f *Twilio) Heard(number string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.heard[number])
}

// CallTimes returns when each Calls.json request arrived.
func (f *Twilio) CallTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.times)
}

// Repeats counts webhooks sent twice on purpose.
func (f *Twilio) Repeats() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.repeats
}

func (f *Twilio) serveREST(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != f.SID || pass != f.Token {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code": 20003, "message": "Authenticate", "status": 401}`)
		return
	}
	prefix := "/2010-04-01/Accounts/" + f.SID + "/Calls"
	if r.Method == "POST" && strings.HasPrefix(r.URL.Path, prefix+"/") && strings.HasSuffix(r.URL.Path, ".json") {
		f.updateCall(w, r, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, prefix+"/"), ".json"))
		return
	}
	if r.Method != "POST" || r.URL.Path != prefix+".json" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code": 20404, "message": "not found", "status": 404}`)
		return
	}
	_ = r.ParseForm()
	form := r.PostForm
	for _, k := range []string{"To", "From", "Url", "StatusCallback"} {
		if form.Get(k) == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"code": 21201, "message": "missing %s", "status": 400}`, k)
			return
		}
	}
	if md := form.Get("MachineDetection"); md != "" && md != "Enable" && md != "DetectMessageEnd" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"code": 21218, "message": "invalid MachineDetection %s", "status": 400}`, md)
		return
	}
	if code := f.personas[form.Get("To")].Refuse; code != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"code": %d, "message": "refused by the fake", "more_info": "https://www.twilio.com/docs/errors/%d", "status": 400}`, code, code)
		return
	}
	callSid := fmt.Sprintf("CA%032d", f.seq.Add(1))
	c := &call{sid: callSid, form: form, updates: make(chan url.Values, 8)}
	f.mu.Lock()
	f.created = append(f.created, form)
	f.times = append(f.times, time.Now())
	if f.calls == nil {
		f.calls = map[string]*call{}
	}
	f.calls[callSid] = c
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sid": %q, "status": "queued", "to": %q, "from": %q}`, callSid, form.Get("To"), form.Get("From"))
	go f.act(c)
}

// updateCall takes POST Calls/{CallSid}.json: Status=completed ends the
// call, Status=canceled too unless it was answered (then, as on Twilio, it
// has no effect), Twiml or Url replaces what it is doing.
func (f *Twilio) updateCall(w http.ResponseWriter, r *http.Request, sid string) {
	_ = r.ParseForm()
	f.mu.Lock()
	c := f.calls[sid]
	if c != nil {
		f.updates = append(f.updates, r.PostForm)
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case c == nil:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code": 20404, "message": "The requested resource was not found", "status": 404}`)
		return
	case c.ended.Load():
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"code": 21220, "message": "Call is not in-progress. Cannot redirect.", "status": 400}`)
		return
	}
	if r.PostForm.Get("Status") == "canceled" && c.answered.Load() {
		// "canceled … will not affect calls already in progress".
		fmt.Fprintf(w, `{"sid": %q, "status": "in-progress"}`, sid)
		return
	}
	select {
	case c.updates <- r.PostForm:
	default:
	}
	fmt.Fprintf(w, `{"sid": %q, "status": "in-progress"}`, sid)
}

// Sign computes X-Twilio-Signature: base64(HMAC-SHA1(token, URL + sorted key+value pairs)).
func (f *Twilio) Sign(fullURL string, form url.Values) string {
	s := fullURL
	for _, k := range slices.Sorted(maps.Keys(form)) {
		s += k + form.Get(k)
	}
	m := hmac.New(sha1.New, []byte(f.Token))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// post sends a signed webhook and returns the TwiML answer.
func (f *Twilio) post(target string, form url.Values) (string, int) {
	req, _ := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", f.Sign(target, form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		if f.t.Context().Err() == nil { // not a late callback after the test ended
			f.t.Errorf("webhook %s: %v", target, err)
		}
		return "", 0
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b), res.StatusCode
}

// twimlDoc is the part of TwiML the fake acts on.
type twimlDoc struct {
	XMLName  xml.Name `xml:"Response"`
	Gather   *gather  `xml:"Gather"`
	Redirect *struct {
		URL string `xml:",chardata"`
	} `xml:"Redirect"`
	Hangup *struct{} `xml:"Hangup"`
	Says   []say     `xml:"Say"`
	Plays  []string  `xml:"Play"`
	Dial   *dial     `xml:"Dial"`
}

// dial is a <Dial> of one <Number> or <Sip>: the fake calls the persona
// of the number or URI, runs the leg's url TwiML on it when it answers
// (the whisper), "connects" them, and calls the action with
// DialCallStatus, DialCallSid and DialCallDuration.
type dial struct {
	Action    string   `xml:"action,attr"`
	Timeout   string   `xml:"timeout,attr"`
	TimeLimit string   `xml:"timeLimit,attr"`
	CallerID  string   `xml:"callerId,attr"`
	Number    *dialLeg `xml:"Number"`
	Sip       *dialLeg `xml:"Sip"`
}

type dialLeg struct {
	URL string `xml:"url,attr"`
	To  string `xml:",chardata"`
}

// e164 is what Twilio takes in a <Number>.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// TalkSeconds is how long a connected <Dial> lasts, as DialCallDuration.
const TalkSeconds = 42

// dialed acts out a <Dial> and returns the form of its action callback.
func (f *Twilio) dialed(c *call, base url.Values, d *dial) (url.Values, error) {
	leg := d.Number
	if leg == nil {
		leg = d.Sip
	}
	if leg == nil || (d.Number != nil && d.Sip != nil) {
		return nil, fmt.Errorf("a Dial needs one Number or Sip noun")
	}
	to := strings.TrimSpace(leg.To)
	if timeout, err := strconv.Atoi(d.Timeout); d.Timeout != "" && (err != nil || timeout < 5 || timeout > 600) {
		return nil, fmt.Errorf("Dial timeout %q: Twilio takes 5 to 600 seconds", d.Timeout)
	}
	if d.Action == "" {
		return nil, fmt.Errorf("a Dial without an action: the call would go on to the next verb")
	}
	if d.Number != nil && !e164.MatchString(to) {
		return nil, fmt.Errorf("Dial Number %q is not E.164 (error 13223)", to)
	}
	f.event(base.Get("To"), "dial:"+to)
	p := f.personas[to]
	form := maps.Clone(base)
	form.Set("CallStatus", "in-progress")
	form.Set("DialCallSid", fmt.Sprintf("CA%032d", f.seq.Add(1)))
	switch p.Answer {
	case "busy", "no-answer", "failed":
		form.Set("DialCallStatus", p.Answer)
		f.event(to, p.Answer)
		return form, nil
	}
	f.event(to, "answered")
	if leg.URL != "" {
		child := url.Values{"CallSid": {form.Get("DialCallSid")}, "ParentCallSid": {c.sid}, "AccountSid": {f.SID},
			"From": {d.CallerID}, "To": {to}, "Direction": {"outbound-dial"}, "CallStatus": {"in-progress"}}
		body, code := f.post(leg.URL, child)
		var doc twimlDoc
		if code != 200 || xml.Unmarshal([]byte(body), &doc) != nil {
			return nil, fmt.Errorf("the Dial leg's url answered %d: %s", code, body)
		}
		f.hear(to, doc.Says, doc.Plays)
		if doc.Hangup != nil && len(doc.Says) == 0 && len(doc.Plays) == 0 {
			form.Set("DialCallStatus", "completed")
			form.Set("DialCallDuration", "0")
			return form, nil
		}
	}
	f.event(to, "connected")
	form.Set("DialCallStatus", "completed")
	form.Set("DialCallDuration", strconv.Itoa(TalkSeconds))
	return form, nil
}

// say is a <Say>.
type say struct {
	Text     string `xml:",chardata"`
	Voice    string `xml:"voice,attr"`
	Language string `xml:"language,attr"`
}

// twilioVoice matches the voices Twilio's <Say> takes (Amazon Polly,
// Google, man/woman/alice); Twilio answers others with error 13511.
var twilioVoice = regexp.MustCompile(`^(Polly\.[A-Z][a-zA-Z]+(-Neural|-Generative)?|Google\.[a-z]{2,3}-[A-Z]{2}-[A-Za-z0-9-]+|man|woman|alice)$`)

// gather is a <Gather>. Attributes absent from the TwiML are nil: Twilio
// applies its documented defaults to them (finishOnKey #, timeout 5 s,
// numDigits unlimited, actionOnEmptyResult false).
type gather struct {
	Action              string   `xml:"action,attr"`
	NumDigits           *string  `xml:"numDigits,attr"`
	FinishOnKey         *string  `xml:"finishOnKey,attr"`
	Timeout             *string  `xml:"timeout,attr"`
	ActionOnEmptyResult string   `xml:"actionOnEmptyResult,attr"`
	Input               string   `xml:"input,attr"`
	Says                []say    `xml:"Say"`
	Plays               []string `xml:"Play"`
}

// press plays keys into the Gather the way Twilio collects them: it stops
// at the finish key (not included in Digits; FinishedOnKey says which) or
// at numDigits; keys that run out end it by timeout. action is false when
// Twilio would not call the action URL: nothing was entered and
// actionOnEmptyResult is not true, so the next verb runs.
func (g *gather) press(keys string) (digits, finishedOn string, action bool, err error) {
	finish := "#"
	if g.FinishOnKey != nil {
		finish = *g.FinishOnKey
		if len(finish) > 1 || (finish != "" && !strings.Contains("0123456789#*", finish)) {
			return "", "", false, fmt.Errorf("warning 13310: invalid finishOnKey %q", finish)
		}
	}
	limit := 0 // unlimited
	if g.NumDigits != nil {
		n, err := strconv.Atoi(*g.NumDigits)
		if err != nil || n < 1 {
			return "", "", false, fmt.Errorf("invalid numDigits %q: a positive integer", *g.NumDigits)
		}
		limit = n
	}
	if g.Timeout != nil {
		if n, err := strconv.Atoi(*g.Timeout); err != nil || n < 0 {
			return "", "", false, fmt.Errorf("invalid timeout %q", *g.Timeout)
		}
	}
	for _, k := range keys {
		if finish != "" && string(k) == finish {
			finishedOn = finish
			break
		}
		digits += string(k)
		if limit > 0 && len(digits) >= limit {
			break
		}
	}
	if digits == "" && g.ActionOnEmptyResult != "true" {
		return "", finishedOn, false, nil
	}
	return digits, finishedOn, true, nil
}

// call is one call the fake is acting out.
type call struct {
	sid      string
	form     url.Values
	updates  chan url.Values
	ended    atomic.Bool
	answered atomic.Bool
}

func (f *Twilio) event(number, what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.events == nil {
		f.events = map[string][]string{}
	}
	f.events[number] = append(f.events[number], what)
}

// hear records what a TwiML document says and plays to a number. Plays are
// fetched like Twilio does (GET), and heard as "play:" and the URL's path.
func (f *Twilio) hear(number string, says []say, plays []string) {
	for _, s := range says {
		if s.Voice != "" && !twilioVoice.MatchString(s.Voice) {
			f.t.Errorf("Say voice %q: error 13511, not a Twilio voice", s.Voice)
		}
		f.mu.Lock()
		if f.heard == nil {
			f.heard = map[string][]string{}
			f.voices = map[string][]string{}
		}
		f.heard[number] = append(f.heard[number], s.Text)
		f.voices[number] = append(f.voices[number], s.Voice+"/"+s.Language)
		f.mu.Unlock()
		f.event(number, "say:"+s.Text)
		if f.OnHear != nil {
			f.OnHear(number, s.Text)
		}
	}
	for _, p := range plays {
		p = strings.TrimSpace(p)
		res, err := http.Get(p)
		if err != nil {
			f.t.Errorf("Play %s: %v", p, err)
			continue
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			f.t.Errorf("Play %s: %s", p, res.Status)
			continue
		}
		u, _ := url.Parse(p)
		f.mu.Lock()
		if f.heard == nil {
			f.heard = map[string][]string{}
		}
		f.heard[number] = append(f.heard[number], "play:"+u.Path)
		f.mu.Unlock()
		f.event(number, "play:"+u.Path)
	}
}

// amdVerdict is what Twilio's answering machine detection says of the
// persona for the mode the call asked for.
func amdVerdict(p Persona, mode string) string {
	switch {
	case p.AnsweredBy != "":
		return p.AnsweredBy
	case p.Answer != "machine":
		return "human"
	case mode == "DetectMessageEnd":
		return "machine_end_beep" // after the greeting, at the beep
	}
	return "machine_start"
}

// machineWait is how long a machine persona (which presses nothing) waits
// for qualdial to hang up or redirect the call after the AMD verdict
// before it just keeps listening, as a voicemail box would.
const machineWait = 3 * time.Second

func (f *Twilio) act(c *call) {
	defer c.ended.Store(true)
	callForm := c.form
	to := callForm.Get("To")
	p := f.personas[to]
	base := url.Values{"CallSid": {c.sid}, "AccountSid": {f.SID}, "From": {callForm.Get("From")}, "To": {to}, "Direction": {"outbound-api"}}
	status := func(s string, extra ...string) {
		form := maps.Clone(base)
		form.Set("CallStatus", s)
		if p.Attestation != "" && (s == "ringing" || s == "in-progress") {
			form.Set("StirStatus", p.Attestation)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		f.post(callForm.Get("StatusCallback"), form)
	}
	status("initiated")
	status("ringing")
	switch p.Answer {
	case "busy", "no-answer":
		status(p.Answer)
		return
	case "failed":
		status("failed", "ErrorCode", strconv.Itoa(p.Code))
		return
	}
	mode := callForm.Get("MachineDetection")
	async := mode != "" && callForm.Get("AsyncAmd") == "true"
	verdict := amdVerdict(p, mode)
	machine := strings.HasPrefix(verdict, "machine") || verdict == "fax"
	c.answered.Store(true)
	status("in-progress")
	f.event(to, "answered")
	voice := maps.Clone(base)
	voice.Set("CallStatus", "in-progress")
	if mode != "" && !async {
		// Synchronous detection: Twilio holds the call in silence until it
		// has a verdict, then calls the voice URL with it.
		f.event(to, "silence:amd")
		voice.Set("AnsweredBy", verdict)
	}
	body, code := f.post(callForm.Get("Url"), voice)
	amdSent := false
	steps := slices.Clone(p.Steps)
	docs := 0
	for turns := 0; turns < 50; turns++ {
		if code != 200 {
			f.t.Errorf("webhook answered %d: %s", code, body)
			return
		}
		var doc twimlDoc
		if err := xml.Unmarshal([]byte(body), &doc); err != nil {
			f.t.Errorf("TwiML does not parse: %v\n%s", err, body)
			return
		}
		if doc.Gather != nil {
			f.hear(to, doc.Gather.Says, doc.Gather.Plays)
		}
		f.hear(to, doc.Says, doc.Plays)
		docs++
		if async && !amdSent && docs >= max(1, p.VerdictAfter) {
			// Asynchronous detection reports while the first prompt plays.
			amdSent = true
			f.event(to, "amd:"+verdict)
			form := maps.Clone(base)
			form.Set("AnsweredBy", verdict)
			form.Set("MachineDetectionDuration", "2400")
			if cb := callForm.Get("AsyncAmdStatusCallback"); cb != "" {
				f.post(cb, form)
			} else {
				f.t.Error("AsyncAmd without an AsyncAmdStatusCallback (warning 21262)")
			}
		}
		// qualdial may have changed the call meanwhile (REST update).
		var update url.Values
		if machine && amdSent && doc.Gather != nil {
			select {
			case update = <-c.updates:
			case <-time.After(machineWait):
			}
		} else {
			select {
			case update = <-c.updates:
			default:
			}
		}
		if update != nil {
			switch {
			case update.Get("Status") == "completed" || update.Get("Status") == "canceled":
				f.event(to, "hung up by qualdial")
				status("completed", "CallDuration", "5")
				return
			case update.Get("Twiml") != "":
				body, code = update.Get("Twiml"), 200
				continue
			case update.Get("Url") != "":
				form := maps.Clone(base)
				form.Set("CallStatus", "in-progress")
				body, code = f.post(update.Get("Url"), form)
				continue
			}
		}
		if doc.Dial != nil {
			form, err := f.dialed(c, base, doc.Dial)
			if err != nil {
				f.t.Errorf("%v: %s", err, body)
				return
			}
			body, code = f.post(doc.Dial.Action, form)
			continue
		}
		if doc.Gather == nil {
			if doc.Redirect != nil {
				form := maps.Clone(base)
				form.Set("CallStatus", "in-progress")
				body, code = f.post(strings.TrimSpace(doc.Redirect.URL), form)
				continue
			}
			if doc.Hangup == nil {
				f.t.Errorf("TwiML neither gathers, redirects nor hangs up: %s", body)
			}
			status("completed", "CallDuration", "10")
			return
		}
		if doc.Gather.Input != "dtmf" || doc.Gather.Action == "" {
			f.t.Errorf("unexpected Gather: %s", body)
		}
		step := "hangup"
		if machine {
			step = "timeout" // a voicemail box records; it presses nothing
		}
		if len(steps) > 0 {
			step, steps = steps[0], steps[1:]
		}
		if step == "hangup" {
			status("completed", "CallDuration", "7")
			return
		}
		keys := step
		if step == "timeout" {
			keys = ""
		}
		digits, finishedOn, action, err := doc.Gather.press(keys)
		if err != nil {
			f.t.Errorf("Gather: %v: %s", err, body)
			return
		}
		form := maps.Clone(base)
		form.Set("CallStatus", "in-progress")
		var target string
		switch {
		case action:
			target = doc.Gather.Action
			form.Set("Digits", digits)
			form.Set("FinishedOnKey", finishedOn)
		case doc.Redirect != nil: // nothing entered: the next verb
			target = strings.TrimSpace(doc.Redirect.URL)
		default: // nothing entered and no next verb: the call ends
			status("completed", "CallDuration", "9")
			return
		}
		if p.Retries {
			f.post(target, form)
			f.mu.Lock()
			f.repeats++
			f.mu.Unlock()
		}
		body, code = f.post(target, form)
	}
	f.t.Error("call did not end within 50 turns")
}
