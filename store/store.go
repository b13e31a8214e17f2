// Package store holds all of qualdial's SQL: campaigns, leads, call
// attempts and answers, the do-not-call list and the lead events that form
// the audit trail. Functions that must join a caller's transaction take a
// DB (a pgx.Tx or the pool); the rest are methods on Store.
package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scoring"
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
	pool   *pgxpool.Pool
	now    func() time.Time
	floors *claimFloors // where the open leads start (see ClaimNext)
	argon  argonParams  // how new passwords are hashed
	dummy  func() string
}

// Config configures a Store.
type Config struct {
	// Now is the clock of every stored time and cutoff; nil means
	// time.Now. Tests shift it to run at any hour of the day.
	Now func() time.Time
	// PasswordHashMemoryKiB and PasswordHashPasses set argon2id's cost for
	// new password hashes: 0 means 64 MiB and 3 passes (RFC 9106's second
	// recommendation). Tests lower them; a hash keeps the cost it was made
	// with.
	PasswordHashMemoryKiB, PasswordHashPasses uint32
}

// New returns a Store on a migrated database.
func New(pool *pgxpool.Pool, cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := argonParams{memory: cmp.Or(cfg.PasswordHashMemoryKiB, argonMemory), passes: cmp.Or(cfg.PasswordHashPasses, argonTime)}
	s := &Store{pool: pool, now: cfg.Now, floors: floorsFor(pool), argon: a}
	s.dummy = sync.OnceValue(func() string { h, _ := a.hash("qualdial: no such user"); return h })
	return s
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
	Status         CampaignStatus
	ScriptID       string
	ScriptVersion  int
	ScriptYAML     string
	Driver         DriverName
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
	// CallerIDPool are more numbers the campaign presents besides
	// CallerID (rotation, local presence); CallerIDDailyCap caps each
	// one's calls in any 24 hours (0: no cap).
	CallerIDPool     []string
	CallerIDDailyCap int
	// Purpose is unspecified, telemarketing or informational: which
	// jurisdiction rules bind the campaign, and whether written consent
	// is mandatory (telemarketing, where a rule says so).
	Purpose string
	// MachineDetection is off, hangup or message (drivers that detect
	// answering machines: hang up, or leave the identify line first).
	MachineDetection string
	// DTMF is how keys are taken: auto (RFC 4733 when the far end sends
	// it, else SIP INFO, else tones), rfc4733, info or inband.
	DTMF string
	// AllowedNumberTypes are the number types the campaign calls (see
	// intake.NumberTypes); AllowedCountries the countries, nil meaning
	// the campaign's default country only.
	AllowedNumberTypes []string
	AllowedCountries   []string
	Scoring
	CreatedAt time.Time
	// StatusReason says why the campaign is in its status when qualdial
	// moved it (the abandonment watch pauses it); empty otherwise.
	StatusReason string
	// Abandonment is the rolling 30-day abandonment rate as last computed.
	Abandonment Abandonment
}

// Abandonment is a campaign's rolling 30-day abandonment figures: answered
// calls whose identification was measured, and those where it started
// more than 2 s after the answer (or never, qualdial having hung up).
type Abandonment struct {
	Answered, Late int
	// At is when they were computed; zero: never.
	At time.Time
}

// Rate is Late / Answered (0 with no answered call).
func (a Abandonment) Rate() float64 {
	if a.Answered == 0 {
		return 0
	}
	return float64(a.Late) / float64(a.Answered)
}

// Scoring is a campaign's lead-score policy: the thresholds that act on the
// score and what activities are worth.
type Scoring struct {
	// CallThreshold: a lead score at least this earns a qualification
	// call; nil: every lead is called.
	CallThreshold *int
	// SalesThreshold: a lead score at least this routes the lead to sales
	// without a call; nil: only a call does.
	SalesThreshold *int
	// ActivityPoints is what each activity type is worth, over
	// scoring.DefaultTable (see Points).
	ActivityPoints scoring.Table
	// RecallInterval is the least time between two calls of a lead that a
	// conversion or an activity calls again; 0 takes the default (7 days)
	// when creating.
	RecallInterval time.Duration
}

// Points is the campaign's activity points table: the default one with
// the campaign's own types and points over it (0 points turns a default
// type off).
func (s Scoring) Points() scoring.Table {
	t := scoring.DefaultTable()
	maps.Copy(t, s.ActivityPoints)
	return t
}

// Thresholds are the campaign's score thresholds.
func (s Scoring) Thresholds() scoring.Thresholds {
	return scoring.Thresholds{Call: s.CallThreshold, Sales: s.SalesThreshold}
}

