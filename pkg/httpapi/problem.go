package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Problem is an RFC 9457 problem details object. Errors lists the bad fields of a request
// (index is the item of a telemetry batch).
type Problem struct {
	Type   string                `json:"type"`
	Title  string                `json:"title"`
	Status int                   `json:"status"`
	Detail string                `json:"detail,omitempty"`
	Errors []tracking.FieldError `json:"errors,omitempty"`
}

// Problem type URIs: URNs, one per kind of failure, listed in api/openapi.yaml.
const (
	problemInvalid          = "urn:corridor:problem:invalid"
	problemNotFound         = "urn:corridor:problem:not-found"
	problemConflict         = "urn:corridor:problem:conflict"
	problemForbidden        = "urn:corridor:problem:forbidden"
	problemUnauthorized     = "urn:corridor:problem:unauthorized"
	problemInternal         = "urn:corridor:problem:internal"
	problemTooLarge         = "urn:corridor:problem:too-large"
	problemMethodNotAllowed = "urn:corridor:problem:method-not-allowed"
	problemUnsupportedMedia = "urn:corridor:problem:unsupported-media-type"
	problemUnavailable      = "urn:corridor:problem:unavailable"
	problemRateLimited      = "urn:corridor:problem:rate-limited"
)

// errorStatus maps a tracking error code to its HTTP status and problem type: the one place
// where domain errors become HTTP errors.
func errorStatus(code string) (int, string) {
	switch code {
	case tracking.EINVALID:
		return http.StatusBadRequest, problemInvalid
	case tracking.ENOTFOUND:
		return http.StatusNotFound, problemNotFound
	case tracking.ECONFLICT:
		return http.StatusConflict, problemConflict
	case tracking.EFORBIDDEN:
		return http.StatusForbidden, problemForbidden
	case tracking.EUNAUTH:
		return http.StatusUnauthorized, problemUnauthorized
	case tracking.EUNAVAILABLE:
		return http.StatusServiceUnavailable, problemUnavailable
	case tracking.ETOOLARGE:
		return http.StatusRequestEntityTooLarge, problemTooLarge
	}
	return http.StatusInternalServerError, problemInternal
}

// writeError answers with the problem for err. Errors that are not *tracking.Error are logged and
// answered as 500 without their text.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := tracking.ErrorCode(err)
	var ne net.Error
	if code == tracking.EINTERNAL && (errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)) {
		code = tracking.EUNAVAILABLE // a dependency that does not answer is not an internal error
	}
	status, typ := errorStatus(code)
	p := Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: tracking.ErrorMessage(err)}
	if status == http.StatusServiceUnavailable && p.Detail == "internal error" {
		p.Detail = "a dependency is unavailable; retry later"
	}
	var te *tracking.Error
	if errors.As(err, &te) {
		p.Errors = te.Fields
	}
	switch status {
	case http.StatusInternalServerError:
		s.Log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case http.StatusServiceUnavailable:
		s.Log.WarnContext(r.Context(), "dependency unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="corridor"`)
	}
	writeProblem(w, p)
}

// writeProblem writes p as application/problem+json.
func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// problem writes a problem with the given status, type and detail.
func problem(w http.ResponseWriter, status int, typ, detail string) {
	writeProblem(w, Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail})
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	problem(w, http.StatusNotFound, problemNotFound, "no such path: "+r.URL.Path)
}

// methodNotAllowed answers 405 with an Allow header listing the methods the path has.
func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range methodsToProbe {
		if s.router.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allowed = append(allowed, m)
		}
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	problem(w, http.StatusMethodNotAllowed, problemMethodNotAllowed,
		r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allowed, ", "))
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONType(w, status, "application/json", v)
}

// writeGeoJSON answers with v as GeoJSON.
func writeGeoJSON(w http.ResponseWriter, status int, v any) {
	writeJSONType(w, status, "application/geo+json", v)
}

func writeJSONType(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
