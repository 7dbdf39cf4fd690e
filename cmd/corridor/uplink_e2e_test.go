package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/jt809"
	"github.com/corridor-dev/corridor/pkg/jt809/jt809test"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func TestUplinkConfigErrors(t *testing.T) {
	var out bytes.Buffer
	env := map[string]string{"CORRIDOR_ROLES": "api,uplink", "CORRIDOR_JT809_VERSION": "2015", "CORRIDOR_JT809_ENCRYPT": "true",
		"CORRIDOR_JT809_USER_ID": "x"}
	code := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &out, &out)
	s := out.String()
	if code != 2 {
		t.Fatalf("exit %d:\n%s", code, s)
	}
	for _, want := range []string{"CORRIDOR_JT809_ADDR: required", "CORRIDOR_JT809_USER_ID: \"x\"", "CORRIDOR_JT809_GNSS_CENTER_ID: required",
		"CORRIDOR_JT809_VERSION", "CORRIDOR_JT809_M1: required"} {
		if !strings.Contains(s, want) {
			t.Errorf("no line about %s in:\n%s", want, s)
		}
	}
	// Without the role, the variables are not required.
	if _, err := loadConfig(func(k string) string { return map[string]string{"CORRIDOR_ROLES": "api"}[k] }); err != nil {
		t.Fatal(err)
	}
}

