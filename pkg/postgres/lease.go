package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lease is a set of PostgreSQL session advisory locks held on a connection of its own: while
// the connection lives, no other session gets the same keys; when the process dies or the
// connection breaks, the server releases them all.
type Lease struct {
	conn *pgx.Conn
	Keys []int64
}

// TryLease takes the advisory lock key if it is free. ok is false when another session holds it.
func (db *DB) TryLease(ctx context.Context, key int64) (l *Lease, ok bool, err error) {
	return db.TryLeases(ctx, key)
}

// TryLeases takes every one of the advisory locks keys on one connection, or none of them: ok
// is false when another session holds any.
func (db *DB) TryLeases(ctx context.Context, keys ...int64) (l *Lease, ok bool, err error) {
	return db.tryLease(ctx, `select coalesce(bool_and(pg_try_advisory_lock(k)), true) from unnest($1::bigint[]) k`, keys)
}

// TryMember takes the advisory lock key in shared mode: every process that holds it is a
// member (Members counts them); a session holding key exclusively keeps members out.
func (db *DB) TryMember(ctx context.Context, key int64) (l *Lease, ok bool, err error) {
	return db.tryLease(ctx, `select bool_and(pg_try_advisory_lock_shared(k)) from unnest($1::bigint[]) k`, []int64{key})
}

func (db *DB) tryLease(ctx context.Context, q string, keys []int64) (l *Lease, ok bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, db.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, false, err
	}
	if err := conn.QueryRow(cctx, q, keys).Scan(&ok); err != nil || !ok {
		(&Lease{conn: conn}).Release() // gives back whatever it took
		return nil, false, err
	}
	return &Lease{conn: conn, Keys: keys}, true, nil
}

// Members counts the sessions of this database that hold advisory lock key in shared mode
// (TryMember): the live members.
func (db *DB) Members(ctx context.Context, key int64) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `select count(*) from pg_locks
		where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())
			and classid = $1 and objid = $2 and objsubid = 1 and mode = 'ShareLock' and granted`,
		uint32(uint64(key)>>32), uint32(uint64(key))).Scan(&n)
	return n, err
}

// Fence returns what a transaction checks, just before it commits, to be sure this lease (its
// first key) is still held: a writer that lost its lease (its connection broke and another
// engine took the keys) must not overwrite what the new holder restored.
func (l *Lease) Fence() *Fence { return &Fence{PID: l.conn.PgConn().PID(), Key: l.Keys[0]} }

// Fence identifies a held advisory lock: the session holding it and its key.
type Fence struct {
	PID uint32
	Key int64
}

// ErrLeaseLost: a fenced transaction found its lease gone, and rolled back.
var ErrLeaseLost = errors.New("the lease is no longer held: not written")

func (f *Fence) check(ctx context.Context, tx pgx.Tx) error {
	if f == nil {
		return nil
	}
	var held bool
	if err := tx.QueryRow(ctx, `select exists (select 1 from pg_locks where locktype = 'advisory' and pid = $1
		and classid = $2 and objid = $3 and objsubid = 1 and granted)`, f.PID, uint32(uint64(f.Key)>>32), uint32(uint64(f.Key))).Scan(&held); err != nil {
		return err
	}
	if !held {
		return ErrLeaseLost
	}
	return nil
}

// Check confirms the lease is still held: a session lock lasts as long as its connection, so
// a connection that answers still holds it.
func (l *Lease) Check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return l.conn.Ping(cctx)
}

// Release gives the lease up. The locks are released before it returns (closing the connection
// alone lets the server release them a moment later, after another engine may have tried them).
func (l *Lease) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = l.conn.Exec(ctx, `select pg_advisory_unlock_all()`)
	_ = l.conn.Close(ctx)
}
