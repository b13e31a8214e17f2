package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// DispatchChannel is the PostgreSQL notification channel that wakes the
// dispatchers; its payload is a campaign id. A lead becoming due, a call
// ending (its slot freed) and a campaign changing notify it, in the
// transaction of the change.
const DispatchChannel = "qualdial_dispatch"

// dispatchLock, with a driver's hash, is the session advisory lock whose
// holder dispatches that driver's campaigns: one process per driver at a
// time, across replicas (advisory locks are per database).
const dispatchLock = 7116

// TakeDispatchLock waits until conn holds a driver's dispatch lock, then
// listens on DispatchChannel on it. The lock is the connection's until it
// closes: a process that dies loses it, with its connection, to the next
// in line.
func TakeDispatchLock(ctx context.Context, conn *pgx.Conn, driver string) error {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, dispatchLock, driver); err != nil {
		return fmt.Errorf("wait for the %s dispatch lock: %w", driver, err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+DispatchChannel); err != nil {
		return fmt.Errorf("listen for dispatch wake-ups: %w", err)
	}
	return nil
}

// waitingStatuses are the statuses of a lead in the schedule: it is called
// when next_attempt_at comes (leads_due indexes exactly these).
const waitingStatuses = `('queued', 'scheduled', 'retry_wait')`

// Wake tells the dispatchers, when db commits, that a campaign has work: a
// lead became due or a call slot was freed.
func Wake(ctx context.Context, db DB, campaignID int64) error {
	if _, err := db.Exec(ctx, `SELECT pg_notify($1, $2)`, DispatchChannel, strconv.FormatInt(campaignID, 10)); err != nil {
		return fmt.Errorf("wake dispatcher of campaign %d: %w", campaignID, err)
	}
	return nil
}

// WakeLeads wakes the dispatchers of the campaigns of leads, when db
// commits.
func WakeLeads(ctx context.Context, db DB, leadIDs []int64) error {
	if len(leadIDs) == 0 {
		return nil
	}
	if _, err := db.Exec(ctx, `SELECT pg_notify($1, campaign_id::text) FROM (SELECT DISTINCT campaign_id FROM leads WHERE id = ANY($2)) c`,
		DispatchChannel, leadIDs); err != nil {
		return fmt.Errorf("wake dispatchers: %w", err)
	}
	return nil
}

// LeadCampaignStatus is the status of a lead's campaign.
func LeadCampaignStatus(ctx context.Context, db DB, leadID int64) (CampaignStatus, error) {
	var status CampaignStatus
	err := db.QueryRow(ctx, `SELECT c.status FROM leads l JOIN campaigns c ON c.id = l.campaign_id WHERE l.id = $1`, leadID).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("campaign of lead %d: %w", leadID, err)
	}
	return status, nil
}

// ActiveCampaigns lists the ids of the active campaigns that use a driver.
func ActiveCampaigns(ctx context.Context, db DB, driver string) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT id FROM campaigns WHERE status = 'active' AND driver = $1 ORDER BY id`, driver)
	if err != nil {
		return nil, fmt.Errorf("active %s campaigns: %w", driver, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// LockCampaignDispatch serialises dispatching of one campaign, for the
// rest of tx (a second dispatcher, during a change of leader, waits).
func LockCampaignDispatch(ctx context.Context, tx pgx.Tx, campaignID int64) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7114, $1::int)`, campaignID); err != nil {
		return fmt.Errorf("lock campaign %d: %w", campaignID, err)
	}
	return nil
}

// Dialing counts the leads being called (handed to a dial job, ringing or
// talking): of a campaign, and of every campaign that uses its driver —
// what the campaign's concurrency and the trunk's channels limit, across
// every process. The trunk's count includes the second legs of live
// transfers placed through it (MarkTransferStarted), while their attempt
// is open.
func Dialing(ctx context.Context, db DB, campaignID int64, driver string) (campaign, trunk int, err error) {
	err = db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE l.campaign_id = $1), count(*)
			+ (SELECT count(*) FROM call_attempts a JOIN campaigns ac ON ac.id = a.campaign_id
				WHERE a.state <> 'finished' AND a.transfer_via_trunk AND ac.driver = $2)
		FROM leads l JOIN campaigns c ON c.id = l.campaign_id WHERE l.status = 'dialing' AND c.driver = $2`,
		campaignID, driver).Scan(&campaign, &trunk)
	if err != nil {
		return 0, 0, fmt.Errorf("count calls of campaign %d: %w", campaignID, err)
	}
	return campaign, trunk, nil
}

// ClaimDue locks up to limit of a campaign's due leads, fresh web-form and
// API leads first (priority), then by due time, skipping leads another
// transaction holds. They stay locked until tx ends.
func ClaimDue(ctx context.Context, tx pgx.Tx, campaignID int64, now time.Time, limit int) ([]*Lead, error) {
	rows, err := tx.Query(ctx, `WITH due AS (
			SELECT id FROM leads WHERE campaign_id = $1 AND status IN `+waitingStatuses+` AND next_attempt_at <= $2
			ORDER BY priority, next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		SELECT `+leadColumns+` FROM leads l JOIN campaigns c ON c.id = l.campaign_id JOIN due ON due.id = l.id
		ORDER BY l.priority, l.next_attempt_at, l.id`, campaignID, now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim due leads of campaign %d: %w", campaignID, err)
	}
	leads, err := collectLeads(rows)
	if err != nil {
		return nil, fmt.Errorf("claim due leads of campaign %d: %w", campaignID, err)
	}
	return leads, nil
}

// FreshDue reports whether a campaign has a fresh lead (a web form's, the
// API's) due now.
func FreshDue(ctx context.Context, db DB, campaignID int64, now time.Time) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM leads WHERE campaign_id = $1 AND priority = 0
		AND status IN `+waitingStatuses+` AND next_attempt_at <= $2)`, campaignID, now).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("fresh leads of campaign %d: %w", campaignID, err)
	}
	return ok, nil
}

