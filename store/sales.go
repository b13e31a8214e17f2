package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// ErrConflict is returned for a sales transition the lead's stage does not
// allow (contacting a lead nobody claimed, winning a lost lead…).
var ErrConflict = errors.New("not allowed in the lead's current stage")

// ErrNotYours is returned for a sales action on a lead another rep claimed:
// a claim belongs to the rep who took it (admins may act on any).
var ErrNotYours = errors.New("the lead is claimed by another rep")

// LeadFilter selects leads for GET /v1/leads. Empty fields do not filter.
type LeadFilter struct {
	CampaignID int64
	Status     string
	Class      string
	Route      string
	Stage      string
	// Stages keeps the leads in any of these sales stages (with Stage,
	// both apply).
	Stages []SalesStage
	// DueBefore keeps the leads whose sales deadline is before it.
	DueBefore *time.Time
	// AssignedTo keeps the leads claimed by this user.
	AssignedTo int64
	// VisibleTo limits the list to what a sales rep may see: leads routed
	// to sales, and the rep's own claims. 0 sees everything.
	VisibleTo int64
	// After is the cursor: the last lead of the previous page (its
	// deadline, nil for none, and id); AfterID 0 starts at the top.
	AfterDue *time.Time
	AfterID  int64
	Limit    int // 1-500, default 50
}

