package natsbus_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func fixes(n int) []tracking.Position {
	ts := time.Now().UTC().Truncate(time.Millisecond)
	ps := make([]tracking.Position, n)
	for i := range ps {
		ps[i] = tracking.Position{VehicleID: "v1", CarrierID: "c1", TS: ts.Add(time.Duration(i) * time.Second), Lat: 29.8, Lon: 107}
	}
	return ps
}

// With the NATS server gone, a publish gives up within the bound with EUNAVAILABLE (a batch of
// two used to wait as long as the caller let it), and works again once the server is back.
func TestPublishPositionsNATSOutage(t *testing.T) {
	srv := natstest.NewServer(t)
	bus, err := natsbus.Connect(context.Background(), srv.URL(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	if err := bus.EnsureStreams(context.Background()); err != nil {
		t.Fatal(err)
	}
	bus.PublishTimeout = 2 * time.Second
	if err := bus.PublishPositions(context.Background(), fixes(2)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for _, n := range []int{1, 2} {
		start := time.Now()
		err := bus.PublishPositions(context.Background(), fixes(n))
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("batch of %d: publish with NATS down took %v", n, took)
		}
		if tracking.ErrorCode(err) != tracking.EUNAVAILABLE {
			t.Fatalf("batch of %d: err = %v (code %q), want EUNAVAILABLE", n, err, tracking.ErrorCode(err))
		}
	}
	srv.Start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := bus.PublishPositions(context.Background(), fixes(2))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish still failing after NATS came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A position whose encoded message is larger than the server's max payload is refused up front
// as ETOOLARGE (HTTP 413), not as a failure worth retrying.
func TestPublishPositionsTooLarge(t *testing.T) {
	bus := natstest.New(t)
	ps := fixes(2)
	ps[1].DeviceAlarms = []string{strings.Repeat("<", 201_000)} // escaped as \u003c: 1.2 MB
	err := bus.PublishPositions(context.Background(), ps)
	if tracking.ErrorCode(err) != tracking.ETOOLARGE {
		t.Fatalf("err = %v, want ETOOLARGE", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                        "nats://127.0.0.1:4222",
		"nats://corridor:s3cret@nats:4222":             "nats://corridor:xxxxx@nats:4222",
		"nats://tok3n@nats:4222,nats://u:p@other:4222": "nats://xxxxx@nats:4222,nats://u:xxxxx@other:4222",
	} {
		if got := natsbus.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(natsbus.RedactURL(in), "s3cret") {
			t.Errorf("secret left in %q", natsbus.RedactURL(in))
		}
	}
}

// An embedded server with a token refuses clients without it; the token, or a user and password
// in the URL, get in; an nkey seed file is read.
func TestEmbeddedTokenAndClientAuth(t *testing.T) {
	ns, err := natsbus.StartEmbeddedAuth("127.0.0.1:0", t.TempDir(), "the-token-0123456789", natsbus.DefaultSync, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	ctx := context.Background()
	if _, err := natsbus.Connect(ctx, ns.ClientURL(), "anon", nil); err == nil {
		t.Fatal("a client without the token connected")
	}
	opts, err := natsbus.Auth{Token: "the-token-0123456789"}.Options()
	if err != nil {
		t.Fatal(err)
	}
	bus, err := natsbus.Connect(ctx, ns.ClientURL(), "tok", nil, opts...)
	if err != nil {
		t.Fatalf("token client: %v", err)
	}
	bus.Close()
	if natsbus.IsLoopback("0.0.0.0:4222") || !natsbus.IsLoopback("127.0.0.1:4222") || !natsbus.IsLoopback("[::1]:4222") {
		t.Fatal("IsLoopback")
	}

	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NATS_NKEY": seedFile}
	a, err := natsbus.AuthFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Options(); err != nil {
		t.Fatalf("nkey options: %v", err)
	}
	env = map[string]string{"NATS_TOKEN": "x", "NATS_CREDS": "/nonexistent", "NATS_USER": "u"}
	if _, err := natsbus.AuthFromEnv(func(k string) string { return env[k] }); err == nil ||
		!strings.Contains(err.Error(), "at most one") || !strings.Contains(err.Error(), "NATS_PASSWORD") {
		t.Fatalf("bad env accepted: %v", err)
	}
}
