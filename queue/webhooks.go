package queue

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/qualdial/qualdial/metrics"
	"github.com/qualdial/qualdial/store"
)

// WebhookDispatchArgs is the periodic job that turns pending webhook
// deliveries (written with their events) into delivery jobs.
type WebhookDispatchArgs struct{}

// Kind implements river.JobArgs.
func (WebhookDispatchArgs) Kind() string { return "webhook_dispatch" }

type webhookDispatchWorker struct {
	river.WorkerDefaults[WebhookDispatchArgs]
	q *Queue
}

// Timeout bounds a run, like every maintenance job's.
func (w *webhookDispatchWorker) Timeout(*river.Job[WebhookDispatchArgs]) time.Duration {
	return maintenanceTimeout
}

func (w *webhookDispatchWorker) Work(ctx context.Context, job *river.Job[WebhookDispatchArgs]) error {
	_, err := w.q.enqueueClaimed(ctx, store.ClaimPendingDeliveries, func(id int64) river.JobArgs { return WebhookArgs{DeliveryID: id} })
	return err
}

// WebhookArgs delivers one event to one subscriber.
type WebhookArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind implements river.JobArgs.
func (WebhookArgs) Kind() string { return "webhook_deliver" }

// InsertOpts: on the webhooks queue, retried for about a day with backoff.
func (WebhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: 12}
}

type webhookWorker struct {
	river.WorkerDefaults[WebhookArgs]
	q      *Queue
	policy WebhookPolicy
	client *http.Client

	mu   sync.Mutex
	busy map[int64]int // deliveries in flight per subscription
}

// endpointBusyWait is how long a delivery waits when its endpoint already
// has WebhookPerEndpoint deliveries in flight.
const endpointBusyWait = 5 * time.Second

// take reserves one of the subscription's delivery slots in this process.
func (w *webhookWorker) take(sub int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy[sub] >= w.q.cfg.WebhookPerEndpoint {
		return false
	}
	w.busy[sub]++
	return true
}

func (w *webhookWorker) release(sub int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy[sub]--; w.busy[sub] <= 0 {
		delete(w.busy, sub)
	}
}

// NextRetry backs off exponentially: 5 s, 10 s, 20 s … capped at 2 h.
func (w *webhookWorker) NextRetry(job *river.Job[WebhookArgs]) time.Time {
	d := w.q.cfg.WebhookBackoff << min(job.Attempt-1, 20)
	return time.Now().Add(min(d, 2*time.Hour))
}

func (w *webhookWorker) Timeout(*river.Job[WebhookArgs]) time.Duration { return 30 * time.Second }

// Sign computes a v1 signature header value: "v1=" and the hex
// HMAC-SHA256, keyed with the secret, of the timestamp, a dot, and the body.
//
// Deprecated: v1 does not cover the method, path or query, so a captured
// request can be replayed to another endpoint or with another query. Use
// [SignV2]. v1 is still sent to webhook subscriptions made before v2 and
// still accepted for signed intake without a query string.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// SignV2 computes a v2 signature header value: "v2=" and the hex
// HMAC-SHA256, keyed with the secret, of [CanonicalRequest]. It is the
// scheme of X-Qualdial-Signature for signed intake and for webhooks.
func SignV2(secret, timestamp, method, path, rawQuery string, body []byte) (string, error) {
	c, err := CanonicalRequest(timestamp, method, path, rawQuery, body)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(c)
	return "v2=" + hex.EncodeToString(m.Sum(nil)), nil
}

// CanonicalRequest is what a v2 signature covers, five parts joined by
// "\n":
//
//	timestamp  the X-Qualdial-Timestamp value (Unix seconds)
//	method     upper case: POST
//	path       as sent, percent-encoding kept, without the query; "/" if empty
//	query      the query decoded and re-encoded as a form (application/
//	           x-www-form-urlencoded, spaces as "+"), pairs sorted by name,
//	           values of one name kept in the order sent; empty if none
//	body       the raw body bytes
//
// The query is canonical so that signers need not reproduce the exact
// bytes a client library sends; it is an error when it does not parse.
func CanonicalRequest(timestamp, method, path, rawQuery string, body []byte) ([]byte, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("canonical query: %w", err)
	}
	if path == "" {
		path = "/"
	}
	var b bytes.Buffer
	b.Grow(len(timestamp) + len(method) + len(path) + len(rawQuery) + len(body) + 8)
	b.WriteString(timestamp)
	b.WriteByte('\n')
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(q.Encode())
	b.WriteByte('\n')
	b.Write(body)
	return b.Bytes(), nil
}

// newWebhookWorker builds the delivery worker with the queue's target
// policy; its client checks every connection's address after DNS.
func newWebhookWorker(q *Queue) *webhookWorker {
	p := WebhookPolicy{AllowHTTP: q.cfg.WebhookAllowHTTP, AllowNets: q.cfg.WebhookAllowNets}
	return &webhookWorker{q: q, policy: p, client: p.webhookClient(15 * time.Second), busy: make(map[int64]int)}
}

