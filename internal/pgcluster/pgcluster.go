// Package pgcluster runs a throwaway PostgreSQL server (with the system's PostGIS) in a directory
// of its own on a free port, that tests (through pgtest) and `corridor chaos` stop and start to
// see how Corridor lives through a database outage. It never touches the machine's main cluster.
package pgcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
)

// ErrNoServer: no PostgreSQL server binaries (initdb) are installed.
var ErrNoServer = errors.New("no PostgreSQL server binaries (initdb) installed (run scripts/services.sh)")

// ErrNoPostgresUser: running as root (initdb refuses root) with no postgres user to run as.
var ErrNoPostgresUser = errors.New("running as root without a postgres user; cannot run initdb")

// Options tune the server.
type Options struct {
	Fsync          bool // durable writes, as in production (chaos); off for tests (faster)
	MaxConnections int  // default 100
}

// Cluster is one throwaway server.
type Cluster struct {
	bin     string // directory of initdb and pg_ctl
	dir     string
	port    int
	asUser  string // run the server as this user (initdb refuses root)
	opts    Options
	running bool
}

// New initialises a cluster in dir (created; its parents must be traversable by the postgres
// user when running as root) with the newest PostgreSQL under /usr/lib/postgresql (Debian's
// layout, where PostGIS is installed for it) or initdb on the PATH, and starts it.
func New(dir string, o Options) (*Cluster, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(bins)
	if len(bins) == 0 {
		p, err := exec.LookPath("initdb")
		if err != nil {
			return nil, ErrNoServer
		}
		bins = []string{p}
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 100
	}
	c := &Cluster{bin: filepath.Dir(bins[len(bins)-1]), dir: dir, opts: o}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		pu, err := user.Lookup("postgres")
		if err != nil {
			return nil, ErrNoPostgresUser
		}
		uid, _ := strconv.Atoi(pu.Uid)
		gid, _ := strconv.Atoi(pu.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		c.asUser = "postgres"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := c.run("initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		return nil, err
	}
	return c, c.Start()
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) run(prog string, args ...string) error {
	name := filepath.Join(c.bin, prog)
	if c.asUser != "" {
		args = append([]string{"-u", c.asUser, "--", name}, args...)
		name = "runuser"
	}
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", prog, err, out)
	}
	return nil
}

// URL is the superuser's URL of the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the (stopped) server and waits until it accepts connections.
func (c *Cluster) Start() error {
	if c.running {
		return nil
	}
	fsync := "off"
	if c.opts.Fsync {
		fsync = "on"
	}
	if err := c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=%s -c max_connections=%d", c.port, c.dir, fsync, c.opts.MaxConnections),
		"start"); err != nil {
		return err
	}
	c.running = true
	return nil
}

// Stop stops the server, if running: mode "fast" is a clean stop (connections are cut),
// "immediate" a crash (no checkpoint; recovery at the next start).
func (c *Cluster) Stop(mode string) error {
	if !c.running {
		return nil
	}
	if err := c.run("pg_ctl", "-D", c.data(), "-m", mode, "-w", "-t", "60", "stop"); err != nil {
		return err
	}
	c.running = false
	return nil
}
