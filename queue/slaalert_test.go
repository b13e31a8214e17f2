package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/internal/smtpsink"
	"github.com/qualdial/qualdial/mailer"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// alertBundle is a running queue whose SLA watcher runs every 200 ms and
// e-mails breaches to a loopback SMTP sink, on a clock the test moves.
type alertBundle struct {
	store *store.Store
	sink  *smtpsink.Sink
	skew  *atomic.Int64       // moves the store's clock forward
	logs  *fixture.SyncBuffer // everything the queue logged
}

func startAlerts(t *testing.T) *alertBundle {
	t.Helper()
	base, skew := fixture.Clock(), new(atomic.Int64)
	st := store.New(pgtest.DB(t), store.Config{Now: func() time.Time { return base().Add(time.Duration(skew.Load())) }})
	sink := smtpsink.Start(t)
	logs := &fixture.SyncBuffer{}
	q, err := queue.New(st, queue.Config{Drivers: map[string]dialer.Driver{"sip": nil},
		SLAWatchInterval: 200 * time.Millisecond, ReconcileInterval: time.Hour,
		WebhookInterval: 200 * time.Millisecond, WebhookBackoff: 100 * time.Millisecond, WebhookAllowHTTP: true, WebhookAllowNets: loopback,
		AlertMail: mailer.Config{Addr: sink.Addr(), TLS: mailer.TLSNone, From: "qualdial <alerts@example.com>",
			To: []string{"Rita Manager <rita@example.com>", "ops@example.com"}},
		PublicURL: "https://qualdial.example.com/",
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()) })
	return &alertBundle{store: st, sink: sink, skew: skew, logs: logs}
}