// validateWebhooks checks the webhook settings of the configuration.
func (c *Config) validateWebhooks() error {
	if c.WebhookWorkers < 0 || c.WebhookPerEndpoint < 0 {
		return errors.New("queue: WebhookWorkers and WebhookPerEndpoint must not be negative")
	}
	for _, n := range c.WebhookAllowNets {
		if !n.IsValid() {
			return fmt.Errorf("queue: WebhookAllowNets has an invalid network %v", n)
		}
	}
	return nil
}

func (w *webhookWorker) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	d, err := w.q.store.GetDelivery(ctx, job.Args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // unsubscribed meanwhile
	}
	if err != nil {
		return fmt.Errorf("load webhook delivery %d: %w", job.Args.DeliveryID, err)
	}
	// A slow or hanging endpoint holds WebhookPerEndpoint deliveries at
	// most; the others wait their turn without holding a worker.
	if !w.take(d.SubscriptionID) {
		return river.JobSnooze(endpointBusyWait)
	}
	defer w.release(d.SubscriptionID)
	log := w.q.cfg.Logger.With("delivery_id", d.ID, "subscription_id", d.SubscriptionID, "event", d.Kind)
	// Subscriptions made before the URL rules (or a change of them) are
	// checked again: never called, and the delivery fails at once.
	u, err := w.policy.checkStatic(d.URL)
	if err != nil {
		_ = w.q.store.RecordDelivery(ctx, d.ID, 0, "refused: "+err.Error(), false, true)
		w.q.cfg.Metrics.WebhookDelivery(metrics.WebhookGaveUp)
		log.Warn("webhook refused", "reason", err)
		return river.JobCancel(fmt.Errorf("webhook %d refused: %w", d.SubscriptionID, err))
	}
	// The event id is the same on every retry: receivers use it to ignore
	// repeats.
	body, err := json.Marshal(map[string]any{"id": strconv.FormatInt(d.EventID, 10), "type": d.Kind,
		"created_at": d.At.UTC(), "actor": d.Actor, "data": map[string]any{"lead": d.Lead, "event": d.EventData}})
	if err != nil {
		return river.JobCancel(fmt.Errorf("encode webhook body: %w", err))
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := Sign(d.Secret, ts, body)
	if d.SignatureVersion != 1 {
		if sig, err = SignV2(d.Secret, ts, http.MethodPost, u.EscapedPath(), u.RawQuery, body); err != nil {
			return river.JobCancel(fmt.Errorf("sign webhook: %w", err))
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		_ = w.q.store.RecordDelivery(ctx, d.ID, 0, "cannot build the request", false, true)
		return river.JobCancel(fmt.Errorf("webhook %d request: %w", d.SubscriptionID, withoutURL(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "qualdial-webhooks")
	req.Header.Set("X-Qualdial-Event", d.Kind)
	req.Header.Set("X-Qualdial-Event-Id", strconv.FormatInt(d.EventID, 10))
	req.Header.Set("X-Qualdial-Timestamp", ts)
	req.Header.Set("X-Qualdial-Signature", sig)
	res, err := w.client.Do(req)
	final := job.Attempt >= job.MaxAttempts
	if err != nil {
		// Errors name the URL, which may carry a token: keep only the cause.
		err = withoutURL(err)
		_ = w.q.store.RecordDelivery(ctx, d.ID, 0, err.Error(), false, final)
		w.q.cfg.Metrics.WebhookDelivery(deliveryResult(false, final))
		log.Warn("webhook delivery failed", "host", u.Host, "error", err)
		return fmt.Errorf("deliver %s to webhook %d: %w", d.Kind, d.SubscriptionID, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	ok := res.StatusCode >= 200 && res.StatusCode < 300
	errMsg := ""
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		// Redirects are never followed: the payload and its signature are
		// for this URL only, and a redirect could point anywhere.
		errMsg = "redirect not followed"
		if loc, err := url.Parse(res.Header.Get("Location")); err == nil && loc.Host != "" {
			errMsg += " (to " + loc.Host + ")"
		}
	}
	_ = w.q.store.RecordDelivery(ctx, d.ID, res.StatusCode, errMsg, ok, final && !ok)
	w.q.cfg.Metrics.WebhookDelivery(deliveryResult(ok, final))
	if !ok {
		log.Warn("webhook delivery failed", "host", u.Host, "status", res.StatusCode, "error", errMsg)
		return fmt.Errorf("deliver %s to webhook %d: subscriber answered %d", d.Kind, d.SubscriptionID, res.StatusCode)
	}
	log.Info("webhook delivered", "host", u.Host, "status", res.StatusCode)
	return nil
}

// withoutURL strips the URL from an HTTP client error: the cause is kept,
// the address (which may carry a token) is not.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// deliveryResult names a delivery attempt's result for the metrics.
func deliveryResult(ok, final bool) string {
	switch {
	case ok:
		return metrics.WebhookDelivered
	case final:
		return metrics.WebhookGaveUp
	default:
		return metrics.WebhookFailed
	}
}
