package api

import (
	"fmt"
	"net/http"
	"path"
	"strings"
)

// problems answers what the mux itself refuses — an unknown path (404), a
// known path with another method (405, with Allow) — as problem+json
// instead of Go's plain text. Requests a route matches pass through.
func (s *server) problems(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux would redirect a path that is not clean (//v1/leads,
		// /v1/leads/1/../1) with an HTML body: an API names the path to use.
		if p := r.URL.Path; p != "" {
			if c := path.Clean(p); c != p && c+"/" != p {
				s.writeError(w, r, &apiError{status: http.StatusNotFound,
					detail: fmt.Sprintf("no endpoint %s: the path is not clean; did you mean %s?", quote(p), quote(c))})
				return
			}
		}
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// The mux's own answer says which: run it into a recorder and keep
		// its status and Allow header.
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusNotFound:
			s.writeError(w, r, &apiError{status: http.StatusNotFound,
				detail: fmt.Sprintf("no endpoint %s: see /v1/openapi.yaml for the API", quote(r.URL.Path))})
		case http.StatusMethodNotAllowed:
			allow := rec.header.Get("Allow")
			w.Header().Set("Allow", allow)
			s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed,
				detail: fmt.Sprintf("%s does not take %s: use %s", quote(r.URL.Path), r.Method, strings.ReplaceAll(allow, ",", " or"))})
		default:
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body)
		}
	})
}

// statusRecorder keeps what a handler wrote.
type statusRecorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *statusRecorder) Header() http.Header { return r.header }

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if len(r.body) < 4<<10 {
		r.body = append(r.body, b...)
	}
	return len(b), nil
}
