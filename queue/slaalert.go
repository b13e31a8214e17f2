package queue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/qualdial/qualdial/mailer"
	"github.com/qualdial/qualdial/store"
)

// SLABreachEmailArgs is the job that e-mails one SLA watcher run's breaches
// as one digest. The watcher inserts it in the transaction that marks the
// breaches, so every batch is mailed once: River retries the job when the
// SMTP server fails or refuses, and a later run never lists the same lead
// again (a breach is marked once).
type SLABreachEmailArgs struct {
	// LeadIDs are the batch's leads, at most maxDigestIDs of them.
	LeadIDs []int64 `json:"lead_ids"`
	// Breached counts the whole batch.
	Breached int `json:"breached"`
}

// Kind implements river.JobArgs.
func (SLABreachEmailArgs) Kind() string { return "sla_breach_email" }

// InsertOpts: the alerts queue; River's backoff (attempt⁴ seconds) over
// 12 attempts keeps trying for about half a day before the job is
// discarded.
func (SLABreachEmailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueAlerts, MaxAttempts: 12}
}

const (
	// maxDigestIDs bounds the lead ids a digest job carries (a backlog
	// marked at once, after a long stop, is thousands).
	maxDigestIDs = 1000
	// digestListed is how many leads an e-mail lists in detail; the rest
	// are counted.
	digestListed = 50
	// digestFieldMax bounds each lead field an e-mail shows, in runes.
	digestFieldMax = 120
)

type slaMailWorker struct {
	river.WorkerDefaults[SLABreachEmailArgs]
	q *Queue
}

// Timeout covers one SMTP delivery.
func (w *slaMailWorker) Timeout(*river.Job[SLABreachEmailArgs]) time.Duration {
	if w.q.mail == nil {
		return maintenanceTimeout
	}
	return w.q.mail.Timeout() + 30*time.Second
}

func (w *slaMailWorker) Work(ctx context.Context, job *river.Job[SLABreachEmailArgs]) error {
	log := w.q.cfg.Logger.With("job_id", job.ID, "breached", job.Args.Breached)
	if w.q.mail == nil {
		return river.JobCancel(errors.New("e-mail alerts are not configured (any more)"))
	}
	d, err := store.SLABreachDigest(ctx, w.q.store.Pool(), job.Args.LeadIDs, digestListed)
	if err != nil {
		return err
	}
	msg := slaBreachEmail(job.Args.Breached, d, w.q.store.Now(), w.q.cfg.PublicURL)
	msg.ID = "qualdial.sla-breach." + strconv.FormatInt(job.ID, 10)
	if err := w.q.mail.Send(ctx, msg); err != nil {
		// The error is the server's reply or the connection's: it names
		// addresses of the configuration, never a lead.
		log.Warn("SLA breach e-mail not sent", "attempt", job.Attempt, "max_attempts", job.MaxAttempts, "error", err)
		return err
	}
	log.Info("SLA breach e-mail sent", "recipients", w.q.mail.Recipients())
	return nil
}

// enqueueBreachEmailTx inserts the e-mail of a batch of breaches in the
// transaction that marked them; nothing when e-mail is off.
func (q *Queue) enqueueBreachEmailTx(ctx context.Context, tx pgx.Tx, ids []int64) error {
	if q.mail == nil || len(ids) == 0 {
		return nil
	}
	args := SLABreachEmailArgs{LeadIDs: ids[:min(len(ids), maxDigestIDs)], Breached: len(ids)}
	if _, err := q.client.InsertTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("enqueue SLA breach e-mail: %w", err)
	}
	return nil
}

// slaBreachEmail writes the digest of a batch of breaches. The subject
// holds only counts and durations; lead fields are in the body, on lines
// of their own, without control characters.
func slaBreachEmail(breached int, d *store.BreachDigest, now time.Time, publicURL string) mailer.Message {
	leads := "sales-ready leads"
	if breached == 1 {
		leads = "sales-ready lead"
	}
	within := "within their SLA"
	if len(d.SLAs) == 1 {
		within = "within " + shortDuration(d.SLAs[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s not contacted %s. Follow them up now.\n", breached, leads, within)
	base := strings.TrimRight(publicURL, "/")
	for i, l := range d.Leads {
		name := strings.TrimSpace(clean(l.FirstName) + " " + clean(l.LastName))
		if name == "" {
			name = "(no name)"
		}
		if c := clean(l.Company); c != "" {
			name += ", " + c
		}
		fmt.Fprintf(&b, "\n%d. %s\n", i+1, name)
		fmt.Fprintf(&b, "   Campaign: %s\n", clean(l.Campaign))
		class := "class " + clean(l.Class)
		if l.Class == "" {
			class = "no class"
		}
		if l.Total != nil {
			class += fmt.Sprintf(", total %d", *l.Total)
		}
		fmt.Fprintf(&b, "   Result: %s\n", class)
		fmt.Fprintf(&b, "   Phone: %s\n", clean(l.Phone))
		fmt.Fprintf(&b, "   Due: %s (SLA %s), %s late\n", l.SLADueAt.UTC().Format("2006-01-02 15:04 MST"), shortDuration(l.SLA), shortDuration(now.Sub(l.SLADueAt)))
		claimed := "nobody"
		if l.ClaimedBy != "" {
			claimed = clean(l.ClaimedBy)
		}
		fmt.Fprintf(&b, "   Claimed by: %s\n", claimed)
		if base != "" {
			fmt.Fprintf(&b, "   %s/leads/%d\n", base, l.ID)
		}
	}
	if more := breached - len(d.Leads); more > 0 {
		fmt.Fprintf(&b, "\n…and %d more: the sales inbox lists every breached lead.\n", more)
	}
	b.WriteString("\n-- \nqualdial's SLA watcher sends this e-mail once per batch of breaches.\n")
	return mailer.Message{
		Subject: fmt.Sprintf("SLA breached: %d %s not contacted %s", breached, leads, within),
		Text:    b.String(),
	}
}

// clean makes a stored field safe for a line of the e-mail: control
// characters (line breaks included) become spaces, and it is cut to
// digestFieldMax runes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > digestFieldMax {
		s = string(r[:digestFieldMax-1]) + "…"
	}
	return s
}

// shortDuration writes a duration the way people say it: 24h, 1h30m, 45m;
// under a minute is <1m.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
	switch {
	case d < time.Minute:
		return "<1m"
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%02dm", h, m)
}

// CheckPublicURL checks the web UI's base URL that alert links start
// with (Config.PublicURL).
func CheckPublicURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("public URL %q must be the web UI's http(s) base URL as users reach it, like https://qualdial.example.com, without credentials, query or fragment", s)
	}
	return nil
}
