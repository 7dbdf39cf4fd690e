package postgres_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/internal/waitfor"
)

// A statement changing a few rows names each in a corridor_changes notification; one changing
// more than 100 sends a single "all" notification and bumps the table's change counter once (it
// used to notify and bump once per row: minutes for a big fleet import).
func TestChangeNotificationsPerStatement(t *testing.T) {
	db := pgtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type note struct {
		Table, Op, ID string
		All           bool
	}
	var mu sync.Mutex
	var notes []note
	connected := make(chan struct{}, 1)
	go db.Listen(ctx, []string{"corridor_changes"}, func(context.Context) { connected <- struct{}{} }, func(_, payload string) {
		var n note
		if err := json.Unmarshal([]byte(payload), &n); err != nil {
			t.Errorf("payload %q: %v", payload, err)
		}
		mu.Lock()
		notes = append(notes, n)
		mu.Unlock()
	})
	<-connected
	seq := func() (n int64) {
		if err := db.Pool.QueryRow(ctx, `select seq from change_seq where table_name = 'vehicles'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, q := range []string{`insert into carriers (id, name) values ('c1', 'C')`,
		`insert into vehicles (id, carrier_id, plate) select 'small' || g, 'c1', 'P' from generate_series(1, 2) g`} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	before := seq()
	if _, err := db.Pool.Exec(ctx, `insert into vehicles (id, carrier_id, plate) select 'big' || g, 'c1', 'P' from generate_series(1, 5000) g`); err != nil {
		t.Fatal(err)
	}
	if got := seq(); got != before+1 {
		t.Errorf("change_seq moved by %d for one statement", got-before)
	}
	if _, err := db.Pool.Exec(ctx, `update vehicles set plate = 'Q' where id = 'small1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `update vehicles set plate = 'Q' where id = 'none'`); err != nil {
		t.Fatal(err)
	}
	waitfor.For(t, 10*time.Second, "four notifications", func() bool { mu.Lock(); defer mu.Unlock(); return len(notes) >= 4 })
	time.Sleep(200 * time.Millisecond) // anything more would be a notification too many
	mu.Lock()
	defer mu.Unlock()
	want := []note{{"vehicles", "INSERT", "small1", false}, {"vehicles", "INSERT", "small2", false},
		{"vehicles", "INSERT", "", true}, {"vehicles", "UPDATE", "small1", false}}
	if len(notes) != len(want) {
		t.Fatalf("notifications %+v, want %+v", notes, want)
	}
	for i := range want {
		if notes[i] != want[i] {
			t.Errorf("notification %d: %+v, want %+v", i, notes[i], want[i])
		}
	}
}
