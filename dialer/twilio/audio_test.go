package twilio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/twilio"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/internal/twiliotest"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestRecordedAudio: a question with audio: is played over Twilio with
// <Play> of a signed, expiring URL that the webhook handler serves; the
// URL is refused (403, problem+json) when its signature is wrong or it has
// expired, and paths outside the audio directory are never served.
func TestRecordedAudio(t *testing.T) {
	t.Parallel()
	const number = "+12125550701"
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{0}, 32)...)
	audio := fstest.MapFS{"prompts/budget.wav": {Data: wav}, "secret.txt": {Data: []byte("no")}}
	clk := &clock{t: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}
	st := store.New(pgtest.DB(t), store.Config{Now: fixture.Clock()})
	fake := twiliotest.New(t, map[string]twiliotest.Persona{number: {Steps: []string{"1", "1", "9"}}})
	var handler http.Handler
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(hooks.Close)
	d, err := twilio.New(twilio.Config{AccountSID: fake.SID, AuthToken: fake.Token, PublicURL: hooks.URL, APIBaseURL: fake.URL(),
		Sessions: st, Poll: 20 * time.Millisecond, Audio: audio, Now: clk.Now, AudioTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	handler = d.Handler()
	src, _ := bant(t)
	src = bytes.Replace(src, []byte("or 3 if there is no budget.\"\n"), []byte("or 3 if there is no budget.\"\n    audio: prompts/budget.wav\n"), 1)
	script := ivr.MustParse("bant-audio.yaml", src)
	eng := ivr.NewEngine(script)
	if err := d.CheckPrompts(t.Context(), script); err != nil {
		t.Fatalf("prompts that can be played refused: %v", err)
	}
	call, err := d.Dial(t.Context(), dialer.DialRequest{To: number, CallerID: "+15550100", Script: src, Language: "en-US"})
	if err != nil {
		t.Fatal(err)
	}
	out := dialer.RunCall(t.Context(), call, eng, dialer.RunOptions{})
	if out.Result.Outcome != ivr.OutcomeOptedOut {
		t.Errorf("outcome %s", out.Result.Outcome)
	}
	heard := fake.Heard(number)
	played := false
	for _, h := range heard {
		if strings.Contains(h, "Is there a budget") {
			t.Errorf("the recorded question was said, not played: %q", heard)
		}
		played = played || h == "play:/twilio/audio/prompts/budget.wav"
	}
	if !played {
		t.Errorf("the recorded question was not played: %q", heard)
	}

	// What the handler serves, and refuses.
	get := func(u string) (int, string, string) {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), b.String()
	}
	playURL := twilio.AudioURLForTest(d, "prompts/budget.wav")
	if code, ctype, body := get(playURL); code != 200 || ctype != "audio/wav" || body != string(wav) {
		t.Errorf("signed URL: %d %s", code, ctype)
	}
	for name, u := range map[string]string{
		"forged signature": strings.Replace(playURL, "sig=", "sig=00", 1),
		"unsigned":         hooks.URL + "/twilio/audio/prompts/budget.wav",
		"another file":     strings.Replace(playURL, "budget.wav", "secret.txt", 1),
	} {
		if code, ctype, body := get(u); code != 403 || ctype != "application/problem+json" || !json.Valid([]byte(body)) {
			t.Errorf("%s: %d %s %s", name, code, ctype, body)
		}
	}
	for _, name := range []string{"../secret.txt", "prompts/../../secret.txt", "/secret.txt", `prompts\..\secret.txt`} {
		u := twilio.AudioURLForTest(d, name)
		if code, _, body := get(u); code < 400 || body == "no" {
			t.Errorf("%s, a path out of the audio directory: %d", name, code)
		}
		u = strings.Replace(u, "..", "%2e%2e", -1)
		if code, _, body := get(u); code < 400 || body == "no" {
			t.Errorf("%s, escaped: %d", name, code)
		}
	}
	if code, _, _ := get(twilio.AudioURLForTest(d, "secret.txt")); code != 404 {
		t.Errorf("a file that is not audio: %d, want 404", code)
	}
	clk.Add(time.Hour + time.Second)
	if code, ctype, _ := get(playURL); code != 403 || ctype != "application/problem+json" {
		t.Errorf("expired URL: %d %s", code, ctype)
	}

	// A campaign whose recorded audio is missing is refused before it calls.
	missing := ivr.MustParse("bant-missing.yaml", bytes.Replace(src, []byte("prompts/budget.wav"), []byte("prompts/gone.wav"), 1))
	if err := d.CheckPrompts(context.Background(), missing); err == nil || !strings.Contains(err.Error(), "prompts/gone.wav: not found") {
		t.Errorf("missing audio: %v", err)
	}
	// So is a text longer than Twilio says in one <Say>.
	long := ivr.MustParse("bant-long.yaml", bytes.Replace(src, []byte("Press 1 to start"), []byte("Press 1 to start"+strings.Repeat(" and so on", 420)), 1))
	if err := d.CheckPrompts(context.Background(), long); err == nil || !strings.Contains(err.Error(), "Twilio says at most 4096") {
		t.Errorf("a text too long for <Say>: %v", err)
	}
}
