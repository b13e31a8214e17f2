// Package store holds all of qualdial's SQL: campaigns, leads, call
// attempts and answers, the do-not-call list and the lead events that form
// the audit trail. Functions that must join a caller's transaction take a
// DB (a pgx.Tx or the pool); the rest are methods on Store.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qualdial/qualdial/ivr"
)

// DB is what queries need: a pool, a connection or a transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrAttemptOpen is returned by StartAttempt when the lead already has an
// unfinished attempt: dialing again could reach the person twice.
var ErrAttemptOpen = errors.New("the lead has an unfinished call attempt")

// Store is the database, and the one clock that every stored time and
// every cutoff comes from: SQL never calls now(), so a shifted clock (tests,
// a replica whose clock is off) can never be mixed with the database's.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// Config configures a Store.
type Config struct {
	// Now is the clock of every stored time and cutoff; nil means
	// time.Now. Tests shift it to run at any hour of the day.
	Now func() time.Time
}

// New returns a Store on a migrated database.
func New(pool *pgxpool.Pool, cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{pool: pool, now: cfg.Now}
}

// Now is the store's clock: what every stored time and cutoff is taken from.
func (s *Store) Now() time.Time { return s.now() }

// Pool returns the connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Tx runs fn in a transaction, committed when fn returns nil.
func (s *Store) Tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// Campaign is a campaign with its calling policy.
type Campaign struct {
	ID             int64
	Name           string
	Status         string
	ScriptID       string
	ScriptVersion  int
	ScriptYAML     string
	Driver         string
	CallerID       string
	CallerName     string
	DefaultCountry string
	WindowDays     []int
	WindowStart    time.Duration
	WindowEnd      time.Duration
	MaxAttempts    int
	RetryBusy      time.Duration
	RetryNoAnswer  time.Duration
	RetryCongest   time.Duration
	RetryIncompl   time.Duration
	RetryMachine   time.Duration
	RingTimeout    time.Duration
	MaxCallLength  time.Duration
	MaxConcurrent  int
	CallsPerSecond float64
	SLA            time.Duration
	RequireConsent bool
	// MachineDetection is off, hangup or message (drivers that detect
	// answering machines: hang up, or leave the identify line first).
	MachineDetection string
}

// CampaignParams creates a campaign. Zero values take the database
// defaults of DESIGN.md.
type CampaignParams struct {
	Name             string
	ScriptID         string
	CallerID         string
	CallerName       string
	DefaultCountry   string
	Driver           string
	WindowDays       []int
	WindowStart      time.Duration
	WindowEnd        time.Duration
	MaxAttempts      int
	RetryBusy        *time.Duration
	RetryNoAnswer    *time.Duration
	RetryCongest     *time.Duration
	RetryIncompl     *time.Duration
	RingTimeout      time.Duration
	MaxCallLength    time.Duration
	MaxConcurrent    int
	CallsPerSecond   float64
	SLA              time.Duration
	RequireConsent   bool
	MachineDetection string
}

const campaignColumns = `id, name, status, script_id, coalesce(script_version, 0), coalesce(script_yaml, ''), driver, caller_id,
	coalesce(caller_name, ''), default_country, window_days, window_start, window_end, max_attempts,
	retry_busy, retry_no_answer, retry_congestion, retry_incomplete, retry_machine, ring_timeout, max_call_length,
	max_concurrent_calls, calls_per_second::float8, sla, require_consent, machine_detection`

