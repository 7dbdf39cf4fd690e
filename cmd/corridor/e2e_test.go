package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/internal/logbuf"
	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/internal/waitfor"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

const adminToken = "e2e-admin-token-0123456789"

// instance is one `corridor serve` started through run(), as the binary would be.
type instance struct {
	t      *testing.T
	base   string
	cancel context.CancelFunc
	done   chan int
	out    *logbuf.Buffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startServe(t *testing.T, env map[string]string) *instance {
	t.Helper()
	httpAddr := freeAddr(t)
	full := map[string]string{
		"CORRIDOR_HTTP_ADDR":          httpAddr,
		"CORRIDOR_JT808_ADDR":         "127.0.0.1:0",
		"CORRIDOR_EMBEDDED_NATS_ADDR": "127.0.0.1:0",
		"CORRIDOR_ADMIN_TOKEN":        adminToken,
		"CORRIDOR_LOG_LEVEL":          "warn",
		// The tests poll at waitfor.Every (100 requests a second) with one token and address:
		// the production limits (100 and 200 a second) would refuse their next request now and
		// then. The limits' own tests set theirs.
		"CORRIDOR_RATE_LIMIT":          "1000",
		"CORRIDOR_RATE_LIMIT_PER_ADDR": "2000",
	}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{t: t, base: "http://" + httpAddr, cancel: cancel, done: make(chan int, 1), out: &logbuf.Buffer{}}
	go func() {
		in.done <- run(ctx, []string{"serve"}, func(k string) string { return full[k] }, in.out, in.out)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(in.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case code := <-in.done:
			t.Fatalf("serve exited with %d:\n%s", code, in.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready:\n%s", in.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { in.stop() })
	return in
}

// stop sends the equivalent of SIGTERM and expects a clean exit 0.
func (in *instance) stop() {
	if in.cancel == nil {
		return
	}
	in.cancel()
	in.cancel = nil
	select {
	case code := <-in.done:
		if code != 0 {
			in.t.Errorf("serve exited with %d:\n%s", code, in.out.String())
		}
	case <-time.After(20 * time.Second):
		in.t.Errorf("serve did not stop")
	}
}

func (in *instance) do(method, path string, body any, wantStatus int, out any) {
	in.t.Helper()
	var r io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			r = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, in.base+path, r)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		in.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			in.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

func startNATS(t *testing.T) string { t.Helper(); return natstest.URL(t) }

func publishFix(t *testing.T, nc *nats.Conn, js interface {
	PublishMsg(*nats.Msg, ...nats.PubOpt) (*nats.PubAck, error)
}, ts time.Time, lon, lat float64) {
	t.Helper()
	body := fmt.Sprintf(`{"vehicle_id":"truck-7","carrier_id":"cq-chem","ts":%q,"lat":%v,"lon":%v,"speed_kmh":45}`, ts.Format(time.RFC3339), lat, lon)
	m := nats.NewMsg("telemetry.cq-chem.truck-7")
	m.Data = []byte(body)
	m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("truck-7:%d", ts.UnixNano()))
	if _, err := js.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	waitfor.For(t, d, what, cond)
}

type alarmList struct {
	Alarms     []tracking.Alarm `json:"alarms"`
	NextCursor *string          `json:"next_cursor"`
}

// TestWalkingSkeleton is issue 2's scenario through the public interfaces only.
func TestWalkingSkeleton(t *testing.T) {
	dbURL := pgtest.NewURL(t, false) // serve applies the migrations itself
	natsURL := startNATS(t)
	env := map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL, "CORRIDOR_DATA_DIR": t.TempDir()}
	srv := startServe(t, env)

	// Observe the alarm subjects and dead letters as another program would.
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	var mu sync.Mutex
	var alarmMsgs []*nats.Msg
	var deadMsgs []*nats.Msg
	sub1, _ := nc.Subscribe("alarms.route_deviation.>", func(m *nats.Msg) { mu.Lock(); alarmMsgs = append(alarmMsgs, m); mu.Unlock() })
	sub2, _ := nc.Subscribe("deadletter.telemetry", func(m *nats.Msg) { mu.Lock(); deadMsgs = append(deadMsgs, m); mu.Unlock() })
	defer sub1.Unsubscribe()
	defer sub2.Unsubscribe()

	srv.do("POST", "/v1/carriers", map[string]any{"id": "cq-chem", "name": "Chongqing Chemical Logistics"}, 201, nil)
	srv.do("POST", "/v1/vehicles", map[string]any{"id": "truck-7", "carrier_id": "cq-chem", "plate": "渝B·7X123", "hazard_class": "3", "un_number": "1203"}, 201, nil)
	var corridor struct {
		ID string `json:"id"`
	}
	srv.do("POST", "/v1/corridors", map[string]any{"type": "Feature",
		"geometry":   map[string]any{"type": "LineString", "coordinates": [][]float64{{107.00, 29.80}, {107.02, 29.801}, {107.05, 29.80}}},
		"properties": map[string]any{"name": "wharf to park", "buffer_m": 200}}, 201, &corridor)
	now := time.Now().UTC().Truncate(time.Second)
	t0 := now.Add(-20 * time.Minute)
	var trip struct {
		ID string `json:"id"`
	}
	srv.do("POST", "/v1/trips", map[string]any{"vehicle_id": "truck-7", "corridor_id": corridor.ID,
		"starts_at": t0.Add(-time.Minute).Format(time.RFC3339), "ends_at": now.Add(2 * time.Hour).Format(time.RFC3339)}, 201, &trip)

	// Bad input: a REST body naming the field, and malformed JSON on NATS.
	srv.do("POST", "/v1/telemetry", `{"vehicle_id":"truck-7","ts":"yesterday","lat":29.8,"lon":107}`, 400, nil)
	if _, err := js.Publish("telemetry.cq-chem.truck-7", []byte(`{"vehicle_id": "truck-7", `)); err != nil {
		t.Fatal(err)
	}
	// A 900 kB non-JSON message (its dead letter must still fit NATS's max payload, or the engine
	// would retry it forever) and a fix with an unknown device alarm name.
	if _, err := js.Publish("telemetry.cq-chem.truck-7", bytes.Repeat([]byte{0xff, 'x'}, 450_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish("telemetry.cq-chem.truck-7", []byte(`{"vehicle_id":"truck-7","carrier_id":"cq-chem","ts":"`+
		t0.Add(-time.Minute).Format(time.RFC3339)+`","lat":29.8,"lon":107.001,"device_alarms":["emergency","made_up"]}`)); err != nil {
		t.Fatal(err)
	}

	// Five fixes on the corridor, three about 500 m off it.
	var off []time.Time
	for i := 0; i < 5; i++ {
		publishFix(t, nc, js, t0.Add(time.Duration(i)*time.Minute), 107.001+float64(i)*0.003, 29.8001+float64(i)*0.00015)
	}
	for i := 0; i < 3; i++ {
		ts := t0.Add(time.Duration(5+i) * time.Minute)
		off = append(off, ts)
		publishFix(t, nc, js, ts, 107.016+float64(i)*0.001, 29.8053)
	}
	var list alarmList
	waitUntil(t, 10*time.Second, "route_deviation over REST", func() bool {
		srv.do("GET", "/v1/alarms?kind=route_deviation&vehicle_id=truck-7", nil, 200, &list)
		return len(list.Alarms) > 0
	})
	if len(list.Alarms) != 1 {
		t.Fatalf("%d alarms, want exactly one", len(list.Alarms))
	}
	a := list.Alarms[0]
	if !a.Active || a.State != "open" || !a.StartedAt.Equal(off[0]) || !a.RaisedAt.Equal(off[2]) || a.Severity != "critical" ||
		a.TripID == nil || *a.TripID != trip.ID || a.CorridorID == nil || *a.CorridorID != corridor.ID {
		t.Fatalf("alarm %+v", a)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var want float64
	if err := conn.QueryRow(context.Background(), `select ST_Distance(geom, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) from corridors where id = $1`,
		corridor.ID, 107.018, 29.8053).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if a.DistanceM == nil || math.Abs(*a.DistanceM-want) > 0.5 {
		t.Fatalf("distance_m %v, PostGIS ST_Distance %.3f", a.DistanceM, want)
	}

	// Two fixes back on the corridor clear it.
	publishFix(t, nc, js, t0.Add(8*time.Minute), 107.019, 29.8009)
	publishFix(t, nc, js, t0.Add(9*time.Minute), 107.021, 29.8009)
	var got tracking.Alarm
	waitUntil(t, 10*time.Second, "alarm cleared", func() bool {
		srv.do("GET", "/v1/alarms/"+a.ID, nil, 200, &got)
		return !got.Active
	})
	if got.ClearedAt == nil || !got.ClearedAt.Equal(t0.Add(9*time.Minute)) {
		t.Fatalf("cleared_at %v", got.ClearedAt)
	}

	// Ack and resolve record who and when.
	var acked, resolved tracking.Alarm
	srv.do("POST", "/v1/alarms/"+a.ID+"/ack", map[string]any{"note": "calling the driver"}, 200, &acked)
	if acked.State != "acknowledged" || acked.AcknowledgedAt == nil || acked.AcknowledgedBy == nil || *acked.AcknowledgedBy == "" {
		t.Fatalf("ack %+v", acked)
	}
	srv.do("POST", "/v1/alarms/"+a.ID+"/resolve", map[string]any{}, 400, nil) // note is required
	srv.do("POST", "/v1/alarms/"+a.ID+"/resolve", map[string]any{"note": "wrong turn at the toll gate", "disposal": "handled"}, 200, &resolved)
	if resolved.State != "resolved" || resolved.ResolvedAt == nil || resolved.ResolvedBy == nil || resolved.Disposal == nil || *resolved.Disposal != "handled" {
		t.Fatalf("resolve %+v", resolved)
	}
	srv.do("POST", "/v1/alarms/"+a.ID+"/ack", nil, 409, nil)

	// The alarm's changes arrived on alarms.route_deviation.<carrier>.<vehicle>.
	waitUntil(t, 5*time.Second, "4 alarm events on NATS", func() bool { mu.Lock(); defer mu.Unlock(); return len(alarmMsgs) >= 4 })
	mu.Lock()
	var events []string
	for _, m := range alarmMsgs {
		var ev tracking.AlarmEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if m.Subject != "alarms.route_deviation.cq-chem.truck-7" || ev.Alarm.ID != a.ID {
			t.Fatalf("event on %s: %+v", m.Subject, ev)
		}
		events = append(events, ev.Event)
	}
	if strings.Join(events, ",") != "raised,cleared,acknowledged,resolved" {
		t.Fatalf("events %v", events)
	}
	// The bad messages were dead-lettered with their reasons; the huge one cut to fit.
	if len(deadMsgs) != 3 {
		t.Fatalf("%d dead letters", len(deadMsgs))
	}
	for i, want := range []struct {
		reason    string
		size      float64
		truncated bool
	}{{"malformed_json", 26, false}, {"malformed_json", 900_000, true}, {"invalid_field", -1, false}} {
		var dl map[string]any
		if err := json.Unmarshal(deadMsgs[i].Data, &dl); err != nil {
			t.Fatal(err)
		}
		if dl["reason"] != want.reason || dl["subject"] != "telemetry.cq-chem.truck-7" || dl["payload"] == "" ||
			dl["truncated"] != want.truncated || (want.size >= 0 && dl["payload_size"] != want.size) {
			t.Fatalf("dead letter %d: %v", i, dl)
		}
	}
	mu.Unlock()

	// Fixes published while serve is stopped are processed after it starts again.
	srv.stop()
	for i := 0; i < 3; i++ {
		publishFix(t, nc, js, t0.Add(time.Duration(10+i)*time.Minute), 107.030+float64(i)*0.001, 29.8060)
	}
	srv = startServe(t, env)
	waitUntil(t, 10*time.Second, "a new deviation from the backlog", func() bool {
		srv.do("GET", "/v1/alarms?kind=route_deviation&active=true", nil, 200, &list)
		return len(list.Alarms) == 1
	})
	if list.Alarms[0].ID == a.ID || !list.Alarms[0].StartedAt.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("backlog alarm %+v", list.Alarms[0])
	}
	var n int
	if err := conn.QueryRow(context.Background(), `select count(*) from positions where vehicle_id = 'truck-7'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 13 {
		t.Fatalf("history holds %d fixes, want 13", n)
	}
	var track struct {
		Features []json.RawMessage `json:"features"`
	}
	srv.do("GET", "/v1/vehicles/truck-7/track?from="+t0.Add(-time.Minute).Format(time.RFC3339), nil, 200, &track)
	if len(track.Features) != 13 {
		t.Fatalf("track has %d fixes", len(track.Features))
	}
}

// TestServeDefaultsEmbeddedNATS runs with no NATS_URL: the embedded JetStream server.
func TestServeDefaultsEmbeddedNATS(t *testing.T) {
	dbURL := pgtest.NewURL(t, false)
	srv := startServe(t, map[string]string{"DATABASE_URL": dbURL, "CORRIDOR_DATA_DIR": t.TempDir()})
	srv.do("POST", "/v1/carriers", map[string]any{"id": "c1", "name": "C1"}, 201, nil)
	srv.do("POST", "/v1/vehicles", map[string]any{"id": "v1", "carrier_id": "c1", "plate": "P1"}, 201, nil)
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	srv.do("POST", "/v1/telemetry", fmt.Sprintf(`{"vehicle_id":"v1","ts":%q,"lat":29.8,"lon":107.01}`, ts), 202, nil)
	var live struct {
		Features []struct {
			Properties tracking.VehicleState `json:"properties"`
		} `json:"features"`
	}
	waitUntil(t, 10*time.Second, "live position", func() bool {
		srv.do("GET", "/v1/positions/live", nil, 200, &live)
		return len(live.Features) == 1
	})
	if s := live.Features[0].Properties; s.Status != "no_trip" || s.Plate != "P1" || s.DistanceM != nil {
		t.Fatalf("live %+v", s)
	}
	resp, err := http.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`corridor_engine_fixes_total{result="stored"} 1`, "corridor_jt808_connections_active 0",
		"corridor_http_requests_total", "go_goroutines"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

func TestConfigErrorsOneLineEach(t *testing.T) {
	var out bytes.Buffer
	env := map[string]string{"CORRIDOR_ROLES": "api,bogus", "CORRIDOR_CLEAR_FIXES": "two", "CORRIDOR_HTTP_ADDR": "8080", "CORRIDOR_NATS_SYNC": "sometimes"}
	code := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &out, &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if code != 2 || len(lines) != 4 {
		t.Fatalf("exit %d, output:\n%s", code, out.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "corridor: config: ") {
			t.Fatalf("line %q", l)
		}
	}
}

func TestStartupFailsFast(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"database": {"DATABASE_URL": "postgres://127.0.0.1:1/none?sslmode=disable&connect_timeout=2"},
		"nats":     {"DATABASE_URL": pgtest.NewURL(t, false), "NATS_URL": "nats://127.0.0.1:1"},
	} {
		var out bytes.Buffer
		code := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &out, &out)
		if code != 1 || !strings.Contains(out.String(), "unreachable") {
			t.Errorf("%s: exit %d, output %q", name, code, out.String())
		}
	}
}

// TestRolesSplit runs an engine-only process (probes and metrics, no API) next to an API and
// gateway process on the same database and NATS: a fix pushed to the API is processed by the
// engine process and shows up live in the API process.
func TestRolesSplit(t *testing.T) {
	dbURL := pgtest.NewURL(t, false)
	natsURL := startNATS(t)
	base := map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL, "CORRIDOR_DATA_DIR": t.TempDir()}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	eng := startServe(t, with("CORRIDOR_ROLES", "engine", "CORRIDOR_ENGINE_PARTITIONS", "2"))
	resp, err := http.Get(eng.base + "/v1/alarms")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("engine-only process serves the API: %d", resp.StatusCode)
	}
	resp, err = http.Get(eng.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "corridor_engine_batch_seconds") {
		t.Fatalf("engine metrics missing")
	}
	api := startServe(t, with("CORRIDOR_ROLES", "api,gateway"))
	api.do("POST", "/v1/carriers", map[string]any{"id": "c1", "name": "C1"}, 201, nil)
	api.do("POST", "/v1/vehicles", map[string]any{"id": "v1", "carrier_id": "c1", "plate": "P1"}, 201, nil)
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	api.do("POST", "/v1/telemetry", fmt.Sprintf(`{"vehicle_id":"v1","ts":%q,"lat":29.8,"lon":107.01}`, ts), 202, nil)
	var live struct {
		Features []json.RawMessage `json:"features"`
	}
	waitUntil(t, 10*time.Second, "live position through the engine process", func() bool {
		api.do("GET", "/v1/positions/live", nil, 200, &live)
		return len(live.Features) == 1
	})
	// An API process started later rebuilds its live view from the engine's committed state
	// (vehicle_state, checkpointed every 2 s), then follows live.>.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	waitUntil(t, 15*time.Second, "the live state checkpointed", func() bool {
		var n int
		return conn.QueryRow(context.Background(), `select count(*) from vehicle_state where live is not null`).Scan(&n) == nil && n == 1
	})
	api2 := startServe(t, with("CORRIDOR_ROLES", "api", "CORRIDOR_JT808_ADDR", ""))
	waitUntil(t, 15*time.Second, "live position in a later API process", func() bool {
		api2.do("GET", "/v1/positions/live", nil, 200, &live)
		return len(live.Features) == 1
	})
}
