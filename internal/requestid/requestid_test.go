package requestid

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMiddleware(t *testing.T) {
	var seen string
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = From(r.Context()) }))
	for _, tc := range []struct {
		name, given string
		keep        bool
	}{
		{"none", "", false},
		{"kept", "req-42_a.b", true},
		{"too long", strings.Repeat("a", MaxLen+1), false},
		{"longest", strings.Repeat("a", MaxLen), true},
		{"header injection", "abc\r\nX-Evil: 1", false},
		{"space", "a b", false},
		{"unicode", "ид", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.given != "" {
				r.Header[Header] = []string{tc.given}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get(Header)
			if got != seen {
				t.Fatalf("response id %q, context id %q", got, seen)
			}
			if tc.keep && got != tc.given {
				t.Fatalf("id %q not kept: %q", tc.given, got)
			}
			if !tc.keep && (got == tc.given || len(got) != 16 || !valid(got)) {
				t.Fatalf("id %q for given %q: want a new 16-digit id", got, tc.given)
			}
		})
	}
	r := httptest.NewRequest("GET", "/", nil)
	w1, w2 := httptest.NewRecorder(), httptest.NewRecorder()
	h.ServeHTTP(w1, r)
	h.ServeHTTP(w2, r)
	if w1.Header().Get(Header) == w2.Header().Get(Header) {
		t.Fatal("two requests got the same id")
	}
}
