package engine

import (
	"context"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/rules"
)

// TestNotifyReloadsWithoutFixes: a corridor edited by SQL changes the engine's verdict within
// 2 s through LISTEN/NOTIFY alone (no batch runs, so the per-batch counter check plays no part),
// and after the listening connection is killed the engine re-syncs fully when it reconnects.
func TestNotifyReloadsWithoutFixes(t *testing.T) {
	db := pgtest.New(t)
	bus := natstest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cid string
	if err := db.Pool.QueryRow(ctx, `insert into corridors (name, geom, buffer_m) values ('n', 'SRID=4326;LINESTRING(107.0 29.8, 107.05 29.8)'::geography, 200) returning id::text`).Scan(&cid); err != nil {
		t.Fatal(err)
	}
	e := New(Config{Rules: rules.DefaultConfig(), TickEvery: time.Hour}, db, bus, nil, nil)
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for e.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatal("engine not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	within := func() bool {
		w := e.loader.current.Load()
		_, in, _, ok := w.Index.CheckCorridor(cid, 107.01, 29.8001, -1)
		return ok && in
	}
	if !within() {
		t.Fatal("the point is not within the corridor at start")
	}
	waitWithin := func(what string, want bool) time.Duration {
		t.Helper()
		start := time.Now()
		for within() != want {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("%s: not reflected within 2 s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start)
	}
	if _, err := db.Pool.Exec(ctx, `update corridors set geom = 'SRID=4326;LINESTRING(107.0 29.81, 107.05 29.81)'::geography where id = $1`, cid); err != nil {
		t.Fatal(err)
	}
	t.Logf("SQL edit reached the engine in %v", waitWithin("SQL edit", false))

	// Kill the listener's connection; the change made while it is down arrives by the full re-sync.
	var killed int
	if err := db.Pool.QueryRow(ctx, `select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity
		where query = 'listen "corridor_changes"' and datname = current_database()`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listener connections (%v)", killed, err)
	}
	if _, err := db.Pool.Exec(ctx, `update corridors set geom = 'SRID=4326;LINESTRING(107.0 29.8, 107.05 29.8)'::geography where id = $1`, cid); err != nil {
		t.Fatal(err)
	}
	t.Logf("change made while the listener was down reached the engine in %v", waitWithin("re-sync", true))
}
