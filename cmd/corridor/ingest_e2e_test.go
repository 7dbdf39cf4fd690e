package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/jt808/jt808test"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// This file is issue 5's "a fix sent over 808, HTTP and NATS each lands in history and drives
// the rules the same way", through the public interfaces of one `corridor serve` only: a real
// TCP connection speaking JT/T 808, POST /v1/telemetry, and JetStream. Its helpers carry an
// "ix" prefix so that they do not collide with other test files of package main.

// ixFix is one point of the shared track.
type ixFix struct {
	ts       time.Time
	lat, lon float64
	speed    float64 // km/h, a multiple of 0.1 (JT/T 808 carries 0.1 km/h)
	heading  float64
	can      bool // HTTP and NATS: carry ixCANJSON in the position's can field
}

// ixRound6 rounds a coordinate to 1e-6°, the JT/T 808 resolution, so that the three channels
// carry exactly the same numbers.
func ixRound6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// ixTrack is the shape of TestWalkingSkeleton: 5 fixes on the corridor, 3 about 500 m off it
// (route_deviation with the default 3 confirming fixes), 2 back on it (cleared with the default 2).
func ixTrack(t0 time.Time) []ixFix {
	var fs []ixFix
	for i := 0; i < 5; i++ {
		fs = append(fs, ixFix{ts: t0.Add(time.Duration(i) * time.Minute), lon: ixRound6(107.001 + float64(i)*0.003),
			lat: ixRound6(29.8001 + float64(i)*0.00015), speed: 40 + float64(i)*1.5, heading: 85})
	}
	for i := 0; i < 3; i++ {
		fs = append(fs, ixFix{ts: t0.Add(time.Duration(5+i) * time.Minute), lon: ixRound6(107.016 + float64(i)*0.001),
			lat: 29.8053, speed: 32.3, heading: 90})
	}
	fs = append(fs, ixFix{ts: t0.Add(8 * time.Minute), lon: 107.019, lat: 29.8009, speed: 50.1, heading: 170})
	fs = append(fs, ixFix{ts: t0.Add(9 * time.Minute), lon: 107.021, lat: 29.8009, speed: 55.7, heading: 91})
	return fs
}

const (
	ixOff0, ixOff2, ixBack1 = 5, 7, 9 // indexes of the first/confirming off fix and the clearing fix
	ixCANFix                = 3       // the fix of vehicle A preceded by a 0x0705 CAN upload
	ixRPM                   = 1500.0  // J1939 EEC1 engine speed sent over CAN
	ixCoolant               = 90.0    // J1939 ET1 coolant temperature sent over CAN
)

