package tracking

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

// fuzzNow is the receiving clock of the position fuzzer; the seeds' times are near it.
var fuzzNow = time.Date(2026, 1, 15, 8, 0, 0, 0, time.UTC)

// FuzzDecodePosition checks the fix JSON decoder (CONTRACT §2): it never panics, every
// accepted position satisfies the contract's rules, an accepted position survives a JSON
// round trip unchanged, and the array form accepts exactly what the single form accepts.
// Seeds: f.Add below and testdata/fuzz/FuzzDecodePosition.
func FuzzDecodePosition(f *testing.F) {
	f.Add([]byte(`{"vehicle_id":"truck-1","carrier_id":"carrier-a","ts":"2026-01-15T15:59:00+08:00","lat":29.56,"lon":106.55}`))
	f.Add([]byte(`{"vehicle_id":"truck-1","ts":"2026-01-15T07:59:59.123456789Z","lat":-33.87,"lon":151.21,"speed_kmh":65.5,"heading_deg":359.9,"altitude_m":245,"accuracy_m":5,"satellites":9,"odometer_km":1000,"fuel_pct":50,"fuel_l":10,"engine_rpm":300,"coolant_c":90,"ignition":true,"device_alarms":["emergency","power_cut"],"can":[{"id":"0CF00400","data":"1122336009667788"}],"extra":{"x":[1,2]}}`))
	f.Add([]byte(`{"vehicle_id":"x","ts":"2026-01-15T08:00:00Z","lat":0,"lon":0}`))
	f.Add([]byte(`{"vehicle_id":"x","ts":"2026-01-15T08:00:00","lat":1,"lon":1}`))
	f.Add([]byte(`[{"vehicle_id":"a","ts":"2026-01-15T08:00:00Z","lat":1,"lon":1},{"vehicle_id":"b"}]`))
	f.Add([]byte(`{"vehicle_id":"x","ts":"2026-01-08T07:59:59Z","lat":90,"lon":-180,"heading_deg":360,"speed_kmh":300.0001}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePosition(data, fuzzNow)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error code %q for %v", ErrorCode(err), err)
			}
			if r := Reason(err); r != ReasonMalformedJSON && r != ReasonInvalidField && r != ReasonStaleFix && r != ReasonFutureFix {
				t.Fatalf("reason %q", r)
			}
		} else {
			checkPosition(t, p)
			// Round trip through the wire form.
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("marshal %+v: %v", p, err)
			}
			q, err := DecodePosition(b, fuzzNow)
			if err != nil {
				t.Fatalf("re-decoding %s: %v", b, err)
			}
			if !q.TS.Equal(p.TS) {
				t.Fatalf("ts %v != %v", q.TS, p.TS)
			}
			q.TS = p.TS
			if len(p.DeviceAlarms) == 0 && len(q.DeviceAlarms) == 0 {
				q.DeviceAlarms = p.DeviceAlarms
			}
			if len(p.CAN) == 0 && len(q.CAN) == 0 {
				q.CAN = p.CAN
			}
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("round trip changed the position:\n%+v\n%+v", p, q)
			}
		}
		// The array form agrees with the single form for one object.
		if len(data) > 0 && data[0] == '{' {
			ps, aerr := DecodePositions(append(append([]byte{'['}, data...), ']'), fuzzNow, 10)
			if (err == nil) != (aerr == nil) {
				t.Fatalf("single err %v, array err %v", err, aerr)
			}
			if aerr == nil && (len(ps) != 1 || !reflect.DeepEqual(ps[0], p)) {
				t.Fatalf("array form decoded %+v", ps)
			}
			if aerr != nil && Reason(err) != ReasonMalformedJSON {
				for _, fe := range aerr.(*Error).Fields {
					if fe.Index == nil || *fe.Index != 0 {
						t.Fatalf("array error without index 0: %+v", fe)
					}
				}
			}
		}
	})
}

func checkPosition(t *testing.T, p Position) {
	t.Helper()
	if !ValidID(p.VehicleID) {
		t.Fatalf("vehicle_id %q accepted", p.VehicleID)
	}
	if p.CarrierID != "" && !ValidID(p.CarrierID) {
		t.Fatalf("carrier_id %q accepted", p.CarrierID)
	}
	if p.TS.After(fuzzNow.Add(MaxFutureSkew)) || p.TS.Before(fuzzNow.Add(-MaxFixAge)) {
		t.Fatalf("ts %v accepted", p.TS)
	}
	if !(p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180) || (p.Lat == 0 && p.Lon == 0) {
		t.Fatalf("lat/lon %v %v accepted", p.Lat, p.Lon)
	}
	in := func(name string, v *float64, lo, hi float64, hiOpen bool) {
		if v == nil {
			return
		}
		if math.IsNaN(*v) || math.IsInf(*v, 0) || *v < lo || *v > hi || (hiOpen && *v == hi) {
			t.Fatalf("%s = %v accepted", name, *v)
		}
	}
	in("speed_kmh", p.SpeedKmh, 0, 300, false)
	in("heading_deg", p.HeadingDeg, 0, 360, true)
	in("fuel_pct", p.FuelPct, 0, 100, false)
	if len(p.DeviceAlarms) > MaxDeviceAlarms {
		t.Fatalf("%d device alarms accepted", len(p.DeviceAlarms))
	}
	for _, a := range p.DeviceAlarms {
		if !IsDeviceAlarmName(a) {
			t.Fatalf("device alarm %q accepted", a)
		}
	}
	for _, c := range p.CAN {
		if len(c.Data) != 16 || len(c.ID) == 0 || len(c.ID) > 8 {
			t.Fatalf("can frame %+v accepted", c)
		}
	}
}