// Destinations is the campaign's destination policy: which numbers it may
// call. Intake refuses other numbers; the dialer checks it again before
// every call.
func (c *Campaign) Destinations() intake.Destinations {
	d := intake.Destinations{Types: slices.Clone(c.AllowedNumberTypes), Countries: slices.Clone(c.AllowedCountries)}
	if d.Countries == nil {
		d.Countries = []string{c.DefaultCountry}
	}
	return d
}

// CampaignParams creates a campaign. Zero values (nil retry delays) take
// CampaignDefaults.
type CampaignParams struct {
	Name           string
	ScriptID       string
	CallerID       string
	CallerName     string
	DefaultCountry string
	Driver         DriverName
	WindowDays     []int
	WindowStart    time.Duration
	WindowEnd      time.Duration
	MaxAttempts    int
	RetryBusy      *time.Duration
	RetryNoAnswer  *time.Duration
	RetryCongest   *time.Duration
	RetryIncompl   *time.Duration
	RetryMachine   *time.Duration
	RingTimeout    time.Duration
	MaxCallLength  time.Duration
	MaxConcurrent  int
	CallsPerSecond float64
	SLA            time.Duration
	RequireConsent bool
	Purpose        string // "" means unspecified (on update: unchanged)
	// CallerIDPool: more caller IDs (nil: none; on update: unchanged);
	// CallerIDDailyCap: calls per caller ID in 24 hours (0: none; on
	// update: set, like every other setting).
	CallerIDPool     []string
	CallerIDDailyCap int
	MachineDetection string
	DTMF             string // "" means auto
	// AllowedNumberTypes nil means the default types (intake.NumberTypes'
	// ordinary ones); AllowedCountries nil means the default country only.
	AllowedNumberTypes []string
	AllowedCountries   []string
	// Scoring: nil thresholds are unset, an empty table the default one.
	Scoring
}

const campaignColumns = `id, name, status, script_id, coalesce(script_version, 0), coalesce(script_yaml, ''), driver, caller_id,
	coalesce(caller_name, ''), default_country, window_days, window_start, window_end, max_attempts,
	retry_busy, retry_no_answer, retry_congestion, retry_incomplete, retry_machine, ring_timeout, max_call_length,
	max_concurrent_calls, calls_per_second::float8, sla, require_consent, machine_detection,
	allowed_number_types, allowed_countries, created_at, dtmf,
	call_threshold, sales_threshold, activity_points, recall_interval,
	coalesce(status_reason, ''), abandon_answered, abandon_late, abandon_at, purpose,
	caller_ids, caller_id_daily_cap`