func scanCampaign(row pgx.Row) (*Campaign, error) {
	var c Campaign
	var days []int16
	var ws, we time.Time
	err := row.Scan(&c.ID, &c.Name, &c.Status, &c.ScriptID, &c.ScriptVersion, &c.ScriptYAML, &c.Driver, &c.CallerID,
		&c.CallerName, &c.DefaultCountry, &days, &ws, &we, &c.MaxAttempts,
		&c.RetryBusy, &c.RetryNoAnswer, &c.RetryCongest, &c.RetryIncompl, &c.RetryMachine, &c.RingTimeout, &c.MaxCallLength,
		&c.MaxConcurrent, &c.CallsPerSecond, &c.SLA, &c.RequireConsent, &c.MachineDetection)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	for _, d := range days {
		c.WindowDays = append(c.WindowDays, int(d))
	}
	c.WindowStart = time.Duration(ws.Hour())*time.Hour + time.Duration(ws.Minute())*time.Minute
	c.WindowEnd = time.Duration(we.Hour())*time.Hour + time.Duration(we.Minute())*time.Minute
	return &c, nil
}

func nullDuration(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return *d
}

func zeroNull[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

func timeOfDay(d time.Duration) any {
	if d == 0 {
		return nil
	}
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

// CreateCampaign inserts a draft campaign.
func (s *Store) CreateCampaign(ctx context.Context, p CampaignParams) (*Campaign, error) {
	var days any
	if len(p.WindowDays) > 0 {
		days = p.WindowDays
	}
	row := s.pool.QueryRow(ctx, `INSERT INTO campaigns (name, script_id, caller_id, caller_name, default_country, driver,
		window_days, window_start, window_end, max_attempts, retry_busy, retry_no_answer, retry_congestion, retry_incomplete,
		ring_timeout, max_call_length, max_concurrent_calls, calls_per_second, sla, require_consent, machine_detection,
		created_at, updated_at)
		VALUES ($1, $2, $3, $4, coalesce($5, 'US'), coalesce($6, 'sip'), coalesce($7::smallint[], '{1,2,3,4,5,6}'),
		coalesce($8::time, '09:00'), coalesce($9::time, '20:00'), coalesce($10, 4), coalesce($11, '15 minutes'::interval),
		coalesce($12, '2 hours'::interval), coalesce($13, '10 minutes'::interval), coalesce($14, '1 day'::interval),
		coalesce($15, '25 seconds'::interval), coalesce($16, '5 minutes'::interval), coalesce($17, 10), coalesce($18::numeric, 1),
		coalesce($19, '24 hours'::interval), $20, coalesce($21, 'off'), $22, $22)
		RETURNING `+campaignColumns,
		p.Name, p.ScriptID, p.CallerID, zeroNull(p.CallerName), zeroNull(p.DefaultCountry), zeroNull(p.Driver),
		days, timeOfDay(p.WindowStart), timeOfDay(p.WindowEnd), zeroNull(p.MaxAttempts),
		nullDuration(p.RetryBusy), nullDuration(p.RetryNoAnswer), nullDuration(p.RetryCongest), nullDuration(p.RetryIncompl),
		zeroNull(p.RingTimeout), zeroNull(p.MaxCallLength), zeroNull(p.MaxConcurrent), zeroNull(p.CallsPerSecond),
		zeroNull(p.SLA), p.RequireConsent, zeroNull(p.MachineDetection), s.now())
	c, err := scanCampaign(row)
	if err != nil {
		return nil, fmt.Errorf("create campaign %q: %w", p.Name, err)
	}
	return c, nil
}

// Campaign loads a campaign.
func (s *Store) Campaign(ctx context.Context, id int64) (*Campaign, error) {
	return scanCampaign(s.pool.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE id = $1`, id))
}

// StartCampaign pins the script (its YAML, id and version) and makes the
// campaign active. Changing the script file later does not change calls of a
// running campaign.
func (s *Store) StartCampaign(ctx context.Context, id int64, script *ivr.Script, yaml []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE campaigns SET status = 'active', script_id = $2, script_version = $3, script_yaml = $4,
		started_at = coalesce(started_at, $5), updated_at = $5 WHERE id = $1 AND status IN ('draft', 'paused', 'active')`,
		id, script.ID, script.Version, string(yaml), s.now())
	if err != nil {
		return fmt.Errorf("start campaign %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("start campaign %d: %w (or finished)", id, ErrNotFound)
	}
	return nil
}

// SetCampaignStatus pauses, resumes or finishes a campaign.
func (s *Store) SetCampaignStatus(ctx context.Context, id int64, status string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE campaigns SET status = $2, updated_at = $3,
		finished_at = CASE WHEN $2 = 'finished' THEN $3 ELSE finished_at END WHERE id = $1`, id, status, s.now())
	if err != nil {
		return fmt.Errorf("campaign %d → %s: %w", id, status, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// AddEvent records a change of a lead, in db (the transaction of the change).
func (s *Store) AddEvent(ctx context.Context, db DB, leadID int64, actor, kind string, data map[string]any) error {
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	// The event and its webhook deliveries (outbox) in one statement.
	_, err = db.Exec(ctx, `WITH e AS (INSERT INTO lead_events (lead_id, actor, kind, data, at) VALUES ($1, $2, $3, $4, $5) RETURNING id, kind)
		INSERT INTO webhook_deliveries (subscription_id, event_id, created_at)
		SELECT s.id, e.id, $5 FROM e JOIN webhook_subscriptions s ON s.active AND e.kind = ANY(s.events)`, leadID, actor, kind, b, s.now())
	if err != nil {
		return fmt.Errorf("lead %d event %s: %w", leadID, kind, err)
	}
	return nil
}

// SetCampaignScript stores the script a draft campaign will pin on start.
func (s *Store) SetCampaignScript(ctx context.Context, id int64, yaml string) error {
	_, err := s.pool.Exec(ctx, `UPDATE campaigns SET script_yaml = $2, updated_at = $3 WHERE id = $1`, id, yaml, s.now())
	return err
}

// UpdateCampaign changes a campaign's calling policy (not its name or
// script). Zero values keep the current setting.
func (s *Store) UpdateCampaign(ctx context.Context, id int64, p CampaignParams) error {
	var days any
	if len(p.WindowDays) > 0 {
		days = p.WindowDays
	}
	_, err := s.pool.Exec(ctx, `UPDATE campaigns SET caller_id = coalesce($2, caller_id), caller_name = coalesce($3, caller_name),
		default_country = coalesce($4, default_country), window_days = coalesce($5::smallint[], window_days),
		window_start = coalesce($6::time, window_start), window_end = coalesce($7::time, window_end),
		max_attempts = coalesce($8, max_attempts), retry_busy = coalesce($9, retry_busy), retry_no_answer = coalesce($10, retry_no_answer),
		retry_congestion = coalesce($11, retry_congestion), retry_incomplete = coalesce($12, retry_incomplete),
		ring_timeout = coalesce($13, ring_timeout), max_call_length = coalesce($14, max_call_length),
		max_concurrent_calls = coalesce($15, max_concurrent_calls), calls_per_second = coalesce($16::numeric, calls_per_second),
		sla = coalesce($17, sla), require_consent = $18, driver = coalesce($19, driver),
		machine_detection = coalesce($20, machine_detection), updated_at = $21 WHERE id = $1`,
		id, zeroNull(p.CallerID), zeroNull(p.CallerName), zeroNull(p.DefaultCountry), days, timeOfDay(p.WindowStart), timeOfDay(p.WindowEnd),
		zeroNull(p.MaxAttempts), nullDuration(p.RetryBusy), nullDuration(p.RetryNoAnswer), nullDuration(p.RetryCongest), nullDuration(p.RetryIncompl),
		zeroNull(p.RingTimeout), zeroNull(p.MaxCallLength), zeroNull(p.MaxConcurrent), zeroNull(p.CallsPerSecond), zeroNull(p.SLA), p.RequireConsent,
		zeroNull(p.Driver), zeroNull(p.MachineDetection), s.now())
	if err != nil {
		return fmt.Errorf("update campaign %d: %w", id, err)
	}
	return nil
}

// jsonObject encodes an event's data (never nil: {}).
func jsonObject(m map[string]any) ([]byte, error) {
	if m == nil {
		m = map[string]any{}
	}
	return json.Marshal(m)
}
