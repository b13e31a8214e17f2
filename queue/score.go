package queue

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scoring"
	"github.com/qualdial/qualdial/store"
)

// Rescored is what a change of a lead's score did.
type Rescored struct {
	// Before and Score are the lead score before and after the change.
	Before, Score int
	scoring.Decision
}

// ScoreChange is a change of one lead's score: Added activities just
// recorded for it (already among its events), or a conversion.
type ScoreChange struct {
	Lead       *store.Lead // locked in the transaction
	Campaign   *store.Campaign
	Added      int
	Conversion bool
}

// Rescore applies the campaign's thresholds to a lead whose score just
// changed, in tx (see RescoreMany).
func (q *Queue) Rescore(ctx context.Context, tx pgx.Tx, l *store.Lead, c *store.Campaign, added int, conversion bool, actor string) (Rescored, error) {
	rs, err := q.RescoreMany(ctx, tx, []ScoreChange{{Lead: l, Campaign: c, Added: added, Conversion: conversion}}, actor)
	if err != nil {
		return Rescored{}, err
	}
	return rs[0], nil
}

// RescoreMany applies the campaigns' thresholds to leads whose score just
// changed, in tx, with a few statements whatever their number: each lead's
// score is recorded, and the decision carried out and returned, in the
// order of changes. The leads must be locked in tx (store.LockLead,
// store.LockLeads), one change per lead.
func (q *Queue) RescoreMany(ctx context.Context, tx pgx.Tx, changes []ScoreChange, actor string) ([]Rescored, error) {
	ids := make([]int64, len(changes))
	phones := make([]string, len(changes))
	for i, ch := range changes {
		ids[i], phones[i] = ch.Lead.ID, ch.Lead.Phone
	}
	acts, err := store.ActivitiesOf(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	dnc, err := store.OnDNCMany(ctx, tx, phones)
	if err != nil {
		return nil, err
	}
	now := q.store.Now()
	out := make([]Rescored, len(changes))
	actions := make([]store.ScoreAction, len(changes))
	for i, ch := range changes {
		l, c := ch.Lead, ch.Campaign
		base, err := q.baseScore(l, c)
		if err != nil {
			return nil, err
		}
		all := acts[l.ID]
		r := Rescored{Score: base + scoring.Behavior(all, now), Before: base + scoring.Behavior(all[:max(0, len(all)-ch.Added)], now)}
		if l.Score == nil && ch.Added == 0 && !ch.Conversion {
			r.Before = math.MinInt32 // a lead scored for the first time had no score
		}
		sit := situation(l, dnc[l.Phone])
		in := scoring.Input{Situation: sit, Before: r.Before, After: r.Score, Thresholds: c.Thresholds(), Conversion: ch.Conversion,
			Called: l.Outcome == string(ivr.OutcomeCompleted), Now: now}
		if l.LastAttemptAt != nil {
			in.NotBefore = l.LastAttemptAt.Add(c.RecallInterval)
		}
		r.Decision = scoring.Decide(in)
		out[i] = r
		actions[i] = store.ScoreAction{LeadID: l.ID, Score: r.Score, Decision: r.Decision, SLA: c.SLA, NewRound: sit == scoring.Nurture,
			Frozen: l.SalesStage == store.StageWon || l.SalesStage == store.StageLost}
	}
	return out, q.store.ApplyScores(ctx, tx, actor, actions)
}

// LeadScore is a lead's score now: its last call's total, or its profile
// points before a call, plus its behaviour points.
func (q *Queue) LeadScore(ctx context.Context, db store.DB, l *store.Lead, c *store.Campaign) (int, error) {
	base, err := q.baseScore(l, c)
	if err != nil {
		return 0, err
	}
	acts, err := store.ActivitiesOf(ctx, db, []int64{l.ID})
	if err != nil {
		return 0, err
	}
	return base + scoring.Behavior(acts[l.ID], q.store.Now()), nil
}

// baseScore is the lead's last completed call's total, or, before one, the
// points of the campaign's profile rules for it (none for a campaign that
// has not pinned a script yet).
func (q *Queue) baseScore(l *store.Lead, c *store.Campaign) (int, error) {
	if l.Outcome == string(ivr.OutcomeCompleted) && l.Total != nil {
		return *l.Total, nil
	}
	if c.ScriptYAML == "" {
		return 0, nil
	}
	eng, _, err := q.engine(c)
	if err != nil {
		return 0, err
	}
	return ProfilePoints(eng.Profile(l.Fields())), nil
}

// ProfilePoints sums the points of the profile rules that held.
func ProfilePoints(hits []ivr.ProfileHit) int {
	n := 0
	for _, h := range hits {
		for _, p := range h.Points {
			n += p
		}
	}
	return n
}

// situation is where a lead stands for its score: knock-outs first (opted
// out, on the do-not-call list, blocked, disqualified by a call, won or
// lost), then a call in progress, sales, the schedule, nurture (recycled
// by sales too) and the leads held below the call threshold.
func situation(l *store.Lead, onDNC bool) scoring.Situation {
	switch l.Status {
	case store.LeadOptedOut, store.LeadBlocked, store.LeadInvalidNumber, store.LeadRejected, store.LeadFailed:
		return scoring.KnockedOut
	}
	switch {
	case onDNC, l.SalesStage == store.StageWon, l.SalesStage == store.StageLost:
		return scoring.KnockedOut
	case l.Status == store.LeadDialing:
		return scoring.OnCall
	case l.SalesStage == store.StageContacted:
		return scoring.Contacted
	case l.Route == string(ivr.RouteSales) && l.SalesStage != store.StageRecycled:
		return scoring.Sales
	case l.Route == string(ivr.RouteNone) && l.Outcome == string(ivr.OutcomeCompleted):
		return scoring.KnockedOut // disqualified by the call
	case l.Status.Waiting():
		return scoring.Waiting
	case l.SalesStage == store.StageRecycled:
		return scoring.Nurture // sales sent it back: its recall time, or a conversion
	case l.Status == store.LeadNew:
		return scoring.Unscheduled
	}
	return scoring.Nurture // completed in nurture, unreachable
}

// belowCallThreshold says why a lead is not called yet when its score is
// below the campaign's call threshold ("" when it may be called).
func (q *Queue) belowCallThreshold(ctx context.Context, db store.DB, l *store.Lead, c *store.Campaign) (string, error) {
	if c.CallThreshold == nil {
		return "", nil
	}
	score, err := q.LeadScore(ctx, db, l, c)
	if err != nil || score >= *c.CallThreshold {
		return "", err
	}
	return fmt.Sprintf("score %d is %s %d: waiting for activity", score, scoring.BelowCallThreshold, *c.CallThreshold), nil
}
