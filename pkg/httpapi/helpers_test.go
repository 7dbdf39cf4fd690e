package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/twpayne/go-geom"

	"github.com/corridor-dev/corridor/api"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/httpapi"
	"github.com/corridor-dev/corridor/pkg/live"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

const adminToken = "test-admin-token"

// recordingPublisher is an in-test TelemetryPublisher: it keeps what it was given, or fails.
type recordingPublisher struct {
	mu   sync.Mutex
	got  []tracking.Position
	fail error
}

func (p *recordingPublisher) PublishPositions(ctx context.Context, ps []tracking.Position) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.got = append(p.got, ps...)
	return nil
}

func (p *recordingPublisher) positions() []tracking.Position {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]tracking.Position(nil), p.got...)
}

// env is a running API on a fresh database with fixtures for two carriers.
type env struct {
	t       *testing.T
	db      *postgres.DB
	hub     *live.Hub
	pub     *recordingPublisher
	handler http.Handler
	srv     *httptest.Server
	doc     *openapi3.T
	router  routers.Router
	tokens  map[string]string // role name → token: admin, dispatcher, safety, carrier (acme), other (beta)
	deps    httpapi.Deps
	now     time.Time

	corridorID, zoneID, tripA, tripB, alarmA, alarmB string
}

// role names used by the tests.
const (
	roleNone       = "none"
	roleAdmin      = "admin"
	roleDispatcher = "dispatcher"
	roleSafety     = "safety"
	roleCarrier    = "carrier" // bound to acme
	roleOther      = "other"   // a carrier token bound to beta
)

var roles = []string{roleNone, roleAdmin, roleDispatcher, roleSafety, roleCarrier, roleOther}

func newEnv(t *testing.T, opts ...func(*httpapi.Deps)) *env {
	t.Helper()
	return newEnvOn(t, pgtest.New(t), opts...)
}

// newEnvOn is newEnv on a given (migrated, empty) database.
func newEnvOn(t *testing.T, db *postgres.DB, opts ...func(*httpapi.Deps)) *env {
	t.Helper()
	e := &env{t: t, db: db, hub: live.NewHub(), pub: &recordingPublisher{}, now: time.Now().UTC().Truncate(time.Second)}
	d := httpapi.Deps{
		Carriers: db, Vehicles: db, Corridors: db, Zones: db, Trips: db, APIKeys: db, Track: db, Alarms: db,
		Reports:   db.Reports(postgres.ReportConfig{Location: shanghai}),
		Telemetry: e.pub, Live: e.hub, AdminToken: adminToken,
		Ready:     db.Ping,
		Heartbeat: 50 * time.Millisecond,
		// Rate limits are tested on their own (limits_test.go); the other tests send fast.
		RateLimit: -1, RateLimitPerAddr: -1,
		Web: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<!doctype html><title>Corridor</title>")
		}),
	}
	for _, o := range opts {
		o(&d)
	}
	e.deps = d
	e.handler = httpapi.NewServer(d)
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close)
	e.doc = loadSpec(t)
	var err error
	if e.router, err = gorillamux.NewRouter(e.doc); err != nil {
		t.Fatal(err)
	}
	e.fixtures()
	return e
}

// variant is another server on the same database, fixtures and hub, with changed dependencies
// (cheaper than a second database).
func (e *env) variant(opts ...func(*httpapi.Deps)) *env {
	e.t.Helper()
	v := *e
	for _, o := range opts {
		o(&v.deps)
	}
	v.deps.Metrics, v.deps.Gatherer = nil, nil // a private registry
	v.handler = httpapi.NewServer(v.deps)
	v.srv = httptest.NewServer(v.handler)
	e.t.Cleanup(v.srv.Close)
	return &v
}

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid: %v", err)
	}
	return doc
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ptr[T any](v T) *T { return &v }

