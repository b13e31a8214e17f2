package api

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/qualdial/qualdial/store"
)

// NameTakenError is a new campaign whose name another campaign has.
type NameTakenError struct{ Name string }

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("a campaign named %s exists", quote(e.Name))
}

// CreateCampaign checks a new campaign — the JSON object POST
// /v1/campaigns takes: name, script_id or script, and any settings — and
// creates it with its script, for the API and the web UI alike. Bad
// settings are intake.Errors (every field's problem at once); a name in
// use is a *NameTakenError.
func CreateCampaign(ctx context.Context, st *store.Store, settings map[string]json.RawMessage) (*store.Campaign, error) {
	o := &jsonObject{m: settings, c: &check{}}
	p, yaml := parseCampaign(o, true)
	if err := o.c.err(); err != nil {
		return nil, err
	}
	c, err := st.CreateCampaign(ctx, p)
	if err != nil {
		if strings.Contains(err.Error(), "campaigns_name_key") {
			return nil, &NameTakenError{Name: p.Name}
		}
		return nil, err
	}
	if err := st.SetCampaignScript(ctx, c.ID, string(yaml)); err != nil {
		return nil, err
	}
	return st.Campaign(ctx, c.ID)
}

// Requeuer queues leads for their pre-dial checks again.
type Requeuer interface {
	EnqueueManyTx(ctx context.Context, tx pgx.Tx, leadIDs []int64) error
}

// UpdateCampaign changes a campaign's calling policy — the JSON object
// PATCH /v1/campaigns/{id} takes: the fields given, merged one level deep
// into window and retry, read-only fields only unchanged — for the API and
// the web UI alike. Leads a changed rule had blocked (consent, window,
// destinations) are checked again, and leads held below the call
// threshold are scored again; actor is recorded on their events. Bad
// settings are intake.Errors.
func UpdateCampaign(ctx context.Context, st *store.Store, q Requeuer, c *store.Campaign, patch map[string]json.RawMessage,
	actor string) (*store.Campaign, error) {
	cur, _ := json.Marshal(toCampaignJSON(c))
	merged, _ := decodeObject(cur)
	chk := &check{}
	for _, k := range campaignReadOnly {
		raw, ok := patch[k]
		if !ok {
			continue
		}
		if !sameJSON(k, raw, merged[k]) {
			chk.add(k, "read-only: send it unchanged or leave it out")
		}
		delete(patch, k)
	}
	for _, k := range append(campaignReadOnly, campaignComputed...) {
		delete(merged, k)
		if slices.Contains(campaignComputed, k) {
			delete(patch, k)
		}
	}
	for k, raw := range patch {
		if k == "window" || k == "retry" {
			// One level deep: {"window": {"start": "10:00"}} keeps the days.
			var sub, old map[string]json.RawMessage
			if json.Unmarshal(raw, &sub) == nil && sub != nil && json.Unmarshal(merged[k], &old) == nil {
				for sk, sv := range sub {
					old[sk] = sv
				}
				raw, _ = json.Marshal(old)
			}
		}
		merged[k] = raw
	}
	o := &jsonObject{m: merged, c: chk}
	p, _ := parseCampaign(o, false)
	if err := chk.err(); err != nil {
		return nil, err
	}
	next := *c
	next.DefaultCountry, next.AllowedNumberTypes, next.AllowedCountries = p.DefaultCountry, p.AllowedNumberTypes, p.AllowedCountries
	if next.AllowedNumberTypes == nil {
		next.AllowedNumberTypes = store.CampaignDefaults().AllowedNumberTypes
	}
	var why []string
	if p.RequireConsent != c.RequireConsent {
		why = append(why, "require_consent")
	}
	if p.Purpose != c.Purpose {
		why = append(why, "purpose") // consent and the rules that bind
	}
	if !slices.Equal(p.WindowDays, c.WindowDays) || p.WindowStart != c.WindowStart || p.WindowEnd != c.WindowEnd {
		why = append(why, "window")
	}
	if !reflect.DeepEqual(next.Destinations(), c.Destinations()) {
		why = append(why, "destinations")
	}
	// Leads held below the call threshold are checked again against the
	// new scoring (the dispatcher holds those still below).
	rescore := !reflect.DeepEqual(p.CallThreshold, c.CallThreshold) || !reflect.DeepEqual(p.ActivityPoints, c.Points())
	err := st.Tx(ctx, func(tx pgx.Tx) error {
		if err := st.UpdateCampaign(ctx, tx, c.ID, p); err != nil {
			return err
		}
		if rescore && c.Status != store.CampaignFinished {
			if err := st.RequeueHeld(ctx, tx, c.ID, actor); err != nil {
				return err
			}
		}
		if len(why) == 0 || c.Status == store.CampaignFinished {
			return nil
		}
		ids, err := st.RequeueBlocked(ctx, tx, c.ID, nil, actor, "campaign changed: "+strings.Join(why, ", "))
		if err != nil || len(ids) == 0 {
			return err
		}
		return q.EnqueueManyTx(ctx, tx, ids)
	})
	if err != nil {
		return nil, err
	}
	return st.Campaign(ctx, c.ID)
}
