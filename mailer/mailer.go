// Package mailer sends qualdial's alert e-mails (SLA breaches, to sales
// managers) through an SMTP server. Messages are plain text; their headers
// are built by github.com/wneessen/go-mail from the configuration and the
// caller's subject, never from lead data.
package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// The TLS modes of Config.TLS.
const (
	// TLSStartTLS upgrades the connection with STARTTLS and refuses a
	// server that does not offer it (the submission port, 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit = "tls"
	// TLSNone sends in clear text: only to a relay on this host (a
	// loopback address or localhost).
	TLSNone = "none"
)

// TLSModes are the values Config.TLS accepts.
var TLSModes = []string{TLSStartTLS, TLSImplicit, TLSNone}

// MaxRecipients bounds Config.To.
const MaxRecipients = 50

// Config says how and to whom alert e-mails are sent. The zero value
// (no Addr) sends none.
type Config struct {
	// Addr is the SMTP server as host:port, e.g. smtp.example.com:587.
	// Empty: e-mail alerts are off (and the other fields must be empty).
	Addr string
	// Username and Password log in to the server (SMTP AUTH, the strongest
	// mechanism it offers) when Username is set; empty: no login. Never
	// sent without TLS.
	Username, Password string
	// From is the sender, e.g. "qualdial <alerts@example.com>".
	From string
	// To are the recipients (the sales managers), at least one, at most
	// MaxRecipients, e.g. ["ops@example.com", "Rita <rita@example.com>"].
	To []string
	// TLS is starttls (the default), tls (implicit TLS, usually port 465)
	// or none (clear text, allowed only to a loopback host).
	TLS string
	// Timeout bounds connecting and each SMTP command; default 30s.
	Timeout time.Duration
	// RootCAs are the certificate authorities the server's certificate
	// must chain to; nil: the system's. For a relay with a private CA,
	// and tests.
	RootCAs *x509.CertPool
}

// Enabled says whether e-mails are sent at all.
func (c *Config) Enabled() bool { return c.Addr != "" }

func (c *Config) withDefaults() Config {
	out := *c
	if out.TLS == "" {
		out.TLS = TLSStartTLS
	}
	if out.Timeout == 0 {
		out.Timeout = 30 * time.Second
	}
	return out
}

// Validate says what is wrong with the configuration, naming the field
// and what it expects.
func (c *Config) Validate() error {
	if !c.Enabled() {
		if c.From != "" || len(c.To) > 0 || c.Username != "" || c.Password != "" {
			return errors.New("smtp: From, To or a login is set but no server address: set Addr to the SMTP server's host:port, like smtp.example.com:587")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
		return fmt.Errorf("smtp: server address %q must be host:port, like smtp.example.com:587", c.Addr)
	}
	if c.From == "" {
		return errors.New("smtp: From is empty: set the sender address, like alerts@example.com")
	}
	if err := checkAddress(c.From); err != nil {
		return fmt.Errorf("smtp: From %q: %w", c.From, err)
	}
	if len(c.To) == 0 {
		return errors.New("smtp: no recipients: set To to the addresses of the sales managers, like ops@example.com")
	}
	if len(c.To) > MaxRecipients {
		return fmt.Errorf("smtp: %d recipients: at most %d (use a mailing list address)", len(c.To), MaxRecipients)
	}
	for _, to := range c.To {
		if err := checkAddress(to); err != nil {
			return fmt.Errorf("smtp: recipient %q: %w", to, err)
		}
	}
	tlsMode := c.TLS
	if tlsMode == "" {
		tlsMode = TLSStartTLS
	}
	if !slices.Contains(TLSModes, tlsMode) {
		return fmt.Errorf("smtp: TLS mode %q: use starttls, tls or none", c.TLS)
	}
	if tlsMode == TLSNone && !isLoopback(host) {
		return fmt.Errorf("smtp: TLS mode none sends in clear text, allowed only to a relay on this host (127.0.0.1, ::1 or localhost), not %s: use starttls or tls", host)
	}
	if c.Username != "" && c.Password == "" {
		return errors.New("smtp: a username without a password: set the password too, or neither")
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("smtp: a password without a username: set the username too, or neither")
	}
	if c.Username != "" && tlsMode == TLSNone {
		return errors.New("smtp: a login is never sent in clear text: use TLS mode starttls or tls, or no username")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("smtp: timeout %s must not be negative (0: 30s)", c.Timeout)
	}
	return nil
}

// checkAddress accepts one RFC 5322 address ("name <a@b>" or "a@b").
func checkAddress(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return errors.New("must be on one line")
	}
	if _, err := mail.ParseAddress(s); err != nil {
		return errors.New("not an e-mail address like alerts@example.com or \"Name <alerts@example.com>\"")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Message is one e-mail to the configured recipients.
type Message struct {
	// Subject is the subject line: text of the product's own, never a
	// lead's fields.
	Subject string
	// Text is the plain-text body.
	Text string
	// ID makes the Message-ID (<ID@the sender's domain>): the same alert
	// sent again (a retry after a lost reply) has the same one, so mail
	// clients can tell. Empty: a random one.
	ID string
}

// Mailer sends alert e-mails. It is safe for concurrent use.
type Mailer struct {
	cfg    Config
	host   string
	port   int
	domain string // of the sender, for Message-IDs
}

// New checks cfg and returns its mailer; nil, nil when e-mail is off.
func New(cfg Config) (*Mailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, nil
	}
	cfg = cfg.withDefaults()
	host, p, _ := net.SplitHostPort(cfg.Addr)
	port, _ := strconv.Atoi(p)
	from, _ := mail.ParseAddress(cfg.From)
	_, domain, _ := strings.Cut(from.Address, "@")
	return &Mailer{cfg: cfg, host: host, port: port, domain: domain}, nil
}

// Recipients is how many addresses each message goes to.
func (m *Mailer) Recipients() int { return len(m.cfg.To) }

// Timeout bounds one Send (connect, the commands, the data), for a
// job's deadline.
func (m *Mailer) Timeout() time.Duration { return 6 * m.cfg.Timeout }

// Send delivers msg to the server, or says why it could not; a refusal
// (4xx or 5xx) is an error like any other: the caller retries.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	em := gomail.NewMsg()
	if err := em.From(m.cfg.From); err != nil {
		return fmt.Errorf("e-mail sender: %w", err)
	}
	if err := em.To(m.cfg.To...); err != nil {
		return fmt.Errorf("e-mail recipients: %w", err)
	}
	em.Subject(oneLine(msg.Subject))
	if msg.ID != "" {
		em.SetMessageIDWithValue(msg.ID + "@" + m.domain)
	} else {
		em.SetMessageID()
	}
	em.SetDate()
	em.SetGenHeader(gomail.HeaderXMailer, "qualdial")
	em.SetBodyString(gomail.TypeTextPlain, msg.Text)
	opts := []gomail.Option{gomail.WithPort(m.port), gomail.WithTimeout(m.cfg.Timeout)}
	switch m.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.cfg.RootCAs != nil {
		opts = append(opts, gomail.WithTLSConfig(&tls.Config{ServerName: m.host, RootCAs: m.cfg.RootCAs, MinVersion: tls.VersionTLS12}))
	}
	if m.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.cfg.Password))
	}
	c, err := gomail.NewClient(m.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client for %s: %w", m.cfg.Addr, err)
	}
	if err := c.DialAndSendWithContext(ctx, em); err != nil {
		return fmt.Errorf("send e-mail via %s: %w", m.cfg.Addr, err)
	}
	return nil
}

// oneLine keeps a subject on one line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}
