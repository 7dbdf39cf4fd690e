package main

// End-to-end tests of the alarm rules of CONTRACT §4, one per rule, through the public interfaces
// only: fixes go in on NATS (telemetry.<carrier>.<vehicle>) or POST /v1/telemetry; alarms come
// out over REST (GET /v1/alarms), NATS (alarms.<kind>.<carrier>.<vehicle>, read from the ALARMS
// stream) and SSE (GET /v1/stream, a real HTTP connection); live state over
// GET /v1/positions/live. Every test has its own database, NATS server and `corridor serve`.
//
// Helpers here are prefixed rx (or are methods of rxRig) so that they cannot collide with other
// test files of package main.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

const rxCarrier = "cq-chem"

// rxRig is one serve instance with its own database and NATS, and the observers of its output.
type rxRig struct {
	t     *testing.T
	srv   *instance
	dbURL string
	nc    *nats.Conn
	js    nats.JetStreamContext
	sse   *rxSSE

	mu     sync.Mutex
	natsEv []rxNATSEvent // every message of the ALARMS stream, in stream order
}

type rxNATSEvent struct {
	Subject string
	Ev      tracking.AlarmEvent
}

// rxStart starts serve with env (over the defaults of startServe), creates the carrier and opens
// the observers: an ordered JetStream consumer of alarms.> and an SSE stream with sseTopics.
func rxStart(t *testing.T, env map[string]string, sseTopics string) *rxRig {
	t.Helper()
	dbURL := pgtest.NewURL(t, false)
	natsURL := startNATS(t)
	full := map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL, "CORRIDOR_DATA_DIR": t.TempDir()}
	for k, v := range env {
		full[k] = v
	}
	r := &rxRig{t: t, dbURL: dbURL}
	r.srv = startServe(t, full)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r.nc = nc
	if r.js, err = nc.JetStream(); err != nil {
		t.Fatal(err)
	}
	sub, err := r.js.Subscribe("alarms.>", func(m *nats.Msg) {
		var ev tracking.AlarmEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Errorf("alarm event on %s is not JSON: %v: %s", m.Subject, err, m.Data)
			return
		}
		r.mu.Lock()
		r.natsEv = append(r.natsEv, rxNATSEvent{Subject: m.Subject, Ev: ev})
		r.mu.Unlock()
	}, nats.OrderedConsumer(), nats.DeliverAll())
	if err != nil {
		t.Fatalf("subscribe to the ALARMS stream: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	r.sse = rxOpenSSE(t, r.srv.base, sseTopics)
	r.srv.do("POST", "/v1/carriers", map[string]any{"id": rxCarrier, "name": "Chongqing Chemical Logistics"}, 201, nil)
	return r
}

// ---- SSE ----

type rxSSEEvent struct {
	Name string
	Data string
	At   time.Time // when the blank line ending the event was read
}

// rxSSE is one open GET /v1/stream connection, read line by line as any SSE client does.
type rxSSE struct {
	mu     sync.Mutex
	events []rxSSEEvent
	ended  error
}

func rxOpenSSE(t *testing.T, base, topics string) *rxSSE {
	t.Helper()
	return rxOpenSSEAs(t, base, topics, adminToken)
}

// rxOpenSSEAs opens the stream with token given as ?access_token=.
func rxOpenSSEAs(t *testing.T, base, topics, token string) *rxSSE {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q := url.Values{"access_token": {token}}
	if topics != "" {
		q.Set("topics", topics)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/stream?"+q.Encode(), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		t.Fatalf("GET /v1/stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &rxSSE{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		br := bufio.NewReaderSize(resp.Body, 1<<16)
		var name string
		var data []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				s.mu.Lock()
				s.ended = err
				s.mu.Unlock()
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				if name != "" || len(data) > 0 {
					ev := rxSSEEvent{Name: name, Data: strings.Join(data, "\n"), At: time.Now()}
					if ev.Name == "" {
						ev.Name = "message"
					}
					s.mu.Lock()
					s.events = append(s.events, ev)
					s.mu.Unlock()
				}
				name, data = "", nil
			case strings.HasPrefix(line, ":"): // comment (connected, heartbeat)
			case strings.HasPrefix(line, "event:"):
				name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// alarms returns the alarm events received so far for alarm id ("" for every alarm).
func (s *rxSSE) alarms(id string) []tracking.AlarmEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tracking.AlarmEvent
	for _, e := range s.events {
		if e.Name != "alarm" {
			continue
		}
		var ev tracking.AlarmEvent
		if err := json.Unmarshal([]byte(e.Data), &ev); err != nil {
			continue
		}
		if id == "" || ev.Alarm.ID == id {
			out = append(out, ev)
		}
	}
	return out
}

// find returns the first event from index `from` on that matches, and its index (-1 if none).
func (s *rxSSE) find(from int, match func(rxSSEEvent) bool) (rxSSEEvent, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := from; i < len(s.events); i++ {
		if match(s.events[i]) {
			return s.events[i], i
		}
	}
	return rxSSEEvent{}, -1
}

func (s *rxSSE) len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.events) }

// ---- fixes in ----

// rxFix is one position to send. speed < 0 means none.
type rxFix struct {
	vehicle  string
	ts       time.Time
	lat, lon float64
	speed    float64
	alarms   []string
}

func (f rxFix) body() map[string]any {
	b := map[string]any{"vehicle_id": f.vehicle, "carrier_id": rxCarrier, "ts": f.ts.Format(time.RFC3339Nano), "lat": f.lat, "lon": f.lon}
	if f.speed >= 0 {
		b["speed_kmh"] = f.speed
	}
	if f.alarms != nil {
		b["device_alarms"] = f.alarms
	}
	return b
}

// publish sends fixes on NATS as a gateway does, with the contract's Nats-Msg-Id.
func (r *rxRig) publish(fixes ...rxFix) {
	r.t.Helper()
	for _, f := range fixes {
		r.publishID(f, fmt.Sprintf("%s:%d", f.vehicle, f.ts.UnixNano()))
	}
}

// publishID sends one fix with the given Nats-Msg-Id and returns the stream's answer.
func (r *rxRig) publishID(f rxFix, msgID string) *nats.PubAck {
	r.t.Helper()
	data, _ := json.Marshal(f.body())
	m := nats.NewMsg("telemetry." + rxCarrier + "." + f.vehicle)
	m.Data = data
	m.Header.Set(nats.MsgIdHdr, msgID)
	ack, err := r.js.PublishMsg(m)
	if err != nil {
		r.t.Fatal(err)
	}
	return ack
}

// push sends fixes with POST /v1/telemetry (carrier_id taken from the vehicle).
func (r *rxRig) push(fixes ...rxFix) {
	r.t.Helper()
	var arr []map[string]any
	for _, f := range fixes {
		b := f.body()
		delete(b, "carrier_id")
		arr = append(arr, b)
	}
	var res struct {
		Accepted int `json:"accepted"`
	}
	r.srv.do("POST", "/v1/telemetry", arr, 202, &res)
	if res.Accepted != len(fixes) {
		r.t.Fatalf("POST /v1/telemetry accepted %d of %d", res.Accepted, len(fixes))
	}
}

// ---- resources ----

func (r *rxRig) vehicle(id string) {
	r.t.Helper()
	r.srv.do("POST", "/v1/vehicles", map[string]any{"id": id, "carrier_id": rxCarrier, "plate": "渝B·" + id, "hazard_class": "3", "un_number": "1203"}, 201, nil)
}

// corridor creates a corridor along the given [lon, lat] points.
func (r *rxRig) corridor(coords [][]float64, bufferM float64, maxSpeed float64) string {
	r.t.Helper()
	props := map[string]any{"name": "corridor", "buffer_m": bufferM}
	if maxSpeed > 0 {
		props["max_speed_kmh"] = maxSpeed
	}
	var c struct {
		ID string `json:"id"`
	}
	r.srv.do("POST", "/v1/corridors", map[string]any{"type": "Feature",
		"geometry": map[string]any{"type": "LineString", "coordinates": coords}, "properties": props}, 201, &c)
	return c.ID
}

func (r *rxRig) trip(vehicle, corridor string, from, to time.Time) string {
	r.t.Helper()
	var tr struct {
		ID string `json:"id"`
	}
	r.srv.do("POST", "/v1/trips", map[string]any{"vehicle_id": vehicle, "corridor_id": corridor,
		"starts_at": from.Format(time.RFC3339), "ends_at": to.Format(time.RFC3339)}, 201, &tr)
	return tr.ID
}

// zone creates a rectangular zone [minLon, maxLon] x [minLat, maxLat] over REST.
func (r *rxRig) zone(kind string, minLon, minLat, maxLon, maxLat float64, hours map[string]string) string {
	r.t.Helper()
	props := map[string]any{"name": kind + " zone", "kind": kind}
	if hours != nil {
		props["active_hours"] = hours
	}
	ring := [][]float64{{minLon, minLat}, {maxLon, minLat}, {maxLon, maxLat}, {minLon, maxLat}, {minLon, minLat}}
	var z struct {
		ID         string `json:"id"`
		Properties struct {
			Kind        string            `json:"kind"`
			ActiveHours map[string]string `json:"active_hours"`
		} `json:"properties"`
	}
	r.srv.do("POST", "/v1/zones", map[string]any{"type": "Feature",
		"geometry": map[string]any{"type": "Polygon", "coordinates": [][][]float64{ring}}, "properties": props}, 201, &z)
	if z.ID == "" || z.Properties.Kind != kind || (hours != nil && (z.Properties.ActiveHours["from"] != hours["from"] || z.Properties.ActiveHours["to"] != hours["to"])) {
		r.t.Fatalf("zone answer %+v", z)
	}
	return z.ID
}

// ---- observations ----

func (r *rxRig) alarms(query string) []tracking.Alarm {
	r.t.Helper()
	var l alarmList
	r.srv.do("GET", "/v1/alarms?"+query, nil, 200, &l)
	return l.Alarms
}

// waitAlarm waits until GET /v1/alarms?query lists an alarm that satisfies ok, and returns it.
func (r *rxRig) waitAlarm(query, what string, ok func(tracking.Alarm) bool) tracking.Alarm {
	r.t.Helper()
	var got tracking.Alarm
	waitUntil(r.t, 15*time.Second, what, func() bool {
		for _, a := range r.alarms(query) {
			if ok(a) {
				got = a
				return true
			}
		}
		return false
	})
	return got
}

func (r *rxRig) waitCleared(id, what string) tracking.Alarm {
	r.t.Helper()
	var a tracking.Alarm
	waitUntil(r.t, 15*time.Second, what, func() bool {
		r.srv.do("GET", "/v1/alarms/"+id, nil, 200, &a)
		return !a.Active
	})
	return a
}

type rxLiveFeature struct {
	ID       string `json:"id"`
	Geometry struct {
		Type        string    `json:"type"`
		Coordinates []float64 `json:"coordinates"`
	} `json:"geometry"`
	Properties tracking.VehicleState `json:"properties"`
}

// live returns the vehicle's feature from GET /v1/positions/live?query (ok false when absent).
func (r *rxRig) live(vehicle, query string) (rxLiveFeature, bool) {
	r.t.Helper()
	var fc struct {
		Type     string          `json:"type"`
		Features []rxLiveFeature `json:"features"`
	}
	r.srv.do("GET", "/v1/positions/live?"+query, nil, 200, &fc)
	for _, f := range fc.Features {
		if f.Properties.VehicleID == vehicle {
			return f, true
		}
	}
	return rxLiveFeature{}, false
}

// waitLive waits until the vehicle's live state has fix time ts and returns it; the fix at ts
// has then been processed and committed.
func (r *rxRig) waitLive(vehicle string, ts time.Time) tracking.VehicleState {
	r.t.Helper()
	var f rxLiveFeature
	waitUntil(r.t, 15*time.Second, vehicle+" live at "+ts.Format(time.RFC3339), func() bool {
		var ok bool
		f, ok = r.live(vehicle, "")
		return ok && f.Properties.TS.Equal(ts)
	})
	s := f.Properties
	if f.Geometry.Type != "Point" || len(f.Geometry.Coordinates) != 2 || f.Geometry.Coordinates[0] != s.Lon || f.Geometry.Coordinates[1] != s.Lat {
		r.t.Fatalf("live feature geometry %+v for state %+v", f.Geometry, s)
	}
	return s
}

// track returns the stored fixes of the vehicle over the last two days.
func (r *rxRig) track(vehicle string) []tracking.StoredPosition {
	r.t.Helper()
	var fc struct {
		Features []struct {
			Properties tracking.StoredPosition `json:"properties"`
		} `json:"features"`
	}
	from := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	r.srv.do("GET", "/v1/vehicles/"+vehicle+"/track?limit=10000&from="+url.QueryEscape(from), nil, 200, &fc)
	out := make([]tracking.StoredPosition, len(fc.Features))
	for i, f := range fc.Features {
		out[i] = f.Properties
	}
	return out
}

// waitStored waits until the vehicle's history holds n fixes (the batch has been committed).
func (r *rxRig) waitStored(vehicle string, n int) []tracking.StoredPosition {
	r.t.Helper()
	var tr []tracking.StoredPosition
	waitUntil(r.t, 15*time.Second, fmt.Sprintf("%d fixes of %s stored", n, vehicle), func() bool {
		tr = r.track(vehicle)
		return len(tr) >= n
	})
	if len(tr) != n {
		r.t.Fatalf("%d fixes of %s stored, want %d", len(tr), vehicle, n)
	}
	return tr
}

// metric reads one sample of /metrics (0 when absent).
func (r *rxRig) metric(series string) float64 {
	r.t.Helper()
	resp, err := http.Get(r.srv.base + "/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

const rxDupMetric = `corridor_engine_fixes_total{result="duplicate"}`

// postgisDistance is ST_Distance(corridor::geography, point::geography) in metres.
func (r *rxRig) postgisDistance(corridorID string, lon, lat float64) float64 {
	r.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var d float64
	if err := conn.QueryRow(ctx, `select ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) from corridors where id = $1`,
		corridorID, lon, lat).Scan(&d); err != nil {
		r.t.Fatal(err)
	}
	return d
}

// checkDistance applies CONTRACT §4: agreement with PostGIS to within max(0.5 m, 0.05 %).
func rxCheckDistance(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: distance_m null, PostGIS says %.3f", what, want)
	}
	if tol := math.Max(0.5, want*0.0005); math.Abs(*got-want) > tol {
		t.Fatalf("%s: distance_m %.3f, PostGIS ST_Distance %.3f", what, *got, want)
	}
}

// rxCanon is an alarm as canonical JSON, for comparing what different channels carried.
func rxCanon(a tracking.Alarm) string {
	b, _ := json.Marshal(a)
	return string(b)
}

// checkDelivery checks that NATS (ALARMS stream) and SSE carried exactly the events `want` for
// the alarm, in order, on its subject, and that the last event carries the alarm as REST shows
// it now (`final`). A raised event must show the alarm active with the same facts.
func (r *rxRig) checkDelivery(final tracking.Alarm, want ...string) {
	r.t.Helper()
	subject := "alarms." + final.Kind + "." + final.CarrierID + "." + final.VehicleID
	var natsEvs, sseEvs []tracking.AlarmEvent
	waitUntil(r.t, 10*time.Second, fmt.Sprintf("%s events %v of alarm %s on NATS and SSE", final.Kind, want, final.ID), func() bool {
		natsEvs = natsEvs[:0]
		r.mu.Lock()
		for _, e := range r.natsEv {
			if e.Ev.Alarm.ID == final.ID {
				if e.Subject != subject {
					r.mu.Unlock()
					r.t.Fatalf("alarm %s event on %s, want %s", final.ID, e.Subject, subject)
				}
				natsEvs = append(natsEvs, e.Ev)
			}
		}
		r.mu.Unlock()
		sseEvs = r.sse.alarms(final.ID)
		return len(natsEvs) >= len(want) && len(sseEvs) >= len(want)
	})
	for ch, evs := range map[string][]tracking.AlarmEvent{"NATS": natsEvs, "SSE": sseEvs} {
		var names []string
		for _, e := range evs {
			names = append(names, e.Event)
		}
		if !slices.Equal(names, want) {
			r.t.Fatalf("%s events of %s alarm %s: %v, want %v", ch, final.Kind, final.ID, names, want)
		}
		for i, e := range evs {
			a := e.Alarm
			switch e.Event {
			case tracking.EventRaised:
				b := final
				b.Active, b.ClearedAt = true, nil
				b.State, b.AcknowledgedAt, b.AcknowledgedBy, b.ResolvedAt, b.ResolvedBy, b.Note = tracking.StateOpen, nil, nil, nil, nil, nil
				b.Disposal, b.EscalatedAt = nil, nil
				b.AcknowledgedByKeyID, b.ResolvedByKeyID = nil, nil
				if rxCanon(a) != rxCanon(b) {
					r.t.Fatalf("%s raised event carries\n%s\nwant\n%s", ch, rxCanon(a), rxCanon(b))
				}
			case tracking.EventCleared:
				if a.Active || a.ClearedAt == nil {
					r.t.Fatalf("%s cleared event carries an active alarm: %s", ch, rxCanon(a))
				}
			}
			if i == len(evs)-1 && rxCanon(a) != rxCanon(final) {
				r.t.Fatalf("%s last event (%s) carries\n%s\nREST shows\n%s", ch, e.Event, rxCanon(a), rxCanon(final))
			}
		}
	}
}

// checkAlarm checks the facts every alarm has.
func rxCheckAlarm(t *testing.T, a tracking.Alarm, kind, severity, vehicle string, startedAt, raisedAt time.Time) {
	t.Helper()
	if a.Kind != kind || a.Severity != severity || a.State != tracking.StateOpen || a.VehicleID != vehicle || a.CarrierID != rxCarrier ||
		!a.StartedAt.Equal(startedAt) || !a.RaisedAt.Equal(raisedAt) {
		t.Fatalf("alarm %s\nwant kind %s severity %s state open vehicle %s started_at %s raised_at %s", rxCanon(a), kind, severity,
			vehicle, startedAt.Format(time.RFC3339Nano), raisedAt.Format(time.RFC3339Nano))
	}
}

func rxCheckPos(t *testing.T, a tracking.Alarm, lat, lon float64) {
	t.Helper()
	if a.Position == nil || a.Position.Lat != lat || a.Position.Lon != lon {
		t.Fatalf("alarm %s position %+v, want %v,%v", a.ID, a.Position, lat, lon)
	}
}

func rxStrEq(p *string, s string) bool { return p != nil && *p == s }

func rxFloatEq(p *float64, f float64) bool { return p != nil && *p == f }

// rxNoNews checks that the vehicle's alarms are exactly as before (nothing raised or cleared).
func (r *rxRig) rxNoNews(vehicle string, before []tracking.Alarm, why string) {
	r.t.Helper()
	after := r.alarms("vehicle_id=" + vehicle)
	var b, a []string
	for _, x := range before {
		b = append(b, rxCanon(x))
	}
	for _, x := range after {
		a = append(a, rxCanon(x))
	}
	if !slices.Equal(a, b) {
		r.t.Fatalf("%s changed the alarms of %s:\nbefore %v\nafter  %v", why, vehicle, b, a)
	}
}

// A straight east-west corridor along lat 29.80 from lon 107.00 to 107.10. At this latitude
// 0.0036° of latitude is about 400 m off it and 0.0005° about 55 m.
var rxLine = [][]float64{{107.00, 29.80}, {107.10, 29.80}}

const (
	rxOn  = 29.8005
	rxOff = 29.8036
)

func rxNow() time.Time { return time.Now().UTC().Truncate(time.Second) }

// TestRulesE2ERouteDeviation: N-1 off fixes raise nothing; N raise with started_at, raised_at and
// distance_m (PostGIS) of the contract; live status and distance follow every fix; out-of-order and
// duplicate fixes change nothing; the trip's end (server clock) clears the alarm at ends_at.
func TestRulesE2ERouteDeviation(t *testing.T) {
	t.Parallel()
	r := rxStart(t, map[string]string{"CORRIDOR_DEVIATION_CONFIRM_FIXES": "3", "CORRIDOR_CLEAR_FIXES": "2"}, "alarms")
	const v = "rd-1"
	r.vehicle(v)
	cor := r.corridor(rxLine, 200, 0)
	now := rxNow()
	base := now.Add(-20 * time.Minute)
	endsAt := now.Add(10 * time.Second) // leaves time for the checks below, which normally take 2-3 s
	trip := r.trip(v, cor, base.Add(-time.Minute), endsAt)
	fix := func(i int, lat float64) rxFix {
		return rxFix{vehicle: v, ts: base.Add(time.Duration(i) * time.Minute), lat: lat, lon: 107.01 + float64(i)*0.002, speed: 45}
	}

	// On the corridor: on_route, distance_m as PostGIS says.
	r.publish(fix(0, rxOn), fix(1, rxOn))
	s := r.waitLive(v, fix(1, rxOn).ts)
	if s.Status != tracking.StatusOnRoute || !rxStrEq(s.TripID, trip) || !rxStrEq(s.CorridorID, cor) || s.Plate != "渝B·"+v {
		t.Fatalf("live on the corridor %+v", s)
	}
	rxCheckDistance(t, "live on route", s.DistanceM, r.postgisDistance(cor, fix(1, rxOn).lon, rxOn))

	// N-1 = 2 off fixes, then one back on: off_route, no alarm, and the count starts again.
	r.publish(fix(2, rxOff), fix(3, rxOff))
	s = r.waitLive(v, fix(3, rxOff).ts)
	if s.Status != tracking.StatusOffRoute {
		t.Fatalf("live after two off fixes %+v", s)
	}
	rxCheckDistance(t, "live off route", s.DistanceM, r.postgisDistance(cor, fix(3, rxOff).lon, rxOff))
	if l, ok := r.live(v, "status=off_route"); !ok || l.Properties.VehicleID != v {
		t.Fatalf("status=off_route filter does not list %s", v)
	}
	if a := r.alarms("vehicle_id=" + v); len(a) != 0 {
		t.Fatalf("alarm after N-1 off fixes: %s", rxCanon(a[0]))
	}
	r.publish(fix(4, rxOn))
	if s = r.waitLive(v, fix(4, rxOn).ts); s.Status != tracking.StatusOnRoute {
		t.Fatalf("live back on route %+v", s)
	}

	// N = 3 off fixes raise, at the third.
	r.publish(fix(5, rxOff), fix(6, rxOff+0.0002), fix(7, rxOff+0.0004))
	a := r.waitAlarm("kind=route_deviation&vehicle_id="+v+"&active=true", "route_deviation raised", func(tracking.Alarm) bool { return true })
	rxCheckAlarm(t, a, tracking.AlarmRouteDeviation, tracking.SeverityCritical, v, fix(5, 0).ts, fix(7, 0).ts)
	if !rxStrEq(a.TripID, trip) || !rxStrEq(a.CorridorID, cor) || a.ZoneID != nil || a.ClearedAt != nil || !rxFloatEq(a.SpeedKmh, 45) {
		t.Fatalf("alarm %s", rxCanon(a))
	}
	rxCheckPos(t, a, rxOff+0.0004, fix(7, 0).lon)
	rxCheckDistance(t, "alarm", a.DistanceM, r.postgisDistance(cor, fix(7, 0).lon, rxOff+0.0004))
	if time.Now().After(endsAt) {
		t.Logf("note: the alarm was raised only after the trip's end (slow machine)")
	}
	s = r.waitLive(v, fix(7, 0).ts)
	if s.Status != tracking.StatusOffRoute {
		t.Fatalf("live with the alarm %+v", s)
	}

	// Two on-corridor fixes older than the last processed one are stored (flagged out_of_order)
	// but clear nothing; the same fix again with another Msg-Id is a duplicate that changes
	// nothing; with the contract's Msg-Id the stream itself drops it.
	before := r.alarms("vehicle_id=" + v)
	r.publish(rxFix{vehicle: v, ts: fix(5, 0).ts.Add(20 * time.Second), lat: rxOn, lon: fix(5, 0).lon, speed: 45},
		rxFix{vehicle: v, ts: fix(6, 0).ts.Add(20 * time.Second), lat: rxOn, lon: fix(6, 0).lon, speed: 45})
	tr := r.waitStored(v, 10)
	for _, p := range tr {
		ooo := p.TS.Equal(fix(5, 0).ts.Add(20*time.Second)) || p.TS.Equal(fix(6, 0).ts.Add(20*time.Second))
		if ooo != slices.Contains(p.Flags, tracking.FlagOutOfOrder) {
			t.Fatalf("stored fix %s flags %v", p.TS, p.Flags)
		}
	}
	dups := r.metric(rxDupMetric)
	dup := rxFix{vehicle: v, ts: fix(7, 0).ts, lat: rxOn, lon: fix(7, 0).lon, speed: 45}
	r.publishID(dup, "another-id-for-the-same-fix")
	r.publishID(dup, "another-id-for-the-same-fix-2")
	if ack := r.publishID(fix(7, rxOff+0.0004), fmt.Sprintf("%s:%d", v, fix(7, 0).ts.UnixNano())); !ack.Duplicate {
		t.Fatalf("the stream did not de-duplicate a fix by its Nats-Msg-Id: %+v", ack)
	}
	waitUntil(t, 10*time.Second, "the engine to see the duplicates", func() bool { return r.metric(rxDupMetric) >= dups+2 })
	r.rxNoNews(v, before, "out-of-order and duplicate fixes")
	if s = r.waitLive(v, fix(7, 0).ts); s.Status != tracking.StatusOffRoute || s.Lat != rxOff+0.0004 {
		t.Fatalf("live after out-of-order and duplicate fixes %+v", s)
	}
	if tr = r.waitStored(v, 10); tr[len(tr)-1].Lat != rxOff+0.0004 {
		t.Fatalf("a duplicate replaced the stored fix: %+v", tr[len(tr)-1])
	}

	// The trip ends by the server clock: the alarm clears at ends_at; the vehicle has no trip.
	got := r.waitCleared(a.ID, "route_deviation cleared by the trip's end")
	if got.ClearedAt == nil || !got.ClearedAt.Equal(endsAt) {
		t.Fatalf("cleared_at %v, want the trip's ends_at %s", got.ClearedAt, endsAt)
	}
	waitUntil(t, 5*time.Second, "live no_trip after the trip's end", func() bool {
		l, ok := r.live(v, "")
		return ok && l.Properties.Status == tracking.StatusNoTrip
	})
	l, _ := r.live(v, "")
	if l.Properties.TripID != nil || l.Properties.DistanceM != nil {
		t.Fatalf("live after the trip %+v", l.Properties)
	}
	// A fix at exactly ends_at is after the trip ([starts_at, ends_at)): no trip, no deviation count.
	r.publish(rxFix{vehicle: v, ts: endsAt, lat: rxOff, lon: 107.05, speed: 45})
	if s = r.waitLive(v, endsAt); s.Status != tracking.StatusNoTrip || s.TripID != nil || s.DistanceM != nil {
		t.Fatalf("live of a fix at ends_at %+v", s)
	}
	r.checkDelivery(got, tracking.EventRaised, tracking.EventCleared)
	if n := len(r.alarms("vehicle_id=" + v)); n != 1 {
		t.Fatalf("%d alarms, want 1", n)
	}
	// The list's filters find it, and only it.
	since := url.QueryEscape(got.RaisedAt.Format(time.RFC3339Nano))
	for q, want := range map[string]int{
		"kind=route_deviation&state=open&active=false&carrier_id=" + rxCarrier + "&vehicle_id=" + v + "&since=" + since: 1,
		"active=true": 0, "state=acknowledged": 0, "kind=overspeed": 0, "vehicle_id=nobody": 0, "carrier_id=other": 0,
		"since=" + url.QueryEscape(got.RaisedAt.Add(time.Second).Format(time.RFC3339)): 0,
	} {
		if l := r.alarms(q); len(l) != want || (want == 1 && l[0].ID != got.ID) {
			t.Fatalf("GET /v1/alarms?%s: %d alarms, want %d", q, len(l), want)
		}
	}
}

// TestRulesE2ERestrictedZone: a zone created over REST raises on the first fix inside or on its
// edge (any vehicle, no trip), once; CLEAR_FIXES consecutive fixes outside clear it. A zone with
// active_hours (in CORRIDOR_TIMEZONE, here Asia/Kathmandu, UTC+05:45) raises at the first fix at
// or after `from` while the vehicle is inside, and clears after CLEAR_FIXES fixes from `to` on.
func TestRulesE2ERestrictedZone(t *testing.T) {
	t.Parallel()
	const tz = "Asia/Kathmandu"
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	r := rxStart(t, map[string]string{"CORRIDOR_TIMEZONE": tz, "CORRIDOR_CLEAR_FIXES": "2"}, "alarms")
	const va, vh = "rz-a", "rz-h"
	r.vehicle(va)
	r.vehicle(vh)
	z1 := r.zone(tracking.ZoneRestricted, 107.20, 29.90, 107.21, 29.91, nil)
	// The window is [B+30m, B+60m) in Kathmandu local time; fix times decide, not the server clock.
	B := rxNow().Add(-3 * time.Hour).Truncate(time.Minute)
	from, to := B.Add(30*time.Minute).In(loc).Format("15:04"), B.Add(60*time.Minute).In(loc).Format("15:04")
	z2 := r.zone(tracking.ZoneRestricted, 107.30, 29.90, 107.31, 29.91, map[string]string{"from": from, "to": to})
	time.Sleep(100 * time.Millisecond) // zones reach the engine within 2 s; the next batch reloads them anyway

	// Zone without hours.
	base := rxNow().Add(-30 * time.Minute)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	out := func(i int) rxFix {
		return rxFix{vehicle: va, ts: at(i), lat: 29.905, lon: 107.195 + float64(i%2)*0.02, speed: 30}
	}
	in := func(i int) rxFix { return rxFix{vehicle: va, ts: at(i), lat: 29.905, lon: 107.205, speed: 30} }
	edge := rxFix{vehicle: va, ts: at(1), lat: 29.91, lon: 107.205, speed: 30} // on the north edge
	r.publish(out(0))
	if s := r.waitLive(va, at(0)); s.Status != tracking.StatusNoTrip || s.DistanceM != nil || s.TripID != nil {
		t.Fatalf("live without trip %+v", s)
	}
	r.publish(edge)
	a := r.waitAlarm("kind=restricted_zone&vehicle_id="+va, "restricted_zone raised on the edge", func(tracking.Alarm) bool { return true })
	rxCheckAlarm(t, a, tracking.AlarmRestrictedZone, tracking.SeverityCritical, va, at(1), at(1))
	if !rxStrEq(a.ZoneID, z1) || a.TripID != nil || !a.Active || !rxFloatEq(a.SpeedKmh, 30) {
		t.Fatalf("alarm %s", rxCanon(a))
	}
	rxCheckPos(t, a, 29.91, 107.205)
	// inside, out (1 of 2), inside again (restarts the count), out, out: cleared at the last.
	r.publish(in(2), rxFix{vehicle: va, ts: at(3), lat: 29.905, lon: 107.215, speed: 30}, in(4),
		rxFix{vehicle: va, ts: at(5), lat: 29.905, lon: 107.215, speed: 30}, rxFix{vehicle: va, ts: at(6), lat: 29.905, lon: 107.225, speed: 30})
	got := r.waitCleared(a.ID, "restricted_zone cleared")
	if got.ClearedAt == nil || !got.ClearedAt.Equal(at(6)) {
		t.Fatalf("cleared_at %v, want %s (a fix back inside restarts the count)", got.ClearedAt, at(6))
	}
	// An out-of-order fix inside the zone raises nothing.
	r.publish(in(5).withTS(at(5).Add(30 * time.Second)))
	r.waitStored(va, 8)
	r.rxNoNews(va, []tracking.Alarm{got}, "an out-of-order fix inside the zone")
	r.checkDelivery(got, tracking.EventRaised, tracking.EventCleared)

	// Zone with active hours: inside before the window, nothing.
	inH := func(ts time.Time, k int) rxFix {
		return rxFix{vehicle: vh, ts: ts, lat: 29.905 + float64(k)*0.0001, lon: 107.305, speed: 20}
	}
	r.publish(inH(B.Add(10*time.Minute), 0), inH(B.Add(30*time.Minute-time.Second), 1))
	r.waitLive(vh, B.Add(30*time.Minute-time.Second))
	if l := r.alarms("vehicle_id=" + vh); len(l) != 0 {
		t.Fatalf("alarm before the zone's window (%s-%s %s): %s", from, to, tz, rxCanon(l[0]))
	}
	// The window opens while the vehicle is inside: raised at the first fix at `from`.
	r.publish(inH(B.Add(30*time.Minute), 2), inH(B.Add(45*time.Minute), 3))
	ah := r.waitAlarm("kind=restricted_zone&vehicle_id="+vh, "restricted_zone raised when the window opens", func(tracking.Alarm) bool { return true })
	rxCheckAlarm(t, ah, tracking.AlarmRestrictedZone, tracking.SeverityCritical, vh, B.Add(30*time.Minute), B.Add(30*time.Minute))
	if !rxStrEq(ah.ZoneID, z2) {
		t.Fatalf("alarm %s", rxCanon(ah))
	}
	// The window closes at `to` while still inside: 2 fixes then clear it.
	r.publish(inH(B.Add(60*time.Minute), 4), inH(B.Add(61*time.Minute), 5))
	gotH := r.waitCleared(ah.ID, "restricted_zone cleared when the window closes")
	if gotH.ClearedAt == nil || !gotH.ClearedAt.Equal(B.Add(61*time.Minute)) {
		t.Fatalf("cleared_at %v, want %s", gotH.ClearedAt, B.Add(61*time.Minute))
	}
	r.checkDelivery(gotH, tracking.EventRaised, tracking.EventCleared)
	if n := len(r.alarms("kind=restricted_zone")); n != 2 {
		t.Fatalf("%d restricted_zone alarms, want 2", n)
	}
}

func (f rxFix) withTS(ts time.Time) rxFix { f.ts = ts; return f }

// TestRulesE2EOverspeed: on a trip the corridor's max_speed_kmh is the limit; without a trip
// CORRIDOR_DEFAULT_MAX_SPEED_KMH is. OVERSPEED_CONFIRM_FIXES over the limit raise with the
// highest speed seen; CLEAR_FIXES at or under the limit clear.
func TestRulesE2EOverspeed(t *testing.T) {
	t.Parallel()
	r := rxStart(t, map[string]string{"CORRIDOR_DEFAULT_MAX_SPEED_KMH": "100", "CORRIDOR_OVERSPEED_CONFIRM_FIXES": "3", "CORRIDOR_CLEAR_FIXES": "2"}, "alarms")
	const vt, vn = "os-t", "os-n"
	r.vehicle(vt)
	r.vehicle(vn)
	cor := r.corridor(rxLine, 300, 60)
	now := rxNow()
	base := now.Add(-30 * time.Minute)
	trip := r.trip(vt, cor, base.Add(-time.Minute), now.Add(time.Hour))
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }

	// On the trip (limit 60, over NATS): 70 75 | 50 | 65 90 70 → raised at the 6th with 90.
	speeds := []float64{70, 75, 50, 65, 90, 70, 60, 95, 55, 60}
	fx := func(i int) rxFix {
		return rxFix{vehicle: vt, ts: at(i), lat: 29.8001, lon: 107.01 + float64(i)*0.005, speed: speeds[i]}
	}
	r.publish(fx(0), fx(1), fx(2))
	r.waitLive(vt, at(2))
	if l := r.alarms("vehicle_id=" + vt); len(l) != 0 {
		t.Fatalf("alarm after 2 fixes over the limit: %s", rxCanon(l[0]))
	}
	r.publish(fx(3), fx(4), fx(5))
	a := r.waitAlarm("kind=overspeed&vehicle_id="+vt, "overspeed on the trip", func(tracking.Alarm) bool { return true })
	rxCheckAlarm(t, a, tracking.AlarmOverspeed, tracking.SeverityWarning, vt, at(3), at(5))
	if !rxFloatEq(a.SpeedKmh, 90) || !rxStrEq(a.TripID, trip) || !rxStrEq(a.CorridorID, cor) || a.ZoneID != nil {
		t.Fatalf("alarm %s (speed_kmh must be the highest seen, 90)", rxCanon(a))
	}
	rxCheckPos(t, a, 29.8001, fx(5).lon)
	// 60 (= the limit: compliant), 95 (restarts), 55, 60 → cleared at the last.
	r.publish(fx(6), fx(7), fx(8), fx(9))
	got := r.waitCleared(a.ID, "overspeed cleared")
	if got.ClearedAt == nil || !got.ClearedAt.Equal(at(9)) {
		t.Fatalf("cleared_at %v, want %s", got.ClearedAt, at(9))
	}
	r.checkDelivery(got, tracking.EventRaised, tracking.EventCleared)

	// Without a trip (POST /v1/telemetry): the default limit 100 of the environment applies, not 80.
	sp := []float64{95, 101, 120, 110, 100, 100}
	fn := func(i int) rxFix {
		return rxFix{vehicle: vn, ts: at(i), lat: 29.95, lon: 107.01 + float64(i)*0.005, speed: sp[i]}
	}
	r.push(fn(0), fn(1), fn(2))
	if s := r.waitLive(vn, at(2)); s.Status != tracking.StatusNoTrip {
		t.Fatalf("live %+v", s)
	}
	r.push(fn(3))
	b := r.waitAlarm("kind=overspeed&vehicle_id="+vn, "overspeed without trip", func(tracking.Alarm) bool { return true })
	rxCheckAlarm(t, b, tracking.AlarmOverspeed, tracking.SeverityWarning, vn, at(1), at(3))
	if !rxFloatEq(b.SpeedKmh, 120) || b.TripID != nil || b.CorridorID != nil {
		t.Fatalf("alarm %s", rxCanon(b))
	}
	r.push(fn(4), fn(5))
	gotB := r.waitCleared(b.ID, "overspeed without trip cleared")
	if gotB.ClearedAt == nil || !gotB.ClearedAt.Equal(at(5)) {
		t.Fatalf("cleared_at %v, want %s", gotB.ClearedAt, at(5))
	}
	r.checkDelivery(gotB, tracking.EventRaised, tracking.EventCleared)
	if n := len(r.alarms("")); n != 2 {
		t.Fatalf("%d alarms, want 2", n)
	}
}

// TestRulesE2ESignalLost: with CORRIDOR_OFFLINE_AFTER=4s, a trip that started with no fix raises
// signal_lost at once (started_at = the trip's start, no position); the next fix clears it at its
// server receive time, even though its fix time is old; 4 s of silence (server clock) raise it
// again (started_at = that receive time) and the live status is offline; an out-of-order fix
// changes nothing; the next fix clears it and the status is on_route again. A second vehicle,
// seen before its trip starts (server clock) and silent since, gets signal_lost OFFLINE_AFTER
// after the trip's start, with started_at = the trip's start.
func TestRulesE2ESignalLost(t *testing.T) {
	t.Parallel()
	const offline = 4 * time.Second
	r := rxStart(t, map[string]string{"CORRIDOR_OFFLINE_AFTER": offline.String()}, "alarms")
	const v = "sl-1"
	r.vehicle(v)
	cor := r.corridor(rxLine, 200, 0)
	now := rxNow()
	startsAt := now.Add(-10 * time.Minute)
	// sl-2 is seen before its trip, which starts in a second or two (server clock): signal_lost
	// counts the silence from the trip's start.
	const v2 = "sl-2"
	r.vehicle(v2)
	r.publish(rxFix{vehicle: v2, ts: now.Add(-time.Minute), lat: rxOn, lon: 107.03, speed: 0})
	if s := r.waitLive(v2, now.Add(-time.Minute)); s.Status != tracking.StatusNoTrip {
		t.Fatalf("live before the trip %+v", s)
	}
	starts2 := rxNow().Add(2 * time.Second)
	trip2 := r.trip(v2, cor, starts2, starts2.Add(time.Hour))
	trip := r.trip(v, cor, startsAt, now.Add(time.Hour))

	a1 := r.waitAlarm("kind=signal_lost&vehicle_id="+v, "signal_lost from the trip's start", func(tracking.Alarm) bool { return true })
	if a1.Kind != tracking.AlarmSignalLost || a1.Severity != tracking.SeverityCritical || !a1.StartedAt.Equal(startsAt) ||
		a1.RaisedAt.Before(now.Add(-time.Second)) || a1.RaisedAt.After(time.Now()) || !rxStrEq(a1.TripID, trip) || !rxStrEq(a1.CorridorID, cor) ||
		a1.Position != nil || !a1.Active {
		t.Fatalf("signal_lost of a vehicle never seen: %s (started_at must be the trip's start %s, position null)", rxCanon(a1), startsAt)
	}

	// The first fix (its ts a minute old) clears it at the server time it was received.
	f1 := rxFix{vehicle: v, ts: now.Add(-time.Minute), lat: rxOn, lon: 107.02, speed: 40}
	sent := time.Now()
	r.publish(f1)
	g1 := r.waitCleared(a1.ID, "signal_lost cleared by the first fix")
	if g1.ClearedAt == nil || g1.ClearedAt.Before(sent.Add(-time.Second)) || g1.ClearedAt.After(time.Now()) {
		t.Fatalf("cleared_at %v, want the receive time (sent %s)", g1.ClearedAt, sent.Format(time.RFC3339Nano))
	}
	if s := r.waitLive(v, f1.ts); s.Status != tracking.StatusOnRoute {
		t.Fatalf("live after the first fix %+v", s)
	}
	r.checkDelivery(g1, tracking.EventRaised, tracking.EventCleared)

	// Silence: raised again OFFLINE_AFTER after the fix was received; live status offline.
	a2 := r.waitAlarm("kind=signal_lost&vehicle_id="+v+"&active=true", "signal_lost after silence", func(tracking.Alarm) bool { return true })
	if !a2.StartedAt.Equal(*g1.ClearedAt) {
		t.Fatalf("started_at %s, want the receive time of the last fix %s", a2.StartedAt, g1.ClearedAt)
	}
	if d := a2.RaisedAt.Sub(a2.StartedAt); d < offline || d > offline+3*time.Second {
		t.Fatalf("raised %s after the last fix, want %s (ticks every second)", d, offline)
	}
	rxCheckPos(t, a2, rxOn, 107.02)
	waitUntil(t, 5*time.Second, "live status offline", func() bool {
		l, ok := r.live(v, "status=offline")
		return ok && l.Properties.Status == tracking.StatusOffline
	})

	// An out-of-order fix changes no state (CONTRACT §4): still offline.
	r.publish(f1.withTS(f1.ts.Add(-30 * time.Second)))
	r.waitStored(v, 2)
	if l, _ := r.live(v, ""); l.Properties.Status != tracking.StatusOffline {
		t.Fatalf("live after an out-of-order fix %+v", l.Properties)
	}
	if l := r.alarms("kind=signal_lost&vehicle_id=" + v + "&active=true"); len(l) != 1 || l[0].ID != a2.ID {
		t.Fatalf("active signal_lost after an out-of-order fix: %v", l)
	}

	// The next fix clears it.
	f2 := rxFix{vehicle: v, ts: rxNow().Add(-10 * time.Second), lat: rxOn, lon: 107.021, speed: 40}
	r.publish(f2)
	g2 := r.waitCleared(a2.ID, "signal_lost cleared by the next fix")
	if s := r.waitLive(v, f2.ts); s.Status != tracking.StatusOnRoute || !rxStrEq(s.TripID, trip) {
		t.Fatalf("live after the fix %+v", s)
	}
	r.checkDelivery(g2, tracking.EventRaised, tracking.EventCleared)

	b := r.waitAlarm("kind=signal_lost&vehicle_id="+v2, "signal_lost of a trip that started after the last fix", func(tracking.Alarm) bool { return true })
	if !b.StartedAt.Equal(starts2) || !rxStrEq(b.TripID, trip2) || !b.Active {
		t.Fatalf("signal_lost %s: started_at must be the trip's start %s", rxCanon(b), starts2)
	}
	if d := b.RaisedAt.Sub(starts2); d < offline || d > offline+3*time.Second {
		t.Fatalf("raised %s after the trip's start, want %s", d, offline)
	}
	rxCheckPos(t, b, rxOn, 107.03)
	waitUntil(t, 5*time.Second, v2+" offline", func() bool {
		l, ok := r.live(v2, "status=offline")
		return ok && l.Properties.Status == tracking.StatusOffline
	})
	r.checkDelivery(b, tracking.EventRaised)
}

// TestRulesE2ESignalLostLiveState: signal_lost raised by the server clock sets the live state
// from the engine's tick, and that state must make sense:
//   - a vehicle never seen (its trip started, no fix came) has no position: CONTRACT §3 lists
//     "one Point feature per vehicle seen" in GET /v1/positions/live, so it must not appear there,
//     nor on the SSE stream, as a Point at [0, 0] (Null Island);
//   - a vehicle seen before its trip started, silent since, is offline on that trip: its live
//     trip_id and corridor_id are the trip's, as on the alarm.
//
// Both failed at 7182925 (pkg/engine/engine.go, tick: a live state built with zero lat/lon and
// the trip of the last fix).
func TestRulesE2ESignalLostLiveState(t *testing.T) {
	t.Parallel()
	r := rxStart(t, map[string]string{"CORRIDOR_OFFLINE_AFTER": "2s"}, "positions,alarms")
	const v, v2 = "sl-never", "sl-before"
	r.vehicle(v)
	r.vehicle(v2)
	cor := r.corridor(rxLine, 200, 0)
	now := rxNow()
	r.publish(rxFix{vehicle: v2, ts: now.Add(-time.Minute), lat: rxOn, lon: 107.03, speed: 0})
	r.waitLive(v2, now.Add(-time.Minute))
	trip := r.trip(v, cor, now.Add(-10*time.Minute), now.Add(time.Hour))
	starts2 := rxNow().Add(time.Second)
	trip2 := r.trip(v2, cor, starts2, starts2.Add(time.Hour))

	a := r.waitAlarm("kind=signal_lost&vehicle_id="+v, "signal_lost from the trip's start", func(tracking.Alarm) bool { return true })
	if a.Position != nil || !rxStrEq(a.TripID, trip) {
		t.Fatalf("alarm %s", rxCanon(a))
	}
	time.Sleep(300 * time.Millisecond) // the live state is published right after the alarm's commit
	if l, ok := r.live(v, ""); ok {
		p := l.Properties
		if (p.Lat == 0 && p.Lon == 0) || p.Status != tracking.StatusOffline || !rxStrEq(p.TripID, trip) {
			t.Errorf("GET /v1/positions/live lists vehicle %s, never seen, as a Point at %v: status %s, trip_id %v, ts %s",
				v, l.Geometry.Coordinates, p.Status, p.TripID, p.TS.Format(time.RFC3339Nano))
		}
	}
	if ev, i := r.sse.find(0, func(e rxSSEEvent) bool {
		var s tracking.VehicleState
		return e.Name == "position" && json.Unmarshal([]byte(e.Data), &s) == nil && s.VehicleID == v && s.Lat == 0 && s.Lon == 0
	}); i >= 0 {
		t.Errorf("SSE position event for vehicle %s, never seen, at 0,0: %s", v, ev.Data)
	}

	b := r.waitAlarm("kind=signal_lost&vehicle_id="+v2, "signal_lost of "+v2, func(tracking.Alarm) bool { return true })
	if !rxStrEq(b.TripID, trip2) {
		t.Fatalf("alarm %s", rxCanon(b))
	}
	var l rxLiveFeature
	waitUntil(t, 5*time.Second, v2+" offline", func() bool {
		var ok bool
		l, ok = r.live(v2, "")
		return ok && l.Properties.Status == tracking.StatusOffline
	})
	if p := l.Properties; !rxStrEq(p.TripID, trip2) || !rxStrEq(p.CorridorID, cor) {
		t.Errorf("vehicle %s offline on trip %s, but live trip_id %v corridor_id %v", v2, trip2, p.TripID, p.CorridorID)
	}
}

// TestRulesE2EUnauthorizedStop: with CORRIDOR_STOP_AFTER=2m (fix time), a stop under 5 km/h of
// 1m59s raises nothing, one of 2m raises (started_at = first stopped fix); a stopped fix in
// between restarts the clearing; 2 fixes at >= 5 km/h clear; a stop of 5 min inside a parking
// zone created over REST raises nothing.
func TestRulesE2EUnauthorizedStop(t *testing.T) {
	t.Parallel()
	r := rxStart(t, map[string]string{"CORRIDOR_STOP_AFTER": "2m", "CORRIDOR_CLEAR_FIXES": "2"}, "alarms")
	const v = "us-1"
	r.vehicle(v)
	cor := r.corridor(rxLine, 200, 0)
	r.zone(tracking.ZoneParking, 107.05, 29.79, 107.06, 29.81, nil)
	now := rxNow()
	base := now.Add(-40 * time.Minute)
	trip := r.trip(v, cor, base.Add(-time.Hour), now.Add(time.Hour))
	f := func(d time.Duration, lon, speed float64) rxFix {
		return rxFix{vehicle: v, ts: base.Add(d), lat: 29.8001, lon: lon, speed: speed}
	}
	r.publish(f(0, 107.01, 0), f(time.Minute, 107.01, 1), f(2*time.Minute-time.Second, 107.01, 0))
	r.waitLive(v, base.Add(2*time.Minute-time.Second))
	if l := r.alarms("vehicle_id=" + v); len(l) != 0 {
		t.Fatalf("alarm after a stop of 1m59s: %s", rxCanon(l[0]))
	}
	r.publish(f(2*time.Minute, 107.01, 0))
	a := r.waitAlarm("kind=unauthorized_stop&vehicle_id="+v, "unauthorized_stop", func(tracking.Alarm) bool { return true })
	rxCheckAlarm(t, a, tracking.AlarmUnauthorizedStop, tracking.SeverityWarning, v, base, base.Add(2*time.Minute))
	if !rxStrEq(a.TripID, trip) || !rxStrEq(a.CorridorID, cor) || !rxFloatEq(a.SpeedKmh, 0) {
		t.Fatalf("alarm %s", rxCanon(a))
	}
	rxCheckPos(t, a, 29.8001, 107.01)
	// 20 (1 of 2), 2 (restarts), 20, 25 → cleared at the last.
	r.publish(f(3*time.Minute, 107.011, 20), f(3*time.Minute+30*time.Second, 107.012, 2),
		f(4*time.Minute, 107.013, 20), f(4*time.Minute+30*time.Second, 107.014, 25))
	got := r.waitCleared(a.ID, "unauthorized_stop cleared")
	if got.ClearedAt == nil || !got.ClearedAt.Equal(base.Add(4*time.Minute+30*time.Second)) {
		t.Fatalf("cleared_at %v, want %s", got.ClearedAt, base.Add(4*time.Minute+30*time.Second))
	}
	r.checkDelivery(got, tracking.EventRaised, tracking.EventCleared)

	// Stopped 5 minutes in the parking zone: nothing.
	var park []rxFix
	for i := 0; i <= 5; i++ {
		park = append(park, f(time.Duration(6+i)*time.Minute, 107.055, 0))
	}
	r.publish(park...)
	if s := r.waitLive(v, base.Add(11*time.Minute)); s.Status != tracking.StatusOnRoute {
		t.Fatalf("live in the parking zone %+v", s)
	}
	if l := r.alarms("kind=unauthorized_stop&vehicle_id=" + v); len(l) != 1 {
		t.Fatalf("%d unauthorized_stop alarms after a stop in a parking zone, want 1", len(l))
	}
}

// TestRulesE2EUnauthorizedStopClearsAfterTwoMovingFixes: CONTRACT §4 says unauthorized_stop is
// cleared by "2 consecutive fixes at ≥ 5 km/h", where the other rules say CLEAR_FIXES. With
// CORRIDOR_CLEAR_FIXES=3 the stop must still clear at the second moving fix (failed at 7182925,
// where pkg/rules used ClearFixes for it).
func TestRulesE2EUnauthorizedStopClearsAfterTwoMovingFixes(t *testing.T) {
	t.Parallel()
	r := rxStart(t, map[string]string{"CORRIDOR_STOP_AFTER": "2m", "CORRIDOR_CLEAR_FIXES": "3"}, "alarms")
	const v = "us-2"
	r.vehicle(v)
	cor := r.corridor(rxLine, 200, 0)
	now := rxNow()
	base := now.Add(-40 * time.Minute)
	r.trip(v, cor, base.Add(-time.Hour), now.Add(time.Hour))
	f := func(d time.Duration, lon, speed float64) rxFix {
		return rxFix{vehicle: v, ts: base.Add(d), lat: 29.8001, lon: lon, speed: speed}
	}
	r.publish(f(0, 107.01, 0), f(2*time.Minute, 107.01, 0))
	a := r.waitAlarm("kind=unauthorized_stop&vehicle_id="+v, "unauthorized_stop", func(tracking.Alarm) bool { return true })
	r.publish(f(3*time.Minute, 107.011, 20), f(4*time.Minute, 107.012, 20))
	r.waitLive(v, base.Add(4*time.Minute))
	var got tracking.Alarm
	r.srv.do("GET", "/v1/alarms/"+a.ID, nil, 200, &got)
	if got.Active || got.ClearedAt == nil || !got.ClearedAt.Equal(base.Add(4*time.Minute)) {
		t.Fatalf("unauthorized_stop after 2 consecutive fixes at >= 5 km/h (CORRIDOR_CLEAR_FIXES=3): active %v, cleared_at %v; "+
			"CONTRACT §4 clears it at the 2nd moving fix", got.Active, got.ClearedAt)
	}
}

// TestRulesE2EFatigueDriving: with CORRIDOR_FATIGUE_DRIVE=10m and CORRIDOR_FATIGUE_REST=3m (fix
// time, no trip needed): exactly 10 min of driving with a 2-min stop in it raises nothing, more
// than 10 min raises (started_at = first moving fix); a stop of 2m59s does not clear, one of 3m
// does; a 3-min gap between fixes counts as a rest too.
func TestRulesE2EFatigueDriving(t *testing.T) {
	t.Parallel()
	r := rxStart(t, map[string]string{"CORRIDOR_FATIGUE_DRIVE": "10m", "CORRIDOR_FATIGUE_REST": "3m"}, "alarms")
	const v = "fd-1"
	r.vehicle(v)
	base := rxNow().Add(-time.Hour)
	// The position creeps with time (about 50 m a minute): fixes a second apart must not look
	// like an implausible jump.
	f := func(d time.Duration, speed float64) rxFix {
		return rxFix{vehicle: v, ts: base.Add(d), lat: 29.95, lon: 107.01 + d.Minutes()*0.0005, speed: speed}
	}
	m := time.Minute
	var drive []rxFix
	for _, d := range []time.Duration{0, m, 2 * m, 3 * m} {
		drive = append(drive, f(d, 50))
	}
	drive = append(drive, f(4*m, 0), f(5*m, 0)) // a 1-2 min stop is no rest
	for d := 6 * m; d <= 10*m; d += m {
		drive = append(drive, f(d, 50))
	}
	r.publish(drive...)
	r.waitLive(v, base.Add(10*m))
	if l := r.alarms("vehicle_id=" + v); len(l) != 0 {
		t.Fatalf("alarm after exactly FATIGUE_DRIVE: %s", rxCanon(l[0]))
	}
	r.publish(f(10*m+30*time.Second, 50))
	a := r.waitAlarm("kind=fatigue_driving&vehicle_id="+v, "fatigue_driving", func(tracking.Alarm) bool { return true })
	rxCheckAlarm(t, a, tracking.AlarmFatigueDriving, tracking.SeverityWarning, v, base, base.Add(10*m+30*time.Second))
	if a.TripID != nil || !rxFloatEq(a.SpeedKmh, 50) {
		t.Fatalf("alarm %s", rxCanon(a))
	}
	// Stop: 2m59s is not a rest; 3m is, and clears it.
	r.publish(f(11*m, 0), f(14*m-time.Second, 0))
	r.waitLive(v, base.Add(14*m-time.Second))
	if l := r.alarms("kind=fatigue_driving&vehicle_id=" + v + "&active=true"); len(l) != 1 {
		t.Fatalf("fatigue_driving cleared by a stop shorter than FATIGUE_REST")
	}
	r.publish(f(14*m, 0))
	got := r.waitCleared(a.ID, "fatigue_driving cleared by a rest")
	if got.ClearedAt == nil || !got.ClearedAt.Equal(base.Add(14*m)) {
		t.Fatalf("cleared_at %v, want %s", got.ClearedAt, base.Add(14*m))
	}
	r.checkDelivery(got, tracking.EventRaised, tracking.EventCleared)

	// Driving 15m..20m, a 3-min gap without fixes (a rest), driving 23m..25m30s: 10m30s since
	// 15m, but only 2m30s since the rest: nothing.
	var more []rxFix
	for d := 15 * m; d <= 20*m; d += m {
		more = append(more, f(d, 50))
	}
	more = append(more, f(23*m, 50), f(24*m, 50), f(25*m, 50), f(25*m+30*time.Second, 50))
	// an out-of-order stopped fix in the past changes nothing either
	more = append(more, f(12*m, 0))
	r.publish(more...)
	r.waitStored(v, 26)
	r.waitLive(v, base.Add(25*m+30*time.Second))
	if l := r.alarms("kind=fatigue_driving&vehicle_id=" + v); len(l) != 1 {
		t.Fatalf("%d fatigue_driving alarms: a gap of FATIGUE_REST between fixes is a rest", len(l))
	}
}

// TestRulesE2EDeviceAlarm: a fix with device_alarms raises one device_alarm per name (the name
// in device_alarm); a fix without a name clears that one at once; a fix with none clears all;
// out-of-order and repeated fixes change nothing. Fixes go through POST /v1/telemetry and NATS.
func TestRulesE2EDeviceAlarm(t *testing.T) {
	t.Parallel()
	r := rxStart(t, nil, "alarms")
	const v = "da-1"
	r.vehicle(v)
	// Streams of a carrier token: its own carrier's alarms only.
	r.srv.do("POST", "/v1/carriers", map[string]any{"id": "other-co", "name": "Other"}, 201, nil)
	var own, other struct {
		Token string `json:"token"`
	}
	r.srv.do("POST", "/v1/api-keys", map[string]any{"role": "carrier", "carrier_id": rxCarrier}, 201, &own)
	r.srv.do("POST", "/v1/api-keys", map[string]any{"role": "carrier", "carrier_id": "other-co"}, 201, &other)
	ownSSE := rxOpenSSEAs(t, r.srv.base, "alarms", own.Token)
	otherSSE := rxOpenSSEAs(t, r.srv.base, "positions,alarms", other.Token)
	base := rxNow().Add(-10 * time.Minute)
	f := func(i int, alarms ...string) rxFix {
		return rxFix{vehicle: v, ts: base.Add(time.Duration(i) * time.Minute), lat: 29.95, lon: 107.01 + float64(i)*0.001, speed: 30, alarms: alarms}
	}
	r.push(f(0, "emergency", "power_cut"))
	var em, pc tracking.Alarm
	waitUntil(t, 15*time.Second, "two device alarms", func() bool {
		l := r.alarms("kind=device_alarm&vehicle_id=" + v)
		for _, a := range l {
			switch {
			case rxStrEq(a.DeviceAlarm, "emergency"):
				em = a
			case rxStrEq(a.DeviceAlarm, "power_cut"):
				pc = a
			}
		}
		return len(l) >= 2
	})
	for _, a := range []tracking.Alarm{em, pc} {
		rxCheckAlarm(t, a, tracking.AlarmDevice, tracking.SeverityCritical, v, base, base)
		if a.ZoneID != nil || a.TripID != nil || !a.Active || !rxFloatEq(a.SpeedKmh, 30) {
			t.Fatalf("alarm %s", rxCanon(a))
		}
		rxCheckPos(t, a, 29.95, 107.01)
	}
	// The same fix again (REST, same vehicle and ts) and the same names again: nothing new.
	r.push(f(0, "emergency", "power_cut"))
	r.publish(f(1, "emergency", "emergency")) // power_cut is gone: cleared at this fix
	gpc := r.waitCleared(pc.ID, "power_cut cleared")
	if gpc.ClearedAt == nil || !gpc.ClearedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("power_cut cleared_at %v", gpc.ClearedAt)
	}
	if l := r.alarms("kind=device_alarm&vehicle_id=" + v + "&active=true"); len(l) != 1 || l[0].ID != em.ID {
		t.Fatalf("active device alarms %v, want only emergency %s", l, em.ID)
	}
	r.push(f(2))
	gem := r.waitCleared(em.ID, "emergency cleared by a fix without it")
	if gem.ClearedAt == nil || !gem.ClearedAt.Equal(base.Add(2*time.Minute)) {
		t.Fatalf("emergency cleared_at %v", gem.ClearedAt)
	}
	// An out-of-order fix carrying an alarm raises nothing.
	before := r.alarms("vehicle_id=" + v)
	r.publish(f(1, "fatigue").withTS(base.Add(90 * time.Second)))
	r.waitStored(v, 4)
	r.rxNoNews(v, before, "an out-of-order fix with device_alarms")
	r.checkDelivery(gpc, tracking.EventRaised, tracking.EventCleared)
	r.checkDelivery(gem, tracking.EventRaised, tracking.EventCleared)
	if s := r.waitLive(v, base.Add(2*time.Minute)); s.Status != tracking.StatusNoTrip {
		t.Fatalf("live %+v", s)
	}
	waitUntil(t, 5*time.Second, "4 alarm events on the carrier's own stream", func() bool { return len(ownSSE.alarms("")) >= 4 })
	if n := len(ownSSE.alarms("")); n != 4 {
		t.Fatalf("the carrier's own stream got %d alarm events, want 4", n)
	}
	if n := otherSSE.len(); n != 0 {
		t.Fatalf("another carrier's stream got %d events", n)
	}

	// Resolving an active alarm is allowed; the rules still clear it, and a later violation
	// raises a new alarm.
	const v2 = "da-2"
	r.vehicle(v2)
	g := func(i int, alarms ...string) rxFix {
		return rxFix{vehicle: v2, ts: base.Add(time.Duration(i) * time.Minute), lat: 29.96, lon: 107.01, speed: 0, alarms: alarms}
	}
	r.publish(g(0, "emergency"))
	e1 := r.waitAlarm("vehicle_id="+v2, "emergency of "+v2, func(tracking.Alarm) bool { return true })
	var res tracking.Alarm
	r.srv.do("POST", "/v1/alarms/"+e1.ID+"/resolve", map[string]any{"note": "driver pressed it by mistake", "disposal": "false_alarm"}, 200, &res)
	if res.State != tracking.StateResolved || !res.Active || res.ResolvedAt == nil || res.ResolvedBy == nil || !rxStrEq(res.Note, "driver pressed it by mistake") {
		t.Fatalf("resolved active alarm %s", rxCanon(res))
	}
	r.publish(g(1, "emergency")) // still the same violation: nothing new
	r.waitLive(v2, g(1).ts)
	if l := r.alarms("vehicle_id=" + v2); len(l) != 1 {
		t.Fatalf("%d alarms while the resolved one is still active", len(l))
	}
	r.publish(g(2))
	ge1 := r.waitCleared(e1.ID, "the resolved alarm cleared by the rules")
	if ge1.State != tracking.StateResolved || ge1.ClearedAt == nil || !ge1.ClearedAt.Equal(g(2).ts) {
		t.Fatalf("resolved then cleared %s", rxCanon(ge1))
	}
	r.publish(g(3, "emergency"))
	e2 := r.waitAlarm("vehicle_id="+v2+"&active=true", "a new emergency", func(tracking.Alarm) bool { return true })
	if e2.ID == e1.ID || e2.State != tracking.StateOpen || !e2.RaisedAt.Equal(g(3).ts) {
		t.Fatalf("new alarm %s", rxCanon(e2))
	}
	r.checkDelivery(ge1, tracking.EventRaised, tracking.EventResolved, tracking.EventCleared)
	r.checkDelivery(e2, tracking.EventRaised)
}

