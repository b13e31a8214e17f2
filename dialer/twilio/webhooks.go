package twilio

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/ivr"
)

// Handler serves Twilio's webhooks under /twilio/: voice (the call was
// answered: first turn), gather (keys or a timeout: next turn), status
// (call progress) and amd (asynchronous answering machine detection's
// verdict); and audio/ serves recorded prompts to <Play> by signed,
// expiring URLs. Webhook requests must carry a valid X-Twilio-Signature for the
// configured public URL (403 otherwise) and a known session (404).
func (d *Driver) Handler() http.Handler {
	h := &hooks{d: d, validator: twclient.NewRequestValidator(d.cfg.AuthToken)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /twilio/voice", h.signed(h.voice))
	mux.HandleFunc("POST /twilio/gather", h.signed(h.gather))
	mux.HandleFunc("POST /twilio/status", h.signed(h.status))
	mux.HandleFunc("POST /twilio/amd", h.signed(h.amd))
	mux.HandleFunc("POST /twilio/whisper", h.signed(h.whisper))
	mux.HandleFunc("POST /twilio/dialed", h.signed(h.dialed))
	mux.HandleFunc("GET /twilio/audio/{path...}", h.serveAudio)
	return mux
}

type hooks struct {
	d         *Driver
	validator twclient.RequestValidator
}

// signed checks the signature against the URL Twilio called (the public
// URL, not r.Host: behind a proxy they differ) and the form body.
func (h *hooks) signed(next func(w http.ResponseWriter, r *http.Request, form url.Values)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.d.cfg.WebhookReadTimeout))
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			problem(w, http.StatusRequestEntityTooLarge, "the body is larger than 64 KiB")
			return
		} else if err != nil {
			problem(w, http.StatusBadRequest, "the body could not be read in time")
			return
		}
		full := h.d.public + r.URL.Path
		if r.URL.RawQuery != "" {
			full += "?" + r.URL.RawQuery
		}
		if !h.validator.ValidateBody(full, body, r.Header.Get("X-Twilio-Signature")) {
			h.d.cfg.Logger.WarnContext(r.Context(), "twilio webhook with a bad signature", "path", r.URL.Path, "remote", r.RemoteAddr)
			problem(w, http.StatusForbidden, "X-Twilio-Signature does not match")
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			problem(w, http.StatusBadRequest, "the body is not a form")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next(w, r, form)
	}
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"about:blank","title":%q,"status":%d,"detail":%q}`, http.StatusText(status), status, detail)
}

// validDigits are the keys a Gather can report.
var validDigits = regexp.MustCompile(`^[0-9*#]{0,64}$`)

// errUnknown means the token names no session, or the CallSid another call.
var errUnknown = errors.New("unknown call")

// step loads the session under lock, applies fn, saves, and answers with
// the TwiML fn returns.
func (h *hooks) step(w http.ResponseWriter, r *http.Request, form url.Values, fn func(s *session, e *ivr.Engine) (string, error)) bool {
	token := r.URL.Query().Get("s")
	var out string
	_, err := h.d.update(r.Context(), token, func(s *session) error {
		// The rep's leg of a transfer (whisper) is a child call: its
		// parent is the session's.
		if sid := form.Get("CallSid"); s.CallSid != "" && sid != "" && sid != s.CallSid && form.Get("ParentCallSid") != s.CallSid {
			return errUnknown
		}
		e, err := h.d.engine(s.Script)
		if err != nil {
			return err
		}
		out, err = fn(s, e)
		return err
	})
	switch {
	case err == nil:
		if out != "" {
			w.Header().Set("Content-Type", "application/xml")
			_, _ = io.WriteString(w, out)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
		return true
	case errors.Is(err, errUnknown) || strings.Contains(err.Error(), "not found"):
		problem(w, http.StatusNotFound, "unknown call")
	default:
		h.d.cfg.Logger.ErrorContext(r.Context(), "twilio webhook failed", "path", r.URL.Path, "error", err)
		problem(w, http.StatusInternalServerError, "internal error; it has been logged")
	}
	return false
}

// amd: asynchronous answering machine detection's verdict, while the call
// runs its first prompts. A person keeps the call. A machine is hung up on
// (REST update Status=completed), or, in message mode, after the greeting
// ended (DetectMessageEnd: machine_end_beep, _silence, _other) the call is
// redirected to the identify line and a hang-up. The worker sees the
// machine disposition in the session.
func (h *hooks) amd(w http.ResponseWriter, r *http.Request, form url.Values) {
	var sid, twimlMsg string
	hangup := false
	ok := h.step(w, r, form, func(s *session, e *ivr.Engine) (string, error) {
		ab := form.Get("AnsweredBy")
		if s.Machine || s.Done || ab == "" {
			return "", nil // a repeat, or the call is over
		}
		s.AnsweredBy = ab
		if s.pressed() {
			// Keys were pressed: a person, whatever detection says (it can
			// be wrong, and late) — never hang up on a lead mid-script.
			h.d.cfg.Logger.InfoContext(r.Context(), "machine detection overruled: keys were pressed", "call_sid", s.CallSid, "answered_by", ab)
			return "", nil
		}
		if !strings.HasPrefix(ab, "machine") && ab != "fax" {
			return "", nil // human or unknown: the script goes on
		}
		s.Machine, sid = true, s.CallSid
		if s.MachineMode == "message" && ab != "fax" {
			msg, err := h.forMachine(s, e)
			twimlMsg = msg
			return "", err
		}
		hangup = true
		return "", nil
	})
	if !ok || sid == "" {
		return
	}
	p := &api.UpdateCallParams{}
	if hangup {
		p.SetStatus("completed")
	} else {
		p.SetTwiml(twimlMsg)
	}
	if _, err := h.d.rest.Api.UpdateCall(sid, p); err != nil {
		h.d.cfg.Logger.WarnContext(r.Context(), "cannot act on an answering machine", "call_sid", sid, "answered_by", form.Get("AnsweredBy"), "error", err)
	}
}

// forMachine is the TwiML for an answering machine: in message mode the
// script's voicemail (else its identify line) and a hang-up — the lead is
// called again later; else just the hang-up.
func (h *hooks) forMachine(s *session, e *ivr.Engine) (string, error) {
	if s.MachineMode == "message" && s.AnsweredBy != "fax" {
		st, _ := e.Start(s.Lead)
		return response(h.prompt(s, e.Voicemail(st)), el("Hangup"))
	}
	return response(el("Hangup"))
}

// voice: the call was answered. Machines are hung up on; people hear the
// first turn.
func (h *hooks) voice(w http.ResponseWriter, r *http.Request, form url.Values) {
	h.step(w, r, form, func(s *session, e *ivr.Engine) (string, error) {
		if s.CallSid == "" {
			s.CallSid = form.Get("CallSid")
		}
		if ab := form.Get("AnsweredBy"); strings.HasPrefix(ab, "machine") || ab == "fax" {
			s.AnsweredBy, s.Machine = ab, true
			return h.forMachine(s, e)
		}
		if s.State != nil && s.Turn != nil { // a retried voice webhook: same answer
			return h.render(s)
		}
		s.Answered, s.Status = true, "in-progress"
		st, turn := e.Start(s.Lead)
		return h.serve(s, st, turn)
	})
}

// gather: keys (Digits) or, via the Redirect after Gather, a timeout.
func (h *hooks) gather(w http.ResponseWriter, r *http.Request, form url.Values) {
	if d := form.Get("Digits"); !validDigits.MatchString(d) {
		problem(w, http.StatusBadRequest, "Digits must be DTMF keys (0-9, *, #), at most 64")
		return
	}
	if q := r.URL.Query().Get("seq"); q != "" {
		if _, err := strconv.Atoi(q); err != nil {
			problem(w, http.StatusBadRequest, "seq must be a number")
			return
		}
	}
	h.step(w, r, form, func(s *session, e *ivr.Engine) (string, error) {
		seq, _ := strconv.Atoi(r.URL.Query().Get("seq"))
		current := s.Turn != nil && seq == s.Seq
		keys := current && form.Get("Digits") != ""
		if s.Done && keys && s.BeforeHangup != nil {
			// The final status won the race with this gather (Twilio does
			// not order them): the keys were pressed before the hang-up, as
			// on SIP they count — an opt-out above all.
			in := gatherInput(s.Turn, form)
			s.Timeline = append(s.Timeline, dialer.Event{At: h.d.cfg.Now(), Kind: "keys", Question: s.Turn.Question, Keys: in.Keys})
			st, _, err := e.Next(*s.BeforeHangup, in)
			if err != nil {
				return "", err
			}
			if !st.Done() {
				st, _, _ = e.Next(st, ivr.Input{Hangup: true})
			}
			s.State, s.BeforeHangup = &st, nil
			return response(el("Hangup"))
		}
		if s.Machine {
			if !keys || s.State == nil || s.State.Done() {
				// Detection said machine before this came: no more questions.
				return h.forMachine(s, e)
			}
			// A machine presses no keys: detection was wrong (or the keys
			// were in flight when it spoke). They count, an opt-out above
			// all; the call may be ending already.
			h.d.cfg.Logger.InfoContext(r.Context(), "machine detection overruled: keys were pressed", "call_sid", s.CallSid, "answered_by", s.AnsweredBy)
			s.Machine = false
		}
		if s.State == nil || !current || s.State.Done() {
			// A repeat of a webhook already answered (Twilio retries) or out of
			// order: answer with the current turn again, count nothing.
			return h.render(s)
		}
		in := gatherInput(s.Turn, form)
		now := h.d.cfg.Now()
		if in.Keys != "" {
			s.Timeline = append(s.Timeline, dialer.Event{At: now, Kind: "keys", Question: s.Turn.Question, Keys: in.Keys})
		} else {
			s.Timeline = append(s.Timeline, dialer.Event{At: now, Kind: "timeout", Question: s.Turn.Question})
		}
		st, turn, err := e.Next(*s.State, in)
		if err != nil {
			return "", err
		}
		return h.serve(s, st, turn)
	})
}

// gatherInput is what a gather webhook says the lead did at the turn.
func gatherInput(turn *ivr.Turn, form url.Values) ivr.Input {
	digits := form.Get("Digits")
	if digits == "" {
		return ivr.Input{Timeout: true}
	}
	// Twilio leaves the finish key out of Digits and says it in
	// FinishedOnKey; put it back so answers read as on SIP.
	if fin, ok := form["FinishedOnKey"]; ok {
		if turn.FinishOn != "" && len(fin) > 0 && fin[0] == turn.FinishOn {
			digits += turn.FinishOn
		}
	} else if turn.FinishOn != "" && len(digits) < turn.MaxDigits && !strings.HasSuffix(digits, turn.FinishOn) {
		digits += turn.FinishOn
	}
	return ivr.Input{Keys: digits}
}

// status: progress callbacks and the final status.
func (h *hooks) status(w http.ResponseWriter, r *http.Request, form url.Values) {
	h.step(w, r, form, func(s *session, e *ivr.Engine) (string, error) {
		if s.CallSid == "" {
			s.CallSid = form.Get("CallSid")
		}
		status := form.Get("CallStatus")
		if s.Done {
			return "", nil // final status already recorded; late or repeated callback
		}
		s.Status = status
		if code, err := strconv.Atoi(form.Get("ErrorCode")); err == nil {
			s.ErrorCode = code
		}
		if ab := form.Get("AnsweredBy"); ab != "" {
			s.AnsweredBy = ab
		}
		if a := dialer.Attestation(form.Get("StirStatus")); a != "" {
			s.Attestation = a
		}
		switch status {
		case "completed", "busy", "no-answer", "failed", "canceled":
			s.Done = true
			if s.State != nil && !s.State.Done() {
				// Hung up mid-script: the answers so far stay.
				st, _, err := e.Next(*s.State, ivr.Input{Hangup: true})
				if err == nil {
					// Keep the state before the hang-up: the gather of keys
					// pressed just before it may still come.
					s.BeforeHangup, s.State = s.State, &st
				}
				s.Timeline = append(s.Timeline, dialer.Event{At: h.d.cfg.Now(), Kind: "hangup", Question: s.Turn.Question})
			}
		}
		return "", nil
	})
}

// serve stores the new state and turn and renders the turn.
func (h *hooks) serve(s *session, st ivr.State, turn ivr.Turn) (string, error) {
	s.State, s.Turn = &st, &turn
	s.Seq++
	now := h.d.cfg.Now()
	for _, p := range turn.Prompts {
		s.Timeline = append(s.Timeline, dialer.Event{At: now, Kind: "prompt", Question: turn.Question, Text: p.Text})
	}
	if turn.Final && turn.Transfer != nil {
		s.TransferAt = now
		s.Timeline = append(s.Timeline, dialer.Event{At: now, Kind: "transfer", Text: turn.Transfer.To})
	}
	return h.render(s)
}

// whisper is the TwiML the rep's leg of a transfer runs when the rep
// answers (<Number url>), before it is connected to the lead: the whisper.
func (h *hooks) whisper(w http.ResponseWriter, r *http.Request, form url.Values) {
	h.step(w, r, form, func(s *session, e *ivr.Engine) (string, error) {
		if s.Turn == nil || s.Turn.Transfer == nil {
			return response(el("Hangup")) // no transfer asked for: do not connect
		}
		return response(h.prompt(s, s.Turn.Transfer.Whisper))
	})
}

// dialed is Dial's action: the rep's leg ended (or never answered). The
// lead put through is done; otherwise it hears the fallback and the call
// ends.
func (h *hooks) dialed(w http.ResponseWriter, r *http.Request, form url.Values) {
	h.step(w, r, form, func(s *session, e *ivr.Engine) (string, error) {
		if s.Turn == nil || s.Turn.Transfer == nil {
			return response(el("Hangup"))
		}
		t := s.Turn.Transfer
		res := &dialer.TransferResult{To: t.To}
		switch form.Get("DialCallStatus") {
		case "completed", "answered":
			res.Status = dialer.TransferConnected
			if secs, err := strconv.ParseInt(form.Get("DialCallDuration"), 10, 64); err == nil && secs >= 0 {
				talk := secs * 1000
				res.TalkMS = &talk
			}
		case "busy":
			res.Status = dialer.TransferBusy
		case "no-answer", "canceled":
			res.Status = dialer.TransferNoAnswer
		default:
			res.Status = dialer.TransferFailed
			res.Reason = "DialCallStatus " + strconv.Quote(form.Get("DialCallStatus"))
		}
		if s.Transfer == nil { // Twilio may repeat the callback
			s.Transfer = res
			now := h.d.cfg.Now()
			s.Timeline = append(s.Timeline, dialer.Event{At: now, Kind: "transfer_" + res.Status, Text: res.Status})
			if res.Status != dialer.TransferConnected {
				for _, p := range t.Fallback {
					s.Timeline = append(s.Timeline, dialer.Event{At: now, Kind: "prompt", Text: p.Text})
				}
			}
		}
		if s.Transfer.Status == dialer.TransferConnected {
			return response(el("Hangup"))
		}
		var says []node
		for _, p := range t.Fallback {
			says = append(says, h.prompt(s, p))
		}
		return response(append(says, el("Hangup"))...)
	})
}

// render is the TwiML of the session's current turn: prompts inside a
// Gather (a key interrupts them), then a Redirect that reports a timeout;
// or, for the final turn, the prompts and a Hangup.
//
// Every Gather attribute whose Twilio default differs from the turn is
// written out: finishOnKey="" when the turn has no finish key (Twilio's
// default finish key # would otherwise swallow # as an answer), numDigits
// and timeout always.
func (h *hooks) render(s *session) (string, error) {
	t := s.Turn
	if t == nil {
		return response(el("Hangup"))
	}
	var says []node
	for _, p := range t.Prompts {
		says = append(says, h.prompt(s, p))
	}
	if t.Final && t.Transfer != nil {
		// A live transfer: Twilio calls the rep (whom the whisper URL
		// greets), bridges, and reports to dialed.
		tr := t.Transfer
		timeout := max(5, int(tr.Timeout.Std().Round(time.Second)/time.Second))
		dial := el("Dial", "action", h.d.hook("dialed", s.Token, s.Seq), "method", "POST", "timeout", strconv.Itoa(timeout),
			"timeLimit", strconv.Itoa(int(maxTransferTalk/time.Second)))
		if s.CallerID != "" {
			dial.attrs = append(dial.attrs, xml.Attr{Name: xml.Name{Local: "callerId"}, Value: s.CallerID})
		}
		leg := "Number"
		if strings.HasPrefix(tr.To, "sip:") || strings.HasPrefix(tr.To, "sips:") {
			leg = "Sip"
		}
		dial = dial.with(el(leg, "url", h.d.hook("whisper", s.Token, s.Seq), "method", "POST").withText(tr.To))
		return response(append(says, dial)...)
	}
	if t.Final {
		return response(append(says, el("Hangup"))...)
	}
	action := h.d.hook("gather", s.Token, s.Seq)
	timeout := max(1, int(t.Timeout.Std().Round(time.Second)/time.Second))
	gather := el("Gather", "input", "dtmf", "action", action, "method", "POST", "timeout", strconv.Itoa(timeout),
		"finishOnKey", t.FinishOn, "actionOnEmptyResult", "false")
	if t.MaxDigits > 0 {
		gather.attrs = append(gather.attrs, xml.Attr{Name: xml.Name{Local: "numDigits"}, Value: strconv.Itoa(t.MaxDigits)})
	}
	return response(gather.with(says...), el("Redirect", "method", "POST").withText(action))
}

// prompt is a <Play> of the prompt's recorded audio, or a <Say> of its
// text.
func (h *hooks) prompt(s *session, p ivr.Prompt) node {
	if h.d.plays(p) {
		return el("Play").withText(h.d.audioURL(p.Audio))
	}
	return h.say(s, p.Text)
}

// say is a <Say> of text in the session's voice.
func (h *hooks) say(s *session, text string) node {
	n := el("Say")
	if s.Voice != "" {
		n = el("Say", "voice", s.Voice)
	}
	if s.Language != "" {
		n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Local: "language"}, Value: s.Language})
	}
	return n.withText(text)
}
