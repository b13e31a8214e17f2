package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// TestCampaignColumnDefaultsAreTheGoDefaults reads the campaigns table's
// column defaults from information_schema and checks that each equals
// store.CampaignDefaults (the database compares them, each in its column's
// type): the SQL defaults are a safety net, never a second policy. Every
// column default is accounted for, so a new policy column cannot bring a
// default of its own without a Go one.
func TestCampaignColumnDefaultsAreTheGoDefaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	d := store.CampaignDefaults()
	clock := func(v time.Duration) string {
		return fmt.Sprintf("%02d:%02d", int(v.Hours()), int(v.Minutes())%60)
	}
	want := map[string]any{
		"driver":               d.Driver,
		"default_country":      d.DefaultCountry,
		"window_days":          d.WindowDays,
		"window_start":         clock(d.WindowStart),
		"window_end":           clock(d.WindowEnd),
		"max_attempts":         d.MaxAttempts,
		"retry_busy":           d.RetryBusy,
		"retry_no_answer":      d.RetryNoAnswer,
		"retry_congestion":     d.RetryCongest,
		"retry_incomplete":     d.RetryIncompl,
		"retry_machine":        d.RetryMachine,
		"ring_timeout":         d.RingTimeout,
		"max_call_length":      d.MaxCallLength,
		"max_concurrent_calls": d.MaxConcurrent,
		"calls_per_second":     d.CallsPerSecond,
		"sla":                  d.SLA,
		"require_consent":      d.RequireConsent,
		"machine_detection":    d.MachineDetection,
		"dtmf":                 d.DTMF,
		"allowed_number_types": d.AllowedNumberTypes,
		"recall_interval":      d.RecallInterval,
		"purpose":              d.Purpose,
		"caller_ids":           []string{},
		"caller_id_daily_cap":  d.CallerIDDailyCap,
	}
	// Column defaults that are not calling policy.
	notPolicy := []string{"abandon_answered", "abandon_late", "status", "pace_next_at",
		"activity_points"} // {} stands for scoring.DefaultTable (Scoring.Points)

	rows, err := db.Query(ctx, `SELECT column_name, column_default, udt_name::regtype::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'campaigns' AND column_default IS NOT NULL ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ name, def, typ string }
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.def, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cols {
		seen[c.name] = true
		w, ok := want[c.name]
		if !ok {
			if !slices.Contains(notPolicy, c.name) {
				t.Errorf("campaigns.%s has the column default %s, but store.CampaignDefaults has no value for it", c.name, c.def)
			}
			continue
		}
		// The column default is SQL from the schema, not input.
		var same bool
		var sqlValue, goValue string
		q := fmt.Sprintf(`SELECT (%[1]s)::%[2]s IS NOT DISTINCT FROM $1::%[2]s, ((%[1]s)::%[2]s)::text, ($1::%[2]s)::text`, c.def, c.typ)
		if err := db.QueryRow(ctx, q, w).Scan(&same, &sqlValue, &goValue); err != nil {
			t.Fatalf("campaigns.%s: %v", c.name, err)
		}
		if !same {
			t.Errorf("campaigns.%s defaults to %s in SQL but %s in store.CampaignDefaults", c.name, sqlValue, goValue)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("campaigns.%s has no column default; store.CampaignDefaults has one", name)
		}
	}
}

// TestCreateCampaignTakesTheGoDefaults: a campaign created with nothing but
// its name, script and caller ID has exactly the calling policy of
// store.CampaignDefaults.
func TestCreateCampaignTakesTheGoDefaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.New(pgtest.DB(t), store.Config{})
	c, err := s.CreateCampaign(ctx, store.CampaignParams{Name: "defaults", ScriptID: "bant-en", CallerID: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	d := store.CampaignDefaults()
	d.ID, d.Name, d.Status, d.ScriptID, d.CallerID, d.CreatedAt = c.ID, c.Name, c.Status, c.ScriptID, c.CallerID, c.CreatedAt
	if got, want := fmt.Sprintf("%+v", *c), fmt.Sprintf("%+v", d); got != want {
		t.Errorf("campaign created with no settings:\n got %s\nwant %s", got, want)
	}
}
