package web

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/qualdial/qualdial/store"
)

type loginData struct {
	Next, Email, Error string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if !safeNext(next) {
		next = "/"
	}
	if id := s.sessions.GetInt64(r.Context(), sessionUser); id != 0 {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, r, "login", nil, loginData{Next: next})
}

// maxCredential bounds what a login form may send.
const maxCredential = 256

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r, 8<<10) {
		return
	}
	email, password, next := strings.TrimSpace(r.PostForm.Get("email")), r.PostForm.Get("password"), r.PostForm.Get("next")
	if !safeNext(next) {
		next = "/"
	}
	data := loginData{Next: next, Email: email}
	if email == "" || password == "" || len(email) > maxCredential || len(password) > maxCredential || !utf8.ValidString(email) {
		data.Error = "Give your e-mail and password."
		s.renderStatus(w, r, http.StatusUnprocessableEntity, "login", nil, data)
		return
	}
	u, err := s.store.Login(r.Context(), email, password)
	if errors.Is(err, store.ErrBadLogin) {
		s.cfg.Logger.WarnContext(r.Context(), "web login refused", "remote", r.RemoteAddr)
		data.Error = "Wrong e-mail or password."
		s.renderStatus(w, r, http.StatusUnauthorized, "login", nil, data)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A new token at login: a session id planted before cannot be used.
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.sessions.Put(r.Context(), sessionUser, u.ID)
	if u.MustChangePassword {
		next = "/password"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type passwordData struct{ Error string }

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	s.render(w, r, "password", u, passwordData{})
	return nil
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !readForm(w, r, 8<<10) {
		return nil
	}
	current, next, again := r.PostForm.Get("current"), r.PostForm.Get("next"), r.PostForm.Get("again")
	refuse := func(msg string) error {
		s.renderStatus(w, r, http.StatusUnprocessableEntity, "password", u, passwordData{Error: msg})
		return nil
	}
	switch {
	case utf8.RuneCountInString(next) < store.MinPasswordLen:
		return refuse("The new password needs at least 12 characters.")
	case len(next) > maxCredential:
		return refuse("The new password is too long (at most 256 bytes).")
	case next != again:
		return refuse("The two new passwords differ.")
	case next == current:
		return refuse("Choose a password other than the one you were given.")
	}
	err := s.store.SetPassword(r.Context(), u.ID, current, next)
	if errors.Is(err, store.ErrBadLogin) {
		return refuse("The current password is wrong.")
	}
	if err != nil {
		return err
	}
	// Other sessions of this user keep working; this one gets a new token.
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		return err
	}
	s.flash(r, "Your password is saved.")
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
