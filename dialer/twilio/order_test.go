package twilio_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/dialer/twilio"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/internal/twiliotest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
	"github.com/qualdial/qualdial/store"
)

// webhookRig serves one Twilio session's webhooks and sends them the way
// Twilio may — in any order — signed, with a REST stand-in that records
// what qualdial asks of Twilio.
type webhookRig struct {
	t       *testing.T
	st      *store.Store
	public  string
	token   string
	phone   string
	attempt int64

	twilio *twiliotest.Twilio // its account, and how it signs webhooks

	mu   sync.Mutex
	rest []string
}

const rigCall = "CA11111111111111111111111111111111"

func newWebhookRig(t *testing.T, machineMode string, opts ...func(*twilio.Config)) *webhookRig {
	t.Helper()
	ctx := t.Context()
	r := &webhookRig{t: t, st: store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()}), phone: "+12125550199", token: "tok0123456789abcdef",
		twilio: twiliotest.New(t, nil)}
	restAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		r.mu.Lock()
		r.rest = append(r.rest, req.URL.Path+" "+req.PostForm.Encode())
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"sid":%q,"status":"in-progress"}`, rigCall)
	}))
	t.Cleanup(restAPI.Close)
	var handler http.Handler
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { handler.ServeHTTP(w, req) }))
	t.Cleanup(hooks.Close)
	cfg := twilio.Config{AccountSID: r.twilio.SID, AuthToken: r.twilio.Token, PublicURL: hooks.URL, APIBaseURL: restAPI.URL, Sessions: r.st}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := twilio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	handler, r.public = d.Handler(), hooks.URL

	src, _ := scripts.Read("bant-en")
	script := ivr.MustParse("bant-en.yaml", src)
	c, err := r.st.CreateCampaign(ctx, store.CampaignParams{Name: "order", ScriptID: "bant-en", CallerID: "+15550100", Driver: "twilio",
		WindowDays: []int{1, 2, 3, 4, 5, 6, 7}, WindowStart: 8 * time.Hour, WindowEnd: 21 * time.Hour, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.StartCampaign(ctx, c.ID, script, src); err != nil {
		t.Fatal(err)
	}
	err = r.st.Tx(ctx, func(tx pgx.Tx) error {
		leadID, _, err := r.st.InsertLead(ctx, tx, store.LeadParams{CampaignID: c.ID, Phone: r.phone, TimeZone: fixture.DaytimeZone(r.st.Now())})
		if err != nil {
			return err
		}
		a, err := r.st.StartAttempt(ctx, tx, store.AttemptParams{LeadID: leadID, CampaignID: c.ID, Phone: r.phone, Driver: "twilio", Worker: "rig/1", Script: script})
		if a != nil {
			r.attempt = a.ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := json.Marshal(map[string]any{"token": r.token, "status": "queued", "script": string(src), "call_sid": rigCall,
		"language": "en-US", "attempt_id": r.attempt, "machine_mode": machineMode})
	if err := r.st.CreateSession(ctx, r.token, sess); err != nil {
		t.Fatal(err)
	}
	return r
}

// send posts a signed webhook (kind voice, gather, amd, status) and
// returns its status and body.
func (r *webhookRig) send(kind string, seq int, fields ...string) (int, string) {
	r.t.Helper()
	target := r.public + "/twilio/" + kind + "?s=" + r.token
	if seq > 0 {
		target += fmt.Sprintf("&seq=%d", seq)
	}
	form := url.Values{"AccountSid": {r.twilio.SID}, "CallSid": {rigCall}, "CallStatus": {"in-progress"}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", r.twilio.Sign(target, form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (r *webhookRig) onDNC() bool {
	r.t.Helper()
	on, err := store.OnDNC(context.Background(), r.st.Pool(), r.phone)
	if err != nil {
		r.t.Fatal(err)
	}
	return on
}

func (r *webhookRig) hungUp() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.rest, func(s string) bool { return strings.Contains(s, "Status=completed") || strings.Contains(s, "Twiml=") })
}

// TestMachineVerdictAfterKeys: detection that says "machine" after the
// lead pressed keys is wrong (machines press none) — the call is not hung
// up and the script goes on.
func TestMachineVerdictAfterKeys(t *testing.T) {
	t.Parallel()
	r := newWebhookRig(t, "hangup")
	r.send("voice", 0)
	r.send("gather", 1, "Digits", "1")
	r.send("gather", 2, "Digits", "1")
	if code, _ := r.send("amd", 0, "AnsweredBy", "machine_start"); code/100 != 2 {
		t.Fatalf("amd: %d", code)
	}
	if r.hungUp() {
		t.Errorf("hung up on a lead who pressed keys: %v", r.rest)
	}
	if _, body := r.send("gather", 3, "Digits", "1"); !strings.Contains(body, "<Gather") {
		t.Errorf("the script did not go on: %s", body)
	}
}

// TestOptOutAfterMachineVerdict: an opt-out key that arrives after a
// (wrong) machine verdict still puts the number on the do-not-call list.
func TestOptOutAfterMachineVerdict(t *testing.T) {
	t.Parallel()
	r := newWebhookRig(t, "message")
	r.send("voice", 0)
	r.send("amd", 0, "AnsweredBy", "machine_end_other")
	if code, _ := r.send("gather", 1, "Digits", "9"); code != http.StatusOK {
		t.Fatalf("gather: %d", code)
	}
	if !r.onDNC() {
		t.Error("the opt-out pressed after a machine verdict was lost")
	}
}

// TestOptOutAfterFinalStatus: Twilio does not order the gather of keys
// pressed just before a hang-up and the final status; when the status wins,
// the keys still count — the opt-out above all.
func TestOptOutAfterFinalStatus(t *testing.T) {
	t.Parallel()
	r := newWebhookRig(t, "")
	r.send("voice", 0)
	r.send("status", 0, "CallStatus", "completed")
	code, body := r.send("gather", 1, "Digits", "9")
	if code != http.StatusOK || !strings.Contains(body, "<Hangup") {
		t.Fatalf("gather after the final status: %d %s", code, body)
	}
	if !r.onDNC() {
		t.Error("the opt-out pressed before the hang-up was lost")
	}
	// Its repeat changes nothing.
	if code, _ := r.send("gather", 1, "Digits", "9"); code != http.StatusOK {
		t.Errorf("repeat: %d", code)
	}
}

// TestWebhookBodyThatTrickles: a body that does not arrive is answered
// (400) once the read timeout passes, instead of holding the connection.
func TestWebhookBodyThatTrickles(t *testing.T) {
	t.Parallel()
	r := newWebhookRig(t, "", func(c *twilio.Config) { c.WebhookReadTimeout = 300 * time.Millisecond })
	u, _ := url.Parse(r.public)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /twilio/voice?s=%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\nCallSid=CA", r.token, u.Host)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a hang fails the test, not the suite
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a trickling body: %v", err)
	}
	if res.StatusCode != http.StatusBadRequest || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("status %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}
