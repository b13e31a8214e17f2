package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/scoring"
	"github.com/qualdial/qualdial/store"
)

// Bounds of POST /v1/activities.
const (
	maxActivities     = 1000
	maxActivityDetail = 200
	maxActivityRef    = 128
	maxActivityAge    = 365 * 24 * time.Hour
	maxActivitySkew   = 5 * time.Minute
)

// activityItem is one activity of a batch, validated: the lead it names
// and what the lead did.
type activityItem struct {
	ref   store.LeadRef
	act   store.Activity
	errs  intake.Errors
	leads []int64
}

// activityLead is what an activity did to one lead it names.
type activityLead struct {
	LeadID     int64          `json:"lead_id"`
	CampaignID int64          `json:"campaign_id"`
	Points     int            `json:"points"`
	Note       string         `json:"note,omitempty"`
	Score      int            `json:"score"`
	Action     scoring.Action `json:"action"`
	Why        string         `json:"why"`
}

// activityResult is the answer for one activity of a batch.
type activityResult struct {
	Index  int                 `json:"index"`
	Status string              `json:"status"` // recorded, duplicate, unknown_lead, rejected
	Errors []intake.FieldError `json:"errors,omitempty"`
	Leads  []activityLead      `json:"leads,omitempty"`
}

// recordActivities is POST /v1/activities: a batch of up to 1,000 things
// leads did (page views, downloads, webinars, e-mail clicks,
// unsubscribes…). Each is recorded as a lead.activity event with the points
// of its lead's campaign, and the campaign's thresholds act on the new
// score. A bad activity is reported by its index; the others are recorded.
func (s *server) recordActivities(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	if err := noQuery(r); err != nil {
		return err
	}
	m, err := readObject(w, r, s.cfg.MaxBody)
	if err != nil {
		return err
	}
	o := &jsonObject{m: m, c: &check{}}
	o.unknown("campaign", "activities")
	var def *store.Campaign
	var ref string
	if given, _ := o.get("campaign", &ref, false); given {
		if def, err = s.campaignRef(r, "campaign", ref); err != nil {
			return err
		}
	}
	var raw []json.RawMessage
	if given, _ := o.get("activities", &raw, false); !given && len(o.c.errs) == 0 {
		o.c.add("activities", "required: an array of 1 to %d activities", maxActivities)
	} else if given && (len(raw) == 0 || len(raw) > maxActivities) {
		o.c.add("activities", "has %d activities: send 1 to %d per request", len(raw), maxActivities)
	}
	if err := o.c.err(); err != nil {
		return err
	}
	now := s.store.Now()
	items := make([]activityItem, len(raw))
	for i, b := range raw {
		items[i] = s.parseActivity(r, b, def, now)
	}
	ctx := r.Context()
	actor := keyActor(key)
	var results []activityResult
	err = s.store.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		results, err = s.applyActivities(ctx, tx, items, actor)
		return err
	})
	if err != nil {
		return err
	}
	counts := map[string]int{"recorded": 0, "duplicate": 0, "unknown_lead": 0, "rejected": 0}
	for _, res := range results {
		counts[res.Status]++
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "recorded": counts["recorded"], "duplicates": counts["duplicate"],
		"unknown_leads": counts["unknown_lead"], "rejected": counts["rejected"]})
	return nil
}

