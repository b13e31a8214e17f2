package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// The admin screens for API keys and webhook subscriptions. Keys are made,
// listed and revoked with the store functions of "qualdial apikey" and the
// API (the API cannot make keys: the pages make them as the CLI does).
// Subscriptions are checked with the API's rules
// (queue.WebhookPolicy.CheckSubscriptionURL) and made with the API's store
// function, so a CRM gets the same signing secret either way, shown once.
// A subscription's delivery log lists what was sent to it, newest first.
//
// There is no "send a test event" button: a delivery is a lead event's,
// and the store has no cheap way to make one without a lead.
const (
	maxKeyName      = 128                // characters of a key's name
	deliveryLogPage = 50                 // deliveries per page of a log
	listTime        = "2006-01-02 15:04" // how a notice writes a time (UTC)
)

// adminRoutes serves the API keys and webhooks screens, to admins only.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.Handle("GET /apikeys", s.role(s.apiKeysPage, store.RoleAdmin))
	mux.Handle("POST /apikeys", s.role(s.createAPIKey, store.RoleAdmin))
	mux.Handle("POST /apikeys/{id}/revoke", s.role(s.revokeAPIKey, store.RoleAdmin))
	mux.Handle("GET /webhooks", s.role(s.webhooksPage, store.RoleAdmin))
	mux.Handle("POST /webhooks", s.role(s.createWebhook, store.RoleAdmin))
	mux.Handle("GET /webhooks/{id}", s.role(s.deliveryLogPage, store.RoleAdmin))
	mux.Handle("POST /webhooks/{id}/delete", s.role(s.deleteWebhook, store.RoleAdmin))
}

// keyRoles are the roles a key may have: the web roles and intake (the key
// a web form holds).
var keyRoles = []string{store.RoleAdmin, store.RoleMarketing, store.RoleSales, store.RoleIntake}

// apiKeysData is the API keys page.
type apiKeysData struct {
	Keys  []store.APIKeyInfo
	Roles []string

	// The form as sent, and what is wrong with its fields.
	Name, Role           string
	Signed               bool
	NameError, RoleError string

	// Created is the key just made; Token (and SigningSecret, for a signed
	// key) are shown on this answer only.
	Created              *store.APIKey
	Token, SigningSecret string

	// Notice is what a revocation did.
	Notice string
}

func (s *Server) apiKeysPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	return s.renderAPIKeys(w, r, u, apiKeysData{Role: store.RoleIntake}, http.StatusOK)
}

// renderAPIKeys shows the page with every key, or the list alone for htmx.
func (s *Server) renderAPIKeys(w http.ResponseWriter, r *http.Request, u *store.User, d apiKeysData, status int) error {
	keys, err := s.store.ListAPIKeys(r.Context())
	if err != nil {
		return err
	}
	d.Keys, d.Roles = keys, keyRoles
	s.renderPageOrBlock(w, r, u, status, "apikeys", "keys", d)
	return nil
}

// renderPageOrBlock writes the page name with d, or for htmx only its
// block (the part of the page a button replaces).
func (s *Server) renderPageOrBlock(w http.ResponseWriter, r *http.Request, u *store.User, status int, name, block string, d any) {
	if r.Header.Get("HX-Request") == "true" {
		s.renderBlock(w, r, status, name, block, d)
		return
	}
	s.renderStatus(w, r, status, name, u, d)
}

// createAPIKey makes a key (and its signing secret when asked) and shows
// it, once.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !readSmallForm(w, r) {
		return nil
	}
	d := apiKeysData{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: r.PostForm.Get("role"), Signed: r.PostForm.Get("signed") == "on"}
	if d.Name == "" {
		d.NameError = "Name the key after who or what holds it, e.g. a rep or the form it is for."
	} else if msg := intake.CheckText(d.Name, maxKeyName, false); msg != "" {
		d.NameError = "The name " + msg + "."
	}
	if !slices.Contains(keyRoles, d.Role) {
		d.RoleError, d.Role = "Pick a role: admin, marketing, sales or intake.", store.RoleIntake
	}
	if d.NameError != "" || d.RoleError != "" {
		return s.renderAPIKeys(w, r, u, d, http.StatusUnprocessableEntity)
	}
	token, key, err := s.store.CreateAPIKey(r.Context(), d.Role, d.Name)
	if err != nil {
		return err
	}
	created := apiKeysData{Created: key, Token: token, Role: store.RoleIntake}
	if d.Signed {
		if created.SigningSecret, err = s.store.RequireSignature(r.Context(), key.ID); err != nil {
			return fmt.Errorf("require signed requests with key %d: %w", key.ID, err)
		}
	}
	s.cfg.Logger.InfoContext(r.Context(), "API key created", "key_id", key.ID, "prefix", key.Prefix, "role", key.Role, "signed", d.Signed, "by_user_id", u.ID)
	return s.renderAPIKeys(w, r, u, created, http.StatusCreated)
}

