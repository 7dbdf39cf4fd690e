package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twpayne/go-geom"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// matrixCase is one route and who may call it: want maps a role to the expected status.
type matrixCase struct {
	method, pattern string
	// prepare returns the concrete path and body for one call (fresh resources where the call
	// changes them).
	prepare func(e *env, role string) (path string, body any)
	want    map[string]int
}

// expect builds a want map: every role gets def except those listed as role, status pairs.
func expect(def int, pairs ...any) map[string]int {
	m := map[string]int{}
	for _, r := range roles {
		m[r] = def
	}
	m[roleNone] = http.StatusUnauthorized
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i].(string)] = pairs[i+1].(int)
	}
	return m
}

var seq atomic.Int64

func next() int64 { return seq.Add(1) }

func fixed(path string, body any) func(*env, string) (string, any) {
	return func(*env, string) (string, any) { return path, body }
}

func corridorBody() map[string]any {
	return map[string]any{"type": "Feature",
		"geometry":   map[string]any{"type": "LineString", "coordinates": [][]float64{{107.0, 29.8}, {107.2, 29.9}}},
		"properties": map[string]any{"name": "S103", "buffer_m": 150}}
}

func zoneBody() map[string]any {
	return map[string]any{"type": "Feature",
		"geometry":   map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{107, 29}, {107.1, 29}, {107.1, 29.1}, {107, 29}}}},
		"properties": map[string]any{"name": "depot", "kind": "parking"}}
}

func (e *env) freshVehicle() string {
	id := fmt.Sprintf("v%d", next())
	must[tracking.Vehicle](e.t)(e.db.CreateVehicle(context.Background(), tracking.Vehicle{ID: id, CarrierID: "acme", Plate: "P"}))
	return id
}

func (e *env) freshTrip() string {
	// A trip in the future, each in its own window.
	start := e.now.Add(time.Duration(1000+next()) * time.Hour)
	return must[tracking.Trip](e.t)(e.db.CreateTrip(context.Background(), tracking.Trip{VehicleID: "a1", CorridorID: e.corridorID,
		StartsAt: start, EndsAt: start.Add(30 * time.Minute)}, "")).ID
}

