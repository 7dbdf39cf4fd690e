package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/internal/logbuf"
	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/engine"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// runPartitioned starts an engine with n partitions logging into the returned buffer.
func (e *env) runPartitioned(n int) *logbuf.Buffer {
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	eng := engine.New(engine.Config{Rules: rules.DefaultConfig(), FetchWait: 50 * time.Millisecond, Partitions: n}, e.db, e.bus, log, nil)
	e.eng = eng
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(ctx) }()
	e.stop = func() { cancel(); <-done }
	e.t.Cleanup(func() { cancel(); <-done })
	return logs
}

func (e *env) fleetFixes(vehicles, from, to int) []tracking.Position {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	var ps []tracking.Position
	for k := from; k < to; k++ {
		for v := 0; v < vehicles; v++ {
			ps = append(ps, tracking.Position{VehicleID: fmt.Sprintf("v%d", v), CarrierID: "c1", TS: t0.Add(time.Duration(k) * 10 * time.Second),
				Lat: 29.8, Lon: 107 + float64(k)*0.001})
		}
	}
	return ps
}

func (e *env) seedVehicles(n int) {
	e.exec(`insert into carriers (id, name) values ('c1', 'C')`)
	e.exec(`insert into vehicles (id, carrier_id, plate) select 'v' || i, 'c1', 'P' from generate_series(0, $1 - 1) i`, n)
}

// TestLegacyMessagesBeforeBuckets: a stream created without the bucket transform (an older
// Corridor, or NATS 2.9 since upgraded) holds 3-token messages; once the transform is added, an
// engine configured with 4 partitions first consumes them in one partition over telemetry.>
// (a per-bucket filter would never see them), then splits into 4 — nothing lost or doubled.
func TestLegacyMessagesBeforeBuckets(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	bus, err := natsbus.Connect(ctx, natstest.URL(t), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	if _, err := bus.JS.CreateStream(ctx, jetstream.StreamConfig{Name: natsbus.StreamTelemetry, Subjects: []string{"telemetry.>"},
		Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, bus: bus}
	e.seedVehicles(20)
	e.publish(e.fleetFixes(20, 0, 3)...) // 3-token subjects
	if err := bus.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	if last, err := bus.LegacyTelemetryLastSeq(ctx); err != nil || last != 60 {
		t.Fatalf("last 3-token message at %d (%v), want 60", last, err)
	}
	e.publish(e.fleetFixes(20, 3, 6)...) // with buckets
	logs := e.runPartitioned(4)
	waitFor(t, 30*time.Second, "120 fixes stored", func() bool { return e.positions() == 120 })
	waitFor(t, 30*time.Second, "the engine split into 4 partitions", func() bool { return len(e.eng.Partitions()) == 4 })
	e.publish(e.fleetFixes(20, 6, 8)...)
	waitFor(t, 30*time.Second, "160 fixes stored", func() bool { return e.positions() == 160 })
	if n := e.positions(); n != 160 {
		t.Fatalf("%d positions, want 160", n)
	}
	if !strings.Contains(logs.String(), "messages stored before the stream had buckets") {
		t.Errorf("no log line about the single partition over the old messages:\n%s", logs.String())
	}
}

// TestNATS29OnePartition runs an engine configured with 4 partitions against Debian's
// nats-server 2.9 (no subject transforms): it runs one partition over telemetry.>, says so once
// with a warning naming the server version and the configured number, and consumes everything.
func TestNATS29OnePartition(t *testing.T) {
	bin := "/usr/sbin/nats-server"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no", bin)
	}
	out, _ := exec.Command(bin, "--version").Output()
	if !strings.Contains(string(out), "v2.9.") {
		t.Skipf("%s is %s, not 2.9", bin, strings.TrimSpace(string(out)))
	}
	ctx := context.Background()
	port := freePort(t)
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, 10*time.Second, "nats-server listening", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	bus, err := natsbus.Connect(ctx, fmt.Sprintf("nats://127.0.0.1:%d", port), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	if err := bus.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: pgtest.New(t), bus: bus}
	e.seedVehicles(20)
	logs := e.runPartitioned(4)
	e.publish(e.fleetFixes(20, 0, 3)...)
	waitFor(t, 30*time.Second, "60 fixes stored", func() bool { return e.positions() == 60 })
	if got := e.eng.Partitions(); !slices.Equal(got, []int{0}) {
		t.Fatalf("partitions %v, want [0]", got)
	}
	e.stop()
	var warns []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "subject transforms") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "nats_server=2.9.") || !strings.Contains(warns[0], "configured_partitions=4") {
		t.Fatalf("want one warning naming the server version and the configured partitions, got %q\nlog:\n%s", warns, logs.String())
	}
}
