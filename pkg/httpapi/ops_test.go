package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corridor-dev/corridor/pkg/httpapi"
)

// A process without the API role serves its probes with the same security headers, and tells
// the reason it is not ready to nobody (it has no keys to check a token against; the log has it).
func TestOpsHandler(t *testing.T) {
	h := httpapi.NewOpsHandler(func(context.Context) error { return errors.New("engine: database unreachable at db-7:5432") }, prometheus.NewRegistry())
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer some-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: headers %v", path, rec.Header())
		}
		if path == "/readyz" {
			if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "db-7") {
				t.Errorf("/readyz: %d %s", rec.Code, rec.Body.String())
			}
		}
	}
}
