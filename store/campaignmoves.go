package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/qualdial/qualdial/ivr"
	"github.com/qualdial/qualdial/scripts"
)

// Campaign actions: what the API's and the web UI's buttons do.
const (
	ActionStart  = "start"
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionFinish = "finish"
)

// CampaignActions lists the actions in the order a UI offers them.
var CampaignActions = []string{ActionStart, ActionPause, ActionResume, ActionFinish}

// campaignMoves: action → the statuses it starts from, the status it leads
// to, and what to do instead from each other status.
var campaignMoves = map[string]struct {
	from    []CampaignStatus
	to      CampaignStatus
	instead map[CampaignStatus]string
}{
	ActionStart: {[]CampaignStatus{CampaignDraft}, CampaignActive, map[CampaignStatus]string{
		CampaignActive: "it is already active", CampaignPaused: "it is paused: resume it",
		CampaignFinished: "a finished campaign does not start again: create a new one"}},
	ActionPause: {[]CampaignStatus{CampaignActive}, CampaignPaused, map[CampaignStatus]string{
		CampaignDraft: "it has not started", CampaignPaused: "it is already paused", CampaignFinished: "it is finished"}},
	ActionResume: {[]CampaignStatus{CampaignPaused}, CampaignActive, map[CampaignStatus]string{
		CampaignDraft: "it has not started: start it", CampaignActive: "it is already active",
		CampaignFinished: "a finished campaign does not resume: create a new one"}},
	// A draft may be finished too: a campaign that will never run.
	ActionFinish: {[]CampaignStatus{CampaignDraft, CampaignActive, CampaignPaused}, CampaignFinished,
		map[CampaignStatus]string{CampaignFinished: "it is already finished"}},
}

// CanAct reports whether a campaign in status may take action.
func CanAct(status CampaignStatus, action string) bool {
	m, ok := campaignMoves[action]
	return ok && slices.Contains(m.from, status)
}

// MoveError is an action a campaign's status does not allow (it Is
// ErrConflict).
type MoveError struct {
	Action  string
	Status  CampaignStatus
	Instead string
}

func (e *MoveError) Error() string {
	a := "a"
	if s := string(e.Status); s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		a = "an"
	}
	return fmt.Sprintf("cannot %s %s %s campaign: %s", e.Action, a, e.Status, e.Instead)
}

// Is makes a MoveError an ErrConflict.
func (e *MoveError) Is(target error) bool { return target == ErrConflict }

// ScriptError is a campaign whose script cannot be pinned or played: it
// does not start.
type ScriptError struct{ Message string }

func (e *ScriptError) Error() string { return e.Message }

// CheckScriptVersion refuses yaml as sc's id and version (a *ScriptError)
// when that version names another text: saved, shipped or pinned by a
// campaign.
func (s *Store) CheckScriptVersion(ctx context.Context, sc *ivr.Script, yaml string) error {
	taken := func() error {
		return &ScriptError{fmt.Sprintf("%s is another text already (saved, shipped or run by another campaign): give this one a new version "+
			"(the editor's Save as new version, or raise its version: line)", sc)}
	}
	if shipped, err := scripts.Read(sc.ID); err == nil && string(shipped) != yaml {
		if t, _ := ivr.Parse(sc.ID+".yaml", shipped); t != nil && t.Version == sc.Version {
			return taken()
		}
	}
	v, err := s.ScriptVersionText(ctx, sc.ID, sc.Version)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case v.YAML != yaml:
		return taken()
	}
	return nil
}

// ActOnCampaign starts, pauses, resumes or finishes a campaign, the one way
// the API and the web UI do: becoming active pins the script (so does
// finishing a draft); checkPrompts (may be nil) refuses a script whose
// prompts cannot all be played. It returns the campaign as it is now.
func (s *Store) ActOnCampaign(ctx context.Context, c *Campaign, action string, checkPrompts func(context.Context, string, *ivr.Script) error) (*Campaign, error) {
	move, ok := campaignMoves[action]
	if !ok {
		return nil, fmt.Errorf("unknown campaign action %q", action)
	}
	if !slices.Contains(move.from, c.Status) {
		return nil, &MoveError{action, c.Status, move.instead[c.Status]}
	}
	var sc *ivr.Script
	if move.to == CampaignActive || c.Status == CampaignDraft {
		var ds ivr.Diagnostics
		if sc, ds = ivr.Parse(c.ScriptID+".yaml", []byte(c.ScriptYAML)); sc == nil {
			return nil, &ScriptError{ds.Errors().String()}
		}
	}
	// A script's id and version name one text for good: a draft's edited
	// text under a version saved, shipped or run by another campaign
	// would make two scripts of one name in the results.
	if sc != nil && c.Status == CampaignDraft {
		if err := s.CheckScriptVersion(ctx, sc, c.ScriptYAML); err != nil {
			return nil, err
		}
	}
	// Real people never hear a placeholder hum.
	if move.to == CampaignActive && checkPrompts != nil {
		if err := checkPrompts(ctx, string(c.Driver), sc); err != nil {
			return nil, &ScriptError{err.Error()}
		}
	}
	err := s.MoveCampaign(ctx, c.ID, move.to, move.from, sc, []byte(c.ScriptYAML))
	if errors.Is(err, ErrConflict) {
		// Another request moved it meanwhile.
		if now, err := s.Campaign(ctx, c.ID); err == nil {
			return nil, &MoveError{action, now.Status, move.instead[now.Status]}
		}
	}
	if err != nil {
		return nil, err
	}
	return s.Campaign(ctx, c.ID)
}
