package httpapi_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// routedOperations walks the router: "METHOD /path/{param}" for every route but the screen's
// file wildcards (/web/*, /basemap/*: files, not API).
func routedOperations(t *testing.T, h http.Handler) map[string]bool {
	t.Helper()
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("NewServer returned %T, not a chi router", h)
	}
	out := map[string]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.ReplaceAll(route, "/*/", "/")
		if strings.HasSuffix(route, "/*") {
			return nil
		}
		out[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenAPICoverage: every route is in api/openapi.yaml and every operation there is routed.
func TestOpenAPICoverage(t *testing.T) {
	e := newEnv(t)
	routed := routedOperations(t, e.handler)
	spec := map[string]bool{}
	for path, item := range e.doc.Paths.Map() {
		for method := range item.Operations() {
			spec[method+" "+path] = true
		}
	}
	var missing, extra []string
	for op := range routed {
		if !spec[op] {
			missing = append(missing, op)
		}
	}
	for op := range spec {
		if !routed[op] {
			extra = append(extra, op)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routed but not in openapi.yaml:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("in openapi.yaml but not routed:\n  %s", strings.Join(extra, "\n  "))
	}
	if len(routed) < 38 {
		t.Errorf("only %d routes walked", len(routed))
	}
}

// TestOpenAPIServed: /openapi.yaml serves the embedded document without a token.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodGet, "/openapi.yaml", roleNone, nil)
	wantStatus(t, r, http.StatusOK)
	if !strings.HasPrefix(string(r.body), "openapi: 3.0.3") {
		t.Fatalf("body %.100s", r.body)
	}
}
