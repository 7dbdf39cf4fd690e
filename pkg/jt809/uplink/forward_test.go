package uplink_test

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/twpayne/go-geom"

	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/jt809"
	"github.com/corridor-dev/corridor/pkg/jt809/jt809test"
	"github.com/corridor-dev/corridor/pkg/jt809/uplink"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// rig is Corridor's side (real PostGIS, real JetStream) and a simulated upper platform.
type rig struct {
	t     *testing.T
	db    *postgres.DB
	bus   *natsbus.Bus
	p     *jt809test.Platform
	v     jt809.Version
	link  *uplink.Link
	fwd   *uplink.Forwarder
	stop  func()
	now   time.Time
	alarm string
}

func newRig(t *testing.T, v jt809.Version) *rig {
	r := &rig{t: t, db: pgtest.New(t), bus: natstest.New(t), v: v, now: time.Now().UTC()}
	r.p = jt809test.Start(t, v, nil)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := r.db.CreateCarrier(ctx, tracking.Carrier{ID: "acme", Name: "ACME"})
	must(err)
	_, err = r.db.CreateVehicle(ctx, tracking.Vehicle{ID: "v1", CarrierID: "acme", Plate: "渝A12345"})
	must(err)
	_, err = r.db.CreateVehicle(ctx, tracking.Vehicle{ID: "v2", CarrierID: "acme", Plate: "渝B00002", PlateColor: 1})
	must(err)
	line := geom.NewLineStringFlat(geom.XY, []float64{107.0, 29.8, 107.2, 29.9}).SetSRID(4326)
	c, err := r.db.CreateCorridor(ctx, tracking.Corridor{Name: "S103", Line: line, BufferM: 200})
	must(err)
	_, err = r.db.CreateTrip(ctx, tracking.Trip{VehicleID: "v1", CorridorID: c.ID, StartsAt: r.now.Add(-3 * time.Hour), EndsAt: r.now.Add(3 * time.Hour)}, "")
	must(err)
	must(r.db.Pool.QueryRow(ctx, `insert into alarms (kind, severity, vehicle_id, carrier_id, corridor_id, started_at, raised_at, lat, lon, distance_m)
		values ('route_deviation', 'critical', 'v1', 'acme', $1, $2, $3, 29.85, 107.1, 812) returning id::text`,
		c.ID, r.now.Add(-2*time.Minute).Truncate(time.Second), r.now.Add(-time.Minute).Truncate(time.Second)).Scan(&r.alarm))
	return r
}

// start runs a link and forwarder (a Corridor process's uplink role) until stop.
func (r *rig) start() {
	r.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	r.link = uplink.New(uplink.Config{Addr: r.p.Addr(), UserID: 1, Password: "pw", GNSSCenterID: 42, AccessCode: 42, Version: r.v,
		KeepAlive: 200 * time.Millisecond, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond}, nil)
	r.fwd = uplink.NewForwarder(r.link, r.bus.JS, r.db, r.bus, uplink.ForwarderConfig{BackfillRate: 1000, Poll: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.link.Run(ctx, ln) }()
	go func() { defer wg.Done(); _ = r.fwd.Run(ctx) }()
	r.stop = func() { cancel(); wg.Wait() }
	r.t.Cleanup(r.stop)
	r.p.WaitFor("slave link up", r.p.SlaveUp)
	// The forwarder has read its cursor once it consumes: wait for it to exist.
	r.p.WaitFor("cursors", func() bool {
		_, ok1, _ := r.db.UplinkCursor(context.Background(), uplink.CursorTelemetry)
		_, ok2, _ := r.db.UplinkCursor(context.Background(), uplink.CursorAlarms)
		return ok1 && ok2
	})
}

// publish stores fixes of vehicle at the given times in TELEMETRY.
func (r *rig) publish(vehicle string, ts ...time.Time) {
	r.t.Helper()
	ps := make([]tracking.Position, len(ts))
	for i, t := range ts {
		sp := 40.0 + float64(i)
		ps[i] = tracking.Position{VehicleID: vehicle, CarrierID: "acme", TS: t, Lat: 29.85, Lon: 107.1, SpeedKmh: &sp}
	}
	if err := r.bus.PublishPositions(context.Background(), ps); err != nil {
		r.t.Fatal(err)
	}
}

// sent returns the fix times the platform received for plate, as 0x1202 and as 0x1203.
func (r *rig) sent(plate string) (real, hist []time.Time) {
	for _, b := range r.p.Business(jt809.DataRealLocation) {
		if b.Wrapper.Plate == plate {
			real = append(real, b.Data.(jt809.RealLocation).GNSS.Time)
		}
	}
	for _, b := range r.p.Business(jt809.DataHistoryLocation) {
		if b.Wrapper.Plate == plate {
			for _, g := range b.Data.(jt809.HistoryLocation).GNSS {
				hist = append(hist, g.Time)
			}
		}
	}
	return real, hist
}

func times(from time.Time, n int, step time.Duration) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = from.Add(time.Duration(i) * step).Truncate(time.Second)
	}
	return out
}

