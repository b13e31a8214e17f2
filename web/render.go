package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/qualdial/qualdial/store"
)

// page is what every template gets.
type page struct {
	User  *store.User
	Flash string
	Data  any
	// Path is the request's path, for the navigation.
	Path string
	// QueueUI says the job queue's UI is served (a link for admins).
	QueueUI bool
}

var funcs = template.FuncMap{
	"abandonPercent": func(a store.Abandonment) float64 { return 100 * a.Rate() },
	"pct":            func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	// bar is n of of as a width on a 160-pixel funnel bar.
	"bar": func(n, of int) string {
		if of == 0 {
			return "0"
		}
		return fmt.Sprintf("%.1f", float64(n)*160/float64(of))
	},
	"actions":  func() []string { return store.CampaignActions },
	"fullname": func(first, last string) string { return strings.TrimSpace(first + " " + last) },
	"dur":      dur,
	// barf is a share (0–1) of a bar width px wide.
	"barf":  func(share float64, px int) string { return fmt.Sprintf("%.1f", share*float64(px)) },
	"can":   store.CanAct,
	"title": func(s string) string { return strings.ToUpper(s[:1]) + s[1:] },
	"has":   func(u *store.User, roles ...string) bool { return u != nil && slices.Contains(roles, u.Role) },
	// dict makes a map of key, value pairs, to hand a sub-template more
	// than one value.
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			m[k] = kv[i+1]
		}
		return m
	},
	"weekdays":  func() any { return weekdays },
	"hasPrefix": strings.HasPrefix,
}

// The dashboards' functions join the others once, before any server
// parses its pages: servers may start at once (the tests start many).
func init() { maps.Copy(funcs, dashboardFuncs) }

// parsePages parses every templates/NAME.html but the layout as the page
// NAME, each with the layout and the shared parts (templates/_*.html).
func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render writes a page; a template's error is a 500, never half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, u *store.User, data any) {
	s.renderStatus(w, r, http.StatusOK, name, u, data)
}

// renderStatus writes a page with a status other than 200.
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, name string, u *store.User, data any) {
	p := page{User: u, Data: data, Path: r.URL.Path, Flash: s.sessions.PopString(r.Context(), sessionFlash), QueueUI: s.cfg.QueueUI != nil}
	s.renderBlock(w, r, status, name, "layout.html", p)
}

// renderBlock writes one named template of a page (an htmx fragment) with v.
func (s *Server) renderBlock(w http.ResponseWriter, r *http.Request, status int, name, block string, v any) {
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, block, v); err != nil {
		s.fail(w, r, fmt.Errorf("render %s/%s: %w", name, block, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = b.WriteTo(w)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
