// Package postgres stores Corridor's data in PostgreSQL with PostGIS: connection and migrations,
// repositories, the batched history writer and the LISTEN/NOTIFY change watcher.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/corridor-dev/corridor/migrations"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// DB wraps the pool every repository shares.
type DB struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
}

// Open connects to url and checks that the server answers and that PostGIS can be used.
// Errors are one clear line each, fit for start-up.
func Open(ctx context.Context, url string, log *slog.Logger) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %v", err)
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database unreachable at %s: %v", cfg.ConnConfig.Host, firstLine(err))
	}
	var available bool
	if err := pool.QueryRow(pctx, `select exists (select 1 from pg_available_extensions where name = 'postgis')`).Scan(&available); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: %v", err)
	}
	if !available {
		pool.Close()
		return nil, errors.New("PostGIS is not installed on the database server (install postgresql-<version>-postgis-3, or run scripts/services.sh)")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DB{Pool: pool, Log: log}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// Ping checks the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error { return db.Pool.Ping(ctx) }

func (db *DB) provider() (*goose.Provider, func() error, error) {
	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, nil, err
	}
	sub, err := fs.Sub(migrations.FS, ".")
	if err != nil {
		return nil, nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, goose.WithSessionLocker(locker))
	if err != nil {
		sqlDB.Close()
		return nil, nil, err
	}
	return p, sqlDB.Close, nil
}

// Migrate applies every pending migration; concurrent callers wait on a session lock.
func (db *DB) Migrate(ctx context.Context) error {
	p, closeDB, err := db.provider()
	if err != nil {
		return fmt.Errorf("migrations: %v", err)
	}
	defer closeDB()
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %v", firstLine(err))
	}
	for _, r := range results {
		db.Log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// MigrationStatus describes one migration.
type MigrationStatus struct {
	Version   int64
	File      string
	Applied   bool
	AppliedAt time.Time
}

// MigrationStatus lists every migration and whether it is applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	p, closeDB, err := db.provider()
	if err != nil {
		return nil, err
	}
	defer closeDB()
	st, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{Version: s.Source.Version, File: s.Source.Path,
			Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt})
	}
	return out, nil
}

// Pending reports how many migrations are not applied yet.
func (db *DB) Pending(ctx context.Context) (int, error) {
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range st {
		if !s.Applied {
			n++
		}
	}
	return n, nil
}

// firstLine folds a multi-line driver error into one line.
func firstLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// mapError converts database errors to tracking errors (unique and exclusion violations are conflicts,
// foreign keys and checks are invalid input, no rows is not found).
func mapError(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return tracking.Errorf(tracking.ENOTFOUND, "%s not found", what)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return tracking.Errorf(tracking.ECONFLICT, "%s already exists (%s)", what, pe.ConstraintName)
		case "23P01":
			return tracking.Errorf(tracking.ECONFLICT, "%s conflicts with an existing one (%s)", what, pe.ConstraintName)
		case "23503":
			return tracking.Errorf(tracking.EINVALID, "%s refers to something that does not exist (%s)", what, pe.ConstraintName)
		case "23514", "22023", "XX000":
			return tracking.Errorf(tracking.EINVALID, "%s is invalid: %s", what, pe.Message)
		case "22021", "22P05": // e.g. a NUL character, which text cannot hold
			return tracking.Errorf(tracking.EINVALID, "%s: the input holds a character that cannot be stored", what)
		}
	}
	if Unavailable(err) {
		return &tracking.Error{Code: tracking.EUNAVAILABLE, Message: "the database is unavailable; retry later"}
	}
	return err
}

// Unavailable reports whether err means the database cannot be reached or is shutting down
// (connection refused or lost, pool acquire timeout, admin shutdown, too many connections),
// as opposed to a problem with the statement: such errors are worth retrying later.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		// 08: connection exception; 57P01-57P03: shutdown, crash, cannot connect now; 53300: too many connections.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || pe.Code == "53300"
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return true
	}
	return pgconn.Timeout(err) || strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool")
}
