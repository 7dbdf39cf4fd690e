package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen LISTENs on channels over a dedicated connection until ctx ends, calling onNotify for
// each notification. After every (re)connection it calls onConnect, so that the caller can
// re-sync fully: notifications sent while the connection was down are lost, a reload is not.
func (db *DB) Listen(ctx context.Context, channels []string, onConnect func(context.Context), onNotify func(channel, payload string)) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, channels, onConnect, onNotify)
		if ctx.Err() != nil {
			return
		}
		db.Log.Warn("database listener lost; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

func (db *DB) listenOnce(ctx context.Context, channels []string, onConnect func(context.Context), onNotify func(channel, payload string)) error {
	conn, err := pgx.ConnectConfig(ctx, db.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "listen "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	if onConnect != nil {
		onConnect(ctx)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		onNotify(n.Channel, n.Payload)
	}
}
