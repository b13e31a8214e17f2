package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// Problem is an RFC 9457 error body.
type Problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Errors []intake.FieldError `json:"errors,omitempty"`
}

// apiError carries a status chosen by a handler.
type apiError struct {
	status int
	detail string
	fields []intake.FieldError
}

func (e *apiError) Error() string { return e.detail }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, detail: fmt.Sprintf(format, args...)}
}

func invalid(fields ...intake.FieldError) error {
	return &apiError{status: http.StatusUnprocessableEntity, detail: "the request has invalid fields", fields: fields}
}

func notFound(what string) error {
	return &apiError{status: http.StatusNotFound, detail: what + " not found"}
}

// handlerFunc is an endpoint that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request, key *store.APIKey) error

// writeError maps an error to a problem+json response, once, here. Details of
// unexpected errors (SQL, internals) are logged, never sent.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := Problem{Type: "about:blank"}
	var ae *apiError
	var fe intake.Errors
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		p.Status, p.Detail, p.Errors = ae.status, ae.detail, ae.fields
	case errors.As(err, &fe):
		p.Status, p.Detail, p.Errors = http.StatusUnprocessableEntity, "the request has invalid fields", fe
	case errors.Is(err, store.ErrNotFound):
		p.Status, p.Detail = http.StatusNotFound, "not found"
	case errors.Is(err, store.ErrConflict):
		p.Status, p.Detail = http.StatusConflict, err.Error()
	case errors.As(err, &mbe):
		p.Status, p.Detail = http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", mbe.Limit)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		p.Status, p.Detail = 499, "the client went away"
	case databaseUnavailable(err):
		s.cfg.Logger.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "error", err)
		secs := int(s.cfg.RetryAfter.Round(time.Second) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		p.Status, p.Detail = http.StatusServiceUnavailable, fmt.Sprintf("the database is unavailable or busy; retry in %d s", max(secs, 1))
	default:
		s.cfg.Logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		p.Status, p.Detail = http.StatusInternalServerError, "internal error; it has been logged"
	}
	p.Title = http.StatusText(p.Status)
	if p.Title == "" {
		p.Title = "Client Closed Request"
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="qualdial"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// databaseUnavailable reports an error that says the database cannot answer
// now — down, unreachable, hung past the request's deadline, locked, out of
// connections, shutting down — as opposed to a bug: the client should retry.
func databaseUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"),          // insufficient resources (too many connections…)
			strings.HasPrefix(pgErr.Code, "57"),          // query canceled, admin shutdown, cannot connect now
			pgErr.Code == "55P03",                        // lock not available (lock_timeout)
			pgErr.Code == "40001", pgErr.Code == "40P01": // serialization failure, deadlock
			return true
		}
		return false
	}
	// A file error (a spool directory that cannot be written) is not the
	// database's, although its errno looks like a net.Error.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return false
	}
	var ce *pgconn.ConnectError
	var ne *net.OpError
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// withDBDeadline bounds a request's database work: DBTimeout, or
// StreamTimeout for the endpoints that stream (imports, CSV exports).
func (s *server) withDBDeadline(r *http.Request) (*http.Request, context.CancelFunc) {
	d := s.cfg.DBTimeout
	if strings.HasSuffix(r.URL.Path, ".csv") || (r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/imports")) {
		d = s.cfg.StreamTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return r.WithContext(ctx), cancel
}

// auth checks the API key and its role, then runs the handler, with the
// request's database deadline.
func (s *server) auth(h handlerFunc, roles []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, cancel := s.withDBDeadline(r)
		defer cancel()
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			token = r.Header.Get("X-API-Key")
		}
		if token == "" {
			s.writeError(w, r, &apiError{status: http.StatusUnauthorized, detail: "send an API key: Authorization: Bearer <key>"})
			return
		}
		key, err := s.keys.authenticate(r.Context(), s.store, strings.TrimSpace(token))
		if errors.Is(err, store.ErrBadKey) {
			s.writeError(w, r, &apiError{status: http.StatusUnauthorized, detail: "the API key is not valid or was revoked"})
			return
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		allowed := false
		for _, role := range roles {
			allowed = allowed || key.Role == role
		}
		if !allowed {
			s.writeError(w, r, &apiError{status: http.StatusForbidden,
				detail: fmt.Sprintf("role %s may not use this endpoint (allowed: %s)", key.Role, strings.Join(roles, ", "))})
			return
		}
		if key.HMACSecret != "" {
			if err := s.verifySignature(w, r, key.HMACSecret); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if err := h(w, r, key); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// recoverer turns a panic into a 500 problem without leaking it.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// signatureWindow is how old a signed request may be (replays after it fail).
const signatureWindow = 5 * time.Minute

// verifySignature checks a signed request: X-Qualdial-Timestamp (Unix
// seconds) within five minutes, and X-Qualdial-Signature, the same scheme
// qualdial signs its webhooks with:
//
//	v2=hex(HMAC-SHA256(secret, queue.CanonicalRequest(timestamp, method, path, query, body)))
//
// which covers the method, the path, the (canonical) query, the timestamp
// and the body. The older v1=hex(HMAC-SHA256(secret, timestamp + "." +
// body)) covers only the timestamp and body, so it is accepted only where
// nothing else can change what the request does: POST /v1/leads without a
// query string. The body is read and put back for the handler.
func (s *server) verifySignature(w http.ResponseWriter, r *http.Request, secret string) error {
	unauthorized := func(msg string) error { return &apiError{status: http.StatusUnauthorized, detail: msg} }
	ts := r.Header.Get("X-Qualdial-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return unauthorized("this key requires signed requests: send X-Qualdial-Timestamp and X-Qualdial-Signature")
	}
	if d := time.Since(time.Unix(sec, 0)); d > signatureWindow || d < -signatureWindow {
		return unauthorized("X-Qualdial-Timestamp is more than 5 minutes off")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	got := r.Header.Get("X-Qualdial-Signature")
	var want string
	switch {
	case strings.HasPrefix(got, "v2="):
		if want, err = queue.SignV2(secret, ts, r.Method, r.URL.EscapedPath(), r.URL.RawQuery, body); err != nil {
			return badRequest("the query string is not valid: %v", err)
		}
	case strings.HasPrefix(got, "v1="):
		if r.URL.RawQuery != "" || r.Method != http.MethodPost || r.URL.Path != "/v1/leads" {
			return unauthorized("v1 signatures cover only the timestamp and body, so they are accepted only for POST /v1/leads without a query string: sign with v2")
		}
		want = queue.Sign(secret, ts, body)
	default:
		return unauthorized("X-Qualdial-Signature must be v2=<hex HMAC-SHA256> (see the README, Signed intake)")
	}
	if !hmac.Equal([]byte(want), []byte(got)) {
		return unauthorized("X-Qualdial-Signature does not match the request (v2 signs the timestamp, method, path, query and body)")
	}
	return nil
}
