package httpapi_test

import (
	"net/http"
	"testing"
)

// TestMe: GET /v1/me names the caller's role, carrier and name, as the screen needs them.
func TestMe(t *testing.T) {
	e := newEnv(t)
	type meAnswer struct {
		Role      string  `json:"role"`
		CarrierID *string `json:"carrier_id"`
		Name      string  `json:"name"`
	}
	for _, c := range []struct {
		role, wantRole, wantCarrier, wantName string
	}{
		{roleAdmin, "admin", "", "admin"},
		{roleSafety, "safety", "", ""},
		{roleCarrier, "carrier", "acme", ""},
	} {
		r := e.do(http.MethodGet, "/v1/me", c.role, nil)
		wantStatus(t, r, http.StatusOK)
		var m meAnswer
		r.decode(t, &m)
		carrier := ""
		if m.CarrierID != nil {
			carrier = *m.CarrierID
		}
		if m.Role != c.wantRole || carrier != c.wantCarrier || m.Name == "" || c.wantName != "" && m.Name != c.wantName {
			t.Errorf("%s: %+v (carrier %q)", c.role, m, carrier)
		}
	}
	wantStatus(t, e.do(http.MethodGet, "/v1/me", roleNone, nil), http.StatusUnauthorized)
}
