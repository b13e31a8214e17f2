package api

import (
	"errors"
	"net/http"

	"github.com/qualdial/qualdial/store"
)

// eraseLead is DELETE /v1/leads/{id}: a data-subject erasure of the
// person the lead is (every lead with its number; see store.EraseLead).
// 204 when erased, also when it was before (nothing changes then); 404
// for no such lead; 409 while one of the person's leads is being called.
func (s *server) eraseLead(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	er, err := s.store.EraseLead(r.Context(), id, keyActor(key))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("lead")
	case errors.Is(err, store.ErrErasureDuringCall):
		w.Header().Set("Retry-After", "60")
		return &apiError{status: http.StatusConflict, detail: "the lead is being called: erase it once the call has ended (calls last a few minutes)"}
	case err != nil:
		return err
	}
	if !er.AlreadyErased {
		s.cfg.Logger.Info("lead erased", "lead_id", id, "leads", len(er.LeadIDs), "api_key_id", key.ID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
