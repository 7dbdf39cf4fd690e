package tracking

import (
	"strings"
	"testing"
	"time"
)

func TestDecodePosition(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, body, reason, field string
	}{
		{"ok", `{"vehicle_id":"v1","ts":"2026-11-27T15:59:00+08:00","lat":29.8,"lon":107.0,"speed_kmh":40,"unknown":1}`, "", ""},
		{"malformed", `{"vehicle_id":`, ReasonMalformedJSON, "body"},
		{"no offset", `{"vehicle_id":"v1","ts":"2026-11-27T07:59:00","lat":29.8,"lon":107}`, ReasonInvalidField, "ts"},
		{"future", `{"vehicle_id":"v1","ts":"2026-11-27T08:02:01Z","lat":29.8,"lon":107}`, ReasonFutureFix, "ts"},
		{"2 min ahead is fine", `{"vehicle_id":"v1","ts":"2026-11-27T08:02:00Z","lat":29.8,"lon":107}`, "", ""},
		{"stale", `{"vehicle_id":"v1","ts":"2026-11-20T07:59:59Z","lat":29.8,"lon":107}`, ReasonStaleFix, "ts"},
		{"zero island", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":0,"lon":0}`, ReasonInvalidField, "lat"},
		{"lat range", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":90.5,"lon":0}`, ReasonInvalidField, "lat"},
		{"heading 360", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107,"heading_deg":360}`, ReasonInvalidField, "heading_deg"},
		{"speed", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107,"speed_kmh":-1}`, ReasonInvalidField, "speed_kmh"},
		{"bad id", `{"vehicle_id":"v 1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107}`, ReasonInvalidField, "vehicle_id"},
		{"contract's device alarms", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107,"device_alarms":["emergency","overspeed","fatigue","power_cut"]}`, "", ""},
		{"unknown device alarm", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107,"device_alarms":["emergency","alarm-1"]}`, ReasonInvalidField, "device_alarms[1]"},
		{"empty device alarm", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107,"device_alarms":[""]}`, ReasonInvalidField, "device_alarms[0]"},
		{"32 device alarms", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107,"device_alarms":[` + names(32) + `]}`, "", ""},
		{"33 device alarms", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107,"device_alarms":[` + names(33) + `]}`, ReasonInvalidField, "device_alarms"},
		{"20000 device alarms", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107,"device_alarms":[` + names(20000) + `]}`, ReasonInvalidField, "device_alarms"},
		{"can id", `{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107,"can":[{"id":"3FFFFFFF","data":"0011223344556677"}]}`, ReasonInvalidField, "can[0].id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodePosition([]byte(tc.body), now)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.VehicleID != "v1" || p.TS.IsZero() {
					t.Fatalf("%+v", p)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			e := err.(*Error)
			if Reason(err) != tc.reason || e.Fields[0].Field != tc.field {
				t.Fatalf("reason %s field %s, want %s %s (%v)", Reason(err), e.Fields[0].Field, tc.reason, tc.field, err)
			}
		})
	}
}

func TestFixTimeIsMicroseconds(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	a, err := DecodePosition([]byte(`{"vehicle_id":"v1","ts":"2026-11-27T07:00:00.000001200Z","lat":29.8,"lon":107}`), now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DecodePosition([]byte(`{"vehicle_id":"v1","ts":"2026-11-27T07:00:00.000001900Z","lat":29.8,"lon":107}`), now)
	if !a.TS.Equal(b.TS) || a.MsgID() != b.MsgID() || a.TS.Nanosecond() != 1000 {
		t.Fatalf("%v %v %s %s", a.TS, b.TS, a.MsgID(), b.MsgID())
	}
}

func TestDecodePositionsBatchNamesIndexes(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	_, err := DecodePositions([]byte(`[{"vehicle_id":"v1","ts":"2026-11-27T07:00:00Z","lat":29.8,"lon":107},{"vehicle_id":"v1","lat":95,"lon":107},"x"]`), now, 1000)
	e, ok := err.(*Error)
	if !ok || len(e.Fields) != 3 {
		t.Fatalf("%v", err)
	}
	var got []string
	for _, f := range e.Fields {
		got = append(got, f.Field+"@"+string(rune('0'+*f.Index)))
	}
	if strings.Join(got, ",") != "ts@1,lat@1,body@2" {
		t.Fatalf("%v", got)
	}
	if _, err := DecodePositions([]byte(`[`+strings.Repeat(`{},`, 1000)+`{}]`), now, 1000); err == nil {
		t.Fatal("1001 items accepted")
	}
}

// names returns n quoted JT/T 808 alarm names, comma-separated (repeating the list).
func names(n int) string {
	all := DeviceAlarmNames()
	q := make([]string, n)
	for i := range q {
		q[i] = `"` + all[i%len(all)] + `"`
	}
	return strings.Join(q, ",")
}

func TestDeviceAlarmErrorsAreBounded(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	_, err := DecodePosition([]byte(`{"vehicle_id":"v1","ts":"2026-11-27T08:00:00Z","lat":29.8,"lon":107,"device_alarms":[`+
		strings.Repeat(`"x",`, 19999)+`"x"]}`), now)
	e, ok := err.(*Error)
	if !ok || len(e.Fields) != 1 || e.Fields[0].Field != "device_alarms" || !strings.Contains(e.Fields[0].Message, "20000") {
		t.Fatalf("20,000 unknown names: %v", err)
	}
}