func matrix() []matrixCase {
	const (
		ok = http.StatusOK
		cr = http.StatusCreated
		nc = http.StatusNoContent
		ac = http.StatusAccepted
		fb = http.StatusForbidden
		nf = http.StatusNotFound
		br = http.StatusBadRequest
	)
	public := func(p string) matrixCase {
		m := expect(ok)
		m[roleNone] = ok
		return matrixCase{method: "GET", pattern: p, prepare: fixed(p, nil), want: m}
	}
	return []matrixCase{
		public("/"), public("/healthz"), public("/readyz"), public("/metrics"), public("/openapi.yaml"),

		{"POST", "/v1/api-keys", fixed("/v1/api-keys", map[string]any{"role": "safety", "name": "x"}), expect(fb, roleAdmin, cr)},
		{"GET", "/v1/api-keys", fixed("/v1/api-keys", nil), expect(fb, roleAdmin, ok)},
		{"DELETE", "/v1/api-keys/{id}", func(e *env, _ string) (string, any) {
			k, _, err := e.db.CreateAPIKey(context.Background(), tracking.RoleSafety, "", "")
			if err != nil {
				e.t.Fatal(err)
			}
			return "/v1/api-keys/" + k.ID, nil
		}, expect(fb, roleAdmin, nc)},

		{"POST", "/v1/carriers", func(*env, string) (string, any) {
			return "/v1/carriers", map[string]any{"id": fmt.Sprintf("c%d", next()), "name": "New"}
		}, expect(fb, roleAdmin, cr)},
		{"GET", "/v1/carriers", fixed("/v1/carriers", nil), expect(ok)},
		{"GET", "/v1/carriers/{id}", fixed("/v1/carriers/acme", nil), expect(ok, roleOther, nf)},

		{"POST", "/v1/vehicles", func(*env, string) (string, any) {
			return "/v1/vehicles", map[string]any{"id": fmt.Sprintf("n%d", next()), "carrier_id": "acme", "plate": "X"}
		}, expect(fb, roleAdmin, cr)},
		{"GET", "/v1/vehicles", fixed("/v1/vehicles", nil), expect(ok)},
		{"GET", "/v1/vehicles/{id}", fixed("/v1/vehicles/a1", nil), expect(ok, roleOther, nf)},
		{"PATCH", "/v1/vehicles/{id}", fixed("/v1/vehicles/a1", map[string]any{"hazard_class": "3"}), expect(fb, roleAdmin, ok)},
		{"DELETE", "/v1/vehicles/{id}", func(e *env, _ string) (string, any) { return "/v1/vehicles/" + e.freshVehicle(), nil }, expect(fb, roleAdmin, nc)},
		{"GET", "/v1/vehicles/{id}/track", fixed("/v1/vehicles/a1/track", nil), expect(ok, roleOther, nf)},
		{"POST", "/v1/vehicles/{id}/terminal/reset", fixed("/v1/vehicles/a1/terminal/reset", nil), expect(fb, roleAdmin, nc)},

		{"POST", "/v1/corridors", fixed("/v1/corridors", corridorBody()), expect(fb, roleAdmin, cr)},
		{"GET", "/v1/corridors", fixed("/v1/corridors", nil), expect(ok)},
		{"GET", "/v1/corridors/{id}", func(e *env, _ string) (string, any) { return "/v1/corridors/" + e.corridorID, nil }, expect(ok)},
		{"PUT", "/v1/corridors/{id}", func(e *env, _ string) (string, any) { return "/v1/corridors/" + e.corridorID, corridorBody() }, expect(fb, roleAdmin, ok)},
		{"DELETE", "/v1/corridors/{id}", func(e *env, _ string) (string, any) {
			c := must[tracking.Corridor](e.t)(e.db.CreateCorridor(context.Background(), tracking.Corridor{Name: "tmp", BufferM: 10,
				Line: geom.NewLineStringFlat(geom.XY, []float64{1, 1, 2, 2})}))
			return "/v1/corridors/" + c.ID, nil
		}, expect(fb, roleAdmin, nc)},

		{"POST", "/v1/zones", fixed("/v1/zones", zoneBody()), expect(fb, roleAdmin, cr)},
		{"GET", "/v1/zones", fixed("/v1/zones", nil), expect(ok)},
		{"GET", "/v1/zones/{id}", func(e *env, _ string) (string, any) { return "/v1/zones/" + e.zoneID, nil }, expect(ok)},
		{"PUT", "/v1/zones/{id}", func(e *env, _ string) (string, any) { return "/v1/zones/" + e.zoneID, zoneBody() }, expect(fb, roleAdmin, ok)},
		{"DELETE", "/v1/zones/{id}", func(e *env, _ string) (string, any) {
			z := must[tracking.Zone](e.t)(e.db.CreateZone(context.Background(), tracking.Zone{Name: "tmp", Kind: tracking.ZoneParking,
				Area: geom.NewPolygonFlat(geom.XY, []float64{1, 1, 2, 1, 2, 2, 1, 1}, []int{8})}))
			return "/v1/zones/" + z.ID, nil
		}, expect(fb, roleAdmin, nc)},

		{"POST", "/v1/trips", func(e *env, _ string) (string, any) {
			start := e.now.Add(time.Duration(5000+next()) * time.Hour)
			return "/v1/trips", map[string]any{"vehicle_id": "a1", "corridor_id": e.corridorID,
				"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(time.Hour).Format(time.RFC3339)}
		}, expect(cr, roleSafety, fb, roleOther, br)},
		{"GET", "/v1/trips", fixed("/v1/trips", nil), expect(ok)},
		{"GET", "/v1/trips/{id}", func(e *env, _ string) (string, any) { return "/v1/trips/" + e.tripA, nil }, expect(ok, roleOther, nf)},
		{"POST", "/v1/trips/{id}/cancel", func(e *env, _ string) (string, any) { return "/v1/trips/" + e.freshTrip() + "/cancel", nil },
			expect(fb, roleAdmin, ok, roleDispatcher, ok)},

		{"POST", "/v1/telemetry", func(e *env, _ string) (string, any) {
			return "/v1/telemetry", map[string]any{"vehicle_id": "a1", "ts": e.now.Add(-time.Duration(next()) * time.Second).Format(time.RFC3339), "lat": 29.8, "lon": 107.0}
		}, expect(fb, roleAdmin, ac, roleCarrier, ac, roleOther, http.StatusBadRequest)}, // another carrier's vehicle: unknown
		{"GET", "/v1/positions/live", fixed("/v1/positions/live", nil), expect(ok)},

		{"GET", "/v1/alarms", fixed("/v1/alarms", nil), expect(ok)},
		{"GET", "/v1/alarms/{id}", func(e *env, _ string) (string, any) { return "/v1/alarms/" + e.alarmA, nil }, expect(ok, roleOther, nf)},
		{"POST", "/v1/alarms/{id}/ack", func(e *env, _ string) (string, any) {
			return "/v1/alarms/" + e.insertAlarm("a1", "acme", e.now) + "/ack", map[string]any{"note": "on it"}
		}, expect(fb, roleAdmin, ok, roleSafety, ok)},
		{"POST", "/v1/alarms/{id}/resolve", func(e *env, _ string) (string, any) {
			return "/v1/alarms/" + e.insertAlarm("a1", "acme", e.now) + "/resolve", map[string]any{"note": "driver called", "disposal": "handled"}
		}, expect(fb, roleAdmin, ok, roleSafety, ok)},

		{"GET", "/v1/stream", fixed("/v1/stream", nil), expect(ok)},

		{"GET", "/v1/reports/daily", fixed("/v1/reports/daily?carrier_id=acme", nil), expect(ok, roleOther, nf)},
		{"GET", "/v1/alarms/{id}/supervisions", func(e *env, _ string) (string, any) { return "/v1/alarms/" + e.alarmA + "/supervisions", nil }, expect(ok, roleOther, nf)},
		{"GET", "/v1/duty-checks", fixed("/v1/duty-checks", nil), expect(ok, roleCarrier, fb, roleOther, fb)},
		{"POST", "/v1/duty-checks/{id}/answer", func(e *env, _ string) (string, any) {
			return "/v1/duty-checks/" + e.freshDutyCheck() + "/answer", map[string]any{"answer": "on duty"}
		}, expect(fb, roleAdmin, ok, roleSafety, ok)},
		{"GET", "/v1/me", fixed("/v1/me", nil), expect(ok)},
	}
}

// TestAuthMatrix calls every route as every role and checks 401/403/404/2xx, and that the matrix
// covers every route.
func TestAuthMatrix(t *testing.T) {
	e := newEnv(t)
	covered := map[string]bool{}
	for _, c := range matrix() {
		covered[c.method+" "+c.pattern] = true
		for _, role := range roles {
			path, body := c.prepare(e, role)
			var r *response
			if c.pattern == "/v1/stream" {
				r = e.openStream(path, role)
			} else {
				r = e.do(c.method, path, role, body)
			}
			if r.StatusCode != c.want[role] {
				t.Errorf("%s %s as %s: status %d, want %d; body %.300s", c.method, path, role, r.StatusCode, c.want[role], r.body)
				continue
			}
			if r.StatusCode >= 400 {
				p := r.problem(t)
				if r.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s: 401 without WWW-Authenticate", c.method, path)
				}
				_ = p
			}
		}
	}
	for op := range routedOperations(t, e.handler) {
		if !covered[op] {
			t.Errorf("auth matrix does not cover %s", op)
		}
	}
}

