package twilio_test

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

// fakeTwilio behaves like Twilio on the wire: it takes Calls.json (basic
// auth, form fields, a JSON CallSid back), then calls the webhooks the way
// Twilio does — signed form posts with CallSid, CallStatus, Digits,
// AnsweredBy, status callbacks — acting out a persona per number.
type fakeTwilio struct {
	t        *testing.T
	srv      *httptest.Server
	sid      string
	token    string
	personas map[string]fakePersona
	seq      atomic.Int64

	mu      sync.Mutex
	created []url.Values // Calls.json forms received
	repeats int          // webhooks deliberately sent twice
}

type fakePersona struct {
	answer  string // "" (answer), busy, no-answer, failed, machine
	code    int    // ErrorCode with failed
	steps   []string
	retries bool // send every gather webhook twice, as Twilio sometimes does
}

func newFakeTwilio(t *testing.T, personas map[string]fakePersona) *fakeTwilio {
	f := &fakeTwilio{t: t, sid: "AC0123456789abcdef0123456789abcdef", token: "0123456789abcdef0123456789abcdef", personas: personas}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serveREST))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilio) serveREST(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != f.sid || pass != f.token {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code": 20003, "message": "Authenticate", "status": 401}`)
		return
	}
	if r.Method != "POST" || r.URL.Path != "/2010-04-01/Accounts/"+f.sid+"/Calls.json" {
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
	f.mu.Unlock()
	callSid := fmt.Sprintf("CA%032d", f.seq.Add(1))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sid": %q, "status": "queued", "to": %q, "from": %q}`, callSid, form.Get("To"), form.Get("From"))
	go f.act(callSid, form)
}

// sign computes X-Twilio-Signature: base64(HMAC-SHA1(token, URL + sorted key+value pairs)).
func (f *fakeTwilio) sign(fullURL string, form url.Values) string {
	s := fullURL
	for _, k := range slices.Sorted(maps.Keys(form)) {
		s += k + form.Get(k)
	}
	m := hmac.New(sha1.New, []byte(f.token))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// post sends a signed webhook and returns the TwiML answer.
func (f *fakeTwilio) post(target string, form url.Values) (string, int) {
	req, _ := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", f.sign(target, form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Errorf("webhook %s: %v", target, err)
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

func (f *fakeTwilio) act(callSid string, call url.Values) {
	p := f.personas[call.Get("To")]
	base := url.Values{"CallSid": {callSid}, "AccountSid": {f.sid}, "From": {call.Get("From")}, "To": {call.Get("To")}, "Direction": {"outbound-api"}}
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
	switch p.answer {
	case "busy", "no-answer":
		time.Sleep(200 * time.Millisecond)
		status(p.answer)
		return
	case "failed":
		status("failed", "ErrorCode", strconv.Itoa(p.code))
		return
	}
	status("in-progress")
	voice := maps.Clone(base)
	voice.Set("CallStatus", "in-progress")
	voice.Set("AnsweredBy", "human")
	if p.answer == "machine" {
		voice.Set("AnsweredBy", "machine_start")
	}
	body, code := f.post(call.Get("Url"), voice)
	steps := slices.Clone(p.steps)
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
		if p.retries {
			f.post(target, form)
			f.mu.Lock()
			f.repeats++
			f.mu.Unlock()
		}
		body, code = f.post(target, form)
	}
	f.t.Error("call did not end within 50 turns")
}
