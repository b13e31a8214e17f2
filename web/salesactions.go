package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qualdial/qualdial/store"
)

// salesPanel is the lead page's outcome buttons: the sales actions the
// lead's stage allows.
type salesPanel struct {
	Stage store.SalesStage
	Can   map[string]bool
	// Claimed: someone claimed the lead (release then applies).
	Claimed bool
	// MinRecall is the earliest recall time the form offers (UTC).
	MinRecall string
}

// salesActions are the outcome buttons, in order.
var salesActions = []string{store.ActionContacted, store.ActionWon, store.ActionLost, store.ActionRecycle, store.ActionRelease}

// newSalesPanel is the panel for u, nil when u is not sales or admin or
// the lead is not in a working sales stage.
func newSalesPanel(l *store.Lead, u *store.User) *salesPanel {
	if (u.Role != store.RoleSales && u.Role != store.RoleAdmin) || !slices.Contains(store.WorkingStages, l.SalesStage) {
		return nil
	}
	p := &salesPanel{Stage: l.SalesStage, Can: map[string]bool{}, Claimed: l.AssignedTo != 0}
	for _, a := range salesActions {
		p.Can[a] = slices.Contains(store.SalesActionFrom(a), l.SalesStage)
	}
	return p
}

// salesFormLimit bounds an outcome form's body (a reason of 500
// characters, a recall time, a campaign): a bigger one is 413.
const salesFormLimit = 8 << 10

// recallFormat is how the recycle form's datetime-local field writes a
// time (read as UTC).
const recallFormat = "2006-01-02T15:04"

// leadAction records a sales outcome on a lead through the API's
// Transition, as the user; a refusal is the lead page saying why.
func (s *Server) leadAction(w http.ResponseWriter, r *http.Request, u *store.User) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	action := r.PathValue("action")
	if err != nil || id <= 0 || !slices.Contains(salesActions, action) {
		s.notFoundFor(w, r, u)
		return nil
	}
	if !readForm(w, r, salesFormLimit) {
		return nil
	}
	l, err := s.visibleLead(w, r, u, id)
	if l == nil {
		return err
	}
	var recall *time.Time
	var reason string
	now := s.store.Now()
	switch action {
	case store.ActionLost:
		reason = strings.TrimSpace(r.PostFormValue("reason"))
		if reason == "" {
			return s.showLead(w, r, u, id, http.StatusUnprocessableEntity, "Say why the lead was lost: the reason is required.")
		}
		if utf8.RuneCountInString(reason) > 500 {
			return s.showLead(w, r, u, id, http.StatusUnprocessableEntity, "The reason is longer than 500 characters: shorten it.")
		}
		if msg := noteProblem(reason); msg != "" { // the same plain text as a note
			return s.showLead(w, r, u, id, http.StatusUnprocessableEntity, strings.Replace(msg, "The note", "The reason", 1))
		}
	case store.ActionRecycle:
		if v := strings.TrimSpace(r.PostFormValue("recall")); v != "" {
			t, err := time.ParseInLocation(recallFormat, v, time.UTC)
			switch {
			case err != nil:
				return s.showLead(w, r, u, id, http.StatusUnprocessableEntity, fmt.Sprintf("Recall %q is not a date and time: use 2026-12-01T10:00 (UTC).", v))
			case !t.After(now):
				return s.showLead(w, r, u, id, http.StatusUnprocessableEntity, fmt.Sprintf("Recall %s is not in the future: when should the lead be called again?", utc(t)))
			case t.After(now.AddDate(2, 0, 0)):
				return s.showLead(w, r, u, id, http.StatusUnprocessableEntity, fmt.Sprintf("Recall %s is more than two years away.", utc(t)))
			}
			recall = &t
		}
	}
	by := store.SalesActor{UserID: u.ID, Admin: u.Role == store.RoleAdmin}
	after, err := s.store.TransitionWhy(r.Context(), id, by, action, recall, reason)
	switch {
	case errors.Is(err, store.ErrConflict):
		return s.showLead(w, r, u, id, http.StatusConflict, fmt.Sprintf("Cannot %s from its stage %s: that works from %s.",
			store.SalesActionVerb(action), stageName(l.SalesStage), strings.Join(stageNames(store.SalesActionFrom(action)), " or ")))
	case errors.Is(err, store.ErrNotYours):
		return s.showLead(w, r, u, id, http.StatusForbidden, "Another rep claimed this lead: only they (or an admin) may move it.")
	case errors.Is(err, store.ErrNotFound):
		s.notFoundFor(w, r, u)
		return nil
	case err != nil:
		return err
	}
	s.flash(r, "%s", actionDone(action, after, now))
	http.Redirect(w, r, "/leads/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
	return nil
}

func stageName(st store.SalesStage) string {
	if st == "" {
		return "none (not routed to sales)"
	}
	return string(st)
}

func stageNames(sts []store.SalesStage) []string {
	out := make([]string, len(sts))
	for i, st := range sts {
		out[i] = string(st)
	}
	return out
}

// actionDone says what an action did; for contacted, whether the SLA was
// met: the action's time against the lead's deadline.
func actionDone(action string, l *store.Lead, at time.Time) string {
	switch action {
	case store.ActionContacted:
		switch {
		case l.SLADueAt == nil:
			return "Marked contacted at " + utc(at) + "; the lead had no sales deadline."
		case at.After(*l.SLADueAt):
			return fmt.Sprintf("Marked contacted at %s: SLA breached, %s after the deadline %s.", utc(at), hoursMinutes(at.Sub(*l.SLADueAt)), utc(*l.SLADueAt))
		default:
			return fmt.Sprintf("Marked contacted at %s: SLA met, %s before the deadline %s.", utc(at), hoursMinutes(l.SLADueAt.Sub(at)), utc(*l.SLADueAt))
		}
	case store.ActionWon:
		return "Marked won."
	case store.ActionLost:
		return "Marked lost."
	case store.ActionRecycle:
		if l.RecallAt != nil {
			return "Recycled to nurture: called again from " + utc(*l.RecallAt) + "."
		}
		return "Recycled to nurture; no new call planned."
	default:
		return "Released: the lead is open for any rep again."
	}
}