func scanCampaign(row pgx.Row) (*Campaign, error) {
	var c Campaign
	var days []int16
	var ws, we time.Time
	var abandonAt *time.Time
	err := row.Scan(&c.ID, &c.Name, &c.Status, &c.ScriptID, &c.ScriptVersion, &c.ScriptYAML, &c.Driver, &c.CallerID,
		&c.CallerName, &c.DefaultCountry, &days, &ws, &we, &c.MaxAttempts,
		&c.RetryBusy, &c.RetryNoAnswer, &c.RetryCongest, &c.RetryIncompl, &c.RetryMachine, &c.RingTimeout, &c.MaxCallLength,
		&c.MaxConcurrent, &c.CallsPerSecond, &c.SLA, &c.RequireConsent, &c.MachineDetection,
		&c.AllowedNumberTypes, &c.AllowedCountries, &c.CreatedAt, &c.DTMF,
		&c.CallThreshold, &c.SalesThreshold, &c.ActivityPoints, &c.RecallInterval,
		&c.StatusReason, &c.Abandonment.Answered, &c.Abandonment.Late, &abandonAt, &c.Purpose,
		&c.CallerIDPool, &c.CallerIDDailyCap)
	if abandonAt != nil {
		c.Abandonment.At = *abandonAt
	}
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

// CreateCampaign inserts a draft campaign; what p leaves unset takes
// CampaignDefaults.
func (s *Store) CreateCampaign(ctx context.Context, p CampaignParams) (*Campaign, error) {
	p = p.withDefaults()
	row := s.pool.QueryRow(ctx, `INSERT INTO campaigns (name, script_id, caller_id, caller_name, default_country, driver,
		window_days, window_start, window_end, max_attempts, retry_busy, retry_no_answer, retry_congestion, retry_incomplete,
		retry_machine, ring_timeout, max_call_length, max_concurrent_calls, calls_per_second, sla, require_consent, machine_detection,
		allowed_number_types, allowed_countries, created_at, updated_at, dtmf,
		call_threshold, sales_threshold, activity_points, recall_interval, purpose, caller_ids, caller_id_daily_cap)
		VALUES ($1, $2, $3, $4, $5, $6, $7::smallint[], $8::time, $9::time, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19::numeric,
		$20, $21, $22, $23::text[], $24::text[], $25, $25, $26, $27, $28, $29, $30, $31, $32::text[], $33)
		RETURNING `+campaignColumns,
		p.Name, p.ScriptID, p.CallerID, zeroNull(p.CallerName), p.DefaultCountry, p.Driver,
		p.WindowDays, timeOfDay(p.WindowStart), timeOfDay(p.WindowEnd), p.MaxAttempts,
		*p.RetryBusy, *p.RetryNoAnswer, *p.RetryCongest, *p.RetryIncompl,
		*p.RetryMachine, p.RingTimeout, p.MaxCallLength, p.MaxConcurrent, p.CallsPerSecond,
		p.SLA, p.RequireConsent, p.MachineDetection, p.AllowedNumberTypes, nilSlice(p.AllowedCountries), s.now(),
		p.DTMF, p.CallThreshold, p.SalesThreshold, pointsTable(p.ActivityPoints), p.RecallInterval, p.Purpose,
		nonNil(p.CallerIDPool), p.CallerIDDailyCap)
	c, err := scanCampaign(row)
	if err != nil {
		return nil, fmt.Errorf("create campaign %q: %w", p.Name, err)
	}
	return c, nil
}

// CampaignScripts returns the distinct scripts (YAML) of a campaign, or of
// every campaign for id 0.
func (s *Store) CampaignScripts(ctx context.Context, id int64) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT coalesce(script_yaml, '') FROM campaigns WHERE $1::bigint = 0 OR id = $1::bigint`, id)
	if err != nil {
		return nil, fmt.Errorf("campaign scripts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("campaign scripts: %w", err)
	}
	return out, nil
}

// nilSlice passes a nil slice as SQL NULL.
func nilSlice(v []string) any {
	if v == nil {
		return nil
	}
	return v
}

// CampaignFilter pages through campaigns, newest first.
type CampaignFilter struct {
	Status   CampaignStatus // draft, active, paused, finished; empty: all
	BeforeID int64          // the cursor: the last id of the previous page
	Limit    int            // 1-500, default 50
}

// Campaigns lists campaigns, newest first.
func (s *Store) Campaigns(ctx context.Context, f CampaignFilter) ([]*Campaign, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	rows, err := s.pool.Query(ctx, `SELECT `+campaignColumns+` FROM campaigns
		WHERE ($1::text = '' OR status = $1) AND ($2::bigint = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, f.Status, f.BeforeID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Campaign, error) { return scanCampaign(row) })
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	return cs, nil
}

// Campaign loads a campaign.
func (s *Store) Campaign(ctx context.Context, id int64) (*Campaign, error) {
	return GetCampaign(ctx, s.pool, id)
}

