package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/qualdial/qualdial/store"
)

// campaignRow is one campaign of the list, with its funnel.
type campaignRow struct {
	C      *store.Campaign
	F      store.Funnel
	Error  string // what a refused action said
	Notice string
}

// campaignsData is the campaigns list.
type campaignsData struct {
	Rows    []campaignRow
	Live    bool
	Actions []string
}

func (s *Server) campaignsData(r *http.Request) (campaignsData, error) {
	cs, err := s.store.Campaigns(r.Context(), store.CampaignFilter{Limit: 200})
	if err != nil {
		return campaignsData{}, err
	}
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	funnels, err := s.store.Funnels(r.Context(), ids)
	if err != nil {
		return campaignsData{}, err
	}
	d := campaignsData{Live: r.URL.Query().Get("live") != "off", Actions: store.CampaignActions}
	for _, c := range cs {
		d.Rows = append(d.Rows, campaignRow{C: c, F: funnels[c.ID]})
	}
	return d, nil
}

func (s *Server) campaignsPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	d, err := s.campaignsData(r)
	if err != nil {
		return err
	}
	s.render(w, r, "campaigns", u, d)
	return nil
}

// campaignRows is the list's live part, polled while "live" is on.
func (s *Server) campaignRows(w http.ResponseWriter, r *http.Request, u *store.User) error {
	d, err := s.campaignsData(r)
	if err != nil {
		return err
	}
	s.renderBlock(w, r, http.StatusOK, "campaigns", "list", page{User: u, Data: d, Path: "/campaigns"})
	return nil
}

// campaignAction starts, pauses, resumes or finishes a campaign: the
// row comes back (htmx), or the list with a message (a plain form).
func (s *Server) campaignAction(w http.ResponseWriter, r *http.Request, u *store.User) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	action := r.PathValue("action")
	if err != nil || id <= 0 || !contains(store.CampaignActions, action) {
		s.notFound(w, r)
		return nil
	}
	c, err := s.store.Campaign(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.notFound(w, r)
		return nil
	}
	if err != nil {
		return err
	}
	row := campaignRow{C: c}
	updated, err := s.store.ActOnCampaign(r.Context(), c, action, s.cfg.CheckPrompts)
	var me *store.MoveError
	var se *store.ScriptError
	status := http.StatusOK
	switch {
	case errors.As(err, &me):
		row.Error, status = me.Error(), http.StatusConflict
	case errors.As(err, &se):
		row.Error, status = "cannot start: "+se.Message, http.StatusUnprocessableEntity
	case err != nil:
		return err
	default:
		row.C, row.Notice = updated, "Campaign "+updated.Name+" is "+string(updated.Status)+"."
		s.cfg.Logger.Info("campaign action", "campaign_id", c.ID, "action", action, "user_id", u.ID)
	}
	if r.Header.Get("HX-Request") != "true" {
		if row.Error != "" {
			s.flash(r, "%s", row.Error)
		} else {
			s.flash(r, "%s", row.Notice)
		}
		http.Redirect(w, r, "/campaigns", http.StatusSeeOther)
		return nil
	}
	funnels, err := s.store.Funnels(r.Context(), []int64{c.ID})
	if err != nil {
		return err
	}
	row.F = funnels[c.ID]
	s.renderBlock(w, r, status, "campaigns", "row", row)
	return nil
}