// parseActivity validates one activity: exactly one of lead_id, phone,
// email or external_id; a type; an optional time, id and detail.
func (s *server) parseActivity(r *http.Request, b json.RawMessage, def *store.Campaign, now time.Time) activityItem {
	it := activityItem{}
	var country string
	if def != nil {
		it.ref.CampaignID, country = def.ID, def.DefaultCountry
	}
	m, err := decodeObject(b)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && len(ae.fields) > 0 {
			it.errs = ae.fields // a field given twice…
		} else {
			it.errs = intake.Errors{{Field: "activity", Message: "must be an object"}}
		}
		return it
	}
	c := &check{}
	o := &jsonObject{m: m, c: c}
	o.unknown("lead_id", "phone", "email", "external_id", "campaign", "type", "at", "id", "detail")
	var named []string
	str := func(field string, max int) string {
		var v string
		if given, _ := o.get(field, &v, false); given && c.text(field, v, max) {
			return strings.TrimSpace(v)
		}
		return ""
	}
	var id int64
	if given, _ := o.get("lead_id", &id, false); given {
		named = append(named, "lead_id")
		if c.intRange("lead_id", id, 1, 1<<53) {
			it.ref.ID = id
		}
	}
	phone := str("phone", 64)
	if phone != "" {
		named = append(named, "phone")
	}
	if v := str("email", 254); v != "" {
		named = append(named, "email")
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
			c.add("email", "is not an e-mail address")
		} else {
			it.ref.Email = v
		}
	}
	if v := str("external_id", 128); v != "" {
		named = append(named, "external_id")
		it.ref.ExternalID = v
	}
	if len(named) != 1 && len(c.errs) == 0 {
		c.add("lead", "name the lead with exactly one of lead_id, phone, email or external_id (got %d)", len(named))
	}
	if v := str("campaign", maxCampaignName); v != "" {
		camp, err := s.findCampaign(r, v)
		if err != nil {
			c.add("campaign", "no campaign %s", quote(v))
		} else {
			it.ref.CampaignID, country = camp.ID, camp.DefaultCountry
		}
	}
	if phone != "" {
		// A national number reads in the campaign's default country.
		if n, err := intake.NormalizePhone(phone, country); err == nil {
			it.ref.Phone = n
		} else if country == "" {
			c.add("phone", "write it in E.164 (+14155550123), or name the campaign: its default country reads national numbers")
		} else {
			c.add("phone", "is not a phone number in %s or E.164: %v", country, err)
		}
	}
	switch typ := str("type", 40); {
	case typ == "" && !slices.ContainsFunc(c.errs, func(e intake.FieldError) bool { return e.Field == "type" }):
		c.add("type", "required: what the lead did, e.g. %s, %s, %s or a type of the campaign's activity_points",
			scoring.PageView, scoring.Download, scoring.Unsubscribe)
	case typ != "" && !scoring.ValidType(typ):
		c.add("type", "%q is not an activity type (lower-case letters, digits and _)", typ)
	default:
		it.act.Type = typ
	}
	if v := str("at", 40); v != "" {
		at, err := time.Parse(time.RFC3339, v)
		switch {
		case err != nil:
			c.add("at", "must be an RFC 3339 time, e.g. 2026-03-01T14:30:00Z")
		case offsetOutOfRange(at):
			c.add("at", "has a time zone offset beyond ±23:59")
		case at.After(now.Add(maxActivitySkew)):
			c.add("at", "is in the future")
		case at.Before(now.Add(-maxActivityAge)):
			c.add("at", "is more than a year ago")
		default:
			it.act.At = at
		}
	}
	it.act.Ref = str("id", maxActivityRef)
	it.act.Detail = str("detail", maxActivityDetail)
	it.errs = c.errs
	return it
}

// maxActivityLeads bounds the lead activities one batch writes: an e-mail
// may name a lead in many campaigns.
const maxActivityLeads = 10_000

