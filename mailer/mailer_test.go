package mailer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/internal/smtpsink"
	"github.com/qualdial/qualdial/mailer"
)

// TestValidate: each mistake gets a message that says what to set.
func TestValidate(t *testing.T) {
	t.Parallel()
	ok := mailer.Config{Addr: "smtp.example.com:587", From: "alerts@example.com", To: []string{"ops@example.com"}}
	for _, c := range []struct {
		name string
		edit func(*mailer.Config)
		want string // "" valid
	}{
		{"valid", func(*mailer.Config) {}, ""},
		{"off", func(c *mailer.Config) { *c = mailer.Config{} }, ""},
		{"named addresses, implicit tls, login", func(c *mailer.Config) {
			c.From, c.To, c.TLS, c.Username, c.Password = "qualdial <alerts@example.com>", []string{"Rita <rita@example.com>", "ops@example.com"}, "tls", "u", "p"
		}, ""},
		{"clear text to localhost", func(c *mailer.Config) { c.Addr, c.TLS = "localhost:25", "none" }, ""},
		{"clear text to ::1", func(c *mailer.Config) { c.Addr, c.TLS = "[::1]:25", "none" }, ""},
		{"recipients but no server", func(c *mailer.Config) { c.Addr = "" }, "set Addr to the SMTP server's host:port"},
		{"no port", func(c *mailer.Config) { c.Addr = "smtp.example.com" }, "must be host:port"},
		{"bad port", func(c *mailer.Config) { c.Addr = "smtp.example.com:99999" }, "must be host:port"},
		{"no host", func(c *mailer.Config) { c.Addr = ":587" }, "must be host:port"},
		{"no sender", func(c *mailer.Config) { c.From = "" }, "set the sender address"},
		{"bad sender", func(c *mailer.Config) { c.From = "alerts" }, "not an e-mail address"},
		{"no recipients", func(c *mailer.Config) { c.To = nil }, "set To to the addresses of the sales managers"},
		{"bad recipient", func(c *mailer.Config) { c.To = []string{"ops@example.com", "rita at example"} }, `recipient "rita at example"`},
		{"header in a recipient", func(c *mailer.Config) { c.To = []string{"ops@example.com\r\nBcc: x@evil.test"} }, "must be on one line"},
		{"too many recipients", func(c *mailer.Config) { c.To = make([]string, mailer.MaxRecipients+1) }, "use a mailing list address"},
		{"unknown tls mode", func(c *mailer.Config) { c.TLS = "ssl" }, "use starttls, tls or none"},
		{"clear text to a remote host", func(c *mailer.Config) { c.TLS = "none" }, "allowed only to a relay on this host"},
		{"login in clear text", func(c *mailer.Config) { c.Addr, c.TLS, c.Username, c.Password = "127.0.0.1:25", "none", "u", "p" }, "never sent in clear text"},
		{"username alone", func(c *mailer.Config) { c.Username = "u" }, "set the password too"},
		{"password alone", func(c *mailer.Config) { c.Password = "p" }, "set the username too"},
		{"negative timeout", func(c *mailer.Config) { c.Timeout = -time.Second }, "must not be negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := ok
			cfg.To = append([]string(nil), ok.To...)
			c.edit(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
			if _, nerr := mailer.New(cfg); (nerr == nil) != (err == nil) {
				t.Fatalf("New: %v, Validate: %v", nerr, err)
			}
		})
	}
}

// TestSend: a message reaches a real SMTP server with the configured
// envelope and headers; a subject cannot add a header.
func TestSend(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	m, err := mailer.New(mailer.Config{Addr: sink.Addr(), TLS: mailer.TLSNone, From: "qualdial <alerts@example.com>",
		To: []string{"Rita <rita@example.com>", "ops@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Send(ctx, mailer.Message{Subject: "Hello\r\nBcc: x@evil.test", Text: "Line one.\n.\nLine three.\n", ID: "alert.7"}); err != nil {
		t.Fatal(err)
	}
	got := sink.WaitMessages(t, 1, 10*time.Second)[0]
	if got.From != "alerts@example.com" || strings.Join(got.To, ",") != "rita@example.com,ops@example.com" {
		t.Fatalf("envelope from %q to %q", got.From, got.To)
	}
	head, body, _ := strings.Cut(string(got.Data), "\r\n\r\n")
	for _, want := range []string{"Subject: Hello Bcc: x@evil.test\r\n", "Message-ID: <alert.7@example.com>\r\n", "From: \"qualdial\" <alerts@example.com>\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("headers lack %q:\n%s", want, head)
		}
	}
	if strings.Contains(head, "\r\nBcc:") {
		t.Errorf("the subject added a header:\n%s", head)
	}
	if !strings.Contains(body, "Line one.\r\n.\r\nLine three.") {
		t.Errorf("body %q", body)
	}
}

// TestSendOverTLS: with STARTTLS (the default) and with implicit TLS, the
// server's certificate is verified, the login is sent, and the message
// arrives encrypted; a certificate the roots do not trust gets nothing.
func TestSendOverTLS(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		sink int
		tls  string
	}{
		{"starttls", smtpsink.OfferSTARTTLS, ""},
		{"implicit", smtpsink.ImplicitTLS, mailer.TLSImplicit},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sink, roots := smtpsink.StartWith(t, c.sink)
			cfg := mailer.Config{Addr: sink.Addr(), TLS: c.tls, From: "alerts@example.com", To: []string{"ops@example.com"},
				Username: "alerts", Password: "secret", RootCAs: roots}
			if err := send(t, cfg); err != nil {
				t.Fatal(err)
			}
			got := sink.WaitMessages(t, 1, 10*time.Second)[0]
			if !got.TLS || got.Login != "alerts" {
				t.Fatalf("message over TLS %v, login %q", got.TLS, got.Login)
			}
			// The system's roots do not know the test's certificate.
			cfg.RootCAs = nil
			if err := send(t, cfg); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("error %v, want an untrusted certificate", err)
			}
			if n := len(sink.Messages()); n != 1 {
				t.Fatalf("%d messages, want 1", n)
			}
		})
	}
}

// TestStartTLSRequired: in starttls mode, a server that does not offer
// STARTTLS gets nothing, and the error says why.
func TestStartTLSRequired(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	err := send(t, mailer.Config{Addr: sink.Addr(), From: "alerts@example.com", To: []string{"ops@example.com"}})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("error %v, want one about STARTTLS", err)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d messages sent in clear text", n)
	}
}

// TestSendRefused: a server's refusal is an error naming its reply.
func TestSendRefused(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	sink.Refuse(smtpsink.Refusal{At: "RCPT", Code: 451, Message: "greylisted, try later"})
	cfg := mailer.Config{Addr: sink.Addr(), TLS: mailer.TLSNone, From: "alerts@example.com", To: []string{"ops@example.com"}}
	if err := send(t, cfg); err == nil || !strings.Contains(err.Error(), "greylisted") {
		t.Fatalf("error %v, want the server's reply", err)
	}
	if err := send(t, cfg); err != nil {
		t.Fatalf("after the refusal: %v", err)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// send sends a short message with a mailer of cfg.
func send(t *testing.T, cfg mailer.Config) error {
	t.Helper()
	m, err := mailer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return m.Send(ctx, mailer.Message{Subject: "s", Text: "t"})
}