// revokeAPIKey revokes a key, at once for this process's API (KeyRevoked)
// and within seconds for other processes'. Revoking a revoked key changes
// nothing.
func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request, u *store.User) error {
	id, ok := pathID(r)
	if !ok {
		s.notFound(w, r)
		return nil
	}
	// Microseconds, as stored: the time tells whether this request revoked it.
	at := s.store.Now().UTC().Truncate(time.Microsecond)
	k, err := s.store.RevokeAPIKey(r.Context(), id, at)
	if errors.Is(err, store.ErrNotFound) {
		s.notFound(w, r)
		return nil
	}
	if err != nil {
		return err
	}
	if s.cfg.KeyRevoked != nil {
		s.cfg.KeyRevoked(k.ID)
	}
	var d apiKeysData
	if k.RevokedAt.Equal(at) {
		d.Notice = fmt.Sprintf("The %s key %s (%s) is revoked: the API refuses it from now on (other servers within seconds).", k.Role, k.Name, k.Prefix)
		s.cfg.Logger.InfoContext(r.Context(), "API key revoked", "key_id", k.ID, "prefix", k.Prefix, "by_user_id", u.ID)
	} else {
		d.Notice = fmt.Sprintf("The %s key %s (%s) was already revoked on %s UTC.", k.Role, k.Name, k.Prefix, k.RevokedAt.UTC().Format(listTime))
	}
	if r.Header.Get("HX-Request") != "true" {
		s.flash(r, "%s", d.Notice)
		http.Redirect(w, r, "/apikeys", http.StatusSeeOther)
		return nil
	}
	return s.renderAPIKeys(w, r, u, d, http.StatusOK)
}

// pathID reads the {id} of a path: a positive number.
func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// eventChoice is one event's checkbox.
type eventChoice struct {
	Event   string
	Checked bool
}

// webhooksData is the webhooks page.
type webhooksData struct {
	// Subscriptions, their URLs without credentials.
	Subscriptions []store.Subscription

	// The form as sent, and what is wrong with its fields.
	URL                   string
	Events                []eventChoice
	URLError, EventsError string

	// Created is the subscription just made, with its signing secret,
	// shown on this answer only.
	Created *store.Subscription

	// What a deletion did.
	Notice, DeleteError string
}

// eventChoices are the events' checkboxes, those of chosen checked.
func eventChoices(chosen []string) []eventChoice {
	out := make([]eventChoice, len(store.WebhookEvents))
	for i, e := range store.WebhookEvents {
		out[i] = eventChoice{Event: e, Checked: slices.Contains(chosen, e)}
	}
	return out
}

func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	return s.renderWebhooks(w, r, u, webhooksData{Events: eventChoices(store.WebhookEvents)}, http.StatusOK)
}

// renderWebhooks shows the page with every subscription, or the list alone
// for htmx.
func (s *Server) renderWebhooks(w http.ResponseWriter, r *http.Request, u *store.User, d webhooksData, status int) error {
	subs, err := s.store.Subscriptions(r.Context())
	if err != nil {
		return err
	}
	for i := range subs {
		subs[i].URL = queue.WithoutCredentials(subs[i].URL)
	}
	d.Subscriptions = subs
	s.renderPageOrBlock(w, r, u, status, "webhooks", "subscriptions", d)
	return nil
}