// TestPositionsUpOutageAndRestart: real-time fixes of a vehicle on a trip go up as 0x1202 with its
// GBK plate and colour; a vehicle without a trip is not sent; what the platform missed during an
// outage comes as 0x1203 back-fill in order; across a restart nothing is lost or sent twice.
func TestPositionsUpOutageAndRestart(t *testing.T) {
	r := newRig(t, jt809.V2011)
	r.publish("v1", times(r.now.Add(-time.Hour), 3, time.Second)...) // before the uplink existed: not sent
	r.start()

	live := times(r.now.Add(-20*time.Second), 5, time.Second)
	r.publish("v1", live...)
	r.publish("v2", times(r.now.Add(-20*time.Second), 2, time.Second)...) // no trip
	r.p.WaitFor("5 real-time positions", func() bool { real, _ := r.sent("渝A12345"); return len(real) == 5 })
	b := r.p.Business(jt809.DataRealLocation)[0]
	if b.Wrapper.Color != jt809.ColorYellow || b.Data.(jt809.RealLocation).GNSS.Lat != 29.85 || b.Data.(jt809.RealLocation).GNSS.SpeedKmh != 40 {
		t.Fatalf("0x1202 %+v %+v", b.Wrapper, b.Data)
	}

	// Outage: both links drop and the platform refuses connections; fixes keep coming.
	r.p.SetRefuse(true)
	r.p.DropLinks()
	r.p.WaitFor("links down", func() bool { m, _, s, _ := r.link.State(); return !m && !s })
	if err := r.link.Ready(); err == nil {
		t.Fatal("ready while down")
	}
	missed := times(r.now.Add(-30*time.Minute), 12, 10*time.Second)
	r.publish("v1", missed...)
	r.p.SetRefuse(false)
	r.p.WaitFor("12 back-filled positions", func() bool { _, hist := r.sent("渝A12345"); return len(hist) >= 12 })

	// Restart: fixes published while Corridor's uplink is stopped are sent after it starts again.
	r.stop()
	r.p.DropLinks()
	after := times(r.now.Add(-10*time.Second), 4, time.Second)
	r.publish("v1", after...)
	r.start()
	r.p.WaitFor("4 more real-time positions", func() bool { real, _ := r.sent("渝A12345"); return len(real) >= 9 })
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive in this time (the poll below is exact)

	real, hist := r.sent("渝A12345")
	want := append(append([]time.Time{}, live...), after...)
	if !equalTimes(real, want) {
		t.Errorf("0x1202 times %v\nwant %v", real, want)
	}
	if !equalTimes(hist, missed) {
		t.Errorf("0x1203 times (in order, once each) %v\nwant %v", hist, missed)
	}
	if n := len(r.p.Business(jt809.DataHistoryLocation)); n != 3 {
		t.Errorf("%d 0x1203 frames, want 3 (5 + 5 + 2)", n)
	}
	if real, hist := r.sent("渝B00002"); len(real)+len(hist) != 0 {
		t.Errorf("vehicle without a trip sent: %v %v", real, hist)
	}
}

func equalTimes(a, b []time.Time) bool {
	return slices.EqualFunc(a, b, func(x, y time.Time) bool { return x.Equal(y) })
}

