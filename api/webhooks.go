package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/queue"
	"github.com/qualdial/qualdial/store"
)

// createWebhook subscribes a CRM's URL to lead events. The signing secret
// is in the answer, once.
func (s *server) createWebhook(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	var body struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if err := s.readJSON(w, r, &body); err != nil {
		return err
	}
	var errs intake.Errors
	policy := queue.WebhookPolicy{AllowHTTP: s.cfg.WebhookAllowHTTP, AllowNets: s.cfg.WebhookAllowNets}
	if u, err := policy.CheckURL(body.URL); err != nil {
		// The reason never repeats the URL, which may hold credentials.
		errs = append(errs, intake.FieldError{Field: "url", Message: err.Error()})
	} else if msg := resolvesInside(r.Context(), policy, u.Hostname()); msg != "" {
		errs = append(errs, intake.FieldError{Field: "url", Message: msg})
	}
	switch {
	case body.Events == nil:
		body.Events = store.WebhookEvents // left out: all of them
	case len(body.Events) == 0:
		errs = append(errs, intake.FieldError{Field: "events", Message: fmt.Sprintf("name at least one of %v, or leave events out for all", store.WebhookEvents)})
	}
	for _, e := range body.Events {
		if !slices.Contains(store.WebhookEvents, e) {
			errs = append(errs, intake.FieldError{Field: "events", Message: fmt.Sprintf("%q: use %v", e, store.WebhookEvents)})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	sub, err := s.store.CreateSubscription(r.Context(), body.URL, body.Events)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sub)
	return nil
}

func (s *server) listWebhooks(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	subs, err := s.store.Subscriptions(r.Context())
	if err != nil {
		return err
	}
	if subs == nil {
		subs = []store.Subscription{}
	}
	for i := range subs {
		subs[i].URL = withoutCredentials(subs[i].URL)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": subs})
	return nil
}

func (s *server) deleteWebhook(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteSubscription(r.Context(), id); errors.Is(err, store.ErrNotFound) {
		return notFound("webhook")
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// withoutCredentials removes user:password@ from a URL stored before the
// API refused them, so they are never listed.
func withoutCredentials(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a valid URL)"
	}
	if u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// resolvesInside looks a webhook's host name up now and says why an address
// it resolves to may not be reached ("" when none): a name that points inside
// is refused at once rather than failing every delivery. A name that does not
// resolve now is accepted; every delivery checks the addresses again.
func resolvesInside(ctx context.Context, policy queue.WebhookPolicy, host string) string {
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return "" // an address: CheckURL checked it
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if err := policy.CheckAddr(a.Unmap()); err != nil {
			return fmt.Sprintf("%s resolves to an address webhooks may not reach: %v", host, err)
		}
	}
	return ""
}
