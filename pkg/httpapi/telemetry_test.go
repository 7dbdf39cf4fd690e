package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/httpapi"
)

func fix(vehicle string, ts time.Time, extra ...any) map[string]any {
	m := map[string]any{"vehicle_id": vehicle, "ts": ts.Format(time.RFC3339Nano), "lat": 29.81, "lon": 107.02}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTelemetry(t *testing.T) {
	e := newEnv(t)
	ts := e.now.Add(-time.Minute)

	// One object: carrier_id filled from the vehicle; unknown fields ignored.
	r := e.do("POST", "/v1/telemetry", roleCarrier, fix("a1", ts, "speed_kmh", 62.5, "vendor_field", "x"))
	wantStatus(t, r, http.StatusAccepted)
	var acc struct{ Accepted int }
	r.decode(t, &acc)
	got := e.pub.positions()
	if acc.Accepted != 1 || len(got) != 1 || got[0].CarrierID != "acme" || *got[0].SpeedKmh != 62.5 || !got[0].TS.Equal(ts) {
		t.Fatalf("accepted %+v published %+v", acc, got)
	}

	// A batch (admin may push any vehicle), gzip-compressed.
	batch := []any{fix("a1", ts.Add(time.Second)), fix("b1", ts, "carrier_id", "beta")}
	data, _ := json.Marshal(batch)
	r = e.do("POST", "/v1/telemetry", roleAdmin, gz(t, data), "Content-Encoding", "gzip")
	wantStatus(t, r, http.StatusAccepted)
	r.decode(t, &acc)
	if acc.Accepted != 2 || len(e.pub.positions()) != 3 {
		t.Fatalf("batch accepted %+v", acc)
	}

	// Every bad item is named by index and field; nothing is published.
	bad := []any{
		fix("a1", ts, "lat", 95),
		fix("a1", ts),
		fix("ghost", ts),
		fix("a1", ts, "carrier_id", "beta"),
		map[string]any{"vehicle_id": "a1", "lat": 29.8, "lon": 107},
		fix("a1", e.now.Add(time.Hour)),
	}
	p := e.do("POST", "/v1/telemetry", roleAdmin, bad).problem(t)
	if p.Status != http.StatusBadRequest {
		t.Fatalf("bad batch %+v", p)
	}
	want := map[string]bool{"0 lat": true, "4 ts": true, "5 ts": true}
	for _, fe := range p.Errors {
		if fe.Index == nil {
			t.Fatalf("field error without index: %+v", fe)
		}
		delete(want, fmt.Sprintf("%d %s", *fe.Index, fe.Field))
	}
	if len(want) != 0 {
		t.Fatalf("missing %v in %+v", want, p.Errors)
	}
	// device_alarms: only JT/T 808 alarm names, at most 32 (CONTRACT §2's examples are fine).
	alarms33 := make([]string, 33)
	for i := range alarms33 {
		alarms33[i] = "emergency"
	}
	p = e.do("POST", "/v1/telemetry", roleAdmin, []any{
		fix("a1", ts, "device_alarms", []string{"emergency", "overspeed", "fatigue", "power_cut"}),
		fix("a1", ts, "device_alarms", []string{"power_cut", "made_up"}),
		fix("a1", ts, "device_alarms", alarms33),
	}).problem(t)
	if p.Status != http.StatusBadRequest || len(p.Errors) != 2 || *p.Errors[0].Index != 1 || p.Errors[0].Field != "device_alarms[1]" ||
		*p.Errors[1].Index != 2 || p.Errors[1].Field != "device_alarms" {
		t.Fatalf("device_alarms %+v", p)
	}
	// Vehicle checks come after decoding: unknown vehicle and carrier mismatch, by index.
	p = e.do("POST", "/v1/telemetry", roleAdmin, bad[1:4]).problem(t)
	if len(p.Errors) != 2 || *p.Errors[0].Index != 1 || p.Errors[0].Field != "vehicle_id" || *p.Errors[1].Index != 2 || p.Errors[1].Field != "carrier_id" {
		t.Fatalf("vehicle checks %+v", p.Errors)
	}
	if len(e.pub.positions()) != 3 {
		t.Fatal("a rejected batch was published")
	}
	// A single object's errors have no index.
	p = e.do("POST", "/v1/telemetry", roleAdmin, fix("ghost", ts)).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Index != nil || p.Errors[0].Field != "vehicle_id" {
		t.Fatalf("single %+v", p.Errors)
	}
	p = e.do("POST", "/v1/telemetry", roleAdmin, `[{"vehicle_id": "a1",`).problem(t)
	if p.Status != http.StatusBadRequest || !problemHas(p.Errors, "body") {
		t.Fatalf("malformed %+v", p)
	}
	p = e.do("POST", "/v1/telemetry", roleAdmin, `[]`).problem(t)
	if p.Status != http.StatusBadRequest {
		t.Fatalf("empty %+v", p)
	}
	many := make([]any, httpapi.MaxTelemetryBatch+1)
	for i := range many {
		many[i] = fix("a1", ts.Add(time.Duration(i)*time.Millisecond))
	}
	wantStatus(t, e.do("POST", "/v1/telemetry", roleAdmin, many), http.StatusBadRequest)

	// A carrier token may push only its own vehicles: another carrier's vehicle gets exactly the
	// answer a vehicle that does not exist gets (no way to learn which ids exist).
	foreign := e.do("POST", "/v1/telemetry", roleCarrier, []any{fix("a1", ts), fix("b1", ts)})
	ghost := e.do("POST", "/v1/telemetry", roleCarrier, []any{fix("a1", ts), fix("b1x", ts)})
	if foreign.StatusCode != http.StatusBadRequest ||
		strings.ReplaceAll(string(foreign.body), "b1", "b1x") != string(ghost.body) || foreign.StatusCode != ghost.StatusCode {
		t.Fatalf("foreign push %d %s\nunknown vehicle %d %s", foreign.StatusCode, foreign.body, ghost.StatusCode, ghost.body)
	}

	// A vehicle that reports through its JT/T 808 terminal cannot be pushed over HTTP (409),
	// whoever asks, so HTTP cannot put its timeline ahead of the terminal's.
	for _, role := range []string{roleCarrier, roleAdmin} {
		p = e.do("POST", "/v1/telemetry", role, []any{fix("a1", ts), fix("a2", ts)}).problem(t)
		if p.Status != http.StatusConflict || !strings.Contains(p.Detail, "JT/T 808 terminal") {
			t.Fatalf("push for a terminal's vehicle as %s: %+v", role, p)
		}
	}

	// Over 1 MiB: as sent, and after decompression (a small gzip body that inflates past it).
	big := []byte(`[` + strings.Repeat(`{"vehicle_id":"a1"},`, 60000) + `{}]`)
	p = e.do("POST", "/v1/telemetry", roleAdmin, big).problem(t)
	if p.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("big %+v", p)
	}
	bomb := gz(t, append([]byte(`{"vehicle_id": "a1", "pad": "`), bytes.Repeat([]byte("a"), 2<<20)...))
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes compressed", len(bomb))
	}
	p = e.do("POST", "/v1/telemetry", roleAdmin, bomb, "Content-Encoding", "gzip").problem(t)
	if p.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("bomb %+v", p)
	}
	p = e.do("POST", "/v1/telemetry", roleAdmin, data, "Content-Encoding", "br").problem(t)
	if p.Status != http.StatusUnsupportedMediaType {
		t.Fatalf("brotli %+v", p)
	}
	p = e.do("POST", "/v1/telemetry", roleAdmin, data, "Content-Encoding", "gzip").problem(t)
	if p.Status != http.StatusBadRequest {
		t.Fatalf("not gzip %+v", p)
	}

	// When JetStream does not take the positions: 503, nothing accepted.
	e.pub.fail = errors.New("nats: timeout")
	p = e.do("POST", "/v1/telemetry", roleAdmin, fix("a1", ts)).problem(t)
	if p.Status != http.StatusServiceUnavailable {
		t.Fatalf("publisher down %+v", p)
	}
	e.pub.fail = nil
}

