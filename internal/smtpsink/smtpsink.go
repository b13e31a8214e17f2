// Package smtpsink is a real SMTP server on loopback for tests: it accepts
// mail in clear text, with STARTTLS or over implicit TLS, with or without a
// PLAIN login, and keeps every message it was given, or refuses
// transactions with the replies a test queues. It is test code, not
// product.
package smtpsink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
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
	// Login is the user name the client logged in with; "" for none.
	Login string
	// TLS says whether the message came over TLS.
	TLS bool
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

// The sink's TLS modes.
const (
	// NoTLS speaks clear text only.
	NoTLS = iota
	// OfferSTARTTLS offers STARTTLS.
	OfferSTARTTLS
	// ImplicitTLS speaks TLS from the first byte.
	ImplicitTLS
)

// Start runs a sink in clear text on 127.0.0.1 on a free port until the
// test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	s, _ := StartWith(t, NoTLS)
	return s
}

// StartWith runs a sink with the given TLS mode, and returns the roots that
// trust its certificate (issued to 127.0.0.1). It offers a PLAIN login,
// which it accepts for any user and password "secret", over TLS only.
func StartWith(t testing.TB, mode int) (*Sink, *x509.CertPool) {
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
	roots := x509.NewCertPool()
	if mode != NoTLS {
		// httptest's certificate for 127.0.0.1, and the roots that trust it.
		h := httptest.NewTLSServer(nil)
		cfg := h.TLS.Clone()
		cfg.NextProtos = nil
		roots.AddCert(h.Certificate())
		h.Close()
		if mode == OfferSTARTTLS {
			s.srv.TLSConfig = cfg
		} else {
			ln = tls.NewListener(ln, cfg)
		}
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp sink: %v", err)
		}
	}()
	t.Cleanup(func() { s.srv.Close() })
	return s, roots
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

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, conn: c, tls: isTLS}, nil
}

// session is one connection's transactions.
type session struct {
	s      *Sink
	conn   *smtp.Conn
	tls    bool // from the first byte
	login  string
	msg    Message
	refuse *Refusal // this transaction's refusal, taken at MAIL
}

// overTLS says whether the connection is encrypted now (STARTTLS upgrades
// it).
func (se *session) overTLS() bool {
	_, ok := se.conn.TLSConnectionState()
	return se.tls || ok
}

func (se *session) AuthMechanisms() []string {
	if !se.overTLS() {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || !se.overTLS() {
		return nil, smtp.ErrAuthUnsupported
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if pass != "secret" {
			return errors.New("wrong password")
		}
		se.login = user
		return nil
	}), nil
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
	se.msg = Message{From: from, Login: se.login, TLS: se.overTLS()}
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
