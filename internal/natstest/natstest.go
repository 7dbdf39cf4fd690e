// Package natstest gives tests a real NATS server with JetStream running in the test process
// (the embedded server Corridor itself uses), stored in a temporary directory and shut down at
// cleanup.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

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

// Server is an embedded JetStream server that a test can stop and start again on the same port
// and store, to see how its clients live through a NATS outage.
type Server struct {
	t    testing.TB
	addr string
	dir  string
	ns   *server.Server
}

// NewServer starts a restartable server on a free port; it is shut down at cleanup.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir()}
	ns, err := natsbus.StartEmbedded("127.0.0.1:0", s.dir, nil)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	s.ns = ns
	s.addr = ns.Addr().String()
	t.Cleanup(s.Stop)
	return s
}

// URL is the client URL; it stays the same across restarts.
func (s *Server) URL() string { return "nats://" + s.addr }

// Stop shuts the server down (idempotent).
func (s *Server) Stop() {
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.ns = nil
	}
}

// Start starts the stopped server again on the same address and store.
func (s *Server) Start() {
	s.t.Helper()
	if s.ns != nil {
		return
	}
	var err error
	for i := 0; i < 50; i++ { // the port may take a moment to be free again
		if s.ns, err = natsbus.StartEmbedded(s.addr, s.dir, nil); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("natstest: restart: %v", err)
}