// openStream opens the SSE stream as role, checks the headers and closes it.
func (e *env) openStream(path, role string) *response {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
	if tok := e.tokens[role]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	r := &response{Response: resp}
	if resp.StatusCode == http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			e.t.Errorf("stream Content-Type %q", ct)
		}
		return r
	}
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	r.body = buf[:n]
	return r
}

// TestTokens: unknown, malformed and revoked tokens are 401; access_token works only on /v1/stream.
func TestTokens(t *testing.T) {
	e := newEnv(t)
	e.tokens["bogus"] = "cor_not-a-token"
	wantStatus(t, e.do("GET", "/v1/vehicles", "bogus", nil), http.StatusUnauthorized)
	wantStatus(t, e.do("GET", "/v1/vehicles", roleNone, nil, "Authorization", "Basic YWRtaW46YWRtaW4="), http.StatusUnauthorized)

	var created struct {
		ID, Token, Role string
		CarrierID       *string `json:"carrier_id"`
	}
	r := e.do("POST", "/v1/api-keys", roleAdmin, map[string]any{"role": "carrier", "carrier_id": "acme", "name": "gateway"})
	wantStatus(t, r, http.StatusCreated)
	r.decode(t, &created)
	if created.Token == "" || created.Role != "carrier" || created.CarrierID == nil || *created.CarrierID != "acme" {
		t.Fatalf("created %+v", created)
	}
	e.tokens["new"] = created.Token
	wantStatus(t, e.do("GET", "/v1/vehicles/a1", "new", nil), http.StatusOK)
	r = e.do("GET", "/v1/api-keys", roleAdmin, nil)
	if strings.Contains(string(r.body), created.Token) || strings.Contains(string(r.body), "token") {
		t.Fatalf("list shows tokens: %s", r.body)
	}
	wantStatus(t, e.do("DELETE", "/v1/api-keys/"+created.ID, roleAdmin, nil), http.StatusNoContent)
	wantStatus(t, e.do("GET", "/v1/vehicles/a1", "new", nil), http.StatusUnauthorized)
	wantStatus(t, e.do("DELETE", "/v1/api-keys/00000000-0000-0000-0000-000000000000", roleAdmin, nil), http.StatusNotFound)

	// access_token is for EventSource only.
	wantStatus(t, e.do("GET", "/v1/vehicles?access_token="+adminToken, roleNone, nil), http.StatusUnauthorized)
	r = e.openStream("/v1/stream?access_token="+adminToken, roleNone)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("stream with access_token: %d %s", r.StatusCode, r.body)
	}

	// Bad API key requests.
	p := e.do("POST", "/v1/api-keys", roleAdmin, map[string]any{"role": "carrier"}).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "carrier_id" {
		t.Fatalf("problem %+v", p)
	}
}
