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

	mu      sync.Mutex
	created []url.Values        // Calls.json forms received
	times   []time.Time         // when each was received
	repeats int                 // webhooks deliberately sent twice
	heard   map[string][]string // number → everything said to it
}

// Persona is how the callee of one number behaves.
type Persona struct {
	Answer  string   // "" (answer), busy, no-answer, failed, machine
	Code    int      // ErrorCode with failed
	Steps   []string // per prompt: keys (1, 120#), timeout or hangup
	Retries bool     // send every gather webhook twice, as Twilio sometimes does
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

// Heard returns what was said (Say) to a number, in order.
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
	if r.Method != "POST" || r.URL.Path != "/2010-04-01/Accounts/"+f.SID+"/Calls.json" {
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
	f.mu.Lock()
	f.created = append(f.created, form)
	f.times = append(f.times, time.Now())
	f.mu.Unlock()
	callSid := fmt.Sprintf("CA%032d", f.seq.Add(1))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sid": %q, "status": "queued", "to": %q, "from": %q}`, callSid, form.Get("To"), form.Get("From"))
	go f.act(callSid, form)
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

type twimlDoc struct {
	XMLName  xml.Name `xml:"Response"`
	Gather   *gather  `xml:"Gather"`
	Redirect *struct {
		URL string `xml:",chardata"`
	} `xml:"Redirect"`
	Hangup *struct{} `xml:"Hangup"`
	Says   []string  `xml:"Say"`
}

type gather struct {
	Action      string   `xml:"action,attr"`
	NumDigits   string   `xml:"numDigits,attr"`
	FinishOnKey string   `xml:"finishOnKey,attr"`
	Input       string   `xml:"input,attr"`
	Says        []string `xml:"Say"`
}

func (f *Twilio) act(callSid string, call url.Values) {
	p := f.personas[call.Get("To")]
	base := url.Values{"CallSid": {callSid}, "AccountSid": {f.SID}, "From": {call.Get("From")}, "To": {call.Get("To")}, "Direction": {"outbound-api"}}
	status := func(s string, extra ...string) {
		form := maps.Clone(base)
		form.Set("CallStatus", s)
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		f.post(call.Get("StatusCallback"), form)
	}
	status("initiated")
	status("ringing")
	switch p.Answer {
	case "busy", "no-answer":
		time.Sleep(200 * time.Millisecond)
		status(p.Answer)
		return
	case "failed":
		status("failed", "ErrorCode", strconv.Itoa(p.Code))
		return
	}
	status("in-progress")
	voice := maps.Clone(base)
	voice.Set("CallStatus", "in-progress")
	voice.Set("AnsweredBy", "human")
	if p.Answer == "machine" {
		voice.Set("AnsweredBy", "machine_start")
	}
	body, code := f.post(call.Get("Url"), voice)
	steps := slices.Clone(p.Steps)
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
		f.mu.Lock()
		if f.heard == nil {
			f.heard = map[string][]string{}
		}
		if doc.Gather != nil {
			f.heard[call.Get("To")] = append(f.heard[call.Get("To")], doc.Gather.Says...)
		}
		f.heard[call.Get("To")] = append(f.heard[call.Get("To")], doc.Says...)
		f.mu.Unlock()
		if doc.Gather == nil {
			if doc.Hangup == nil {
				f.t.Errorf("TwiML neither gathers nor hangs up: %s", body)
			}
			status("completed", "CallDuration", "10")
			return
		}
		if doc.Gather.Input != "dtmf" || doc.Gather.Action == "" || doc.Redirect == nil {
			f.t.Errorf("unexpected Gather: %s", body)
		}
		step := "hangup"
		if len(steps) > 0 {
			step, steps = steps[0], steps[1:]
		}
		form := maps.Clone(base)
		form.Set("CallStatus", "in-progress")
		target := doc.Gather.Action
		switch step {
		case "hangup":
			status("completed", "CallDuration", "7")
			return
		case "timeout":
			target = doc.Redirect.URL
		default:
			// Twilio stops at numDigits or the finish key, and drops the finish key.
			form.Set("Digits", strings.TrimSuffix(step, doc.Gather.FinishOnKey))
			form.Set("FinishedOnKey", "")
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
