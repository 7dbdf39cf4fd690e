package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// handleCarrierCreate: POST /v1/carriers {"id", "name"} → 201 Carrier.
func (s *server) handleCarrierCreate() http.HandlerFunc {
	type request struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		c, err := s.Carriers.CreateCarrier(r.Context(), tracking.Carrier{ID: req.ID, Name: req.Name})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/carriers/"+c.ID)
		writeJSON(w, http.StatusCreated, c)
	}
}

// handleCarrierList: GET /v1/carriers → [Carrier] (a carrier token sees only its own).
func (s *server) handleCarrierList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := parsePage(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cs, next, err := s.Carriers.ListCarriersPage(r.Context(), scope(principal(r)), pg)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		setNext(w, r, next)
		writeJSON(w, http.StatusOK, nonNil(cs))
	}
}

// handleCarrierGet: GET /v1/carriers/{id} → Carrier.
func (s *server) handleCarrierGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.Carriers.GetCarrier(r.Context(), chi.URLParam(r, "id"), scope(principal(r)))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, c)
	}
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