// ListLeads lists leads most urgent first: by sales deadline (leads
// without one last), then by id.
func (s *Store) ListLeads(ctx context.Context, f LeadFilter) ([]*Lead, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where := f.where(arg)
	if f.AfterID != 0 {
		var due any
		if f.AfterDue != nil {
			due = *f.AfterDue
		}
		where = append(where, "(coalesce(l.sla_due_at, 'infinity'::timestamptz), l.id) > (coalesce("+arg(due)+"::timestamptz, 'infinity'::timestamptz), "+
			arg(f.AfterID)+"::bigint)")
	}
	q := `SELECT ` + leadColumns + ` FROM leads l JOIN campaigns c ON c.id = l.campaign_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY coalesce(l.sla_due_at, 'infinity'::timestamptz), l.id LIMIT " + arg(f.Limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list leads: %w", err)
	}
	leads, err := collectLeads(rows)
	if err != nil {
		return nil, fmt.Errorf("list leads: %w", err)
	}
	return leads, nil
}

// where is the filter's conditions on leads l (all but the cursor), with
// arg adding a parameter and returning its placeholder.
func (f LeadFilter) where(arg func(any) string) []string {
	var where []string
	if f.CampaignID != 0 {
		where = append(where, "l.campaign_id = "+arg(f.CampaignID)+"::bigint")
	}
	for _, c := range []struct{ col, v string }{{"l.status", f.Status}, {"l.class", f.Class}, {"l.route", f.Route}, {"l.sales_stage", f.Stage}} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(c.v)+"::text")
		}
	}
	if len(f.Stages) > 0 {
		where = append(where, "l.sales_stage = ANY("+arg(f.Stages)+"::text[])")
	}
	if f.DueBefore != nil {
		where = append(where, "l.sla_due_at < "+arg(*f.DueBefore)+"::timestamptz")
	}
	if f.AssignedTo != 0 {
		where = append(where, "l.assigned_to = "+arg(f.AssignedTo)+"::bigint")
	}
	if f.VisibleTo != 0 {
		where = append(where, "(l.route = 'sales' OR l.assigned_to = "+arg(f.VisibleTo)+"::bigint)")
	}
	return where
}

// VisibleToRep reports whether a sales rep may see a lead: it is routed to
// sales, or the rep claimed it.
func (l *Lead) VisibleToRep(userID int64) bool {
	return l.Route == "sales" || (userID != 0 && l.AssignedTo == userID)
}

// ClaimNext gives the calling rep the most urgent open lead, atomically:
// two reps asking at once never get the same one. ErrNotFound when none.
//
// One statement claims the lead, records its lead.accepted event and
// returns it. A claim takes the lead out of the open-leads index's
// predicate, but its entry there stays until no transaction anywhere on the
// server (another database's included) may still see the lead open: while
// one long transaction runs (an import, a report), every claim would walk
// all the leads claimed since it began. So each claim also reads where the
// open leads start (the claim floor) and the next claim of this process
// starts there. A lead that becomes open below the floor (a release, a new
// lead with an earlier deadline) is seen at once when this process opened
// it, and otherwise within claimFloorTTL, when a claim starts from the top
// again; with no open lead above the floor, a claim also starts from the
// top.
func (s *Store) ClaimNext(ctx context.Context, userID int64, campaignID int64) (*Lead, error) {
	f, ok, gen := s.floors.get(campaignID)
	l, next, err := s.claim(ctx, userID, campaignID, f)
	if errors.Is(err, ErrNotFound) && ok {
		l, next, err = s.claim(ctx, userID, campaignID, claimFloor{})
		ok = false
	}
	if err != nil {
		return nil, err
	}
	s.floors.set(campaignID, next, !ok, gen)
	return l, nil
}

// claim claims the first unlocked open lead at or above f (from the top
// when f is zero), and returns it with the next floor: the first open lead
// at or above f in the same snapshot, locked or not.
func (s *Store) claim(ctx context.Context, userID, campaignID int64, f claimFloor) (*Lead, claimFloor, error) {
	// The campaign's own index when a campaign is given, the global one
	// otherwise: each query's WHERE and ORDER BY match its index exactly.
	filter := "$2::bigint = 0"
	if campaignID != 0 {
		filter = "campaign_id = $2::bigint"
	}
	from := pgtype.Timestamptz{Time: f.due, Valid: true}
	if f.id == 0 {
		from = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	var nextDue *time.Time
	var nextID *int64
	l, err := scanLead(s.pool.QueryRow(ctx, `WITH fl AS (
			SELECT sla_due_at, id FROM leads WHERE sales_stage = 'open' AND `+filter+`
				AND (sla_due_at, id) >= ($4::timestamptz, $5::bigint)
				ORDER BY sla_due_at, id LIMIT 1),
		pick AS (
			SELECT id FROM leads WHERE sales_stage = 'open' AND `+filter+`
				AND (sla_due_at, id) >= ($4::timestamptz, $5::bigint)
				ORDER BY sla_due_at, id FOR UPDATE SKIP LOCKED LIMIT 1),
		l AS (
			UPDATE leads SET sales_stage = 'accepted', assigned_to = $1, accepted_at = $3, updated_at = $3
			FROM pick WHERE leads.id = pick.id
			RETURNING leads.*),
		ev AS (INSERT INTO lead_events (lead_id, actor, kind, at) SELECT id, 'user:' || $1::bigint, 'lead.accepted', $3 FROM l)
		SELECT `+leadColumns+`, fl.sla_due_at, fl.id FROM l JOIN campaigns c ON c.id = l.campaign_id LEFT JOIN fl ON true`,
		userID, campaignID, s.now(), from, f.id), &nextDue, &nextID)
	if err != nil {
		return nil, claimFloor{}, err
	}
	var next claimFloor
	if nextDue != nil && nextID != nil {
		next = claimFloor{due: *nextDue, id: *nextID}
	}
	return l, next, nil
}

// Sales actions.
const (
	ActionContacted = "contacted"
	ActionWon       = "won"
	ActionLost      = "lost"
	ActionRecycle   = "recycle"
	ActionRelease   = "release"
)

// transitions: action → stages it may start from, and its SQL.
var transitions = map[string]struct {
	from []SalesStage
	set  string
	kind EventKind
}{
	ActionContacted: {[]SalesStage{StageOpen, StageAccepted}, `sales_stage = 'contacted', contacted_at = $5,
		assigned_to = coalesce(assigned_to, nullif($2::bigint, 0)),
		sla_status = CASE WHEN sla_status = 'breached' OR $5 > sla_due_at THEN 'breached' ELSE 'met' END`, EventLeadContacted},
	ActionWon:  {[]SalesStage{StageAccepted, StageContacted}, `sales_stage = 'won', closed_at = $5`, EventLeadWon},
	ActionLost: {[]SalesStage{StageAccepted, StageContacted}, `sales_stage = 'lost', closed_at = $5`, EventLeadLost},
	ActionRecycle: {[]SalesStage{StageOpen, StageAccepted, StageContacted}, `sales_stage = 'recycled', route = 'nurture', recall_at = $3, closed_at = $5,
		next_attempt_at = $3, status_reason = CASE WHEN $3::timestamptz IS NULL THEN 'recycled to nurture by sales; no new call planned'
			ELSE 'recycled to nurture by sales: called again from ' || to_char($3::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END`, EventLeadRecycled},
	ActionRelease: {[]SalesStage{StageAccepted}, `sales_stage = 'open', assigned_to = NULL, accepted_at = NULL`, EventLeadReleased},
}

// salesVerbs say what each sales action does, for messages.
var salesVerbs = map[string]string{ActionContacted: "mark the lead contacted", ActionWon: "mark the lead won",
	ActionLost: "mark the lead lost", ActionRecycle: "recycle the lead", ActionRelease: "release the lead"}

// SalesActionVerb says what a sales action does ("mark the lead won"),
// for a message naming a refused one.
func SalesActionVerb(action string) string { return salesVerbs[action] }

// SalesActionFrom lists the stages a sales action may move a lead from
// (none for an unknown action).
func SalesActionFrom(action string) []SalesStage { return transitions[action].from }

// SalesActor is who moves a lead along the sales stages: a user, and
// whether they act as an admin (who may act on any rep's claim).
type SalesActor struct {
	UserID int64
	Admin  bool
}

func (a SalesActor) String() string { return fmt.Sprintf("user:%d", a.UserID) }

// Transition moves a lead along the sales stages as by. recallAt applies to
// recycle (a new qualification call then; nil for none). ErrConflict when
// the lead's stage does not allow the action, ErrNotYours when another rep
// claimed it and by is not an admin.
func (s *Store) Transition(ctx context.Context, leadID int64, by SalesActor, action string, recallAt *time.Time) (*Lead, error) {
	return s.TransitionWhy(ctx, leadID, by, action, recallAt, "")
}

// TransitionWhy is Transition with the rep's reason (why a lead was lost),
// kept in the event's data; "" for none.
func (s *Store) TransitionWhy(ctx context.Context, leadID int64, by SalesActor, action string, recallAt *time.Time, reason string) (*Lead, error) {
	t, ok := transitions[action]
	if !ok {
		return nil, fmt.Errorf("unknown sales action %q", action)
	}
	err := s.Tx(ctx, func(tx pgx.Tx) error {
		var stage *SalesStage
		var owner *int64
		err := tx.QueryRow(ctx, `SELECT sales_stage, assigned_to FROM leads WHERE id = $1 FOR UPDATE`, leadID).Scan(&stage, &owner)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lead %d %s: %w", leadID, action, err)
		}
		if stage == nil || !slices.Contains(t.from, *stage) {
			return ErrConflict
		}
		if owner != nil && *owner != by.UserID && !by.Admin {
			return ErrNotYours
		}
		// $2 (the rep) and $3 (the recall time) are typed here because not
		// every action's SET uses them.
		if _, err := tx.Exec(ctx, `UPDATE leads SET `+t.set+`, updated_at = $5::timestamptz WHERE id = $1 AND sales_stage = ANY($4)
			AND $2::bigint IS NOT NULL AND ($3::timestamptz IS NULL OR $3::timestamptz IS NOT NULL)`,
			leadID, by.UserID, recallAt, t.from, s.now()); err != nil {
			return fmt.Errorf("lead %d %s: %w", leadID, action, err)
		}
		data := map[string]any{"from": *stage}
		if owner != nil && *owner != by.UserID {
			data["claimed_by"] = *owner
		}
		if recallAt != nil {
			data["recall_at"] = recallAt.UTC()
		}
		if reason != "" {
			data["reason"] = reason
		}
		return s.AddEvent(ctx, tx, leadID, by.String(), t.kind, data)
	})
	if err != nil {
		return nil, err
	}
	if action == ActionRelease { // open again, maybe below a claim floor
		s.floors.reset()
	}
	return GetLead(ctx, s.pool, leadID)
}

// AssignLead gives a sales lead to a rep (an admin's reassignment): an
// open lead becomes accepted by them, a claimed one changes hands.
// ErrConflict when the lead is not open, accepted or contacted;
// ErrNoUser when toUser is not an active user.
func (s *Store) AssignLead(ctx context.Context, leadID, toUser int64, by SalesActor) (*Lead, error) {
	err := s.Tx(ctx, func(tx pgx.Tx) error {
		var ok bool
		// A rep: an active user with a live sales key.
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users u JOIN api_keys k ON k.user_id = u.id
			WHERE u.id = $1 AND u.disabled_at IS NULL AND k.role = 'sales' AND k.revoked_at IS NULL)`, toUser).Scan(&ok); err != nil {
			return fmt.Errorf("assign lead %d: %w", leadID, err)
		}
		if !ok {
			return ErrNoUser
		}
		var stage *SalesStage
		var owner *int64
		err := tx.QueryRow(ctx, `SELECT sales_stage, assigned_to FROM leads WHERE id = $1 FOR UPDATE`, leadID).Scan(&stage, &owner)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("assign lead %d: %w", leadID, err)
		}
		if stage == nil || !slices.Contains(WorkingStages, *stage) {
			return ErrConflict
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE leads SET assigned_to = $2, updated_at = $3,
			sales_stage = CASE WHEN sales_stage = 'open' THEN 'accepted' ELSE sales_stage END,
			accepted_at = CASE WHEN sales_stage = 'open' THEN $3 ELSE accepted_at END WHERE id = $1`, leadID, toUser, now); err != nil {
			return fmt.Errorf("assign lead %d: %w", leadID, err)
		}
		data := map[string]any{"to": toUser, "stage": *stage}
		if owner != nil {
			data["from"] = *owner
		}
		return s.AddEvent(ctx, tx, leadID, by.String(), EventLeadAssigned, data)
	})
	if err != nil {
		return nil, err
	}
	return GetLead(ctx, s.pool, leadID)
}

// ErrNoUser is returned when a lead is assigned to a user that does not
// exist or is disabled.
var ErrNoUser = errors.New("no such active user")

// ExportQualified streams leads that completed the questionnaire or went
// to sales on their score (route sales by default, or the given route) with
// their scores, for CSV export.
// visibleTo limits them to what a sales rep may see (0: everything).
func (s *Store) ExportQualified(ctx context.Context, route string, visibleTo int64, each func([]string) error) error {
	if route == "" {
		route = "sales"
	}
	rows, err := s.pool.Query(ctx, `SELECT id::text, campaign_id::text, phone, coalesce(first_name, ''), coalesce(last_name, ''),
		coalesce(email, ''), coalesce(company, ''), coalesce(class, ''), coalesce(route, ''), coalesce(total::text, ''),
		coalesce(sales_stage, ''), coalesce(to_char(sla_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''), coalesce(scores::text, '{}'),
		coalesce(score::text, ''), conversions::text, coalesce(to_char(converted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''), outcome
		FROM leads WHERE outcome IN ('completed', 'scored') AND route = $1 AND ($2::bigint = 0 OR route = 'sales' OR assigned_to = $2::bigint)
		ORDER BY sla_due_at NULLS LAST, id`, route, visibleTo)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer rows.Close()
	row := make([]string, 17)
	ptrs := make([]any, len(row))
	for i := range row {
		ptrs[i] = &row[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if err := each(row); err != nil {
			return err
		}
	}
	return rows.Err()
}
