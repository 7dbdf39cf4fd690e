package engine

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// TestPanicIsContainedToItsMessage: a fix whose processing panics is dead-lettered; the fixes
// around it, in the same batch and after it, are processed; the engine keeps running.
func TestPanicIsContainedToItsMessage(t *testing.T) {
	db := pgtest.New(t)
	bus := natstest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, q := range []string{`insert into carriers (id, name) values ('c1', 'C')`,
		`insert into vehicles (id, carrier_id, plate) values ('v1', 'c1', 'P'), ('v2', 'c1', 'Q')`} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var dead []natsbus.DeadLetter
	sub, _ := bus.NC.Subscribe("deadletter.>", func(m *nats.Msg) {
		var dl natsbus.DeadLetter
		_ = json.Unmarshal(m.Data, &dl)
		mu.Lock()
		dead = append(dead, dl)
		mu.Unlock()
	})
	defer sub.Unsubscribe()

	e := New(Config{Rules: rules.DefaultConfig()}, db, bus, nil, nil)
	e.onFix = func(p *tracking.Position) {
		if p.Lat == 29.8666 {
			panic("boom")
		}
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	fix := func(v string, i int, lat float64) tracking.Position {
		return tracking.Position{VehicleID: v, CarrierID: "c1", TS: t0.Add(time.Duration(i) * time.Minute), Lat: lat, Lon: 107}
	}
	// One batch: v1's first fix, the poisonous one, v2's, v1's next.
	if err := bus.PublishPositions(ctx, []tracking.Position{fix("v1", 0, 29.8), fix("v1", 1, 29.8666), fix("v2", 1, 29.8), fix("v1", 2, 29.8)}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		if err := db.Pool.QueryRow(ctx, `select count(*) from positions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		nd := len(dead)
		mu.Unlock()
		if n == 3 && nd == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d positions stored, %d dead letters; want 3 and 1", n, nd)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if dead[0].Reason != tracking.ReasonInvalidField || dead[0].Detail != "the engine failed on this input: boom" {
		t.Fatalf("dead letter %+v", dead[0])
	}
	// And it goes on: a later fix is processed.
	if err := bus.PublishPositions(ctx, []tracking.Position{fix("v1", 3, 29.8)}); err != nil {
		t.Fatal(err)
	}
	for {
		var n int
		_ = db.Pool.QueryRow(ctx, `select count(*) from positions`).Scan(&n)
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the engine stopped after the panic")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The rule state is checkpointed every CheckpointEvery (2 s).
	for {
		var last time.Time
		err := db.Pool.QueryRow(ctx, `select (rules->>'last_ts')::timestamptz from vehicle_state where vehicle_id = 'v1'`).Scan(&last)
		if err == nil && last.Equal(t0.Add(3*time.Minute)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("v1 state last_ts %v (%v)", last, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
