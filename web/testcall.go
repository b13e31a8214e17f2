package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/store"
)

// "Test call to my phone" (issue 13): where a trunk is configured
// (Config.TestCall), the editor calls the user's own phone with the script
// as it is in the editor, at most once a minute per user.

const (
	// testCallEvery is how often a user may place a test call.
	testCallEvery = time.Minute
	// testCallWait bounds how long the page waits for Config.TestCall.
	testCallWait = 30 * time.Second
)

// testCallData is the test-call panel.
type testCallData struct {
	Phone, Error, Notice string
}

// callLimiter remembers each user's last test call.
type callLimiter struct {
	mu   sync.Mutex
	last map[int64]time.Time
}

// allow reports whether user id may place a test call at now, and if not
// how long to wait; an allowed call is recorded.
func (l *callLimiter) allow(id int64, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[id]; ok && now.Sub(t) < testCallEvery && now.Sub(t) >= 0 {
		return testCallEvery - now.Sub(t), false
	}
	if l.last == nil {
		l.last = map[int64]time.Time{}
	}
	for k, t := range l.last { // forget the calls that no longer limit: the map holds the last minute's callers
		if now.Sub(t) >= testCallEvery {
			delete(l.last, k)
		}
	}
	l.last[id] = now
	return 0, true
}

// scriptTestCall calls the user's phone with the edited script.
func (s *Server) scriptTestCall(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if s.cfg.TestCall == nil {
		s.notFound(w, r)
		return nil
	}
	if !scriptForm(w, r) {
		return nil
	}
	yaml := r.PostForm.Get("yaml")
	tc, status := testCallData{Phone: strings.TrimSpace(r.PostForm.Get("phone"))}, http.StatusOK
	phone, err := intake.NormalizePhone(tc.Phone, "")
	sc, _ := ivr.Parse("script", []byte(yaml))
	switch {
	case !strings.HasPrefix(tc.Phone, "+"):
		tc.Error, status = "Write your number in international format (E.164), e.g. +14155550123.", http.StatusUnprocessableEntity
	case err != nil:
		tc.Error, status = fmt.Sprintf("%s is not a number qualdial can call: %v.", tc.Phone, err), http.StatusUnprocessableEntity
	case sc == nil:
		tc.Error, status = "The script has errors: fix them before a test call.", http.StatusUnprocessableEntity
	default:
		onDNC, err := store.OnDNC(r.Context(), s.store.Pool(), phone)
		if err != nil {
			return err
		}
		if onDNC {
			tc.Error, status = fmt.Sprintf("%s is on the do-not-call list: qualdial never calls it, test calls included.", phone), http.StatusUnprocessableEntity
			break
		}
		if wait, ok := s.testCalls.allow(u.ID, s.store.Now()); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", fmt.Sprint(secs))
			tc.Error, status = fmt.Sprintf("One test call a minute: try again in %d s.", secs), http.StatusTooManyRequests
			break
		}
		ctx, cancel := context.WithTimeout(r.Context(), testCallWait)
		defer cancel()
		msg, err := s.cfg.TestCall(ctx, phone, []byte(yaml))
		if err != nil {
			s.cfg.Logger.WarnContext(r.Context(), "test call failed", "script", sc.String(), "user_id", u.ID, "error", err)
			tc.Error, status = fmt.Sprintf("The test call failed: %v.", err), http.StatusUnprocessableEntity
			break
		}
		s.cfg.Logger.InfoContext(r.Context(), "test call placed", "script", sc.String(), "user_id", u.ID)
		tc.Notice = fmt.Sprintf("Calling %s with %s: %s", phone, sc, msg)
	}
	d := editorData{YAML: yaml, Lead: r.PostForm.Get("lead"), Call: tc, TestCall: true}
	if r.Header.Get("HX-Request") == "true" {
		s.renderBlock(w, r, status, "script", "testcall", d)
		return nil
	}
	if err := s.draftCampaigns(r, &d); err != nil {
		return err
	}
	d.Check, _ = checkScript([]byte(yaml))
	s.renderEditor(w, r, status, u, d)
	return nil
}