// TestAlarmsSupervisionDutyCheck: an alarm goes up as 0x1402 (route deviation 0x000B), clears,
// and is supervised by the regulator (0x9401 → supervision record, SSE event, 0x1401 received);
// its resolution with disposal false_alarm sends the handling result (0x1403) and answers the
// supervision (0x1401 no action); a supervision near its deadline escalates; a duty check
// (0x9301) is stored and its answer goes up as 0x1301.
func TestAlarmsSupervisionDutyCheck(t *testing.T) {
	r := newRig(t, jt809.V2011)
	ctx := context.Background()
	var mu sync.Mutex
	var supEvents []tracking.SupervisionEvent
	stopSup, err := r.bus.SubscribeSupervisions(func(e tracking.SupervisionEvent) { mu.Lock(); supEvents = append(supEvents, e); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer stopSup()
	escalated := make(chan []byte, 4)
	sub, err := r.bus.NC.Subscribe("alarms.>", func(m *nats.Msg) {
		var e struct{ Event, Reason string }
		if json.Unmarshal(m.Data, &e) == nil && e.Event == "escalated" && e.Reason == "supervision_deadline" {
			escalated <- m.Data
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck
	r.start()

	a, err := r.db.GetAlarm(ctx, r.alarm)
	if err != nil {
		t.Fatal(err)
	}
	pubAlarm := func(event string, a tracking.Alarm, extra map[string]any) {
		t.Helper()
		raw, _ := json.Marshal(a)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		for k, v := range extra {
			m[k] = v
		}
		data, _ := json.Marshal(map[string]any{"event": event, "alarm": m})
		if err := r.bus.PublishAlarmEvent(ctx, a.Subject(), event+":"+a.ID, data); err != nil {
			t.Fatal(err)
		}
	}
	pubAlarm("raised", a, nil)
	r.p.WaitFor("0x1402", func() bool { return len(r.p.Business(jt809.DataAdptInfo)) == 1 })
	rep := r.p.Business(jt809.DataAdptInfo)[0]
	wi := rep.Data.(jt809.WarnInfo)
	if rep.Wrapper.Plate != "渝A12345" || wi.Type != jt809.WarnRouteDeviation || !wi.Time.Equal(a.RaisedAt) || wi.InfoID == 0 || wi.Src != jt809.WarnSrcEnterprise {
		t.Fatalf("0x1402 %+v %+v", rep.Wrapper, wi)
	}

	// The regulator supervises that alarm, naming it by plate, type and time (2011).
	deadline := time.Now().Add(time.Hour).Truncate(time.Second)
	u := jt809.UrgeTodoReq{Src: jt809.WarnSrcEnterprise, Type: jt809.WarnRouteDeviation, WarnTime: a.RaisedAt, SupervisionID: 0x123FFAA1,
		EndTime: deadline, Level: 0, Supervisor: "李四", SupervisorTel: "023-12345678", SupervisorEmail: "li@example.gov.cn"}
	r.p.Send(jt809.MsgDownWarn, jt809.VehicleMsg{Plate: "渝A12345", Color: 2, DataType: jt809.DataUrgeTodoReq, Data: u.Marshal(jt809.V2011)}.Marshal())
	r.p.WaitFor("0x1401 received", func() bool { return len(r.p.Business(jt809.DataUrgeTodoAck)) == 1 })
	ack := r.p.Business(jt809.DataUrgeTodoAck)[0].Data.(jt809.UrgeTodoAck)
	if ack.SupervisionID != 0x123FFAA1 || ack.Result != jt809.ResultProcessing {
		t.Fatalf("0x1401 %+v", ack)
	}
	sups, err := r.db.AlarmSupervisions(ctx, a.ID)
	if err != nil || len(sups) != 1 || sups[0].Supervisor != "李四" || !sups[0].Deadline.Equal(deadline) || sups[0].Level != "urgent" {
		t.Fatalf("supervisions %+v %v", sups, err)
	}
	r.p.WaitFor("supervision event", func() bool { mu.Lock(); defer mu.Unlock(); return len(supEvents) == 1 })

	// Cleared, then resolved as a false alarm.
	cleared := r.now.Truncate(time.Second)
	a.Active, a.ClearedAt = false, &cleared
	pubAlarm("cleared", a, nil)
	r.p.WaitFor("second 0x1402", func() bool { return len(r.p.Business(jt809.DataAdptInfo)) == 2 })
	if wi2 := r.p.Business(jt809.DataAdptInfo)[1].Data.(jt809.WarnInfo); wi2.InfoID != wi.InfoID {
		t.Fatalf("clear report has INFO_ID %d, raise %d", wi2.InfoID, wi.InfoID)
	}
	if _, err := r.db.Pool.Exec(ctx, `update alarms set state = 'resolved', resolved_at = now(), resolved_by = 'x', note = 'n' where id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	a.State = tracking.StateResolved
	pubAlarm("resolved", a, map[string]any{"disposal": "false_alarm"})
	r.p.WaitFor("0x1403 and the second 0x1401", func() bool {
		return len(r.p.Business(jt809.DataAdptTodoInfo)) == 1 && len(r.p.Business(jt809.DataUrgeTodoAck)) == 2
	})
	if hr := r.p.Business(jt809.DataAdptTodoInfo)[0].Data.(jt809.HandleResult); hr.InfoID != wi.InfoID || hr.Result != jt809.ResultNoAction {
		t.Fatalf("0x1403 %+v", hr)
	}
	if ack := r.p.Business(jt809.DataUrgeTodoAck)[1].Data.(jt809.UrgeTodoAck); ack.Result != jt809.ResultNoAction {
		t.Fatalf("0x1401 %+v", ack)
	}
	r.p.WaitFor("supervision answered no_action", func() bool {
		sups, _ = r.db.AlarmSupervisions(ctx, a.ID)
		return sups[0].Result != nil && *sups[0].Result == "no_action" && sups[0].AnsweredAt != nil
	})
	r.p.WaitFor("supervision answered event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(supEvents) == 2 && supEvents[1].Event == "answered"
	})

	// A second alarm, supervised with a deadline 1 s away, escalates while unresolved.
	var a2 string
	if err := r.db.Pool.QueryRow(ctx, `insert into alarms (kind, severity, vehicle_id, carrier_id, started_at, raised_at)
		values ('signal_lost', 'critical', 'v1', 'acme', $1, $1) returning id::text`, r.now.Truncate(time.Second)).Scan(&a2); err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.CreateSupervision(ctx, tracking.NewSupervision{AlarmID: &a2, SupervisionID: 5, Level: 1,
		Deadline: time.Now().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-escalated:
		var e struct{ Alarm tracking.Alarm }
		_ = json.Unmarshal(data, &e)
		if e.Alarm.ID != a2 {
			t.Fatalf("escalated %s", data)
		}
	case <-time.After(jt809test.Timeout):
		t.Fatal("no escalated event")
	}

	// A duty check: stored, answered through the store as the API does, sent up as 0x1301.
	r.p.Send(jt809.MsgDownPlatform, jt809.VehicleMsg{NoPlate: true, DataType: jt809.DataPostQueryReq,
		Data: jt809.PostQueryReq{InfoID: 25, Content: "平台查岗: 请回答"}.Marshal(jt809.V2011)}.Marshal())
	var checks []tracking.DutyCheck
	r.p.WaitFor("duty check stored", func() bool {
		checks, _, _ = r.db.ListDutyChecks(ctx, nil, 10, "")
		return len(checks) == 1
	})
	if checks[0].Question != "平台查岗: 请回答" || checks[0].InfoID != 25 {
		t.Fatalf("duty check %+v", checks[0])
	}
	if _, err := r.db.AnswerDutyCheck(ctx, checks[0].ID, "值班员王五在岗", "wang"); err != nil {
		t.Fatal(err)
	}
	r.p.WaitFor("0x1301", func() bool { return len(r.p.Business(jt809.DataPostQueryAck)) == 1 })
	if q := r.p.Business(jt809.DataPostQueryAck)[0].Data.(jt809.PostQueryAck); q.InfoID != 25 || q.Content != "值班员王五在岗" {
		t.Fatalf("0x1301 %+v", q)
	}
	r.p.WaitFor("sent_at recorded", func() bool {
		d, _, _ := r.db.ListDutyChecks(ctx, nil, 10, "")
		return len(d) == 1 && d[0].SentAt != nil && d[0].ResponseSecs != nil
	})
}
