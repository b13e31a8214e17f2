package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// The toggle sends live=off (a hidden field) and live=on when checked.
	live := r.URL.Query()["live"]
	d := campaignsData{Live: len(live) == 0 || slices.Contains(live, "on"), Actions: store.CampaignActions}
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

// keepAliveEvery is how often a live stream without news says it is
// still there.
const keepAliveEvery = 20 * time.Second

// streamCampaigns sends the campaigns table as a server-sent event
// ("campaigns") at once and every Config.LiveEvery while the page keeps
// it open (liveStream).
func (s *Server) streamCampaigns(w http.ResponseWriter, r *http.Request, u *store.User) error {
	return s.liveStream(w, r, "campaigns", func(b *bytes.Buffer) error {
		d, err := s.campaignsData(r)
		if err != nil {
			return err
		}
		return s.pages["campaigns"].ExecuteTemplate(b, "table", page{User: u, Data: d, Path: "/campaigns"})
	})
}

// liveStream sends what render writes as a server-sent event named event
// at once, then every Config.LiveEvery when it changed, while the page
// keeps it open (at most 10 minutes; the browser then reconnects). Each
// event's HTML is split into data lines.
func (s *Server) liveStream(w http.ResponseWriter, r *http.Request, event string, render func(*bytes.Buffer) error) error {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // a proxy in front must not hold the events
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
	defer cancel()
	tick := time.NewTicker(s.cfg.LiveEvery)
	defer tick.Stop()
	// The HTML is sent when it changed: a swap of unchanged rows would
	// take the keyboard focus from their buttons and could swallow a
	// click. A comment now and then keeps proxies from closing the
	// stream.
	var last string
	quiet := time.Now()
	for {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var ev strings.Builder
		switch {
		case b.String() != last:
			last = b.String()
			quiet = time.Now()
			ev.WriteString("event: " + event + "\n")
			for line := range strings.Lines(last) {
				ev.WriteString("data: " + strings.TrimRight(line, "\r\n") + "\n")
			}
			ev.WriteString("\n")
		case time.Since(quiet) >= keepAliveEvery:
			quiet = time.Now()
			ev.WriteString(": still here\n\n")
		}
		if _, err := io.WriteString(w, ev.String()); err != nil {
			return nil // the page went away
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return nil
		case <-tick.C:
		}
	}
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
	if err != nil || id <= 0 || !slices.Contains(store.CampaignActions, action) {
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
		s.cfg.Logger.InfoContext(r.Context(), "campaign action", "campaign_id", c.ID, "action", action, "user_id", u.ID)
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