// fixtures: carriers acme and beta, vehicles a1 and a2 (acme, a2 with a JT/T 808 terminal) and b1 (beta), a corridor, a zone, one
// trip and one alarm per vehicle, live states, and a token per role.
func (e *env) fixtures() {
	t, ctx, db := e.t, context.Background(), e.db
	for _, c := range []string{"acme", "beta"} {
		must[tracking.Carrier](t)(db.CreateCarrier(ctx, tracking.Carrier{ID: c, Name: strings.ToUpper(c)}))
	}
	must[tracking.Vehicle](t)(db.CreateVehicle(ctx, tracking.Vehicle{ID: "a1", CarrierID: "acme", Plate: "渝A00001"}))
	// a2 reports through its JT/T 808 terminal: HTTP pushes for it are refused (409).
	must[tracking.Vehicle](t)(db.CreateVehicle(ctx, tracking.Vehicle{ID: "a2", CarrierID: "acme", Plate: "渝A00002", TerminalID: ptr("13800000001")}))
	must[tracking.Vehicle](t)(db.CreateVehicle(ctx, tracking.Vehicle{ID: "b1", CarrierID: "beta", Plate: "渝B00001"}))
	c := must[tracking.Corridor](t)(db.CreateCorridor(ctx, tracking.Corridor{Name: "G50", BufferM: 200,
		Line: geom.NewLineStringFlat(geom.XY, []float64{107.0, 29.8, 107.1, 29.85})}))
	e.corridorID = c.ID
	z := must[tracking.Zone](t)(db.CreateZone(ctx, tracking.Zone{Name: "intake", Kind: tracking.ZoneRestricted,
		Area: geom.NewPolygonFlat(geom.XY, []float64{107, 29.9, 107.01, 29.9, 107.01, 29.91, 107, 29.91, 107, 29.9}, []int{10})}))
	e.zoneID = z.ID
	e.tripA = must[tracking.Trip](t)(db.CreateTrip(ctx, tracking.Trip{VehicleID: "a1", CorridorID: c.ID,
		StartsAt: e.now.Add(-time.Hour), EndsAt: e.now.Add(time.Hour)}, "")).ID
	e.tripB = must[tracking.Trip](t)(db.CreateTrip(ctx, tracking.Trip{VehicleID: "b1", CorridorID: c.ID,
		StartsAt: e.now.Add(-time.Hour), EndsAt: e.now.Add(time.Hour)}, "")).ID
	e.alarmA = e.insertAlarm("a1", "acme", e.now.Add(-time.Minute))
	e.alarmB = e.insertAlarm("b1", "beta", e.now.Add(-2*time.Minute))
	e.hub.SetState(tracking.VehicleState{VehicleID: "a1", CarrierID: "acme", Plate: "渝A00001", TS: e.now, Lat: 29.82, Lon: 107.04,
		SpeedKmh: ptr(50.0), Status: tracking.StatusOnRoute, TripID: &e.tripA, CorridorID: &e.corridorID, DistanceM: ptr(12.5), UpdatedAt: e.now})
	e.hub.SetState(tracking.VehicleState{VehicleID: "b1", CarrierID: "beta", Plate: "渝B00001", TS: e.now, Lat: 30.5, Lon: 108.2,
		Status: tracking.StatusOffRoute, UpdatedAt: e.now})
	e.tokens = map[string]string{roleAdmin: adminToken}
	for role, spec := range map[string][2]string{
		roleDispatcher: {tracking.RoleDispatcher, ""}, roleSafety: {tracking.RoleSafety, ""},
		roleCarrier: {tracking.RoleCarrier, "acme"}, roleOther: {tracking.RoleCarrier, "beta"},
	} {
		_, token, err := db.CreateAPIKey(ctx, spec[0], spec[1], role+" key")
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[role] = token
	}
}

// insertAlarm stores an open route_deviation alarm and returns its id: active for the fixtures,
// already cleared for the others (one active alarm per vehicle and kind).
func (e *env) insertAlarm(vehicle, carrier string, raised time.Time) string {
	e.t.Helper()
	var id string
	var cleared *time.Time
	if e.alarmA != "" && e.alarmB != "" {
		cleared = ptr(raised.Add(time.Minute))
	}
	err := e.db.Pool.QueryRow(context.Background(), `insert into alarms (kind, severity, vehicle_id, carrier_id, corridor_id,
		started_at, raised_at, lat, lon, distance_m, active, cleared_at)
		values ('route_deviation', 'critical', $1, $2, $3, $4, $4, 29.9, 107.05, 480.5, $5::timestamptz is null, $5)
		returning id::text`, vehicle, carrier, e.corridorID, raised, cleared).Scan(&id)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// response is an answer read in full.
type response struct {
	*http.Response
	body []byte
}

func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r *response) problem(t *testing.T) httpapi.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (status %d, body %s)", ct, r.StatusCode, r.body)
	}
	var p httpapi.Problem
	r.decode(t, &p)
	if p.Status != r.StatusCode || p.Type == "" || p.Title == "" {
		t.Fatalf("problem %+v does not match status %d", p, r.StatusCode)
	}
	return p
}

// do sends a request as role with body (nil, []byte, string or a value encoded as JSON) and
// validates the answer against api/openapi.yaml.
func (e *env) do(method, path, role string, body any, header ...string) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if tok := e.tokens[role]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := &response{Response: resp, body: data}
	e.validate(req, r)
	return r
}

// validate checks an answer against the spec: the operation exists, the status is documented and
// the body matches its schema.
func (e *env) validate(req *http.Request, r *response) {
	e.t.Helper()
	if r.StatusCode == http.StatusNotFound && r.Header.Get("Content-Type") == "application/problem+json" {
		var p httpapi.Problem
		_ = json.Unmarshal(r.body, &p)
		if strings.HasPrefix(p.Detail, "no such path") {
			return // unknown paths are not in the spec, by definition
		}
	}
	if r.StatusCode == http.StatusMethodNotAllowed {
		return
	}
	vreq := req.Clone(context.Background())
	vreq.URL.Scheme, vreq.URL.Host, vreq.Host = "", "", ""
	route, params, err := e.router.FindRoute(vreq)
	if err != nil {
		e.t.Errorf("%s %s: not in openapi.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route},
		Status:                 r.StatusCode,
		Header:                 r.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
		in.Options.ExcludeResponseBody = true // YAML, HTML, metrics text: not schema-checked
	}
	in.SetBodyBytes(r.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		e.t.Errorf("%s %s → %d does not match openapi.yaml: %v\nbody: %.500s", req.Method, req.URL.Path, r.StatusCode, err, r.body)
	}
}

// wantStatus fails unless r has the status.
func wantStatus(t *testing.T, r *response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
}
