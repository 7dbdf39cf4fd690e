package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/internal/pgtest"
)

// TestKilledMidStreamNoLossNoDuplicates builds the real binary, feeds it a stream of fixes that
// raises and clears route_deviation over and over, SIGKILLs it mid-stream, starts it again, and
// checks that every fix is stored once and every deviation raised exactly once.
func TestKilledMidStreamNoLossNoDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "corridor")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	dbURL := pgtest.NewURL(t, true)
	natsURL := startNATS(t)
	httpAddr := freeAddr(t)
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "NATS_URL="+natsURL, "CORRIDOR_HTTP_ADDR="+httpAddr,
		"CORRIDOR_JT808_ADDR=off", "CORRIDOR_ADMIN_TOKEN="+adminToken, "CORRIDOR_LOG_LEVEL=warn", "CORRIDOR_DATA_DIR="+t.TempDir())
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve")
		cmd.Env = env
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 20*time.Second, "ready", func() bool {
			resp, err := http.Get("http://" + httpAddr + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
		return cmd
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	mustExec := func(sql string, args ...any) {
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(`insert into carriers (id, name) values ('cq-chem', 'C')`)
	mustExec(`insert into vehicles (id, carrier_id, plate) values ('truck-7', 'cq-chem', 'P')`)
	mustExec(`insert into corridors (name, geom, buffer_m) values ('k', 'SRID=4326;LINESTRING(107.0 29.8, 107.3 29.8)'::geography, 200)`)
	mustExec(`insert into trips (vehicle_id, carrier_id, corridor_id, starts_at, ends_at) select 'truck-7', 'cq-chem', id, now() - interval '7 days', now() + interval '1 day' from corridors`)

	cmd := start()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	// Cycles of 4 fixes on the corridor then 4 about 550 m off it: each cycle raises one
	// deviation (at the 3rd off fix), cleared at the 2nd fix back on in the next cycle. They are published
	// while the server runs, and it is killed part way through.
	const cycles = 40
	const n = cycles * 8
	t0 := time.Now().Add(-6 * 24 * time.Hour).Truncate(time.Second)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for k := 0; k < n; k++ {
			lat := 29.8001
			if k%8 >= 4 {
				lat = 29.805
			}
			publishFix(t, nc, js, t0.Add(time.Duration(k)*30*time.Second), 107.0+float64(k)*0.0003, lat)
			time.Sleep(3 * time.Millisecond)
		}
	}()
	var stored int
	count := func() int {
		if err := conn.QueryRow(ctx, `select count(*) from positions`).Scan(&stored); err != nil {
			t.Error(err)
		}
		return stored
	}
	waitUntil(t, 20*time.Second, "a third of the fixes processed", func() bool { return count() >= n/3 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killedAt := count()
	<-published
	t.Logf("killed after %d of %d fixes", killedAt, n)
	cmd = start()
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	waitUntil(t, 30*time.Second, "every fix stored", func() bool { return count() == n })
	var alarms, active, distinct int
	waitUntil(t, 10*time.Second, "all deviations raised and cleared", func() bool {
		if err := conn.QueryRow(ctx, `select count(*), count(*) filter (where active), count(distinct started_at) from alarms where kind = 'route_deviation'`).Scan(&alarms, &active, &distinct); err != nil {
			t.Fatal(err)
		}
		// the last cycle ends off the corridor: its deviation stays active
		return alarms >= cycles && active == 1
	})
	t.Logf("%d alarms, %d active, %d distinct starts", alarms, active, distinct)
	if alarms != cycles || distinct != cycles {
		t.Fatalf("%d deviation alarms (%d distinct starts), want exactly %d", alarms, distinct, cycles)
	}
	var raisedEvents int
	if err := conn.QueryRow(ctx, `select count(*) from alarm_events e join alarms a on a.id = e.alarm_id where e.event = 'raised' and a.kind = 'route_deviation'`).Scan(&raisedEvents); err != nil {
		t.Fatal(err)
	}
	if raisedEvents != cycles {
		t.Fatalf("%d raised events stored", raisedEvents)
	}
	// And on NATS: the ALARMS stream de-duplicates republished outbox rows.
	waitUntil(t, 10*time.Second, "alarm events published", func() bool {
		info, err := js.StreamInfo("ALARMS", &nats.StreamInfoRequest{SubjectsFilter: "alarms.route_deviation.>"})
		return err == nil && info.State.Subjects["alarms.route_deviation.cq-chem.truck-7"] == uint64(2*cycles-1)
	})
	if killedAt == n {
		t.Logf("note: the kill came after the whole stream was processed")
	}
}
