package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// ComplianceDays is the least time qualdial keeps compliance records:
// five years (5 × 365 days and a leap day). Consent, opt-outs and calls
// must be provable for as long as a complaint about them can be brought
// (the TCPA's four years, and more under some state laws); five years
// covers them with room.
const ComplianceDays = 1826

// ComplianceEvents are the lead events that record consent, opt-outs, the
// do-not-call list and calls: retention keeps them Retention.ComplianceDays
// (at least five years), not Retention.EventDays.
var ComplianceEvents = []EventKind{EventLeadCreated, EventLeadConsent, EventLeadOptedOut, EventDNCAdded, EventDNCRemoved,
	EventCallStarted, EventCallEnded, EventLeadErased}

// Retention says how long qualdial keeps what it keeps only for a while;
// a periodic job (queue's retention job) deletes the rest, in batches.
// Every field is in days; zero takes the default. Leads, their calls
// (call_attempts), answers and the do-not-call list are never deleted by
// age: an erasure (EraseLead) or deleting a campaign removes them.
type Retention struct {
	// TwilioSessionDays keeps a Twilio call's session (its live state,
	// with the number called) this long after its last change; default 7,
	// at least 1 (a call lasts at most an hour).
	TwilioSessionDays int
	// WebhookDeliveryDays keeps delivered and failed CRM webhook
	// deliveries (the admin's delivery log) this long after delivery (a
	// failed one: after its event); default 30, at least 1. Pending ones
	// are never deleted.
	WebhookDeliveryDays int
	// ImportRejectDays keeps the rows an import did not accept (the raw CSV
	// rows, personal data included) and its warning samples this long after
	// the import ended; default 30, at least 1. The import's counts stay.
	ImportRejectDays int
	// IdempotencyKeyDays keeps API idempotency keys, with the answer a
	// retry gets again (a lead's data), this long; default 7, at least 1.
	IdempotencyKeyDays int
	// EventDays keeps lead events other than ComplianceEvents (status
	// changes, notes, activities, assignments, sales stages…) this long;
	// default 400, at least 30. An activity deleted no longer counts in the
	// lead's behaviour score (with the default half-lives it is worth
	// nothing long before).
	EventDays int
	// ComplianceDays keeps the ComplianceEvents and the do-not-call list's
	// history (dnc_changes) this long; default and least ComplianceDays
	// (five years).
	ComplianceDays int
	// BatchSize is how many rows one DELETE removes (each batch is its own
	// short statement: no long locks); default 5000, 100 to 50000.
	BatchSize int
}

// retentionDefaults are the defaults and least values of Retention's
// fields, with what each keeps (for messages).
var retentionFields = []struct {
	what       string
	field      func(*Retention) *int
	def, least int
	why        string
}{
	{"TwilioSessionDays (Twilio call sessions)", func(r *Retention) *int { return &r.TwilioSessionDays }, 7, 1, "a session serves its call, which lasts at most an hour"},
	{"WebhookDeliveryDays (delivered and failed webhook deliveries)", func(r *Retention) *int { return &r.WebhookDeliveryDays }, 30, 1, "the delivery log shows at least the last day"},
	{"ImportRejectDays (import rejects)", func(r *Retention) *int { return &r.ImportRejectDays }, 30, 1, "the rejects file of an import must be downloadable after it ends"},
	{"IdempotencyKeyDays (API idempotency keys)", func(r *Retention) *int { return &r.IdempotencyKeyDays }, 7, 1, "a client's retries of a request must get the first answer"},
	{"EventDays (lead events)", func(r *Retention) *int { return &r.EventDays }, 400, 30, "a lead's history and behaviour score read its recent events"},
	{"ComplianceDays (consent, opt-out, DNC and call records)", func(r *Retention) *int { return &r.ComplianceDays }, ComplianceDays, ComplianceDays,
		"consent, opt-outs and calls must be provable for five years (complaints can be brought for four years under the TCPA, longer under some state laws)"},
}

// Validate says what is wrong with r, field by field: a negative value, or
// one below the least the field allows (and why). Zero is the default.
func (r Retention) Validate() error {
	var errs []error
	for _, f := range retentionFields {
		v := *f.field(&r)
		switch {
		case v < 0:
			errs = append(errs, fmt.Errorf("retention: %s %d: must not be negative (0: the default, %d days)", f.what, v, f.def))
		case v != 0 && v < f.least:
			errs = append(errs, fmt.Errorf("retention: %s %d days: at least %d, because %s", f.what, v, f.least, f.why))
		}
	}
	if r.BatchSize != 0 && (r.BatchSize < 100 || r.BatchSize > 50000) {
		errs = append(errs, fmt.Errorf("retention: BatchSize %d: use 100 to 50000 rows (0: the default, 5000)", r.BatchSize))
	}
	return errors.Join(errs...)
}

// WithDefaults returns r with every zero field set to its default.
func (r Retention) WithDefaults() Retention {
	for _, f := range retentionFields {
		if p := f.field(&r); *p == 0 {
			*p = f.def
		}
	}
	if r.BatchSize == 0 {
		r.BatchSize = 5000
	}
	return r
}