// NextDue is when a campaign's next waiting lead is due (nil: none waits).
func NextDue(ctx context.Context, db DB, campaignID int64) (*time.Time, error) {
	var at *time.Time
	err := db.QueryRow(ctx, `SELECT least(
		(SELECT next_attempt_at FROM leads WHERE campaign_id = $1 AND priority = 0 AND status IN `+waitingStatuses+`
			ORDER BY next_attempt_at LIMIT 1),
		(SELECT next_attempt_at FROM leads WHERE campaign_id = $1 AND priority = 1 AND status IN `+waitingStatuses+`
			ORDER BY next_attempt_at LIMIT 1))`, campaignID).Scan(&at)
	if err != nil {
		return nil, fmt.Errorf("next due lead of campaign %d: %w", campaignID, err)
	}
	return at, nil
}

// Dispatch records, in tx, that a claimed lead was handed to dial job
// jobID: it is dialing, and only that job may start its call.
func (s *Store) Dispatch(ctx context.Context, tx pgx.Tx, leadID, jobID int64, reason string) error {
	tag, err := tx.Exec(ctx, `UPDATE leads SET status = 'dialing', status_reason = $3, next_attempt_at = NULL, dial_job = $2,
		updated_at = $4 WHERE id = $1`, leadID, jobID, reason, s.now())
	if err != nil {
		return fmt.Errorf("dispatch lead %d: %w", leadID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("dispatch lead %d: %w", leadID, ErrNotFound)
	}
	return nil
}

// StrandedDispatch is a lead handed to a dial job that has not started its
// call: the job's state in River ("" when the job is gone) and the River
// clients that ran it.
type StrandedDispatch struct {
	LeadID, CampaignID, JobID int64
	JobState                  string
	AttemptedBy               []string
	Since                     time.Time
}

// StrandedDispatches lists dialing leads without an unfinished attempt,
// with their dial job as River has it: the reconciler gives back to the
// schedule those whose job ended, or whose process is gone.
func StrandedDispatches(ctx context.Context, db DB) ([]StrandedDispatch, error) {
	rows, err := db.Query(ctx, `SELECT l.id, l.campaign_id, coalesce(l.dial_job, 0), coalesce(j.state::text, ''),
			coalesce(j.attempted_by, '{}'), l.updated_at
		FROM leads l LEFT JOIN river_job j ON j.id = l.dial_job
		WHERE l.status = 'dialing' AND NOT EXISTS (SELECT 1 FROM call_attempts a WHERE a.lead_id = l.id AND a.state <> 'finished')
		ORDER BY l.id`)
	if err != nil {
		return nil, fmt.Errorf("stranded dispatches: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (StrandedDispatch, error) {
		var d StrandedDispatch
		err := row.Scan(&d.LeadID, &d.CampaignID, &d.JobID, &d.JobState, &d.AttemptedBy, &d.Since)
		return d, err
	})
}

// ErrDispatchRevoked means a dial job may no longer call its lead: the lead
// was given back to the schedule (or to another job) meanwhile.
var ErrDispatchRevoked = errors.New("the lead is no longer this dial job's to call")

// GiveBack returns a dialing lead that job jobID (0: whichever) has not
// called to the schedule, due at next (nil: now), with the reason, and
// wakes its dispatcher. ErrDispatchRevoked when it is not that job's.
func (s *Store) GiveBack(ctx context.Context, leadID, jobID int64, actor string, status LeadStatus, reason string, next *time.Time) error {
	return s.Tx(ctx, func(tx pgx.Tx) error { return s.giveBack(ctx, tx, leadID, jobID, actor, status, reason, next) })
}

func (s *Store) giveBack(ctx context.Context, tx pgx.Tx, leadID, jobID int64, actor string, status LeadStatus, reason string, next *time.Time) error {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT status = 'dialing' AND ($2::bigint = 0 OR dial_job IS NOT DISTINCT FROM $2::bigint)
			AND NOT EXISTS (SELECT 1 FROM call_attempts a WHERE a.lead_id = $1 AND a.state <> 'finished')
		FROM leads WHERE id = $1 FOR UPDATE`, leadID, jobID).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("give back lead %d: %w", leadID, err)
	}
	if !ok {
		return ErrDispatchRevoked
	}
	return s.SetLeadStatus(ctx, tx, leadID, actor, status, reason, next)
}
