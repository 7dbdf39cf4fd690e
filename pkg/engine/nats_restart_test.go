package engine_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestEngineSurvivesNATSRestart stops the NATS server under a running engine and starts it
// again on the same port and store: while it is down the engine is not ready (so /readyz is 503),
// and within 10 s of it coming back the engine consumes again by itself — with the embedded
// server and with Debian's nats-server 2.9 (where the old engine's fetch stayed blocked).
func TestEngineSurvivesNATSRestart(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		port, dir := freePort(t), t.TempDir()
		testNATSRestart(t, func() (string, func()) {
			ns, err := natsbus.StartEmbedded("127.0.0.1:"+strconv.Itoa(port), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			return ns.ClientURL(), func() { ns.Shutdown(); ns.WaitForShutdown() }
		})
	})
	t.Run("nats-server-binary", func(t *testing.T) {
		bin := "/usr/sbin/nats-server"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("no", bin)
		}
		port, dir := freePort(t), t.TempDir()
		testNATSRestart(t, func() (string, func()) {
			cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", dir)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			waitForTB(t, 10*time.Second, "nats-server listening", func() bool {
				c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err == nil {
					c.Close()
				}
				return err == nil
			})
			stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
			t.Cleanup(stop)
			return url, stop
		})
	})
}

func testNATSRestart(t *testing.T, start func() (url string, stop func())) {
	ctx := context.Background()
	db := pgtest.New(t)
	url, stop := start()
	bus, err := natsbus.Connect(ctx, url, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	if err := bus.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, bus: bus}
	e.seed()
	e.start()
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	e.publish(fix(t0, 107.001, 29.8001), fix(t0.Add(10*time.Second), 107.003, 29.8001))
	waitFor(t, 10*time.Second, "2 fixes stored", func() bool { return e.positions() == 2 })

	stop()
	waitFor(t, 15*time.Second, "engine not ready while NATS is down", func() bool { return e.eng.Ready() != nil })
	t.Logf("while NATS is down: %v", e.eng.Ready())

	_, stop = start()
	defer stop()
	restarted := time.Now()
	waitFor(t, 15*time.Second, "a fix accepted after the restart", func() bool {
		return bus.PublishPositions(ctx, []tracking.Position{fix(t0.Add(20*time.Second), 107.005, 29.8001)}) == nil
	})
	waitFor(t, 15*time.Second, "the fix stored and the engine ready", func() bool { return e.positions() == 3 && e.eng.Ready() == nil })
	if d := time.Since(restarted); d > 10*time.Second {
		t.Fatalf("recovered %v after NATS came back, want within 10 s", d)
	} else {
		t.Logf("recovered %v after NATS came back", d.Round(time.Millisecond))
	}
}