// Retention report keys: the tables (or parts of them) a run deletes from.
const (
	PurgedTwilioSessions    = "twilio_sessions"
	PurgedWebhookDeliveries = "webhook_deliveries"
	PurgedImportRejects     = "import_rejects"
	PurgedImportWarnings    = "import_warning_samples"
	PurgedIdempotencyKeys   = "idempotency_keys"
	PurgedEvents            = "lead_events"
	PurgedComplianceEvents  = "lead_events_compliance"
	PurgedDNCChanges        = "dnc_changes"
)

// PurgeExpired deletes what r no longer keeps, as of the store's clock, a
// batch (r.BatchSize rows) per statement until none is left or ctx ends.
// It returns how many rows it deleted (or cleared, for import warning
// samples) per PurgedX key, those with none left out, also when it stops
// on an error.
func (s *Store) PurgeExpired(ctx context.Context, r Retention) (map[string]int64, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	r = r.WithDefaults()
	now := s.now()
	before := func(days int) time.Time { return now.Add(-time.Duration(days) * 24 * time.Hour) }
	out := map[string]int64{}
	steps := []struct {
		key  string
		sql  string
		args []any
	}{
		{PurgedTwilioSessions, `DELETE FROM twilio_sessions WHERE token IN (
			SELECT token FROM twilio_sessions WHERE updated_at < $1 LIMIT $2)`, []any{before(r.TwilioSessionDays)}},
		{PurgedWebhookDeliveries, `DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries WHERE state IN ('delivered', 'failed') AND coalesce(delivered_at, created_at) < $1 LIMIT $2)`,
			[]any{before(r.WebhookDeliveryDays)}},
		{PurgedImportRejects, `DELETE FROM import_rejects WHERE (import_id, row_number) IN (
			SELECT r.import_id, r.row_number FROM imports i JOIN import_rejects r ON r.import_id = i.id
			WHERE i.status <> 'running' AND coalesce(i.finished_at, i.started_at) < $1 LIMIT $2)`, []any{before(r.ImportRejectDays)}},
		{PurgedImportWarnings, `UPDATE imports SET warning_samples = '[]' WHERE id IN (
			SELECT id FROM imports WHERE status <> 'running' AND coalesce(finished_at, started_at) < $1 AND warning_samples <> '[]' LIMIT $2)`,
			[]any{before(r.ImportRejectDays)}},
		{PurgedIdempotencyKeys, `DELETE FROM idempotency_keys WHERE (api_key_id, key) IN (
			SELECT api_key_id, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)`, []any{before(r.IdempotencyKeyDays)}},
		{PurgedDNCChanges, `DELETE FROM dnc_changes WHERE id IN (SELECT id FROM dnc_changes WHERE at < $1 LIMIT $2)`,
			[]any{before(r.ComplianceDays)}},
	}
	for _, st := range steps {
		if err := s.purge(ctx, out, st.key, r.BatchSize, st.sql, st.args...); err != nil {
			return out, err
		}
	}
	// Events, a kind at a time: each batch walks the (kind, at) index.
	kinds, err := s.eventKinds(ctx)
	if err != nil {
		return out, err
	}
	for _, kind := range kinds {
		key, cutoff := PurgedEvents, before(r.EventDays)
		if slices.Contains(ComplianceEvents, EventKind(kind)) {
			key, cutoff = PurgedComplianceEvents, before(r.ComplianceDays)
		}
		if err := s.purge(ctx, out, key, r.BatchSize, `DELETE FROM lead_events WHERE id IN (
			SELECT id FROM lead_events WHERE kind = $3 AND at < $1 LIMIT $2)`, cutoff, kind); err != nil {
			return out, err
		}
	}
	return out, nil
}

// purge runs a batch statement (its $2 the batch size, after args[0])
// until a batch comes back short, adding what it deleted to out[key].
func (s *Store) purge(ctx context.Context, out map[string]int64, key string, batch int, sql string, args ...any) error {
	params := append([]any{args[0], batch}, args[1:]...)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("retention: %s: %w", key, err)
		}
		tag, err := s.pool.Exec(ctx, sql, params...)
		if err != nil {
			return fmt.Errorf("retention: %s: %w", key, err)
		}
		if n := tag.RowsAffected(); n > 0 {
			out[key] += n
		}
		if tag.RowsAffected() < int64(batch) {
			return nil
		}
	}
}

// eventKinds lists the kinds of lead events there are, from the (kind, at)
// index, a probe per kind (a loose index scan) instead of reading every
// event.
func (s *Store) eventKinds(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE k AS (
			(SELECT kind FROM lead_events ORDER BY kind LIMIT 1)
			UNION ALL
			SELECT (SELECT e.kind FROM lead_events e WHERE e.kind > k.kind ORDER BY e.kind LIMIT 1) FROM k WHERE k.kind IS NOT NULL)
		SELECT kind FROM k WHERE kind IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("retention: event kinds: %w", err)
	}
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("retention: event kinds: %w", err)
	}
	return kinds, nil
}
