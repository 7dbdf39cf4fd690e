package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// TestAlarmEventsNotifyOncePerTransaction: a batch that writes 20 outbox rows wakes the outbox
// publisher with one notification, not one per row.
func TestAlarmEventsNotifyOncePerTransaction(t *testing.T) {
	db := pgtest.New(t)
	seedVehicle(t, db)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `insert into vehicles (id, carrier_id, plate) select 'n' || i, 'c1', 'P' from generate_series(1, 20) i`); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, db.Pool.Config().ConnConfig.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{"alarm_events", "test_marker"} {
		if _, err := conn.Exec(ctx, "listen "+ch); err != nil {
			t.Fatal(err)
		}
	}
	ts := time.Now().UTC().Truncate(time.Second)
	b := &postgres.Batch{}
	for i := 1; i <= 20; i++ {
		b.Changes = append(b.Changes, postgres.AlarmChange{Raise: &tracking.Alarm{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			Kind: tracking.AlarmSignalLost, VehicleID: fmt.Sprintf("n%d", i), CarrierID: "c1", StartedAt: ts, RaisedAt: ts}})
	}
	res, err := db.CommitBatch(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 20 {
		t.Fatalf("%d events written, want 20", len(res.Events))
	}
	// Notifications arrive in commit order: once the marker is here, the batch's all are.
	if _, err := db.Pool.Exec(ctx, `select pg_notify('test_marker', '')`); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n := 0
	for {
		note, err := conn.WaitForNotification(wctx)
		if err != nil {
			t.Fatal(err)
		}
		if note.Channel == "test_marker" {
			break
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d alarm_events notifications for one transaction, want 1", n)
	}
}

// TestCheckpointInStatements: a checkpoint larger than one statement's rows writes every state.
func TestCheckpointInStatements(t *testing.T) {
	db := pgtest.New(t)
	seedVehicle(t, db)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `insert into vehicles (id, carrier_id, plate) select 's' || i, 'c1', 'P' from generate_series(1, 4500) i`); err != nil {
		t.Fatal(err)
	}
	var rows []postgres.VehicleStateRow
	for i := 1; i <= 4500; i++ {
		id := fmt.Sprintf("s%d", i)
		row := postgres.VehicleStateRow{VehicleID: id, Rules: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		if i%2 == 0 {
			row.Live = &tracking.VehicleState{VehicleID: id, Status: "on_route"}
		}
		rows = append(rows, row)
	}
	if err := db.Checkpoint(ctx, rows, postgres.StreamPos{Buckets: []int{0}, StreamCreated: time.Now().UTC().Truncate(time.Microsecond), Seq: 7}); err != nil {
		t.Fatal(err)
	}
	var n, lives, sum int
	if err := db.Pool.QueryRow(ctx, `select count(*), count(live), sum((rules->>'n')::int) from vehicle_state where vehicle_id like 's%'`).Scan(&n, &lives, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 4500 || lives != 2250 || sum != 4500*4501/2 {
		t.Fatalf("%d states (%d with live, sum %d) stored, want 4500 (2250, %d)", n, lives, sum, 4500*4501/2)
	}
}

// TestAlarmChangesInChunks: a batch of more alarm changes than one set of statements takes,
// with a raise and its clear on either side of the chunk boundary, stores what one batch would.
func TestAlarmChangesInChunks(t *testing.T) {
	db := pgtest.New(t)
	seedVehicle(t, db)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `insert into vehicles (id, carrier_id, plate) select 'k' || i, 'c1', 'P' from generate_series(1, 2500) i`); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Truncate(time.Second)
	raise := func(i int) postgres.AlarmChange {
		return postgres.AlarmChange{Raise: &tracking.Alarm{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Kind: tracking.AlarmSignalLost,
			VehicleID: fmt.Sprintf("k%d", i), CarrierID: "c1", StartedAt: ts, RaisedAt: ts}}
	}
	var b postgres.Batch
	for i := 1; i <= 1999; i++ {
		b.Changes = append(b.Changes, raise(i))
	}
	b.Changes = append(b.Changes, raise(2000)) // the last of the first chunk...
	b.Changes = append(b.Changes, postgres.AlarmChange{Clear: &postgres.AlarmClear{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", 2000),
		VehicleID: "k2000", Kind: tracking.AlarmSignalLost, StartedAt: ts, At: ts.Add(time.Second)}}) // ...cleared in the second
	for i := 2001; i <= 2500; i++ {
		b.Changes = append(b.Changes, raise(i))
	}
	if _, err := db.CommitBatch(ctx, &b); err != nil {
		t.Fatal(err)
	}
	var alarms, active, raisedEv, clearedEv int
	if err := db.Pool.QueryRow(ctx, `select count(*), count(*) filter (where active) from alarms where vehicle_id like 'k%'`).Scan(&alarms, &active); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool.QueryRow(ctx, `select count(*) filter (where event = 'raised'), count(*) filter (where event = 'cleared') from alarm_events`).Scan(&raisedEv, &clearedEv); err != nil {
		t.Fatal(err)
	}
	if alarms != 2500 || active != 2499 || raisedEv != 2500 || clearedEv != 1 {
		t.Fatalf("%d alarms (%d active), %d raised and %d cleared events; want 2500 (2499), 2500 and 1", alarms, active, raisedEv, clearedEv)
	}
}
