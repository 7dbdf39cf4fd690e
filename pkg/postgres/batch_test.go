package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func seedVehicle(t *testing.T, db *postgres.DB) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `insert into carriers (id, name) values ('c1', 'Carrier') on conflict do nothing;`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `insert into vehicles (id, carrier_id, plate) values ('v1', 'c1', '渝A12345') on conflict do nothing`); err != nil {
		t.Fatal(err)
	}
}

func TestCommitBatchIsIdempotent(t *testing.T) {
	db := pgtest.New(t)
	seedVehicle(t, db)
	ctx := context.Background()
	ts := time.Now().UTC().Truncate(time.Second)
	speed := 42.0
	zone := "" // no zone: route deviation
	_ = zone
	raise := &tracking.Alarm{ID: uuid.NewString(), Kind: tracking.AlarmRouteDeviation, VehicleID: "v1", CarrierID: "c1",
		StartedAt: ts.Add(-2 * time.Second), RaisedAt: ts, Position: &tracking.LatLon{Lat: 29.8, Lon: 107.01}, SpeedKmh: &speed}
	b := &postgres.Batch{
		Positions: []tracking.StoredPosition{
			{Position: tracking.Position{VehicleID: "v1", CarrierID: "c1", TS: ts, Lat: 29.8, Lon: 107.01, SpeedKmh: &speed, DeviceAlarms: []string{"emergency"}}, ReceivedAt: ts},
			{Position: tracking.Position{VehicleID: "v1", CarrierID: "c1", TS: ts.Add(-48 * time.Hour), Lat: 29.8, Lon: 107.0}, Flags: []string{"out_of_order"}, ReceivedAt: ts},
		},
		Changes: []postgres.AlarmChange{{Raise: raise}},
		States:  []postgres.VehicleStateRow{{VehicleID: "v1", Rules: json.RawMessage(`{"n":1}`), Live: &tracking.VehicleState{VehicleID: "v1", Status: "off_route"}}},
	}
	res, err := db.CommitBatch(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 2 || len(res.Events) != 1 || !res.Events[0].Active || res.Events[0].State != "open" || res.Events[0].Severity != "critical" {
		t.Fatalf("first commit: %+v", res)
	}
	// Redelivery: same batch again writes nothing new.
	res2, err := db.CommitBatch(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Inserted != 0 || len(res2.Events) != 0 {
		t.Fatalf("second commit wrote again: %+v", res2)
	}
	// Clear, then clear again (nothing active): one event.
	clr := &postgres.Batch{Changes: []postgres.AlarmChange{
		{Clear: &postgres.AlarmClear{VehicleID: "v1", Kind: tracking.AlarmRouteDeviation, At: ts.Add(time.Minute)}},
		{Clear: &postgres.AlarmClear{VehicleID: "v1", Kind: tracking.AlarmRouteDeviation, At: ts.Add(time.Minute)}},
	}}
	res3, err := db.CommitBatch(ctx, clr)
	if err != nil {
		t.Fatal(err)
	}
	if len(res3.Events) != 1 || res3.Events[0].Active || res3.Events[0].ClearedAt == nil {
		t.Fatalf("clear: %+v", res3)
	}
	// Outbox: raised + cleared, in order, published once.
	var subjects []string
	var events []string
	n, err := db.PublishPendingAlarmEvents(ctx, 100, func(_ context.Context, e postgres.PendingAlarmEvent) error {
		var ev tracking.AlarmEvent
		if err := json.Unmarshal(e.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, e.Subject)
		events = append(events, ev.Event)
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("outbox published %d, err %v", n, err)
	}
	if events[0] != "raised" || events[1] != "cleared" || subjects[0] != "alarms.route_deviation.c1.v1" {
		t.Fatalf("events %v subjects %v", events, subjects)
	}
	n, _ = db.PublishPendingAlarmEvents(ctx, 100, func(context.Context, postgres.PendingAlarmEvent) error { return nil })
	if n != 0 {
		t.Fatalf("outbox republished %d", n)
	}
	// Ack and resolve record who and when; resolve twice is a conflict.
	id := res.Events[0].ID
	note := "called the driver"
	a, err := db.AckAlarm(ctx, id, tracking.Actor{KeyID: "k-1", Name: "officer-1"}, &note)
	if err != nil || a.State != "acknowledged" || a.AcknowledgedBy == nil || *a.AcknowledgedBy != "officer-1" || a.AcknowledgedAt == nil {
		t.Fatalf("ack: %+v %v", a, err)
	}
	a, err = db.ResolveAlarm(ctx, id, tracking.Actor{KeyID: "k-2", Name: "officer-2"}, "driver back on route", tracking.DisposalHandled)
	if err != nil || a.State != "resolved" || *a.ResolvedBy != "officer-2" || *a.Note != "driver back on route" ||
		*a.ResolvedByKeyID != "k-2" || *a.AcknowledgedByKeyID != "k-1" || a.Disposal == nil || *a.Disposal != tracking.DisposalHandled {
		t.Fatalf("resolve: %+v %v", a, err)
	}
	if _, err := db.ResolveAlarm(ctx, id, tracking.Actor{Name: "x"}, "y", tracking.DisposalLater); tracking.ErrorCode(err) != tracking.ECONFLICT {
		t.Fatalf("second resolve: %v", err)
	}
	if _, err := db.AckAlarm(ctx, id, tracking.Actor{Name: "x"}, nil); tracking.ErrorCode(err) != tracking.ECONFLICT {
		t.Fatalf("ack of resolved: %v", err)
	}
	if _, err := db.GetAlarm(ctx, "not-a-uuid"); tracking.ErrorCode(err) != tracking.ENOTFOUND {
		t.Fatalf("get bad id: %v", err)
	}
	// List with cursor.
	for i := 0; i < 3; i++ {
		r := *raise
		r.Kind = tracking.AlarmOverspeed
		r.ID = uuid.NewString()
		r.RaisedAt = ts.Add(time.Duration(i+2) * time.Minute)
		if _, err := db.CommitBatch(ctx, &postgres.Batch{Changes: []postgres.AlarmChange{{Raise: &r},
			{Clear: &postgres.AlarmClear{VehicleID: "v1", Kind: tracking.AlarmOverspeed, At: r.RaisedAt.Add(time.Second)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	page1, next, err := db.ListAlarms(ctx, tracking.AlarmFilter{Limit: 2})
	if err != nil || len(page1) != 2 || next == "" {
		t.Fatalf("page1 %d %q %v", len(page1), next, err)
	}
	page2, next2, err := db.ListAlarms(ctx, tracking.AlarmFilter{Limit: 2, Cursor: next})
	if err != nil || len(page2) != 2 || next2 != "" {
		t.Fatalf("page2 %d %q %v", len(page2), next2, err)
	}
	if !page1[1].RaisedAt.After(page2[0].RaisedAt) {
		t.Fatalf("pages not newest first")
	}
	kind := tracking.AlarmRouteDeviation
	only, _, err := db.ListAlarms(ctx, tracking.AlarmFilter{Kind: &kind})
	if err != nil || len(only) != 1 || only[0].ID != id {
		t.Fatalf("kind filter: %d %v", len(only), err)
	}
	states, err := db.VehicleStates(ctx, nil)
	if err != nil || len(states) != 1 || states[0].Live == nil || states[0].Live.Status != "off_route" {
		t.Fatalf("states %+v %v", states, err)
	}
}

// A device alarm is stored with the severity of its name (tracking.DeviceAlarmSeverity).
func TestDeviceAlarmSeverity(t *testing.T) {
	db := pgtest.New(t)
	seedVehicle(t, db)
	ctx := context.Background()
	ts := time.Now().UTC().Truncate(time.Second)
	var changes []postgres.AlarmChange
	for _, name := range []string{"tts_fault", "collision_rollover", "carriers_own"} {
		changes = append(changes, postgres.AlarmChange{Raise: &tracking.Alarm{ID: uuid.NewString(), Kind: tracking.AlarmDevice, VehicleID: "v1", CarrierID: "c1",
			DeviceAlarm: &name, StartedAt: ts, RaisedAt: ts, Position: &tracking.LatLon{Lat: 29.8, Lon: 107.01}}})
	}
	res, err := db.CommitBatch(ctx, &postgres.Batch{Changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tts_fault": "warning", "collision_rollover": "critical", "carriers_own": "critical"}
	if len(res.Events) != 3 {
		t.Fatalf("%d events", len(res.Events))
	}
	for _, a := range res.Events {
		if a.DeviceAlarm == nil || a.Severity != want[*a.DeviceAlarm] {
			t.Errorf("device alarm %v: severity %s", a.DeviceAlarm, a.Severity)
		}
	}
}

// TestReplayRaiseAndClearInOneBatch: a replayed batch holds the raise of an alarm that is
// already stored and active, and its clear: the stored alarm is cleared, once, and no second
// alarm or raised event appears. A person's acknowledgement survives the replay.
func TestReplayRaiseAndClearInOneBatch(t *testing.T) {
	db := pgtest.New(t)
	seedVehicle(t, db)
	ctx := context.Background()
	ts := time.Now().UTC().Truncate(time.Second)
	raise := &tracking.Alarm{ID: uuid.NewString(), Kind: tracking.AlarmRouteDeviation, VehicleID: "v1", CarrierID: "c1",
		StartedAt: ts.Add(-time.Minute), RaisedAt: ts}
	if _, err := db.CommitBatch(ctx, &postgres.Batch{Changes: []postgres.AlarmChange{{Raise: raise}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AckAlarm(ctx, raise.ID, tracking.Actor{Name: "officer"}, nil); err != nil {
		t.Fatal(err)
	}
	clr := &postgres.AlarmClear{ID: raise.ID, VehicleID: "v1", Kind: tracking.AlarmRouteDeviation, StartedAt: raise.StartedAt, At: ts.Add(time.Minute)}
	res, err := db.CommitBatch(ctx, &postgres.Batch{Changes: []postgres.AlarmChange{{Raise: raise}, {Clear: clr}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 1 || res.Events[0].Active || res.Events[0].ID != raise.ID || res.Events[0].State != tracking.StateAcknowledged {
		t.Fatalf("replay: %+v", res.Events)
	}
	var n, active, raisedEvents int
	if err := db.Pool.QueryRow(ctx, `select count(*), count(*) filter (where active) from alarms`).Scan(&n, &active); err != nil || n != 1 || active != 0 {
		t.Fatalf("%d alarms, %d active (%v)", n, active, err)
	}
	if err := db.Pool.QueryRow(ctx, `select count(*) from alarm_events where event = 'raised'`).Scan(&raisedEvents); err != nil || raisedEvents != 1 {
		t.Fatalf("%d raised events (%v)", raisedEvents, err)
	}
}

// A day partition that this process created and then another process dropped (its retention, or
// a database recreated under it) is made again: the commit does not fail, let alone forever.
func TestCommitBatchRemakesADroppedPartition(t *testing.T) {
	db := pgtest.New(t)
	seedVehicle(t, db)
	ctx := context.Background()
	ts := time.Now().UTC().Truncate(time.Second)
	batch := func(ts time.Time) *postgres.Batch {
		return &postgres.Batch{Positions: []tracking.StoredPosition{
			{Position: tracking.Position{VehicleID: "v1", CarrierID: "c1", TS: ts, Lat: 29.8, Lon: 107.01}, ReceivedAt: ts}}}
	}
	if _, err := db.CommitBatch(ctx, batch(ts)); err != nil {
		t.Fatal(err)
	}
	// Dropped behind this process's back (not through its DropPartitionsBefore).
	if _, err := db.Pool.Exec(ctx, `drop table positions_`+ts.Format("20060102")); err != nil {
		t.Fatal(err)
	}
	res, err := db.CommitBatch(ctx, batch(ts.Add(time.Second)))
	if err != nil {
		t.Fatalf("commit after the partition was dropped: %v", err)
	}
	if res.Inserted != 1 {
		t.Fatalf("inserted %d, want 1", res.Inserted)
	}
}
