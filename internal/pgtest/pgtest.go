// Package pgtest gives each test package a fresh PostgreSQL database with PostGIS and Corridor's
// migrations applied, on the server named by CORRIDOR_TEST_DATABASE_URL or DATABASE_URL
// (default postgres://localhost:5432/postgres). The database is dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
// migrate=true also applies Corridor's migrations.
func NewURL(t testing.TB, migrate bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
	if _, err := conn.Exec(ctx, "create database "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	dbURL := u.String()
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
	dc, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", name, err)
	}
	_, err = dc.Exec(ctx, "create extension if not exists postgis")
	dc.Close(ctx)
	if err != nil {
		t.Fatalf("pgtest: create extension postgis: %v (run scripts/services.sh)", err)
	}
	if migrate {
		db, err := postgres.Open(ctx, dbURL, nil)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		defer db.Close()
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	return dbURL
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
