package web

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/qualdial/qualdial/store"
)

// streamInbox keeps an open inbox current: the first page of its list,
// with the page's filters (show, campaign, class), as a server-sent event
// ("inbox") at once and every Config.LiveEvery when it changed — a new
// sales-ready lead, a claim, a countdown's next minute (liveStream). A
// wrong filter is 422 with the reasons: the page names it and does not
// connect.
func (s *Server) streamInbox(w http.ResponseWriter, r *http.Request, u *store.User) error {
	d, f, err := s.inboxFilter(r, u)
	if err != nil {
		return err
	}
	if len(d.Errors) > 0 {
		http.Error(w, strings.Join(d.Errors, "\n"), http.StatusUnprocessableEntity)
		return nil
	}
	f.AfterDue, f.AfterID = nil, 0 // the stream is the first page's
	return s.liveStream(w, r, "inbox", func(b *bytes.Buffer) error {
		if err := s.inboxLoad(r.Context(), &d, f); err != nil {
			return err
		}
		return s.pages["inbox"].ExecuteTemplate(b, "rows", d)
	})
}
