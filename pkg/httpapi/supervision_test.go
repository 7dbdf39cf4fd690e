package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

func (e *env) freshDutyCheck() string {
	e.t.Helper()
	d, err := e.db.CreateDutyCheck(context.Background(), tracking.NewDutyCheck{InfoID: next(), MsgSN: next(), Question: "在岗吗?"})
	if err != nil {
		e.t.Fatal(err)
	}
	return d.ID
}

// TestDutyChecks: a duty check is listed, answered once (409 the second time) with the response
// time recorded, and the answered filter and pagination work.
func TestDutyChecks(t *testing.T) {
	e := newEnv(t)
	first := e.freshDutyCheck()
	second := e.freshDutyCheck()
	r := e.do("GET", "/v1/duty-checks?answered=false&limit=1", roleSafety, nil)
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), second) || !strings.Contains(string(r.body), `"next_cursor":"`) {
		t.Fatalf("list: %d %s", r.StatusCode, r.body)
	}
	r = e.do("POST", "/v1/duty-checks/"+first+"/answer", roleSafety, map[string]any{"answer": "值班员在岗"})
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"answer":"值班员在岗"`) || strings.Contains(string(r.body), `"response_seconds":null`) {
		t.Fatalf("answer: %d %s", r.StatusCode, r.body)
	}
	if r := e.do("POST", "/v1/duty-checks/"+first+"/answer", roleSafety, map[string]any{"answer": "again"}); r.StatusCode != http.StatusConflict {
		t.Fatalf("second answer: %d %s", r.StatusCode, r.body)
	}
	if r := e.do("POST", "/v1/duty-checks/"+second+"/answer", roleSafety, map[string]any{"answer": " "}); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("blank answer: %d %s", r.StatusCode, r.body)
	}
	r = e.do("GET", "/v1/duty-checks?answered=true", roleAdmin, nil)
	if !strings.Contains(string(r.body), first) || strings.Contains(string(r.body), second) {
		t.Fatalf("answered filter: %s", r.body)
	}
	if r := e.do("GET", "/v1/duty-checks?cursor=zzz", roleAdmin, nil); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad cursor: %d", r.StatusCode)
	}
}

// TestAlarmSupervisions: a stored supervision shows on its alarm, with the level and deadline.
func TestAlarmSupervisions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	deadline := e.now.Add(time.Hour).Truncate(time.Second)
	if _, err := e.db.CreateSupervision(ctx, tracking.NewSupervision{AlarmID: &e.alarmA, SupervisionID: 77, Level: 0,
		Supervisor: "李四", Deadline: deadline}); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/alarms/"+e.alarmA+"/supervisions", roleDispatcher, nil)
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"supervision_id":77`) || !strings.Contains(string(r.body), `"level":"urgent"`) ||
		!strings.Contains(string(r.body), `"supervisor":"李四"`) || !strings.Contains(string(r.body), deadline.UTC().Format(time.RFC3339)) {
		t.Fatalf("%d %s", r.StatusCode, r.body)
	}
}

// TestVehiclePlateColor: plate_color defaults to 2 (yellow), can be set and patched, and 0 is refused.
func TestVehiclePlateColor(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "pc1", "carrier_id": "acme", "plate": "渝A00001"})
	if r.StatusCode != http.StatusCreated || !strings.Contains(string(r.body), `"plate_color":2`) {
		t.Fatalf("default: %d %s", r.StatusCode, r.body)
	}
	r = e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "pc2", "carrier_id": "acme", "plate": "渝A00002", "plate_color": 1})
	if r.StatusCode != http.StatusCreated || !strings.Contains(string(r.body), `"plate_color":1`) {
		t.Fatalf("blue: %d %s", r.StatusCode, r.body)
	}
	if r := e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "pc3", "carrier_id": "acme", "plate": "X", "plate_color": 0}); r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.body), "plate_color") {
		t.Fatalf("zero: %d %s", r.StatusCode, r.body)
	}
	r = e.do("PATCH", "/v1/vehicles/pc2", roleAdmin, map[string]any{"plate_color": 9})
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"plate_color":9`) {
		t.Fatalf("patch: %d %s", r.StatusCode, r.body)
	}
}