func TestProblems(t *testing.T) {
	e := newEnv(t)
	p := e.do("GET", "/v1/nowhere", roleAdmin, nil).problem(t)
	if p.Status != http.StatusNotFound || p.Type != "urn:corridor:problem:not-found" {
		t.Fatalf("unknown path %+v", p)
	}
	wantStatus(t, e.do("GET", "/nowhere", roleNone, nil), http.StatusNotFound)
	r := e.do("DELETE", "/v1/carriers", roleAdmin, nil)
	p = r.problem(t)
	if p.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("405 %+v Allow %q", p, r.Header.Get("Allow"))
	}
	r = e.do("POST", "/healthz", roleNone, nil)
	if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET" {
		t.Fatalf("405 on /healthz: %d %q", r.StatusCode, r.Header.Get("Allow"))
	}
	r.problem(t)
	p = e.do("GET", "/v1/vehicles", roleNone, nil).problem(t)
	if p.Type != "urn:corridor:problem:unauthorized" {
		t.Fatalf("401 %+v", p)
	}

}

func TestHealthAndMetrics(t *testing.T) {
	var ready atomic.Bool
	e := newEnv(t, func(d *httpapi.Deps) {
		d.Ready = func(context.Context) error {
			if !ready.Load() {
				return errors.New("engine not started")
			}
			return nil
		}
	})
	wantStatus(t, e.do("GET", "/healthz", roleNone, nil), http.StatusOK)
	p := e.do("GET", "/readyz", roleNone, nil).problem(t)
	if p.Status != http.StatusServiceUnavailable || strings.Contains(p.Detail, "engine not started") {
		t.Fatalf("readyz without a token must give the status only: %+v", p)
	}
	p = e.do("GET", "/readyz", roleSafety, nil).problem(t)
	if p.Status != http.StatusServiceUnavailable || !strings.Contains(p.Detail, "engine not started") {
		t.Fatalf("readyz for an authenticated caller must give the cause: %+v", p)
	}
	ready.Store(true)
	wantStatus(t, e.do("GET", "/readyz", roleNone, nil), http.StatusOK)
	wantStatus(t, e.do("GET", "/v1/vehicles/a1", roleAdmin, nil), http.StatusOK)
	r := e.do("GET", "/metrics", roleNone, nil)
	wantStatus(t, r, http.StatusOK)
	for _, want := range []string{
		`corridor_http_requests_total{code="200",method="GET",route="/v1/vehicles/{id}"} 1`,
		`corridor_http_request_duration_seconds_count{method="GET",route="/v1/vehicles/{id}"} 1`,
		`corridor_http_requests_total{code="503",method="GET",route="/readyz"} 2`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	e.do("GET", "/", roleNone, nil)
}
