package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/corridor-dev/corridor/api"
)

// handleHealthz answers 200 while the process runs.
func (s *server) handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// handleReadyz answers 200 when Ready returns nil within 5 s, else 503. The reason is shown only
// to a caller with a valid bearer token (it names internal hosts and states); others get the
// status alone (the log has the reason).
func (s *server) handleReadyz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		err := s.Ready(ctx)
		// The reason is shown only to an authenticated caller.
		authed := false
		if tok := bearerToken(r, false); tok != "" {
			if _, aerr := s.resolve(ctx, tok); aerr == nil {
				authed = true
			}
		}
		var deg *degraded
		if errors.As(err, &deg) {
			if !authed {
				writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "detail": deg.detail})
			return
		}
		if err != nil {
			detail := "not ready"
			if authed {
				detail = "not ready: " + err.Error()
			}
			if s.Log != nil {
				s.Log.WarnContext(ctx, "not ready", "err", err)
			}
			w.Header().Set("Retry-After", "1")
			problem(w, http.StatusServiceUnavailable, problemUnavailable, detail)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// degraded is a readiness answer that is still ready, with what is down (see Degraded).
type degraded struct{ detail []string }

func (d *degraded) Error() string { return "degraded: " + strings.Join(d.detail, "; ") }

// Degraded is what a Ready function returns when the process is ready for its roles but some
// optional part is down (e.g. the JT/T 809 uplink): /readyz answers 200 with the detail listed.
func Degraded(detail ...string) error { return &degraded{detail: detail} }

// handleMetrics serves the Prometheus metrics of Gatherer.
func (s *server) handleMetrics() http.HandlerFunc {
	h := promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{})
	return h.ServeHTTP
}

// handleOpenAPI serves api/openapi.yaml.
func (s *server) handleOpenAPI() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(api.Spec)
	}
}

// NewOpsHandler serves only /healthz, /readyz and /metrics, for a process that runs no API role
// (an engine or gateway process still needs probes and metrics). Other paths are 404.
func NewOpsHandler(ready func(ctx context.Context) error, g prometheus.Gatherer) http.Handler {
	if ready == nil {
		ready = func(context.Context) error { return nil }
	}
	s := &server{Deps: Deps{Ready: ready, Gatherer: g, Log: slog.New(slog.DiscardHandler)}, cache: newCaches(-1)}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", s.handleHealthz())
	mux.Handle("GET /readyz", s.handleReadyz())
	mux.Handle("GET /metrics", s.handleMetrics())
	return s.securityHeaders(mux)
}