// createWebhook subscribes a URL to events, checked as the API checks
// them, and shows the signing secret once.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, u *store.User) error {
	if !readSmallForm(w, r) {
		return nil
	}
	d := webhooksData{URL: strings.TrimSpace(r.PostForm.Get("url"))}
	var events []string
	for _, e := range r.PostForm["events"] {
		if !slices.Contains(store.WebhookEvents, e) {
			d.EventsError = fmt.Sprintf("%q is not an event: pick among %s.", e, strings.Join(store.WebhookEvents, ", "))
			continue
		}
		if !slices.Contains(events, e) {
			events = append(events, e)
		}
	}
	if len(events) == 0 && d.EventsError == "" {
		d.EventsError = "Pick at least one event to send."
	}
	d.Events = eventChoices(events)
	policy := queue.WebhookPolicy{AllowHTTP: s.cfg.WebhookAllowHTTP, AllowNets: s.cfg.WebhookAllowNets}
	if d.URL == "" {
		d.URLError = "Give the URL the CRM receives events at, e.g. https://crm.example/hooks."
	} else if err := policy.CheckSubscriptionURL(r.Context(), d.URL); err != nil {
		// The reason never repeats the URL, which may hold credentials.
		d.URLError = "This URL cannot receive webhooks: " + err.Error() + "."
	}
	if d.URLError != "" || d.EventsError != "" {
		return s.renderWebhooks(w, r, u, d, http.StatusUnprocessableEntity)
	}
	sub, err := s.store.CreateSubscription(r.Context(), d.URL, events)
	if err != nil {
		return err
	}
	s.cfg.Logger.InfoContext(r.Context(), "webhook subscribed", "webhook_id", sub.ID, "events", events, "by_user_id", u.ID)
	return s.renderWebhooks(w, r, u, webhooksData{Created: sub, Events: eventChoices(store.WebhookEvents)}, http.StatusCreated)
}

// deleteWebhook removes a subscription with its deliveries.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, u *store.User) error {
	id, ok := pathID(r)
	if !ok {
		s.notFound(w, r)
		return nil
	}
	d := webhooksData{Events: eventChoices(store.WebhookEvents)}
	status := http.StatusOK
	err := s.store.DeleteSubscription(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		d.DeleteError, status = fmt.Sprintf("Webhook %d does not exist (deleted meanwhile?).", id), http.StatusConflict
	case err != nil:
		return fmt.Errorf("delete webhook %d: %w", id, err)
	default:
		d.Notice = fmt.Sprintf("Webhook %d is deleted, with its delivery log: nothing more is sent to it.", id)
		s.cfg.Logger.InfoContext(r.Context(), "webhook deleted", "webhook_id", id, "by_user_id", u.ID)
	}
	if r.Header.Get("HX-Request") != "true" {
		s.flash(r, "%s", d.Notice+d.DeleteError)
		http.Redirect(w, r, "/webhooks", http.StatusSeeOther)
		return nil
	}
	return s.renderWebhooks(w, r, u, d, status)
}

// deliveryLogData is a subscription's delivery log page.
type deliveryLogData struct {
	Subscription *store.Subscription
	Deliveries   []store.DeliveryLogEntry
	// Before is this page's cursor (0: the newest); Next the next's, 0
	// when this is the last.
	Before, Next int64
}

// deliveryLogPage lists a subscription's deliveries, newest first, a page
// at a time (?before=ID: those older than delivery ID).
func (s *Server) deliveryLogPage(w http.ResponseWriter, r *http.Request, u *store.User) error {
	id, ok := pathID(r)
	if !ok {
		s.notFound(w, r)
		return nil
	}
	d := deliveryLogData{}
	if b := r.URL.Query().Get("before"); b != "" {
		var err error
		if d.Before, err = strconv.ParseInt(b, 10, 64); err != nil || d.Before <= 0 {
			http.Error(w, "not a page of the log: go back to /webhooks/"+strconv.FormatInt(id, 10), http.StatusBadRequest)
			return nil
		}
	}
	sub, err := s.store.Subscription(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.notFound(w, r)
		return nil
	}
	if err != nil {
		return err
	}
	sub.URL = queue.WithoutCredentials(sub.URL)
	d.Subscription = sub
	if d.Deliveries, err = s.store.DeliveryLog(r.Context(), id, d.Before, deliveryLogPage); err != nil {
		return err
	}
	if len(d.Deliveries) == deliveryLogPage {
		d.Next = d.Deliveries[len(d.Deliveries)-1].ID
	}
	s.render(w, r, "webhook", u, d)
	return nil
}