// jobCount counts River jobs of a kind, in the given states (all when
// none).
func (b *alertBundle) jobCount(t *testing.T, kind string, states ...string) int {
	t.Helper()
	var n int
	if states == nil {
		states = []string{}
	}
	err := b.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1
		AND (cardinality($2::text[]) = 0 OR state::text = ANY($2))`, kind, states).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitWatcherRuns waits until the SLA watcher has completed n more runs
// than it had.
func (b *alertBundle) waitWatcherRuns(t *testing.T, n int) {
	t.Helper()
	want := b.jobCount(t, "sla_watch", "completed") + n
	deadline := time.Now().Add(30 * time.Second)
	for b.jobCount(t, "sla_watch", "completed") < want {
		if time.Now().After(deadline) {
			t.Fatalf("the SLA watcher did not run %d more times", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readMail parses a message the sink accepted, with its body decoded.
func readMail(t *testing.T, m smtpsink.Message) (mail.Header, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header, strings.ReplaceAll(string(b), "\r\n", "\n")
}

// TestSLABreachAlerts: when the store's clock passes two leads' follow-up
// deadline, one SLA watcher run marks them; a CRM subscribed to
// lead.sla_breached gets an event for each, and the sales managers get one
// e-mail listing both — never again on the next runs. A lead not yet due
// is left out, no lead field reaches a header, and no phone number reaches
// the log.
func TestSLABreachAlerts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := startAlerts(t)
	st := b.store

	var mu sync.Mutex
	events := map[string][]int64{} // event type → lead ids
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Type string `json:"type"`
			Data struct {
				Lead struct {
					ID int64 `json:"id"`
				} `json:"lead"`
			} `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		events[body.Type] = append(events[body.Type], body.Data.Lead.ID)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer crm.Close()
	if _, err := st.CreateSubscription(ctx, crm.URL+"/hooks", []string{"lead.sla_breached"}); err != nil {
		t.Fatal(err)
	}

	c, err := st.CreateCampaign(ctx, store.CampaignParams{Name: "Spring webinar", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	ann := salesLead(t, st, c.ID, "+12125550123", "1 hour")
	bob := salesLead(t, st, c.ID, "+12125550124", "90 minutes")
	later := salesLead(t, st, c.ID, "+12125550125", "5 hours")
	rep, _, err := st.CreateUser(ctx, "ray@example.com", "Ray Rep", "sales")
	if err != nil {
		t.Fatal(err)
	}
	// Ann is an SQL of Acme; Bob was claimed by Ray, and his name tries
	// to add a header.
	if _, err := st.Pool().Exec(ctx, `UPDATE leads SET class = 'sql', total = 85, company = 'Acme Corp', last_name = 'Smith' WHERE id = $1`, ann); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE leads SET first_name = 'Bob', last_name = E'Jones\r\nBcc: evil@example.test', sales_stage = 'accepted', assigned_to = $2 WHERE id = $1`,
		bob, rep.ID); err != nil {
		t.Fatal(err)
	}

	// Before the deadline, the watcher runs and finds nothing.
	b.waitWatcherRuns(t, 2)
	if n := len(b.sink.Messages()); n != 0 {
		t.Fatalf("%d e-mails before any deadline passed", n)
	}
	// Two hours later, Ann and Bob are late.
	b.skew.Add(int64(2 * time.Hour))
	moved := time.Now()
	m := b.sink.WaitMessages(t, 1, 30*time.Second)[0]
	// Within one watcher run: no run that started after the clock moved
	// finished before the one that marked them (and inserted the e-mail).
	var missed int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job w WHERE w.kind = 'sla_watch' AND w.attempted_at > $1
		AND w.finalized_at < (SELECT created_at FROM river_job WHERE kind = 'sla_breach_email')`, moved).Scan(&missed); err != nil {
		t.Fatal(err)
	}
	if missed != 0 {
		t.Errorf("%d watcher runs after the deadline passed went by without marking the breaches", missed)
	}

	if m.From != "alerts@example.com" || strings.Join(m.To, ",") != "rita@example.com,ops@example.com" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	h, body := readMail(t, m)
	if got, want := h.Get("Subject"), "SLA breached: 2 sales-ready leads not contacted within 24h"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if h.Get("To") != `"Rita Manager" <rita@example.com>, <ops@example.com>` || h.Get("Bcc") != "" || h.Get("Cc") != "" {
		t.Errorf("headers %v", h)
	}
	head, _, _ := strings.Cut(string(m.Data), "\r\n\r\n")
	if strings.Contains(head, "evil") || strings.Contains(head, "Jones") || strings.Contains(head, "2125550") {
		t.Errorf("a lead field reached the headers:\n%s", head)
	}
	for _, want := range []string{
		"2 sales-ready leads not contacted within 24h",
		"1. Ann Smith, Acme Corp\n   Campaign: Spring webinar\n   Result: class sql, total 85\n   Phone: +12125550123\n",
		"late\n   Claimed by: nobody\n   https://qualdial.example.com/leads/" + fmt.Sprint(ann) + "\n",
		"2. Bob Jones Bcc: evil@example.test\n",
		"   Phone: +12125550124\n",
		"Claimed by: Ray Rep\n   https://qualdial.example.com/leads/" + fmt.Sprint(bob) + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the e-mail lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "+12125550125") || strings.Contains(body, fmt.Sprintf("/leads/%d\n", later)) {
		t.Errorf("the e-mail lists the lead not yet due:\n%s", body)
	}

	// The CRM gets lead.sla_breached for both.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := append([]int64(nil), events["lead.sla_breached"]...)
		mu.Unlock()
		if len(got) == 2 {
			if !(got[0] == ann && got[1] == bob || got[0] == bob && got[1] == ann) {
				t.Errorf("lead.sla_breached for %v, want %d and %d", got, ann, bob)
			}
			break
		}
		if len(got) > 2 || time.Now().After(deadline) {
			t.Fatalf("lead.sla_breached for %v, want %d and %d once each", got, ann, bob)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// More runs: nothing new to say.
	b.waitWatcherRuns(t, 3)
	if n := len(b.sink.Messages()); n != 1 {
		t.Errorf("%d e-mails after more watcher runs, want 1", n)
	}
	if n := b.jobCount(t, "sla_breach_email"); n != 1 {
		t.Errorf("%d e-mail jobs, want 1", n)
	}
	logs := b.logs.String()
	if !strings.Contains(logs, "SLA breach e-mail sent") {
		t.Errorf("the log does not say the e-mail was sent:\n%s", logs)
	}
	if strings.Contains(logs, "2125550") {
		t.Errorf("a phone number reached the log:\n%s", logs)
	}
}

// TestSLABreachEmailRetried: an SMTP server that refuses (451 at MAIL, then
// 554 after DATA) gets the same e-mail again as River retries the job, and
// it arrives once when the server recovers.
func TestSLABreachEmailRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := startAlerts(t)
	b.sink.Refuse(smtpsink.Refusal{At: "MAIL", Code: 451, Message: "try again later"},
		smtpsink.Refusal{At: "DATA", Code: 554, Message: "transaction failed"})
	c, err := b.store.CreateCampaign(ctx, store.CampaignParams{Name: "retry", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	salesLead(t, b.store, c.ID, "+12125550133", "1 hour")
	b.skew.Add(int64(2 * time.Hour))

	// River's backoff: about 1 s, then 16 s.
	msgs := b.sink.WaitMessages(t, 1, 90*time.Second)
	if n := b.sink.Refused(); n != 2 {
		t.Errorf("the sink refused %d transactions, want 2", n)
	}
	h, body := readMail(t, msgs[0])
	if h.Get("Subject") != "SLA breached: 1 sales-ready lead not contacted within 24h" || !strings.Contains(body, "+12125550133") {
		t.Errorf("subject %q, body:\n%s", h.Get("Subject"), body)
	}
	b.waitWatcherRuns(t, 3)
	if n := len(b.sink.Messages()); n != 1 {
		t.Errorf("%d e-mails, want 1", n)
	}
	var attempt int
	var state string
	if err := b.store.Pool().QueryRow(ctx, `SELECT attempt, state FROM river_job WHERE kind = 'sla_breach_email'`).Scan(&attempt, &state); err != nil {
		t.Fatal(err)
	}
	if attempt != 3 || state != "completed" {
		t.Errorf("e-mail job: attempt %d, state %s; want completed at the third attempt", attempt, state)
	}
	if logs := b.logs.String(); !strings.Contains(logs, "SLA breach e-mail not sent") || strings.Contains(logs, "2125550") {
		t.Errorf("logs:\n%s", logs)
	}
}
