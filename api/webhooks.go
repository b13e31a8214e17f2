package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

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
	if err := policy.CheckSubscriptionURL(r.Context(), body.URL); err != nil {
		// The reason never repeats the URL, which may hold credentials.
		errs = append(errs, intake.FieldError{Field: "url", Message: err.Error()})
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
		subs[i].URL = queue.WithoutCredentials(subs[i].URL)
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
