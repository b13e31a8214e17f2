package queue

import (
	"context"
	"fmt"

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

// Rescore applies the campaign's thresholds to a lead whose score just
// changed, in tx: added are the activities just recorded for it (already
// among its events), conversion says it converted again. The lead must be
// locked in tx (store.LockLead, store.FindLeads). Its score is recorded,
// and the decision carried out and returned.
func (q *Queue) Rescore(ctx context.Context, tx pgx.Tx, l *store.Lead, c *store.Campaign, added int, conversion bool, actor string) (Rescored, error) {
	now := q.store.Now()
	base, err := q.baseScore(l, c)
	if err != nil {
		return Rescored{}, err
	}
	acts, err := store.LeadActivities(ctx, tx, l.ID)
	if err != nil {
		return Rescored{}, err
	}
	r := Rescored{Score: base + scoring.Behavior(acts, now), Before: base + scoring.Behavior(acts[:max(0, len(acts)-added)], now)}
	sit, err := q.situation(ctx, tx, l)
	if err != nil {
		return Rescored{}, err
	}
	in := scoring.Input{Situation: sit, Before: r.Before, After: r.Score, Thresholds: c.Thresholds(), Conversion: conversion, Now: now}
	if l.LastAttemptAt != nil {
		in.NotBefore = l.LastAttemptAt.Add(c.RecallInterval)
	}
	r.Decision = scoring.Decide(in)
	err = q.store.ApplyScore(ctx, tx, actor, store.ScoreAction{LeadID: l.ID, Score: r.Score, Decision: r.Decision, SLA: c.SLA,
		NewRound: sit == scoring.Nurture})
	return r, err
}

// LeadScore is a lead's score now: its last call's total, or its profile
// points before a call, plus its behaviour points.
func (q *Queue) LeadScore(ctx context.Context, db store.DB, l *store.Lead, c *store.Campaign) (int, error) {
	base, err := q.baseScore(l, c)
	if err != nil {
		return 0, err
	}
	acts, err := store.LeadActivities(ctx, db, l.ID)
	if err != nil {
		return 0, err
	}
	return base + scoring.Behavior(acts, q.store.Now()), nil
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
// lost), then a call in progress, sales, the schedule, and nurture.
func (q *Queue) situation(ctx context.Context, db store.DB, l *store.Lead) (scoring.Situation, error) {
	switch l.Status {
	case store.LeadOptedOut, store.LeadBlocked, store.LeadInvalidNumber, store.LeadRejected, store.LeadFailed:
		return scoring.KnockedOut, nil
	}
	if on, err := store.OnDNC(ctx, db, l.Phone); err != nil || on {
		return scoring.KnockedOut, err
	}
	switch {
	case l.SalesStage == store.StageWon || l.SalesStage == store.StageLost:
		return scoring.KnockedOut, nil
	case l.Status == store.LeadDialing:
		return scoring.OnCall, nil
	case l.SalesStage == store.StageContacted:
		return scoring.Contacted, nil
	case l.Route == string(ivr.RouteSales) && l.SalesStage != store.StageRecycled:
		return scoring.Sales, nil
	case l.Route == string(ivr.RouteNone) && l.Outcome == string(ivr.OutcomeCompleted):
		return scoring.KnockedOut, nil // disqualified by the call
	case l.Status.Waiting():
		return scoring.Waiting, nil
	case l.Status == store.LeadNew:
		return scoring.Unscheduled, nil
	}
	return scoring.Nurture, nil // completed in nurture, recycled, unreachable
}

// belowCallThreshold says why a lead is not called yet when its score is
// below the campaign's call threshold ("" when it may be called).
func (q *Queue) belowCallThreshold(ctx context.Context, l *store.Lead, c *store.Campaign) (string, error) {
	if c.CallThreshold == nil {
		return "", nil
	}
	score, err := q.LeadScore(ctx, q.store.Pool(), l, c)
	if err != nil || score >= *c.CallThreshold {
		return "", err
	}
	return fmt.Sprintf("score %d is below the call threshold %d: waiting for activity", score, *c.CallThreshold), nil
}
