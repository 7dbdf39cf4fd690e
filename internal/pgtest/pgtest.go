// Package pgtest gives each test package a fresh PostgreSQL database with PostGIS and Corridor's
// migrations applied, on the server named by CORRIDOR_TEST_DATABASE_URL or DATABASE_URL
// (default postgres://localhost:5432/postgres). The database is dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/migrations"
	"github.com/corridor-dev/corridor/pkg/postgres"
)

// AdminURL is the URL of the server's maintenance database used to create test databases.
func AdminURL() string {
	for _, k := range []string{"CORRIDOR_TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "postgres://localhost:5432/postgres?sslmode=disable"
}

// NewURL creates an empty database with PostGIS and returns its URL; it is dropped at cleanup.
// migrate=true also applies Corridor's migrations (by copying a migrated template database,
// built once per version of the migrations, which is much faster than migrating each time).
func NewURL(t testing.TB, migrate bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v (run scripts/services.sh)", admin, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "corridor_test_" + hex.EncodeToString(b[:])
	create := "create database " + name
	if migrate {
		tpl, err := template(ctx, t, conn, admin)
		if err != nil {
			t.Fatalf("pgtest: template: %v", err)
		}
		create += " template " + tpl
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	dbURL := withDB(t, admin, name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "drop database if exists "+name+" with (force)"); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	if !migrate {
		dc, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatalf("pgtest: connect %s: %v", name, err)
		}
		_, err = dc.Exec(ctx, "create extension if not exists postgis")
		dc.Close(ctx)
		if err != nil {
			t.Fatalf("pgtest: create extension postgis: %v (run scripts/services.sh)", err)
		}
	}
	return dbURL
}

func withDB(t testing.TB, admin, name string) string {
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// template returns the name of a database with PostGIS and every migration applied, creating it
// under an advisory lock when this version of the migrations has none yet. It is kept between
// runs (its name changes with the migrations), so only the first test run pays for it.
func template(ctx context.Context, t testing.TB, conn *pgx.Conn, admin string) (string, error) {
	h := sha256.New()
	names, _ := fs.Glob(migrations.FS, "*.sql")
	sort.Strings(names)
	for _, n := range names {
		b, _ := fs.ReadFile(migrations.FS, n)
		h.Write([]byte(n))
		h.Write(b)
	}
	tpl := "corridor_tpl_" + hex.EncodeToString(h.Sum(nil))[:16]
	if _, err := conn.Exec(ctx, "select pg_advisory_lock(7201508)"); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), "select pg_advisory_unlock(7201508)") //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, "select exists (select 1 from pg_database where datname = $1 and datistemplate)", tpl).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return tpl, nil
	}
	if _, err := conn.Exec(ctx, "drop database if exists "+tpl+" with (force)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "create database "+tpl); err != nil {
		return "", err
	}
	db, err := postgres.Open(ctx, withDB(t, admin, tpl), nil)
	if err != nil {
		return "", err
	}
	err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "alter database "+tpl+" with is_template true allow_connections false"); err != nil {
		return "", err
	}
	// Templates of older migrations are of no further use.
	rows, err := conn.Query(ctx, "select datname from pg_database where datname like 'corridor_tpl_%' and datname <> $1", tpl)
	if err == nil {
		old, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, o := range old {
			_, _ = conn.Exec(ctx, "alter database "+o+" is_template false")
			_, _ = conn.Exec(ctx, "drop database if exists "+o+" with (force)")
		}
	}
	return tpl, nil
}

// New returns an open, migrated database; it is closed and dropped at cleanup.
func New(t testing.TB) *postgres.DB {
	t.Helper()
	dbURL := NewURL(t, true)
	db, err := postgres.Open(context.Background(), dbURL, nil)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}
