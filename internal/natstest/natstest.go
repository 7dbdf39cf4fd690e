// Package natstest gives tests a real NATS server with JetStream running in the test process
// (the embedded server Corridor itself uses), stored in a temporary directory and shut down at
// cleanup.
package natstest

import (
	"context"
	"testing"

	"github.com/corridor-dev/corridor/pkg/natsbus"
)

// URL starts a server on a free port and returns its client URL.
func URL(t testing.TB) string {
	t.Helper()
	ns, err := natsbus.StartEmbedded("127.0.0.1:0", t.TempDir(), nil)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// New starts a server and returns a connection to it with Corridor's streams created.
func New(t testing.TB) *natsbus.Bus {
	t.Helper()
	bus, err := natsbus.Connect(context.Background(), URL(t), "test", nil)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(bus.Close)
	if err := bus.EnsureStreams(context.Background()); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return bus
}