// TestRulesE2ESSELatency measures, over 20 raise/clear cycles of route_deviation, the time from
// publishing the confirming fix on NATS to the `event: alarm` (raised) arriving on an open
// /v1/stream connection, and from publishing any fix to its `event: position`. It fails only when
// the median alarm latency exceeds the contract's 1 s.
func TestRulesE2ESSELatency(t *testing.T) {
	r := rxStart(t, nil, "positions,alarms")
	const v = "lat-1"
	r.vehicle(v)
	cor := r.corridor(rxLine, 200, 0)
	now := rxNow()
	const cycles = 20
	base := now.Add(-30 * time.Minute)
	r.trip(v, cor, base.Add(-time.Minute), now.Add(time.Hour))
	time.Sleep(200 * time.Millisecond)

	var alarmLat, posLat []time.Duration
	n := 0
	next := 0 // SSE events before this index have been consumed
	send := func(lat float64) (time.Time, time.Time) {
		ts := base.Add(time.Duration(n) * 10 * time.Second)
		f := rxFix{vehicle: v, ts: ts, lat: lat, lon: 107.01 + float64(n)*0.0005, speed: 40}
		n++
		sent := time.Now()
		r.publish(f)
		ev, i := rxWaitSSE(t, r.sse, next, "position "+ts.Format(time.RFC3339), func(e rxSSEEvent) bool {
			if e.Name != "position" {
				return false
			}
			var s tracking.VehicleState
			return json.Unmarshal([]byte(e.Data), &s) == nil && s.VehicleID == v && s.TS.Equal(ts)
		})
		posLat = append(posLat, ev.At.Sub(sent))
		_ = i
		return ts, sent
	}
	waitAlarmEv := func(event string, at time.Time) rxSSEEvent {
		ev, i := rxWaitSSE(t, r.sse, next, event+" "+at.Format(time.RFC3339), func(e rxSSEEvent) bool {
			if e.Name != "alarm" {
				return false
			}
			var a tracking.AlarmEvent
			if json.Unmarshal([]byte(e.Data), &a) != nil || a.Event != event || a.Alarm.VehicleID != v {
				return false
			}
			if event == tracking.EventRaised {
				return a.Alarm.RaisedAt.Equal(at)
			}
			return a.Alarm.ClearedAt != nil && a.Alarm.ClearedAt.Equal(at)
		})
		next = i + 1
		return ev
	}
	start := time.Now()
	for c := 0; c < cycles; c++ {
		send(rxOff)
		send(rxOff)
		ts, sent := send(rxOff) // the confirming fix
		ev := waitAlarmEv(tracking.EventRaised, ts)
		alarmLat = append(alarmLat, ev.At.Sub(sent))
		send(rxOn)
		ts, _ = send(rxOn)
		waitAlarmEv(tracking.EventCleared, ts)
	}
	elapsed := time.Since(start)
	am, ax := rxMedianMax(alarmLat)
	pm, px := rxMedianMax(posLat)
	t.Logf("SSE alarm latency (NATS publish of the confirming fix -> event: alarm raised), %d samples: median %s, max %s",
		len(alarmLat), am.Round(time.Millisecond), ax.Round(time.Millisecond))
	t.Logf("SSE position latency (NATS publish of a fix -> event: position), %d samples: median %s, max %s",
		len(posLat), pm.Round(time.Millisecond), px.Round(time.Millisecond))
	t.Logf("%d cycles in %s", cycles, elapsed.Round(time.Millisecond))
	if am > time.Second {
		t.Errorf("median SSE alarm latency %s exceeds 1 s (CONTRACT/issue 4)", am)
	}
	all := r.alarms("kind=route_deviation&vehicle_id=" + v)
	if len(all) != cycles {
		t.Fatalf("%d route_deviation alarms, want %d", len(all), cycles)
	}
	// Newest first, and paging with limit and cursor gives the same list.
	var paged []tracking.Alarm
	q := "kind=route_deviation&limit=7"
	for pages := 0; ; pages++ {
		var page alarmList
		r.srv.do("GET", "/v1/alarms?"+q, nil, 200, &page)
		paged = append(paged, page.Alarms...)
		if page.NextCursor == nil || pages > cycles {
			break
		}
		q = "kind=route_deviation&limit=7&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	for i := range all {
		if i > 0 && !all[i].RaisedAt.Before(all[i-1].RaisedAt) {
			t.Fatalf("alarms not newest first: %s then %s", all[i-1].RaisedAt, all[i].RaisedAt)
		}
		if i >= len(paged) || paged[i].ID != all[i].ID {
			t.Fatalf("paging with limit=7 gives %d alarms, differing at %d", len(paged), i)
		}
	}
	if len(paged) != len(all) {
		t.Fatalf("paging gives %d alarms, want %d", len(paged), len(all))
	}
}

// rxWaitSSE waits for the first SSE event from index from on that matches.
func rxWaitSSE(t *testing.T, s *rxSSE, from int, what string, match func(rxSSEEvent) bool) (rxSSEEvent, int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ev, i := s.find(from, match); i >= 0 {
			return ev, i
		}
		if time.Now().After(deadline) {
			s.mu.Lock()
			ended := s.ended
			s.mu.Unlock()
			t.Fatalf("timed out waiting for SSE %s (%d events, stream ended: %v)", what, s.len(), ended)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func rxMedianMax(d []time.Duration) (time.Duration, time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return med, s[len(s)-1]
}