// TestServeUplinkRole runs `corridor serve` with the uplink role against a simulated government
// platform: /readyz stays 200 and says "uplink: down since" while the platform refuses, the link
// comes up by itself (state on /metrics), an alarm the engine raises goes up as 0x1402, the
// platform's supervision of it reaches GET /v1/alarms/{id}/supervisions and the stream, and its
// duty check reaches GET /v1/duty-checks and is answered through the API as 0x1301.
func TestServeUplinkRole(t *testing.T) {
	p := jt809test.Start(t, jt809.V2011, nil)
	p.SetRefuse(true)
	env := map[string]string{"DATABASE_URL": pgtest.NewURL(t, false), "NATS_URL": startNATS(t), "CORRIDOR_DATA_DIR": t.TempDir(),
		"CORRIDOR_ROLES": "gateway,engine,api,uplink", "CORRIDOR_JT809_ADDR": p.Addr(), "CORRIDOR_JT809_USER_ID": "10001",
		"CORRIDOR_JT809_PASSWORD": "pa55", "CORRIDOR_JT809_GNSS_CENTER_ID": "20180920", "CORRIDOR_JT809_DOWN_ADDR": "127.0.0.1:0",
		"CORRIDOR_JT809_KEEPALIVE": "1s", "CORRIDOR_DEVIATION_CONFIRM_FIXES": "1"}
	srv := startServe(t, env)
	get := func(path string) string { // authenticated: /readyz tells its details only then
		req, _ := http.NewRequest("GET", srv.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if r := get("/readyz"); !strings.Contains(r, "uplink: down since") {
		t.Fatalf("/readyz while the platform refuses: %s", r)
	}
	p.SetRefuse(false)
	p.WaitFor("login", func() bool { return p.Logins() == 1 })
	p.WaitFor("slave link", p.SlaveUp)
	p.WaitFor("/readyz without detail and main_link_up 1", func() bool {
		return !strings.Contains(get("/readyz"), "uplink") && strings.Contains(get("/metrics"), "corridor_jt809_main_link_up 1")
	})
	if req := p.Frames()[0].Body.(jt809.UpConnectReq); req.UserID != 10001 || req.Password != "pa55" {
		t.Fatalf("login %+v", req)
	}

	// A truck on a trip strays from its corridor: the engine raises route_deviation.
	srv.do("POST", "/v1/carriers", map[string]any{"id": "cq", "name": "CQ"}, 201, nil)
	srv.do("POST", "/v1/vehicles", map[string]any{"id": "t1", "carrier_id": "cq", "plate": "渝B7X123"}, 201, nil)
	var corridor struct{ ID string }
	srv.do("POST", "/v1/corridors", map[string]any{"type": "Feature",
		"geometry":   map[string]any{"type": "LineString", "coordinates": [][]float64{{107.00, 29.80}, {107.05, 29.80}}},
		"properties": map[string]any{"name": "c", "buffer_m": 200}}, 201, &corridor)
	now := time.Now().UTC().Truncate(time.Second)
	srv.do("POST", "/v1/trips", map[string]any{"vehicle_id": "t1", "corridor_id": corridor.ID,
		"starts_at": now.Add(-time.Hour).Format(time.RFC3339), "ends_at": now.Add(time.Hour).Format(time.RFC3339)}, 201, nil)

	stream, err := http.NewRequest("GET", srv.base+"/v1/stream?topics=alarms&access_token="+adminToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(stream)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	srv.do("POST", "/v1/telemetry", []map[string]any{
		{"vehicle_id": "t1", "ts": now.Add(-60 * time.Second).Format(time.RFC3339), "lat": 29.8001, "lon": 107.01},
		{"vehicle_id": "t1", "ts": now.Add(-10 * time.Second).Format(time.RFC3339), "lat": 29.8035, "lon": 107.011},
	}, 202, nil)
	p.WaitFor("real-time positions", func() bool { return len(p.Business(jt809.DataRealLocation)) == 2 })
	p.WaitFor("0x1402", func() bool { return len(p.Business(jt809.DataAdptInfo)) == 1 })
	wi := p.Business(jt809.DataAdptInfo)[0].Data.(jt809.WarnInfo)
	if wi.Type != jt809.WarnRouteDeviation {
		t.Fatalf("0x1402 %+v", wi)
	}

	// The regulator supervises it.
	u := jt809.UrgeTodoReq{Src: 2, Type: wi.Type, WarnTime: wi.Time, SupervisionID: 4711, EndTime: time.Now().Add(time.Hour), Supervisor: "监管员"}
	p.Send(jt809.MsgDownWarn, jt809.VehicleMsg{Plate: "渝B7X123", Color: 2, DataType: jt809.DataUrgeTodoReq, Data: u.Marshal(jt809.V2011)}.Marshal())
	var alarms struct{ Alarms []tracking.Alarm }
	srv.do("GET", "/v1/alarms?vehicle_id=t1", nil, 200, &alarms)
	if len(alarms.Alarms) != 1 {
		t.Fatalf("alarms %+v", alarms)
	}
	var sups struct{ Supervisions []tracking.Supervision }
	p.WaitFor("supervision over REST", func() bool {
		srv.do("GET", "/v1/alarms/"+alarms.Alarms[0].ID+"/supervisions", nil, 200, &sups)
		return len(sups.Supervisions) == 1
	})
	if s := sups.Supervisions[0]; s.SupervisionID != 4711 || s.Supervisor != "监管员" {
		t.Fatalf("supervision %+v", s)
	}
	deadline := time.After(jt809test.Timeout)
	for seen := false; !seen; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended")
			}
			seen = l == "event: supervision"
		case <-deadline:
			t.Fatal("no supervision event on the stream")
		}
	}

	// A duty check reaches the API and its answer goes up.
	p.Send(jt809.MsgDownPlatform, jt809.VehicleMsg{NoPlate: true, DataType: jt809.DataPostQueryReq,
		Data: jt809.PostQueryReq{InfoID: 9, Content: "请报告值班人员"}.Marshal(jt809.V2011)}.Marshal())
	var checks struct {
		DutyChecks []tracking.DutyCheck `json:"duty_checks"`
	}
	p.WaitFor("duty check over REST", func() bool {
		srv.do("GET", "/v1/duty-checks?answered=false", nil, 200, &checks)
		return len(checks.DutyChecks) == 1
	})
	srv.do("POST", "/v1/duty-checks/"+checks.DutyChecks[0].ID+"/answer", map[string]any{"answer": "张三在岗"}, 200, nil)
	p.WaitFor("0x1301", func() bool { return len(p.Business(jt809.DataPostQueryAck)) == 1 })
	if a := p.Business(jt809.DataPostQueryAck)[0].Data.(jt809.PostQueryAck); a.InfoID != 9 || a.Content != "张三在岗" {
		t.Fatalf("0x1301 %+v", a)
	}
}