// GetCampaign loads a campaign through db (a transaction's, so a request
// holding a connection never waits for a second one).
func GetCampaign(ctx context.Context, db DB, id int64) (*Campaign, error) {
	return scanCampaign(db.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE id = $1`, id))
}

// StartCampaign pins the script (its YAML, id and version) and makes the
// campaign active. Changing the script file later does not change calls of a
// running campaign.
func (s *Store) StartCampaign(ctx context.Context, id int64, script *ivr.Script, yaml []byte) error {
	err := s.MoveCampaign(ctx, id, CampaignActive, []CampaignStatus{CampaignDraft, CampaignPaused, CampaignActive}, script, yaml)
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("start campaign %d: %w (or finished)", id, ErrNotFound)
	}
	return err
}

// SetCampaignStatus pauses, resumes or finishes a campaign.
func (s *Store) SetCampaignStatus(ctx context.Context, id int64, status CampaignStatus) error {
	tag, err := s.pool.Exec(ctx, `UPDATE campaigns SET status = $2, updated_at = $3, status_reason = NULL,
		finished_at = CASE WHEN $2 = 'finished' THEN $3 ELSE finished_at END WHERE id = $1`, id, status, s.now())
	if err != nil {
		return fmt.Errorf("campaign %d → %s: %w", id, status, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// MoveCampaign changes a campaign's status to to, atomically, only from one
// of the statuses from: ErrConflict when it is in another (ErrNotFound when
// there is no such campaign). A script, when given, is pinned (its id,
// version and yaml); becoming active requires one.
func (s *Store) MoveCampaign(ctx context.Context, id int64, to CampaignStatus, from []CampaignStatus, script *ivr.Script, yaml []byte) error {
	var scriptID, text any
	var version any
	if to == CampaignActive && script == nil {
		return fmt.Errorf("campaign %d → active: no script to pin", id)
	}
	if script != nil {
		scriptID, version, text = script.ID, script.Version, string(yaml)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE campaigns SET status = $2, updated_at = $4, status_reason = NULL,
		script_id = coalesce($5, script_id), script_version = coalesce($6::integer, script_version), script_yaml = coalesce($7, script_yaml),
		started_at = CASE WHEN $2 = 'active' THEN coalesce(started_at, $4) ELSE started_at END,
		finished_at = CASE WHEN $2 = 'finished' THEN $4 ELSE finished_at END
		WHERE id = $1 AND status = ANY($3)`, id, to, from, s.now(), scriptID, version, text)
	if err != nil {
		return fmt.Errorf("campaign %d → %s: %w", id, to, err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.Campaign(ctx, id); err != nil {
			return fmt.Errorf("campaign %d → %s: %w", id, to, err)
		}
		return fmt.Errorf("campaign %d → %s: %w", id, to, ErrConflict)
	}
	return nil
}

// AddEvent records a change of a lead, in db (the transaction of the change).
func (s *Store) AddEvent(ctx context.Context, db DB, leadID int64, actor string, kind EventKind, data map[string]any) error {
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

// UpdateCampaign writes a campaign's whole calling policy (everything but
// its name and script), in db: every field of p as given — an empty caller
// name clears it, nil AllowedCountries means the default country only, nil
// AllowedNumberTypes the default types, nil retry delays keep theirs. Zero
// values of required settings are refused by the database; callers read
// the campaign, change it and write it back.
func (s *Store) UpdateCampaign(ctx context.Context, db DB, id int64, p CampaignParams) error {
	defaults := CampaignDefaults()
	tag, err := db.Exec(ctx, `UPDATE campaigns SET caller_id = $2, caller_name = $3, default_country = $4,
		window_days = $5::smallint[], window_start = $6::time, window_end = $7::time, max_attempts = $8,
		retry_busy = coalesce($9, retry_busy), retry_no_answer = coalesce($10, retry_no_answer),
		retry_congestion = coalesce($11, retry_congestion), retry_incomplete = coalesce($12, retry_incomplete),
		retry_machine = coalesce($13, retry_machine), ring_timeout = $14, max_call_length = $15, max_concurrent_calls = $16,
		calls_per_second = $17::numeric, sla = $18, require_consent = $19, driver = $20, machine_detection = $21,
		allowed_number_types = coalesce($22::text[], $26::text[]),
		allowed_countries = $23::text[], updated_at = $24, dtmf = coalesce($25, $27),
		call_threshold = $28, sales_threshold = $29, activity_points = $30, recall_interval = coalesce($31, recall_interval),
		purpose = coalesce($32, purpose), caller_ids = coalesce($33::text[], caller_ids), caller_id_daily_cap = $34 WHERE id = $1`,
		id, p.CallerID, nullString(p.CallerName), p.DefaultCountry, p.WindowDays, timeOfDay(p.WindowStart), timeOfDay(p.WindowEnd),
		p.MaxAttempts, nullDuration(p.RetryBusy), nullDuration(p.RetryNoAnswer), nullDuration(p.RetryCongest), nullDuration(p.RetryIncompl),
		nullDuration(p.RetryMachine), p.RingTimeout, p.MaxCallLength, p.MaxConcurrent, p.CallsPerSecond, p.SLA, p.RequireConsent,
		p.Driver, p.MachineDetection, nilSlice(p.AllowedNumberTypes), nilSlice(p.AllowedCountries), s.now(), zeroNull(p.DTMF),
		defaults.AllowedNumberTypes, defaults.DTMF, p.CallThreshold, p.SalesThreshold, pointsTable(p.ActivityPoints), zeroNull(p.RecallInterval),
		zeroNull(p.Purpose), nilSlice(p.CallerIDPool), p.CallerIDDailyCap)
	if err != nil {
		return fmt.Errorf("update campaign %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update campaign %d: %w", id, ErrNotFound)
	}
	return nil
}

// pointsTable is an activity points table for its column: {} for none.
func pointsTable(t scoring.Table) scoring.Table {
	if t == nil {
		return scoring.Table{}
	}
	return t
}

// jsonObject encodes an event's data (never nil: {}).
func jsonObject(m map[string]any) ([]byte, error) {
	if m == nil {
		m = map[string]any{}
	}
	return json.Marshal(m)
}

// nonNil is v, or an empty list for a NOT NULL array column.
func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
