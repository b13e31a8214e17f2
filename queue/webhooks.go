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
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

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

func (w *webhookDispatchWorker) Work(ctx context.Context, job *river.Job[WebhookDispatchArgs]) error {
	for {
		n := 0
		err := w.q.store.Tx(ctx, func(tx pgx.Tx) error {
			ids, err := store.ClaimPendingDeliveries(ctx, tx, 500)
			if err != nil || len(ids) == 0 {
				return err
			}
			n = len(ids)
			params := make([]river.InsertManyParams, len(ids))
			for i, id := range ids {
				params[i] = river.InsertManyParams{Args: WebhookArgs{DeliveryID: id}}
			}
			_, err = w.q.client.InsertManyTx(ctx, tx, params)
			return err
		})
		if err != nil || n < 500 {
			return err
		}
	}
}

// WebhookArgs delivers one event to one subscriber.
type WebhookArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind implements river.JobArgs.
func (WebhookArgs) Kind() string { return "webhook_deliver" }

// InsertOpts: retried for about a day with backoff.
func (WebhookArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 12} }

type webhookWorker struct {
	river.WorkerDefaults[WebhookArgs]
	q      *Queue
	client *http.Client
}

// NextRetry backs off exponentially: 5 s, 10 s, 20 s … capped at 2 h.
func (w *webhookWorker) NextRetry(job *river.Job[WebhookArgs]) time.Time {
	d := w.q.cfg.WebhookBackoff << min(job.Attempt-1, 20)
	return time.Now().Add(min(d, 2*time.Hour))
}

func (w *webhookWorker) Timeout(*river.Job[WebhookArgs]) time.Duration { return 30 * time.Second }

// Sign computes the signature header value of a webhook: v1= and the hex
// HMAC-SHA256, keyed with the subscription's secret, of the timestamp, a
// dot, and the body. Receivers recompute it and reject old timestamps.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

func (w *webhookWorker) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	d, err := w.q.store.GetDelivery(ctx, job.Args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // unsubscribed meanwhile
	}
	if err != nil {
		return err
	}
	// The event id is the same on every retry: receivers use it to ignore
	// repeats.
	body, err := json.Marshal(map[string]any{"id": strconv.FormatInt(d.EventID, 10), "type": d.Kind,
		"created_at": d.At.UTC(), "actor": d.Actor, "data": map[string]any{"lead": d.Lead, "event": d.EventData}})
	if err != nil {
		return river.JobCancel(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, "POST", d.URL, bytes.NewReader(body))
	if err != nil {
		_ = w.q.store.RecordDelivery(ctx, d.ID, 0, err.Error(), false, true)
		return river.JobCancel(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "qualdial-webhooks")
	req.Header.Set("X-Qualdial-Event", d.Kind)
	req.Header.Set("X-Qualdial-Event-Id", strconv.FormatInt(d.EventID, 10))
	req.Header.Set("X-Qualdial-Timestamp", ts)
	req.Header.Set("X-Qualdial-Signature", Sign(d.Secret, ts, body))
	res, err := w.client.Do(req)
	final := job.Attempt >= job.MaxAttempts
	if err != nil {
		_ = w.q.store.RecordDelivery(ctx, d.ID, 0, err.Error(), false, final)
		w.q.cfg.Logger.Warn("webhook delivery failed", "delivery_id", d.ID, "event", d.Kind, "error", err)
		return fmt.Errorf("deliver %s to subscriber: %w", d.Kind, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	ok := res.StatusCode >= 200 && res.StatusCode < 300
	_ = w.q.store.RecordDelivery(ctx, d.ID, res.StatusCode, "", ok, final && !ok)
	w.q.cfg.Logger.Info("webhook delivered", "delivery_id", d.ID, "event", d.Kind, "status", res.StatusCode)
	if !ok {
		return fmt.Errorf("deliver %s: subscriber answered %d", d.Kind, res.StatusCode)
	}
	return nil
}
