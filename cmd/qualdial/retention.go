package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/qualdial/qualdial/store"
)

// retentionConfig is how long serve keeps what it keeps only for a while,
// and how often its retention job runs.
type retentionConfig struct {
	store.Retention
	// Interval is how often the retention job runs (one replica runs it).
	Interval time.Duration
}

// retentionFlags adds serve's retention flags, with store.Retention's
// defaults as theirs.
func (e *env) retentionFlags(cmd *cobra.Command, c *retentionConfig) {
	fl := cmd.Flags()
	d := store.Retention{}.WithDefaults()
	for _, f := range []struct {
		p         *int
		name, env string
		def       int
		usage     string
	}{
		{&c.TwilioSessionDays, "retention-twilio-sessions-days", "QUALDIAL_RETENTION_TWILIO_SESSIONS_DAYS", d.TwilioSessionDays,
			"days Twilio call sessions are kept after their last change (at least 1)"},
		{&c.WebhookDeliveryDays, "retention-webhook-deliveries-days", "QUALDIAL_RETENTION_WEBHOOK_DELIVERIES_DAYS", d.WebhookDeliveryDays,
			"days delivered and failed CRM webhook deliveries are kept (at least 1; pending ones always)"},
		{&c.ImportRejectDays, "retention-import-rejects-days", "QUALDIAL_RETENTION_IMPORT_REJECTS_DAYS", d.ImportRejectDays,
			"days an import's rejected rows (raw CSV rows) are kept after it ends (at least 1)"},
		{&c.IdempotencyKeyDays, "retention-idempotency-keys-days", "QUALDIAL_RETENTION_IDEMPOTENCY_KEYS_DAYS", d.IdempotencyKeyDays,
			"days API idempotency keys are kept (at least 1)"},
		{&c.EventDays, "retention-events-days", "QUALDIAL_RETENTION_EVENTS_DAYS", d.EventDays,
			"days lead events are kept, except consent, opt-out, DNC and call events (at least 30)"},
		{&c.ComplianceDays, "retention-compliance-days", "QUALDIAL_RETENTION_COMPLIANCE_DAYS", d.ComplianceDays,
			"days consent, opt-out, DNC and call events and the DNC list's history are kept (at least 1826: five years)"},
		{&c.BatchSize, "retention-batch", "QUALDIAL_RETENTION_BATCH", d.BatchSize, "rows the retention job deletes per statement (100 to 50000)"},
	} {
		fl.IntVar(f.p, f.name, f.def, f.usage)
		e.bindEnv(fl, f.name, f.env)
	}
	fl.DurationVar(&c.Interval, "retention-interval", time.Hour, "how often the retention job deletes what is past its retention")
	e.bindEnv(fl, "retention-interval", "QUALDIAL_RETENTION_INTERVAL")
}

func (c *retentionConfig) validate() error {
	if err := c.Retention.Validate(); err != nil {
		return fmt.Errorf("%w\n(the --retention-… flags or QUALDIAL_RETENTION_… variables: qualdial serve --help lists them)", err)
	}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Minute) {
		return fmt.Errorf("--retention-interval %s (env QUALDIAL_RETENTION_INTERVAL): at least 1m, like 1h (0: the default, 1h)", c.Interval)
	}
	return nil
}
