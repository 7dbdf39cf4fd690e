package httpapi

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// TerminalStore holds JT/T 808 terminal registrations.
type TerminalStore interface {
	// ResetTerminal removes the registration of vehicle id's terminal so that it may register
	// again, and reports whether there was one; ENOTFOUND when the vehicle is absent, deleted or
	// outside carrierID's scope.
	ResetTerminal(ctx context.Context, id, carrierID string) (bool, error)
}

// handleTerminalReset: POST /v1/vehicles/{id}/terminal/reset → 204 (admin).
func (s *server) handleTerminalReset() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		p := principal(r)
		removed, err := s.Terminals.ResetTerminal(r.Context(), id, scope(p))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.Log.Info("jt808 terminal registration reset", "vehicle_id", id, "removed", removed, "by", p.Name, "key_id", p.KeyID)
		w.WriteHeader(http.StatusNoContent)
	}
}
