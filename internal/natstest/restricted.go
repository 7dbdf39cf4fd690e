package natstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/internal/waitfor"
	"github.com/corridor-dev/corridor/pkg/natsbus"
)

// Restricted is a JetStream server — embedded, or a nats-server binary such as Debian's 2.9 —
// with two users: "admin", who may do anything, and "client", whose publish rights a test can
// narrow and widen again while it stays connected (a configuration reload, as an operator's
// would be). Denying a client the subjects of its pull requests ($JS.API.CONSUMER.MSG.NEXT.>)
// makes a consumer that delivers nothing while messages are pending: the requests never reach
// the server, and each fetch ends empty, without an error.
type Restricted struct {
	t    testing.TB
	port int
	dir  string
	ns   *server.Server // embedded
	bin  string         // or this binary, run as cmd with a configuration file
	cmd  *exec.Cmd
}

const restrictedPassword = "s3cret"

// NewRestricted starts an embedded server on a free port with the client allowed everything;
// it is shut down at cleanup.
func NewRestricted(t testing.TB) *Restricted {
	t.Helper()
	r := newRestricted(t)
	var err error
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

// NewRestrictedBinary is NewRestricted with the nats-server binary bin (reloaded by SIGHUP).
func NewRestrictedBinary(t testing.TB, bin string) *Restricted {
	t.Helper()
	r := newRestricted(t)
	r.bin = bin
	r.writeConfig(nil)
	r.cmd = exec.Command(bin, "-c", r.path("nats.conf"), "-l", r.path("nats.log"))
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
	waitfor.For(t, 20*time.Second, bin+" ready", func() bool {
		nc, err := nats.Connect(r.URL("admin"), nats.Timeout(time.Second))
		if err == nil {
			nc.Close()
		}
		return err == nil
	})
	return r
}

func newRestricted(t testing.TB) *Restricted {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return &Restricted{t: t, port: ln.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
}

func (r *Restricted) path(name string) string { return filepath.Join(r.dir, name) }

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
		StoreDir:   r.path("store"),
		NoSigs:     true,
		NoLog:      true,
		Users:      []*server.User{{Username: "admin", Password: restrictedPassword}, client},
	}
}

// writeConfig writes the binary's configuration file: the same as options.
func (r *Restricted) writeConfig(deny []string) {
	perms := ""
	if len(deny) > 0 {
		perms = fmt.Sprintf(`, permissions: {publish: {allow: [">"], deny: ["%s"]}}`, strings.Join(deny, `", "`))
	}
	conf := fmt.Sprintf(`listen: "127.0.0.1:%d"
jetstream { store_dir: %q }
authorization {
  users = [
    {user: admin, password: %s}
    {user: client, password: %s%s}
  ]
}
`, r.port, r.path("store"), restrictedPassword, restrictedPassword, perms)
	if err := os.WriteFile(r.path("nats.conf"), []byte(conf), 0o600); err != nil {
		r.t.Fatal(err)
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
// again); connected clients have the new rights when it returns.
func (r *Restricted) DenyClient(subjects ...string) {
	r.t.Helper()
	if r.ns != nil {
		if err := r.ns.ReloadOptions(r.options(subjects)); err != nil {
			r.t.Fatalf("natstest: reload: %v", err)
		}
		return
	}
	const done = "Reloaded server configuration"
	before := r.logCount(done)
	r.writeConfig(subjects)
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		r.t.Fatalf("natstest: reload: %v", err)
	}
	waitfor.For(r.t, 20*time.Second, r.bin+" reloaded", func() bool { return r.logCount(done) > before })
}

func (r *Restricted) logCount(s string) int {
	b, _ := os.ReadFile(r.path("nats.log"))
	return bytes.Count(b, []byte(s))
}