// applyActivities records a batch's valid activities in tx and applies the
// thresholds once per lead touched, with a few statements whatever the
// batch's size. Leads are locked in id order, so batches touching the
// same leads never deadlock.
func (s *server) applyActivities(ctx context.Context, tx pgx.Tx, items []activityItem, actor string) ([]activityResult, error) {
	var refs []store.LeadRef
	var valid []int
	for i := range items {
		if len(items[i].errs) == 0 {
			refs, valid = append(refs, items[i].ref), append(valid, i)
		}
	}
	found, err := store.FindLeadIDs(ctx, tx, refs)
	if err != nil {
		return nil, err
	}
	var all []int64
	for k, i := range valid {
		items[i].leads = found[k]
		all = append(all, found[k]...)
	}
	if len(all) > maxActivityLeads {
		return nil, invalid(intake.FieldError{Field: "activities", Message: fmt.Sprintf(
			"name %d leads (an e-mail or phone may be in many campaigns): at most %d per request; send smaller batches, or name the campaign",
			len(all), maxActivityLeads)})
	}
	slices.Sort(all)
	leads, err := store.LockLeads(ctx, tx, slices.Compact(all))
	if err != nil {
		return nil, err
	}
	byID := map[int64]*store.Lead{}
	campaigns := map[int64]*store.Campaign{}
	points := map[int64]scoring.Table{} // each campaign's table in force
	for _, l := range leads {
		byID[l.ID] = l
		if campaigns[l.CampaignID] == nil {
			if campaigns[l.CampaignID], err = store.GetCampaign(ctx, tx, l.CampaignID); err != nil {
				return nil, err
			}
			points[l.CampaignID] = campaigns[l.CampaignID].Points()
		}
	}
	// One row per activity and lead it names.
	type target struct {
		item  int
		lead  *store.Lead
		known bool
	}
	var targets []target
	var acts []store.LeadActivity
	for i := range items {
		for _, id := range items[i].leads {
			l := byID[id]
			if l == nil {
				continue // deleted meanwhile
			}
			act := items[i].act
			var known bool
			act.Rule, known = points[l.CampaignID][act.Type]
			targets = append(targets, target{i, l, known})
			acts = append(acts, store.LeadActivity{LeadID: id, Activity: act})
		}
	}
	recorded, err := s.store.AddActivities(ctx, tx, actor, acts)
	if err != nil {
		return nil, err
	}
	added := map[int64]int{}
	for k, t := range targets {
		if recorded[k] {
			added[t.lead.ID]++
		}
	}
	var changes []queue.ScoreChange
	for _, l := range leads {
		if added[l.ID] > 0 {
			changes = append(changes, queue.ScoreChange{Lead: l, Campaign: campaigns[l.CampaignID], Added: added[l.ID]})
		}
	}
	rescored, err := s.cfg.Dialer.RescoreMany(ctx, tx, changes, actor)
	if err != nil {
		return nil, err
	}
	scored := map[int64]queue.Rescored{}
	for k, ch := range changes {
		scored[ch.Lead.ID] = rescored[k]
	}
	results := make([]activityResult, len(items))
	for i := range items {
		results[i].Index = i
		switch {
		case len(items[i].errs) > 0:
			results[i].Status, results[i].Errors = "rejected", items[i].errs
		case len(items[i].leads) == 0:
			results[i].Status = "unknown_lead"
			results[i].Errors = []intake.FieldError{{Field: "lead",
				Message: "no lead with this " + refField(items[i].ref) + " in a campaign that is not finished"}}
		default:
			results[i].Status = "duplicate"
		}
	}
	for k, t := range targets {
		if !recorded[k] {
			continue
		}
		res := &results[t.item]
		res.Status = "recorded"
		r := scored[t.lead.ID]
		al := activityLead{LeadID: t.lead.ID, CampaignID: t.lead.CampaignID, Points: acts[k].Rule.Points, Score: r.Score, Action: r.Action, Why: r.Why}
		if !t.known {
			al.Note = fmt.Sprintf("type %s earns no points in campaign %s: add it to the campaign's activity_points",
				acts[k].Type, quote(campaigns[t.lead.CampaignID].Name))
		}
		res.Leads = append(res.Leads, al)
	}
	return results, nil
}

// offsetOutOfRange reports a time zone offset RFC 3339 does not allow
// (Go's parser takes up to ±99:59).
func offsetOutOfRange(t time.Time) bool {
	_, off := t.Zone()
	return off >= 24*3600 || off <= -24*3600
}

// refField names the field a lead reference used.
func refField(r store.LeadRef) string {
	switch {
	case r.ID != 0:
		return "lead_id"
	case r.Phone != "":
		return "phone"
	case r.Email != "":
		return "email"
	}
	return "external_id"
}
