// Package smtpsink is a real SMTP server on loopback for tests: it accepts
// mail (no TLS, no authentication) and keeps every message it was given,
// or refuses transactions with the replies a test queues. It is test code,
// not product.
package smtpsink

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one message the sink accepted.
type Message struct {
	// From is the envelope sender (MAIL FROM), To the envelope recipients
	// (RCPT TO), in order.
	From string
	To   []string
	// Data is the message as sent: headers, blank line, body.
	Data []byte
}

// Refusal is a reply that refuses a transaction at one step.
type Refusal struct {
	// At is the SMTP command refused: "MAIL", "RCPT" or "DATA".
	At string
	// Code is the reply code: 4xx (try again later) or 5xx.
	Code int
	// Message is the reply text.
	Message string
}

// Sink is a running SMTP server.
type Sink struct {
	srv  *smtp.Server
	addr string

	mu       sync.Mutex
	messages []Message
	refusals []Refusal // the next transactions' replies, first first
	refused  int
}

// Start runs a sink on 127.0.0.1 on a free port until the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Sink{addr: ln.Addr().String()}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "sink.test"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 30*time.Second, 30*time.Second
	s.srv.MaxMessageBytes = 1 << 20
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp sink: %v", err)
		}
	}()
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// Addr is the sink's host:port.
func (s *Sink) Addr() string { return s.addr }

// Refuse makes the next transactions fail, one refusal each, in order.
func (s *Sink) Refuse(r ...Refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals = append(s.refusals, r...)
}

// Refused is how many transactions the sink refused.
func (s *Sink) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Messages returns the messages accepted so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitMessages waits until the sink has accepted at least n messages, up
// to within, and returns them; the test fails when they don't come.
func (s *Sink) WaitMessages(t testing.TB, n int, within time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtp sink: %d messages after %s, want %d (%d transactions refused)", len(s.Messages()), within, n, s.Refused())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type backend struct{ s *Sink }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s}, nil
}

// session is one connection's transactions.
type session struct {
	s      *Sink
	msg    Message
	refuse *Refusal // this transaction's refusal, taken at MAIL
}

func (se *session) Reset() { se.msg, se.refuse = Message{}, nil }

func (se *session) Logout() error { return nil }

// check refuses the transaction at step when its refusal says so.
func (se *session) check(step string) error {
	if se.refuse == nil || se.refuse.At != step {
		return nil
	}
	r := *se.refuse
	se.refuse = nil
	se.s.mu.Lock()
	se.s.refused++
	se.s.mu.Unlock()
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.NoEnhancedCode, Message: r.Message}
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	se.s.mu.Lock()
	if len(se.s.refusals) > 0 {
		r := se.s.refusals[0]
		se.s.refusals = se.s.refusals[1:]
		se.refuse = &r
	}
	se.s.mu.Unlock()
	se.msg = Message{From: from}
	return se.check("MAIL")
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := se.check("RCPT"); err != nil {
		return err
	}
	se.msg.To = append(se.msg.To, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := se.check("DATA"); err != nil {
		return err
	}
	se.msg.Data = b
	se.s.mu.Lock()
	se.s.messages = append(se.s.messages, se.msg)
	se.s.mu.Unlock()
	return nil
}
