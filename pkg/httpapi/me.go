package httpapi

import "net/http"

// me is the answer of GET /v1/me: who the token is, so that a client (the monitoring screen)
// offers only what the role may do.
type me struct {
	Role      string  `json:"role"`
	CarrierID *string `json:"carrier_id"`
	Name      string  `json:"name"`
}

// handleMe: GET /v1/me → {"role", "carrier_id", "name"} of the caller's token (any role).
func (s *server) handleMe() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		m := me{Role: p.Role, Name: who(p)}
		if p.CarrierID != "" {
			c := p.CarrierID
			m.CarrierID = &c
		}
		writeJSON(w, http.StatusOK, m)
	}
}
