package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/httpapi"
	"github.com/corridor-dev/corridor/pkg/natsbus"
)

// timed runs do and fails when it takes longer than d.
func timed(t *testing.T, d time.Duration, what string, do func() *response) *response {
	t.Helper()
	start := time.Now()
	r := do()
	if took := time.Since(start); took > d {
		t.Fatalf("%s took %v (more than %v)", what, took, d)
	}
	return r
}

func wantUnavailable(t *testing.T, r *response) {
	t.Helper()
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("%s %s: %d (Retry-After %q), want 503 with Retry-After; body %s", r.Request.Method, r.Request.URL.Path,
			r.StatusCode, r.Header.Get("Retry-After"), r.body)
	}
	r.problem(t)
}

// With the NATS server stopped, a push is answered 503 with Retry-After within 5 s (a batch of
// two used to wait past 20 s); once NATS is back, pushes are accepted again.
func TestNATSOutage(t *testing.T) {
	ns := natstest.NewServer(t)
	bus, err := natsbus.Connect(context.Background(), ns.URL(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	if err := bus.EnsureStreams(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(d *httpapi.Deps) { d.Telemetry = bus; d.PublishTimeout = 3 * time.Second })
	ts := e.now.Add(-time.Minute)
	wantStatus(t, e.do("POST", "/v1/telemetry", roleCarrier, []any{fix("a1", ts), fix("a1", ts.Add(time.Second))}), http.StatusAccepted)
	ns.Stop()
	for i, body := range []any{fix("a1", ts.Add(2*time.Second)), []any{fix("a1", ts.Add(3*time.Second)), fix("a1", ts.Add(4*time.Second))}} {
		r := timed(t, 5*time.Second, "a push with NATS down", func() *response { return e.do("POST", "/v1/telemetry", roleCarrier, body) })
		if i == 0 || r.StatusCode != http.StatusAccepted { // nats.go may buffer one publish across a quick reconnect
			wantUnavailable(t, r)
		}
	}
	ns.Start()
	waitFor(t, 20*time.Second, "pushes accepted again", func() bool {
		return e.do("POST", "/v1/telemetry", roleCarrier, fix("a1", ts.Add(5*time.Second))).StatusCode == http.StatusAccepted
	})

}

// A push whose re-encoded message exceeds the NATS server's max payload is 413, not a 503 that a
// client would retry forever. (The report: a 201 kB body of '<' characters in device_alarms,
// escaped as \u003c; device_alarms now takes JT/T 808 names only, so the test uses a server with
// a max payload an operator lowered, and CAN frames.)
func TestPushOverMaxPayload(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), MaxPayload: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	bus, err := natsbus.Connect(context.Background(), ns.ClientURL(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	if err := bus.EnsureStreams(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(d *httpapi.Deps) { d.Telemetry = bus; d.PublishTimeout = 3 * time.Second })
	frames := strings.TrimSuffix(strings.Repeat(`{"id":"18FEF100","data":"0102030405060708"},`, 1000), ",")
	big := `{"vehicle_id":"a1","ts":"` + e.now.Add(-time.Minute).Format(time.RFC3339) + `","lat":29.8,"lon":107,"can":[` + frames + `]}`
	if p := e.do("POST", "/v1/telemetry", roleCarrier, big).problem(t); p.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize message: %+v", p)
	}
}

// With PostgreSQL stopped (a throwaway cluster, not the machine's), pushes from a known token for
// a known vehicle are still accepted into JetStream (cached principal and vehicle), anything that
// needs the database is 503 with Retry-After (never 500, never a hang), /readyz is 503; all
// recovers by itself when the database is back.
func TestPostgresOutage(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	db := cluster.DB(t)
	bus := natstest.New(t)
	e := newEnvOn(t, db, func(d *httpapi.Deps) { d.Telemetry = bus; d.CacheTTL = time.Minute })
	ts := e.now.Add(-time.Minute)
	wantStatus(t, e.do("POST", "/v1/telemetry", roleCarrier, fix("a1", ts)), http.StatusAccepted)
	wantStatus(t, e.do("GET", "/v1/vehicles", roleDispatcher, nil), http.StatusOK)

	cluster.Stop()
	r := timed(t, 5*time.Second, "a push with PostgreSQL down", func() *response {
		return e.do("POST", "/v1/telemetry", roleCarrier, []any{fix("a1", ts.Add(time.Second)), fix("a1", ts.Add(2*time.Second))})
	})
	wantStatus(t, r, http.StatusAccepted)
	for _, c := range []struct{ method, path, role string }{
		{"GET", "/v1/vehicles", roleDispatcher}, // cached token, but the list needs the database
		{"GET", "/v1/vehicles/a1/track", roleCarrier},
		{"GET", "/v1/alarms", roleSafety}, // a token not used before: cannot be checked now
		{"POST", "/v1/telemetry", roleAdmin},
	} {
		var body any
		if c.method == "POST" {
			body = fix("b1", ts) // a vehicle not seen before
		}
		wantUnavailable(t, timed(t, 7*time.Second, c.method+" "+c.path, func() *response { return e.do(c.method, c.path, c.role, body) }))
	}
	if r := e.do("GET", "/readyz", roleNone, nil); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database down: %d", r.StatusCode)
	}

	cluster.Start()
	waitFor(t, 30*time.Second, "the API to answer again", func() bool {
		return e.do("GET", "/v1/vehicles", roleDispatcher, nil).StatusCode == http.StatusOK
	})
	wantStatus(t, e.do("GET", "/v1/alarms", roleSafety, nil), http.StatusOK)
}
