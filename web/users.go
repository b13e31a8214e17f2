package web

import (
	"errors"
	"net/http"
	"net/mail"
	"slices"
	"strings"

	"github.com/qualdial/qualdial/store"
)

type usersData struct {
	Users []*store.User
	Roles []string
	// Created is the user just created, with the one-time password shown
	// once.
	Created         *store.User
	CreatedPassword string
	Error           string
	Email, Name     string
	Role            string
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	return s.renderUsers(w, r, u, usersData{Role: store.RoleMarketing}, http.StatusOK)
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, u *store.User, d usersData, status int) error {
	users, err := s.store.Users(r.Context())
	if err != nil {
		return err
	}
	d.Users, d.Roles = users, store.WebRoles
	s.renderStatus(w, r, status, "users", u, d)
	return nil
}

// createUser adds a user and shows their one-time password, once.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !readForm(w, r, 8<<10) {
		return nil
	}
	d := usersData{Email: strings.TrimSpace(r.PostForm.Get("email")), Name: strings.TrimSpace(r.PostForm.Get("name")),
		Role: r.PostForm.Get("role")}
	addr, err := mail.ParseAddress(d.Email)
	switch {
	case err != nil || addr.Address != d.Email || len(d.Email) > 254:
		d.Error = "Give the user's e-mail address, e.g. ann@example.com."
	case len(d.Name) > 128 || strings.ContainsAny(d.Name, "\x00\r\n"):
		d.Error = "The name is one line of at most 128 characters."
	case !slices.Contains(store.WebRoles, d.Role):
		d.Error = "Pick a role: admin, marketing or sales."
	}
	if d.Error != "" {
		return s.renderUsers(w, r, u, d, http.StatusUnprocessableEntity)
	}
	created, password, err := s.store.CreateUser(r.Context(), d.Email, d.Name, d.Role)
	if errors.Is(err, store.ErrConflict) {
		d.Error = "A user with this e-mail exists."
		return s.renderUsers(w, r, u, d, http.StatusConflict)
	}
	if err != nil {
		return err
	}
	s.cfg.Logger.InfoContext(r.Context(), "user created", "user_id", created.ID, "role", created.Role, "by_user_id", u.ID)
	return s.renderUsers(w, r, u, usersData{Created: created, CreatedPassword: password, Role: store.RoleMarketing}, http.StatusCreated)
}
