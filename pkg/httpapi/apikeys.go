package httpapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// handleAPIKeyCreate: POST /v1/api-keys {"role", "carrier_id"?, "name"?} → 201 with the token,
// shown only in this answer.
func (s *server) handleAPIKeyCreate() http.HandlerFunc {
	type request struct {
		Role      string  `json:"role"`
		CarrierID *string `json:"carrier_id"`
		Name      string  `json:"name"`
	}
	type response struct {
		ID        string    `json:"id"`
		Token     string    `json:"token"`
		Role      string    `json:"role"`
		CarrierID *string   `json:"carrier_id"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"created_at"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		carrier := ""
		if req.CarrierID != nil {
			carrier = *req.CarrierID
		}
		k, token, err := s.APIKeys.CreateAPIKey(r.Context(), req.Role, carrier, req.Name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, response{ID: k.ID, Token: token, Role: k.Role, CarrierID: k.CarrierID, Name: k.Name, CreatedAt: k.CreatedAt})
	}
}

// handleAPIKeyList: GET /v1/api-keys → [APIKey] without tokens, revoked keys included.
func (s *server) handleAPIKeyList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := parsePage(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ks, next, err := s.APIKeys.ListAPIKeysPage(r.Context(), pg)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		setNext(w, r, next)
		writeJSON(w, http.StatusOK, nonNil(ks))
	}
}

// handleAPIKeyRevoke: DELETE /v1/api-keys/{id} → 204; the token gets 401 from then on.
func (s *server) handleAPIKeyRevoke() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		if err := s.APIKeys.RevokeAPIKey(r.Context(), id); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.forgetKey(id)
		s.streams.revoke(id)
		w.WriteHeader(http.StatusNoContent)
	}
}
