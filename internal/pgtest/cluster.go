package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/postgres"
)

// Cluster is a throwaway PostgreSQL server (with the system's PostGIS) in a temporary directory
// on a free port, that a test may stop and start to see how Corridor lives through a database
// outage. It never touches the machine's main cluster. It is stopped and removed at cleanup.
type Cluster struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	asUser  string // run the server as this user (initdb refuses root)
	running bool
}

// NewCluster initialises and starts a cluster; the test is skipped when no initdb is installed.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(bins)
	if len(bins) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			bins = []string{p}
		} else {
			t.Skip("pgtest: no initdb installed (postgresql server package); cannot make a throwaway cluster")
		}
	}
	c := &Cluster{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "corridor-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		c.Stop()
		_ = os.RemoveAll(dir)
	})
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		pu, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("pgtest: running as root without a postgres user; cannot run initdb")
		}
		uid, _ := strconv.Atoi(pu.Uid)
		gid, _ := strconv.Atoi(pu.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.asUser = "postgres"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c.run("initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	c.Start()
	return c
}

func (c *Cluster) run(prog string, args ...string) {
	c.t.Helper()
	name := filepath.Join(c.bin, prog)
	if c.asUser != "" {
		args = append([]string{"-u", c.asUser, "--", name}, args...)
		name = "runuser"
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("pgtest: %s %v: %v\n%s", prog, args, err, out)
	}
}

// AdminURL is the URL of the cluster's postgres database.
func (c *Cluster) AdminURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the (stopped) server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	if c.running {
		return
	}
	c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", c.port, c.dir), "start")
	c.running = true
}

// Stop stops the server (fast shutdown: connections are cut), if running.
func (c *Cluster) Stop() {
	if !c.running {
		return
	}
	c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "fast", "-w", "stop")
	c.running = false
}

// DB creates a database "corridor" on the cluster with Corridor's migrations applied and returns
// it open; it is closed at cleanup. The pool survives the cluster's stops and starts.
func (c *Cluster) DB(t testing.TB) *postgres.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, c.AdminURL())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	_, err = admin.Exec(ctx, "create database corridor")
	admin.Close(ctx)
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	db, err := postgres.Open(ctx, strings.Replace(c.AdminURL(), "/postgres?", "/corridor?", 1), nil)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	return db
}