func (f ixFix) json(vehicle, carrier string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"vehicle_id":%q,`, vehicle)
	if carrier != "" {
		fmt.Fprintf(&b, `"carrier_id":%q,`, carrier)
	}
	fmt.Fprintf(&b, `"ts":%q,"lat":%s,"lon":%s,"speed_kmh":%s,"heading_deg":%s`, f.ts.Format(time.RFC3339),
		strconv.FormatFloat(f.lat, 'g', -1, 64), strconv.FormatFloat(f.lon, 'g', -1, 64),
		strconv.FormatFloat(f.speed, 'g', -1, 64), strconv.FormatFloat(f.heading, 'g', -1, 64))
	if f.can {
		b.WriteString(`,"can":` + ixCANJSON)
	}
	b.WriteString("}")
	return b.String()
}

func ixArray(fs []ixFix, vehicle string) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.json(vehicle, "")
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// ixLocation builds the JT/T 808 location report body of fix f (0x0200, or one item of 0x0704):
// altitude 245 m and additional item 0x31, 11 satellites.
func ixLocation(status uint32, f ixFix) []byte {
	return jt808test.Location{Status: status, Lat: f.lat, Lon: f.lon, AltitudeM: 245, SpeedKmh: f.speed,
		Heading: uint16(f.heading), Time: f.ts, Extras: []byte{jt808.ExtraSatellites, 1, 11}}.Body()
}

// ixCANJSON is the CONTRACT §2 can field with the same two J1939 frames as ixCAN.
const ixCANJSON = `[{"id":"0CF00400","data":"FFFFFFE02EFFFFFF"},{"id":"18FEEE00","data":"82FFFFFFFFFFFFFF"}]`

// ixCAN builds a 0x0705 body carrying J1939 EEC1 (engine speed ixRPM) and ET1 (coolant ixCoolant)
// on CAN1 as extended frames, received at 08:30:00.123.
func ixCAN() []byte {
	rpm := uint16(ixRPM / 0.125)
	return jt808test.CAN(8*time.Hour+30*time.Minute+123*time.Millisecond,
		// EEC1, PGN 61444 (0xF004), priority 3, source 0: SPN 190 in bytes 4–5, little-endian.
		jt808.CANItem{Extended: true, ID: 0x0CF00400, Data: [8]byte{0xFF, 0xFF, 0xFF, byte(rpm), byte(rpm >> 8), 0xFF, 0xFF, 0xFF}},
		// ET1, PGN 65262 (0xFEEE), priority 6, source 0: SPN 110 in byte 1, offset -40 °C.
		jt808.CANItem{Extended: true, ID: 0x18FEEE00, Data: [8]byte{byte(ixCoolant + 40), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}})
}

type ixTrackResp struct {
	Features []struct {
		Geometry struct {
			Coordinates []float64 `json:"coordinates"`
		} `json:"geometry"`
		Properties tracking.StoredPosition `json:"properties"`
	} `json:"features"`
}

// ixPostGzip posts a gzip-compressed body to /v1/telemetry and returns status and body.
func ixPostGzip(t *testing.T, srv *instance, body string) (int, string) {
	t.Helper()
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write([]byte(body))
	_ = zw.Close()
	req, _ := http.NewRequest("POST", srv.base+"/v1/telemetry", bytes.NewReader(zb.Bytes()))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// TestIngestSameTrackOverJT808HTTPAndNATS sends one track shape for three vehicles, one over each
// ingest channel, and checks that history and route_deviation come out the same for all three.
func TestIngestSameTrackOverJT808HTTPAndNATS(t *testing.T) {
	dbURL := pgtest.NewURL(t, false)
	natsURL := startNATS(t)
	jtAddr := freeAddr(t)
	srv := startServe(t, map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL,
		"CORRIDOR_DATA_DIR": t.TempDir(), "CORRIDOR_JT808_ADDR": jtAddr})

	const carrier = "cq-haz"
	vA, vB, vC := "truck-808", "truck-http", "truck-nats"
	srv.do("POST", "/v1/carriers", map[string]any{"id": carrier, "name": "Chongqing Hazmat"}, 201, nil)
	var created tracking.Vehicle
	srv.do("POST", "/v1/vehicles", map[string]any{"id": vA, "carrier_id": carrier, "plate": "渝A12345", "terminal_id": "013812345678",
		"hazard_class": "3", "un_number": "1203"}, 201, &created)
	if created.TerminalID == nil || *created.TerminalID != "13812345678" {
		t.Fatalf("terminal_id %v, want the normalised 13812345678", created.TerminalID)
	}
	srv.do("POST", "/v1/vehicles", map[string]any{"id": vB, "carrier_id": carrier, "plate": "渝B22222"}, 201, nil)
	srv.do("POST", "/v1/vehicles", map[string]any{"id": vC, "carrier_id": carrier, "plate": "渝C33333"}, 201, nil)
	var corridor struct {
		ID string `json:"id"`
	}
	srv.do("POST", "/v1/corridors", map[string]any{"type": "Feature",
		"geometry":   map[string]any{"type": "LineString", "coordinates": [][]float64{{107.00, 29.80}, {107.02, 29.801}, {107.05, 29.80}}},
		"properties": map[string]any{"name": "wharf to park", "buffer_m": 200}}, 201, &corridor)
	now := time.Now().UTC().Truncate(time.Second)
	t0 := now.Add(-20 * time.Minute)
	trips := map[string]string{}
	for _, v := range []string{vA, vB, vC} {
		var trip struct {
			ID string `json:"id"`
		}
		srv.do("POST", "/v1/trips", map[string]any{"vehicle_id": v, "corridor_id": corridor.ID,
			"starts_at": t0.Add(-time.Minute).Format(time.RFC3339), "ends_at": now.Add(2 * time.Hour).Format(time.RFC3339)}, 201, &trip)
		trips[v] = trip.ID
	}
	track := ixTrack(t0)
	// HTTP and NATS carry the CAN frames of the 0x0705 upload in the can field of the same fix.
	trackCAN := append([]ixFix(nil), track...)
	trackCAN[ixCANFix].can = true
	// Fix times that must never reach history (rejected or not a position).
	neverStored := map[time.Time]string{}

	// ---- Vehicle A over JT/T 808 ----
	// A terminal no vehicle has gets 0x8100 result 3 (the answer a registered terminal gets, so
	// that it does not tell which numbers exist) and no auth code.
	stranger := jt808test.Dial(t, jtAddr, jt808.V2013, "013999999999")
	if res, code := stranger.Register(); res != jt808.RegisterTerminalRegistered || code != "" {
		t.Fatalf("unknown terminal: 0x8100 result %d code %q, want 3 and none", res, code)
	}

	tm := jt808test.Dial(t, jtAddr, jt808.V2013, "013812345678")
	// A report before authentication is answered but is not a position.
	early := ixFix{ts: t0.Add(30 * time.Second), lat: 29.8002, lon: 107.002, speed: 41}
	neverStored[early.ts] = "report before authentication"
	s := tm.Send(jt808.MsgLocation, ixLocation(jt808.StatusFixValid|jt808.StatusACC, early))
	if res := tm.General(s, jt808.MsgLocation); res == jt808.ResultOK {
		t.Logf("note: an unauthenticated report is answered with result 0 (the terminal will drop it)")
	}
	res, code := tm.Register()
	if res != jt808.RegisterOK || code == "" {
		t.Fatalf("register: 0x8100 result %d code %q, want 0 and an auth code", res, code)
	}
	tm.Auth(code)

	st := uint32(jt808.StatusFixValid | jt808.StatusACC)
	// Fixes 0 and 1 in one 0x0704 batch.
	s = tm.Send(jt808.MsgBatchLocation, jt808test.Batch(0, ixLocation(st, track[0]), ixLocation(st, track[1])))
	tm.ExpectGeneral(s, jt808.MsgBatchLocation, jt808.ResultOK)
	s = tm.Send(jt808.MsgLocation, ixLocation(st, track[2]))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)

	// A report with a bad check code: 0x8001 result 2 to its serial, not stored, connection kept.
	bad := ixFix{ts: t0.Add(150 * time.Second), lat: 29.8004, lon: 107.008, speed: 43}
	neverStored[bad.ts] = "frame with a bad check code"
	fr, s := tm.Frame(jt808.MsgLocation, ixLocation(st, bad))
	tm.Write(jt808test.Rewrite(t, fr, func(p []byte) []byte { p[len(p)-1] ^= 0x5a; return p }))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultBadMessage)
	// A frame whose body length disagrees with its attributes: result 2 as well.
	fr, s = tm.Frame(jt808.MsgHeartbeat, nil)
	tm.Write(jt808test.Rewrite(t, fr, func(p []byte) []byte {
		p = p[:len(p)-1]
		binary.BigEndian.PutUint16(p[2:4], 7) // claims a 7-byte body, has none
		return append(p, jt808.Checksum(p))
	}))
	tm.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultBadMessage)
	s = tm.Send(jt808.MsgHeartbeat, nil)
	tm.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)

	// CAN bus data, then the report that carries it.
	s = tm.Send(jt808.MsgCANData, ixCAN())
	tm.ExpectGeneral(s, jt808.MsgCANData, jt808.ResultOK)
	s = tm.Send(jt808.MsgLocation, ixLocation(st, track[ixCANFix]))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)

	// A report without a valid fix (status bit 1 clear) is answered 0 and is not a position.
	nofix := ixFix{ts: t0.Add(210 * time.Second), lat: 29.8005, lon: 107.0105, speed: 44}
	neverStored[nofix.ts] = "report with status bit 1 clear"
	s = tm.Send(jt808.MsgLocation, ixLocation(jt808.StatusACC, nofix))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)

	// Another connection of the same terminal that has not authenticated: answered, not stored.
	tm2 := jt808test.Dial(t, jtAddr, jt808.V2013, "013812345678")
	sneaky := ixFix{ts: t0.Add(270 * time.Second), lat: 29.8006, lon: 107.0135, speed: 45}
	neverStored[sneaky.ts] = "report on an unauthenticated connection"
	s = tm2.Send(jt808.MsgLocation, ixLocation(st, sneaky))
	tm2.General(s, jt808.MsgLocation)

	for _, f := range track[ixCANFix+1:] {
		s = tm.Send(jt808.MsgLocation, ixLocation(st, f))
		tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	}

	// A fix from a terminal whose clock is years behind (a client that writes the year as 2020):
	// answered 1, not stored, and visible to the vehicle's operators as a stale_fix rejection.
	stale := ixFix{ts: t0.AddDate(-6, 0, 0), lat: 29.8005, lon: 107.0105, speed: 44}
	neverStored[stale.ts] = "fix dated years back"
	s = tm.Send(jt808.MsgLocation, ixLocation(st, stale))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)

	// The same terminal with a 2019 header (20-digit phone) on a third connection: registering
	// again is refused (result 3: registered already) until an admin resets the registration;
	// the first code authenticates with the 2019 body layout; the authenticated 2013 session is
	// replaced; the last fix re-sent stays one fix.
	tm19 := jt808test.Dial(t, jtAddr, jt808.V2019, "00000000013812345678")
	if res, c := tm19.Register(); res != jt808.RegisterTerminalRegistered || c != "" {
		t.Fatalf("second registration: result %d code %q, want 3 and none", res, c)
	}
	tm19.Auth(code)
	s = tm19.Send(jt808.MsgLocation, ixLocation(st, track[len(track)-1]))
	tm19.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	_ = tm.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := tm.Conn.Read(make([]byte, 64)); err == nil {
		t.Error("the first session of the terminal was not replaced")
	}
	srv.do("POST", "/v1/vehicles/"+vA+"/terminal/reset", nil, 204, nil)
	res, code19 := tm19.Register()
	if res != jt808.RegisterOK || code19 == "" || code19 == code {
		t.Fatalf("register after reset: result %d code %q (old %q)", res, code19, code)
	}
	tm19.Auth(code19)

	// ---- Vehicle B over HTTP: one single body, one array, one gzip array ----
	var acc struct {
		Accepted int `json:"accepted"`
	}
	srv.do("POST", "/v1/telemetry", trackCAN[0].json(vB, ""), 202, &acc)
	if acc.Accepted != 1 {
		t.Fatalf("single body accepted %d", acc.Accepted)
	}
	srv.do("POST", "/v1/telemetry", ixArray(trackCAN[1:7], vB), 202, &acc)
	if acc.Accepted != 6 {
		t.Fatalf("array body accepted %d", acc.Accepted)
	}
	if code, body := ixPostGzip(t, srv, ixArray(trackCAN[7:], vB)); code != 202 || !strings.Contains(body, `"accepted":3`) {
		t.Fatalf("gzip body: %d %s", code, body)
	}

	// ---- Vehicle C over NATS ----
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	for _, f := range trackCAN {
		m := nats.NewMsg("telemetry." + carrier + "." + vC)
		m.Data = []byte(f.json(vC, carrier))
		m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("%s:%d", vC, f.ts.UnixNano()))
		if _, err := js.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}

	// ---- History: every fix, with its values ----
	from := t0.Add(-time.Hour).Format(time.RFC3339)
	tracks := map[string]ixTrackResp{}
	for _, v := range []string{vA, vB, vC} {
		var tr ixTrackResp
		waitUntil(t, 15*time.Second, v+"'s track", func() bool {
			srv.do("GET", "/v1/vehicles/"+v+"/track?from="+from, nil, 200, &tr)
			return len(tr.Features) >= len(track)
		})
		tracks[v] = tr
	}
	for _, v := range []string{vA, vB, vC} {
		tr := tracks[v]
		for _, ft := range tr.Features {
			if why, ok := neverStored[ft.Properties.TS]; ok {
				t.Errorf("%s: the %s at %s is in history", v, why, ft.Properties.TS.Format(time.RFC3339))
			}
		}
		if len(tr.Features) != len(track) {
			t.Errorf("%s: track has %d fixes, want %d", v, len(tr.Features), len(track))
			continue
		}
		for i, ft := range tr.Features {
			p, want := ft.Properties, track[i]
			if !p.TS.Equal(want.ts) || p.VehicleID != v || p.CarrierID != carrier ||
				math.Abs(p.Lat-want.lat) > 1e-6 || math.Abs(p.Lon-want.lon) > 1e-6 ||
				p.SpeedKmh == nil || math.Abs(*p.SpeedKmh-want.speed) > 0.1 ||
				p.HeadingDeg == nil || *p.HeadingDeg != want.heading {
				t.Errorf("%s fix %d: stored %+v (speed %v, heading %v), sent %+v", v, i, p.Position, ixPtr(p.SpeedKmh), ixPtr(p.HeadingDeg), want)
			}
			if len(ft.Geometry.Coordinates) != 2 || ft.Geometry.Coordinates[0] != p.Lon || ft.Geometry.Coordinates[1] != p.Lat {
				t.Errorf("%s fix %d: geometry %v does not match lat/lon %v/%v", v, i, ft.Geometry.Coordinates, p.Lat, p.Lon)
			}
			wantCAN := i == ixCANFix
			switch {
			case wantCAN && (p.EngineRPM == nil || *p.EngineRPM != ixRPM || p.CoolantC == nil || *p.CoolantC != ixCoolant):
				t.Errorf("%s fix %d: engine_rpm %s coolant_c %s, want %v and %v from the 0x0705 J1939 frames",
					v, i, ixPtr(p.EngineRPM), ixPtr(p.CoolantC), ixRPM, ixCoolant)
			case !wantCAN && (p.EngineRPM != nil || p.CoolantC != nil):
				t.Errorf("%s fix %d: engine_rpm %s coolant_c %s, want none", v, i, ixPtr(p.EngineRPM), ixPtr(p.CoolantC))
			}
			if v == vA {
				// JT/T 808 extras: item 0x31 satellites, status bit 0 ignition.
				if p.Satellites == nil || *p.Satellites != 11 || p.Ignition == nil || !*p.Ignition || p.AltitudeM == nil || *p.AltitudeM != 245 {
					t.Errorf("%s fix %d: satellites %s ignition %v altitude %s", v, i, ixPtr(p.Satellites), p.Ignition, ixPtr(p.AltitudeM))
				}
			}
		}
	}

	// ---- Rules: one route_deviation each, same times relative to the track, same distance ----
	alarms := map[string]tracking.Alarm{}
	for _, v := range []string{vA, vB, vC} {
		var list alarmList
		waitUntil(t, 15*time.Second, v+"'s route_deviation cleared", func() bool {
			srv.do("GET", "/v1/alarms?kind=route_deviation&vehicle_id="+v, nil, 200, &list)
			return len(list.Alarms) > 0 && !list.Alarms[0].Active
		})
		if len(list.Alarms) != 1 {
			t.Fatalf("%s: %d route_deviation alarms, want 1: %+v", v, len(list.Alarms), list.Alarms)
		}
		a := list.Alarms[0]
		alarms[v] = a
		if !a.StartedAt.Equal(track[ixOff0].ts) || !a.RaisedAt.Equal(track[ixOff2].ts) || a.ClearedAt == nil ||
			!a.ClearedAt.Equal(track[ixBack1].ts) || a.Severity != "critical" || a.State != "open" || a.CarrierID != carrier ||
			a.TripID == nil || *a.TripID != trips[v] || a.CorridorID == nil || *a.CorridorID != corridor.ID || a.DistanceM == nil {
			t.Errorf("%s: alarm %+v; want started %s raised %s cleared %s", v, a,
				track[ixOff0].ts.Format(time.RFC3339), track[ixOff2].ts.Format(time.RFC3339), track[ixBack1].ts.Format(time.RFC3339))
		}
		if a.Position == nil || math.Abs(a.Position.Lat-track[ixOff2].lat) > 1e-6 || math.Abs(a.Position.Lon-track[ixOff2].lon) > 1e-6 {
			t.Errorf("%s: alarm position %+v, want the confirming fix", v, a.Position)
		}
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var want float64
	if err := conn.QueryRow(context.Background(), `select ST_Distance(geom, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) from corridors where id = $1`,
		corridor.ID, track[ixOff2].lon, track[ixOff2].lat).Scan(&want); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{vA, vB, vC} {
		d := alarms[v].DistanceM
		if d == nil {
			continue
		}
		if math.Abs(*d-*alarms[vA].DistanceM) > 0.5 {
			t.Errorf("distance_m %s %.3f vs %s %.3f: identical tracks differ by more than 0.5 m", v, *d, vA, *alarms[vA].DistanceM)
		}
		if math.Abs(*d-want) > math.Max(0.5, want*0.0005) {
			t.Errorf("%s: distance_m %.3f, PostGIS ST_Distance %.3f", v, *d, want)
		}
	}

	// The gateway kept the connection through bad frames: the terminal still gets answers.
	s = tm19.Send(jt808.MsgHeartbeat, nil)
	tm19.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)

	// ---- Rejections: the gateway's refused fix and the engine's dead letter, on the vehicle ----
	future := nats.NewMsg("telemetry." + carrier + "." + vC)
	future.Data = []byte(ixFix{ts: time.Now().Add(time.Hour), lat: 29.8, lon: 107.0, speed: 10}.json(vC, carrier))
	if _, err := js.PublishMsg(future); err != nil {
		t.Fatal(err)
	}
	for v, reason := range map[string]string{vA: tracking.ReasonStaleFix, vC: tracking.ReasonFutureFix} {
		var got tracking.Vehicle
		waitUntil(t, 15*time.Second, v+"'s rejected "+reason, func() bool {
			srv.do("GET", "/v1/vehicles/"+v, nil, 200, &got)
			return got.Rejected != nil
		})
		if len(got.Rejected.Counts) != 1 || got.Rejected.Counts[reason] != 1 || got.Rejected.Last.Reason != reason ||
			got.Rejected.Last.Detail == "" || time.Since(got.Rejected.Last.At) > time.Minute {
			t.Errorf("%s: rejected %+v, want one %s", v, got.Rejected, reason)
		}
	}
	var got tracking.Vehicle
	if srv.do("GET", "/v1/vehicles/"+vB, nil, 200, &got); got.Rejected != nil {
		t.Errorf("%s: rejected %+v, want none", vB, got.Rejected)
	}

	// ---- The terminal id moves to another vehicle: the session ends (it was vA's) ----
	srv.do("PATCH", "/v1/vehicles/"+vA, map[string]any{"terminal_id": nil}, 200, nil)
	srv.do("PATCH", "/v1/vehicles/"+vB, map[string]any{"terminal_id": "13812345678"}, 200, nil)
	_ = tm19.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := tm19.Conn.Read(make([]byte, 64)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Errorf("session of a terminal that moved to another vehicle still open: %v", err)
	}
}

func ixPtr(p *float64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}

// TestIngestSubMicrosecondFixesMatchHistory: RFC 3339 allows nanoseconds (Go's RFC3339Nano, the
// default JSON form of a time.Time in a carrier's Go platform), PostgreSQL stores microseconds.
// Three off-corridor fixes within one microsecond are three distinct fixes to JetStream (their
// Nats-Msg-Id carries Unix nanoseconds) and to the engine (each is "newer"), but one row in
// history (the primary key (vehicle_id, ts) sees one microsecond). The rules must act on the
// fixes history holds: either the server rejects sub-microsecond precision (400), or it treats
// these as one fix (the same ts) and raises nothing.
func TestIngestSubMicrosecondFixesMatchHistory(t *testing.T) {
	dbURL := pgtest.NewURL(t, false)
	natsURL := startNATS(t)
	srv := startServe(t, map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL, "CORRIDOR_DATA_DIR": t.TempDir(),
		"CORRIDOR_JT808_ADDR": "off"})
	srv.do("POST", "/v1/carriers", map[string]any{"id": "c", "name": "C"}, 201, nil)
	srv.do("POST", "/v1/vehicles", map[string]any{"id": "v", "carrier_id": "c", "plate": "渝D44444"}, 201, nil)
	var corridor struct {
		ID string `json:"id"`
	}
	srv.do("POST", "/v1/corridors", map[string]any{"type": "Feature",
		"geometry":   map[string]any{"type": "LineString", "coordinates": [][]float64{{107.00, 29.80}, {107.02, 29.801}, {107.05, 29.80}}},
		"properties": map[string]any{"name": "wharf to park", "buffer_m": 200}}, 201, &corridor)
	now := time.Now().UTC().Truncate(time.Second)
	base := now.Add(-10 * time.Minute)
	srv.do("POST", "/v1/trips", map[string]any{"vehicle_id": "v", "corridor_id": corridor.ID,
		"starts_at": base.Add(-time.Minute).Format(time.RFC3339), "ends_at": now.Add(time.Hour).Format(time.RFC3339)}, 201, nil)

	post := func(ts time.Time, lat, lon float64) int {
		req, _ := http.NewRequest("POST", srv.base+"/v1/telemetry", strings.NewReader(
			fmt.Sprintf(`{"vehicle_id":"v","ts":%q,"lat":%v,"lon":%v,"speed_kmh":30}`, ts.Format(time.RFC3339Nano), lat, lon)))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 && resp.StatusCode != 400 {
			t.Fatalf("POST fix at %s: %d", ts.Format(time.RFC3339Nano), resp.StatusCode)
		}
		return resp.StatusCode
	}
	// One fix on the corridor, two minutes later three about 500 m off it 200 ns apart (one microsecond), then a
	// sentinel back on the corridor two minutes later to know when the engine is through.
	post(base, 29.8001, 107.001)
	accepted := 0
	for i := 0; i < 3; i++ {
		if post(base.Add(2*time.Minute+1100*time.Nanosecond+time.Duration(i)*200*time.Nanosecond), 29.8053, 107.016) == 202 {
			accepted++
		}
	}
	sentinel := base.Add(4 * time.Minute)
	post(sentinel, 29.8001, 107.002)
	var tr ixTrackResp
	waitUntil(t, 15*time.Second, "the sentinel fix in history", func() bool {
		srv.do("GET", "/v1/vehicles/v/track?from="+base.Add(-time.Minute).Format(time.RFC3339), nil, 200, &tr)
		return len(tr.Features) > 0 && tr.Features[len(tr.Features)-1].Properties.TS.Equal(sentinel)
	})
	off := 0
	for _, f := range tr.Features {
		if f.Properties.Lat == 29.8053 {
			off++
			t.Logf("stored off-corridor fix at %s", f.Properties.TS.Format(time.RFC3339Nano))
		}
	}
	var list alarmList
	srv.do("GET", "/v1/alarms?kind=route_deviation&vehicle_id=v", nil, 200, &list)
	if off < 3 && len(list.Alarms) > 0 {
		a := list.Alarms[0]
		t.Errorf("%d of 3 sub-microsecond off-corridor fixes accepted (202), %d stored in history, yet route_deviation "+
			"(3 confirming fixes) was raised: started_at %s raised_at %s", accepted, off,
			a.StartedAt.Format(time.RFC3339Nano), a.RaisedAt.Format(time.RFC3339Nano))
	}
}
