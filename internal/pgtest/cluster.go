package pgtest

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/internal/pgcluster"
	"github.com/corridor-dev/corridor/pkg/postgres"
)

// Cluster is a throwaway PostgreSQL server (pgcluster: the system's PostGIS, a temporary
// directory, a free port) that a test may stop and start to see how Corridor lives through a
// database outage. It never touches the machine's main cluster. It is stopped and removed at
// cleanup.
type Cluster struct {
	t testing.TB
	c *pgcluster.Cluster
}

// NewCluster initialises and starts a cluster; the test is skipped when no initdb is installed.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "corridor-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgcluster.New(dir, pgcluster.Options{MaxConnections: 50})
	if errors.Is(err, pgcluster.ErrNoServer) || errors.Is(err, pgcluster.ErrNoPostgresUser) {
		_ = os.RemoveAll(dir)
		t.Skip("pgtest: cannot make a throwaway cluster:", err)
	}
	t.Cleanup(func() {
		if c != nil {
			_ = c.Stop("fast")
		}
		_ = os.RemoveAll(dir)
	})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return &Cluster{t: t, c: c}
}

// AdminURL is the URL of the cluster's postgres database.
func (c *Cluster) AdminURL() string { return c.c.URL() }

// Start starts the (stopped) server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	if err := c.c.Start(); err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
}

// Stop stops the server (fast shutdown: connections are cut), if running.
func (c *Cluster) Stop() {
	c.t.Helper()
	if err := c.c.Stop("fast"); err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
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
