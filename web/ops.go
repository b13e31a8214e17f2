package web

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/qualdial/qualdial/store"
)

// opsRoutes serves the operator's views: /metrics to admins and to
// scrapers holding the metrics token, and the job queue's UI to admins.
func (s *Server) opsRoutes(mux *http.ServeMux) {
	if s.cfg.Metrics != nil {
		admin := s.role(func(w http.ResponseWriter, r *http.Request, _ *store.User) error {
			s.cfg.Metrics.ServeHTTP(w, r)
			return nil
		}, store.RoleAdmin)
		mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch token, ok := bearer(r); {
			case ok && s.cfg.MetricsToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.MetricsToken)) == 1:
				s.cfg.Metrics.ServeHTTP(w, r)
			case ok:
				// A scraper with a wrong token gets a plain 401, not the
				// login page.
				w.Header().Set("WWW-Authenticate", `Bearer realm="qualdial metrics"`)
				http.Error(w, "wrong or unknown metrics token", http.StatusUnauthorized)
			case s.sessions.GetInt64(r.Context(), sessionUser) == 0 && !strings.Contains(r.Header.Get("Accept"), "text/html"):
				// A scraper without the token: 401, not a login page it
				// would take for the metrics.
				w.Header().Set("WWW-Authenticate", `Bearer realm="qualdial metrics"`)
				http.Error(w, "send the metrics token (Authorization: Bearer …), or sign in as an admin", http.StatusUnauthorized)
			default:
				admin.ServeHTTP(w, r)
			}
		}))
	}
	if s.cfg.QueueUI != nil {
		ui := s.role(func(w http.ResponseWriter, r *http.Request, _ *store.User) error {
			// River UI's own scripts and styles: the same origin only,
			// but its styles set inline.
			w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
				"img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
			s.cfg.QueueUI.ServeHTTP(w, r)
			return nil
		}, store.RoleAdmin)
		mux.Handle("/admin/queue/", ui)
	}
}

// bearer is the request's bearer token, if it sends one.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}
