package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lease is a PostgreSQL session advisory lock held on a connection of its own: while the
// connection lives, no other session gets the same key; when the process dies or the
// connection breaks, the server releases it.
type Lease struct {
	conn *pgx.Conn
	Key  int64
}

// TryLease takes the advisory lock key if it is free. ok is false when another session holds it.
func (db *DB) TryLease(ctx context.Context, key int64) (l *Lease, ok bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, db.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, false, err
	}
	if err := conn.QueryRow(cctx, `select pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil || !ok {
		_ = conn.Close(context.Background())
		return nil, false, err
	}
	return &Lease{conn: conn, Key: key}, true, nil
}

// Check confirms the lease is still held: a session lock lasts as long as its connection, so
// a connection that answers still holds it.
func (l *Lease) Check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return l.conn.Ping(cctx)
}

// Release gives the lease up.
func (l *Lease) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx)
}
