package natstest

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/pkg/natsbus"
)

// Restricted is an embedded JetStream server with two users: "admin", who may do anything, and
// "client", whose publish rights a test can narrow and widen again while it stays connected
// (a configuration reload, as an operator's would be). Denying a client the subjects of its pull
// requests ($JS.API.CONSUMER.MSG.NEXT.>) makes a consumer that delivers nothing while messages
// are pending: the requests never reach the server, and each fetch ends empty, without an error.
type Restricted struct {
	t    testing.TB
	port int
	dir  string
	ns   *server.Server
}

const restrictedPassword = "s3cret"

// NewRestricted starts the server on a free port with the client allowed everything; it is shut
// down at cleanup.
func NewRestricted(t testing.TB) *Restricted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Restricted{t: t, port: ln.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	ln.Close()
	r.ns, err = server.NewServer(r.options(nil))
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	go r.ns.Start()
	if !r.ns.ReadyForConnections(10 * time.Second) {
		r.ns.Shutdown()
		t.Fatal("natstest: restricted server did not become ready")
	}
	t.Cleanup(func() { r.ns.Shutdown(); r.ns.WaitForShutdown() })
	return r
}

func (r *Restricted) options(deny []string) *server.Options {
	client := &server.User{Username: "client", Password: restrictedPassword}
	if len(deny) > 0 {
		client.Permissions = &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: deny}}
	}
	return &server.Options{
		ServerName: "corridor-natstest-restricted",
		Host:       "127.0.0.1",
		Port:       r.port,
		JetStream:  true,
		StoreDir:   r.dir,
		NoSigs:     true,
		NoLog:      true,
		Users:      []*server.User{{Username: "admin", Password: restrictedPassword}, client},
	}
}

// URL is the client URL for user "admin" or "client".
func (r *Restricted) URL(user string) string {
	return fmt.Sprintf("nats://%s:%s@127.0.0.1:%d", user, restrictedPassword, r.port)
}

// Connect returns a connection as user with Corridor's streams created; it is closed at cleanup.
func (r *Restricted) Connect(user string) *natsbus.Bus {
	r.t.Helper()
	// The permission violations the test causes are expected: not printed.
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	bus, err := natsbus.Connect(context.Background(), r.URL(user), "test-"+user, nil, quiet)
	if err != nil {
		r.t.Fatalf("natstest: %v", err)
	}
	r.t.Cleanup(bus.Close)
	if err := bus.EnsureStreams(context.Background()); err != nil {
		r.t.Fatalf("natstest: %v", err)
	}
	return bus
}

// DenyClient forbids the client to publish to subjects from now on (none: allows everything
// again); connected clients get the new rights at once.
func (r *Restricted) DenyClient(subjects ...string) {
	r.t.Helper()
	if err := r.ns.ReloadOptions(r.options(subjects)); err != nil {
		r.t.Fatalf("natstest: reload: %v", err)
	}
}
